package publish

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	wantType := map[string]string{
		".atom": "application/atom+xml; charset=utf-8",
		".rss":  "application/rss+xml; charset=utf-8",
		".json": "application/feed+json; charset=utf-8",
		".html": "text/html; charset=utf-8",
		".opml": "text/x-opml; charset=utf-8",
		"/":     "text/html; charset=utf-8",
	}
	for _, path := range allPaths() {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			resp := request(t, s, "GET", path, nil)
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			ext := "/"
			if i := strings.LastIndexByte(path, '.'); i >= 0 {
				ext = path[i:]
			}
			h := resp.Header
			if got := h.Get("Content-Type"); got != wantType[ext] {
				t.Errorf("Content-Type = %q, want %q", got, wantType[ext])
			}
			if got := h.Get("Content-Length"); got != strconv.Itoa(len(b)) {
				t.Errorf("Content-Length = %q, want %d", got, len(b))
			}
			if got := h.Get("Last-Modified"); got != fixedNow.Format(http.TimeFormat) {
				t.Errorf("Last-Modified = %q, want %q", got, fixedNow.Format(http.TimeFormat))
			}
			if etag := h.Get("ETag"); len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Errorf("ETag = %q, want a strong quoted tag", etag)
			}
			if got := h.Get("Cache-Control"); !strings.HasPrefix(got, "public, max-age=") {
				t.Errorf("Cache-Control = %q, want public with a max-age", got)
			}
			if got := h.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding", got)
			}
			if h.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding = %q without Accept-Encoding", h.Get("Content-Encoding"))
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for _, path := range []string{"/nope", "/feed", "/feed.xml", "/feed.atom/", "/sections/", "/sections/nope.atom", "/sections/go", "/sections/go.xml", "/index.html", "/feed.html", "/feed.opml", "/sections/nope.html", "/sections/nope.opml", "/sections/.html"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			resp := request(t, s, "GET", path, nil)
			b := body(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("status = %d, want 404", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || len(b) == 0 || len(b) > 100 {
				t.Errorf("Content-Type %q, body %q: want a short plain-text message", ct, b)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for _, method := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		for _, path := range []string{"/", "/feed.atom", "/sections/news.json"} {
			resp := request(t, s, method, path, nil)
			body(t, resp)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status = %d, want 405", method, path, resp.StatusCode)
			}
			if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q, want %q", method, path, got, "GET, HEAD")
			}
		}
	}
}

func TestHeadHasHeadersAndNoBody(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for _, path := range allPaths() {
		for _, ae := range []string{"", "gzip"} {
			header := http.Header{"Accept-Encoding": {ae}}
			get := request(t, s, "GET", path, header)
			body(t, get)
			head := request(t, s, "HEAD", path, header)
			if b := body(t, head); head.StatusCode != http.StatusOK || len(b) != 0 {
				t.Errorf("HEAD %s (%q): status %d, %d body bytes; want 200 and none", path, ae, head.StatusCode, len(b))
			}
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Last-Modified", "Cache-Control", "Vary"} {
				if head.Header.Get(k) != get.Header.Get(k) {
					t.Errorf("HEAD %s (%q): %s = %q, GET has %q", path, ae, k, head.Header.Get(k), get.Header.Get(k))
				}
			}
		}
	}
}

// TestHeadOverHTTP checks HEAD through a real server, which would drop a
// body and could rewrite Content-Length.
func TestHeadOverHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(mustSite(t, newTestStore(), testOptions()))
	t.Cleanup(srv.Close)
	get, err := srv.Client().Get(srv.URL + "/feed.atom")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, get)
	head, err := srv.Client().Head(srv.URL + "/feed.atom")
	if err != nil {
		t.Fatal(err)
	}
	body(t, head)
	if head.ContentLength != int64(len(b)) {
		t.Errorf("HEAD Content-Length = %d, want %d", head.ContentLength, len(b))
	}
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	first := request(t, s, "GET", "/feed.atom", nil)
	body(t, first)
	etag := first.Header.Get("ETag")
	modified := fixedNow.Format(http.TimeFormat)
	later := fixedNow.Add(time.Hour).Format(http.TimeFormat)
	earlier := fixedNow.Add(-time.Second).Format(http.TimeFormat)

	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no validators", nil, 200},
		{"etag", http.Header{"If-None-Match": {etag}}, 304},
		{"weak etag", http.Header{"If-None-Match": {"W/" + etag}}, 304},
		{"etag in a list", http.Header{"If-None-Match": {`"other", W/"x,y", ` + etag}}, 304},
		{"etag on a second line", http.Header{"If-None-Match": {`"other"`, etag}}, 304},
		{"star", http.Header{"If-None-Match": {"*"}}, 304},
		{"other etag", http.Header{"If-None-Match": {`"other"`}}, 200},
		{"malformed etag", http.Header{"If-None-Match": {strings.Trim(etag, `"`)}}, 200},
		{"gzip etag for identity", http.Header{"If-None-Match": {strings.TrimSuffix(etag, `"`) + `-gz"`}}, 200},
		{"modified since equal", http.Header{"If-Modified-Since": {modified}}, 304},
		{"modified since later", http.Header{"If-Modified-Since": {later}}, 304},
		{"modified since earlier", http.Header{"If-Modified-Since": {earlier}}, 200},
		{"modified since invalid", http.Header{"If-Modified-Since": {"yesterday"}}, 200},
		{"etag mismatch overrides date", http.Header{"If-None-Match": {`"other"`}, "If-Modified-Since": {later}}, 200},
		{"etag match with old date", http.Header{"If-None-Match": {etag}, "If-Modified-Since": {earlier}}, 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{"GET", "HEAD"} {
				resp := request(t, s, method, "/feed.atom", tt.header)
				b := body(t, resp)
				if resp.StatusCode != tt.want {
					t.Fatalf("%s status = %d, want %d", method, resp.StatusCode, tt.want)
				}
				if tt.want != http.StatusNotModified {
					continue
				}
				if len(b) != 0 || resp.Header.Get("Content-Type") != "" {
					t.Errorf("%s 304 has %d body bytes, Content-Type %q; want neither", method, len(b), resp.Header.Get("Content-Type"))
				}
				if resp.Header.Get("ETag") != etag || resp.Header.Get("Vary") == "" || resp.Header.Get("Cache-Control") == "" {
					t.Errorf("%s 304 lacks ETag, Vary or Cache-Control: %v", method, resp.Header)
				}
			}
		})
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for _, path := range allPaths() {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			plain := request(t, s, "GET", path, nil)
			want := body(t, plain)
			resp := request(t, s, "GET", path, http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
			raw := body(t, resp)
			if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
				t.Fatalf("Content-Encoding = %q, want gzip", got)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(raw)) {
				t.Errorf("Content-Length = %q, want %d", got, len(raw))
			}
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("gunzipped body differs from the identity body")
			}
			etag, plainETag := resp.Header.Get("ETag"), plain.Header.Get("ETag")
			if etag == plainETag || !strings.HasSuffix(etag, `-gz"`) {
				t.Errorf("gzip ETag = %q, identity ETag = %q; want a different -gz tag", etag, plainETag)
			}
			again := request(t, s, "GET", path, http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {etag}})
			body(t, again)
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the gzip ETag: status %d, want 304", again.StatusCode)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fields []string
		want   bool
	}{
		{"absent", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"browser", []string{"gzip, deflate, br, zstd"}, true},
		{"upper case with weight", []string{"GZIP;Q=0.5"}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"second line", []string{"br", "gzip"}, true},
		{"others only", []string{"br, deflate"}, false},
		{"identity", []string{"identity"}, false},
		{"refused", []string{"gzip;q=0"}, false},
		{"refused with decimals", []string{"gzip; q=0.000"}, false},
		{"star", []string{"*"}, true},
		{"star refused", []string{"*;q=0"}, false},
		{"star but not gzip", []string{"*, gzip;q=0"}, false},
		{"malformed weight", []string{"gzip;q=high"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := acceptsGzip(tt.fields); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tt.fields, got, tt.want)
			}
		})
	}
}

func TestLastModifiedFollowsContent(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	opts := testOptions()
	now := fixedNow
	opts.Now = func() time.Time { return now }
	s := mustSite(t, store, opts)
	validators := func() map[string][2]string {
		v := make(map[string][2]string)
		for _, p := range allPaths() {
			resp := request(t, s, "GET", p, nil)
			body(t, resp)
			v[p] = [2]string{resp.Header.Get("Last-Modified"), resp.Header.Get("ETag")}
		}
		return v
	}
	before := validators()

	now = fixedNow.Add(time.Hour)
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	for p, v := range validators() {
		if v != before[p] {
			t.Errorf("%s: unchanged items, validators %v → %v", p, before[p], v)
		}
	}

	// alpha is only in section go: its feeds and page, the merged feeds and
	// the page of all change; news does not, nor do the subscription lists.
	now = fixedNow.Add(2 * time.Hour)
	store.items[0].Title = "Go 1.26 & even more"
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	changed := now.Format(http.TimeFormat)
	for p, v := range validators() {
		wantChange := !strings.HasPrefix(p, "/sections/news") && !strings.HasSuffix(p, ".opml")
		if got := v[0] == changed && v[1] != before[p][1]; got != wantChange {
			t.Errorf("%s: validators %v → %v, want changed = %v", p, before[p], v, wantChange)
		}
	}
}

func TestServiceUnavailableUntilBuilt(t *testing.T) {
	t.Parallel()
	errDown := errors.New("store down")
	store := &fakeStore{err: errDown}
	s := NewSite(store, testOptions())
	check := func(when string) {
		t.Helper()
		for _, path := range allPaths() {
			resp := request(t, s, "GET", path, nil)
			b := body(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || len(b) == 0 {
				t.Errorf("%s: GET %s: status %d, body %q; want 503 with a message", when, path, resp.StatusCode, b)
			}
		}
		if resp := request(t, s, "GET", "/nope", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: GET /nope: status %d, want 404", when, resp.StatusCode)
		}
	}
	check("before Rebuild")
	if err := s.Rebuild(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Rebuild() = %v, want %v", err, errDown)
	}
	check("after a failed Rebuild")

	store.err = nil
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if resp := request(t, s, "GET", "/feed.json", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after Rebuild: status %d, want 200", resp.StatusCode)
	}
}

func TestIDsAreStableAcrossSites(t *testing.T) {
	t.Parallel()
	ids := func() []string {
		s := mustSite(t, newTestStore(), testOptions())
		var f jsonFeed
		decodeJSON(t, body(t, request(t, s, "GET", "/feed.json", nil)), &f)
		var out []string
		for _, it := range f.Items {
			out = append(out, it.ID)
		}
		return out
	}
	a, b := ids(), ids()
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("ids differ between two Sites:\n%v\n%v", a, b)
	}
	seen := make(map[string]bool)
	for _, id := range a {
		if seen[id] {
			t.Errorf("id %s repeated", id)
		}
		seen[id] = true
	}
}

// TestConcurrentRebuildAndServe is for the race detector.
func TestConcurrentRebuildAndServe(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if err := s.Rebuild(t.Context()); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				for _, p := range []string{"/", "/feed.atom", "/sections/go.rss"} {
					if resp := request(t, s, "GET", p, http.Header{"Accept-Encoding": {"gzip"}}); resp.StatusCode != http.StatusOK {
						t.Errorf("GET %s: status %d", p, resp.StatusCode)
					}
				}
			}
		})
	}
	wg.Wait()
}

// A rebuild compresses nothing: the gzip of an output is made by the first
// request that wants it, once, however many ask at the same moment.
func TestGzipMadeOnFirstRequest(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for path, out := range *s.outputs.Load() {
		if out.gzipped != nil {
			t.Fatalf("%s compressed by the rebuild", path)
		}
	}
	// A plain request, and a 304, compress nothing either.
	plain := request(t, s, "GET", "/feed.rss", nil)
	body(t, plain)
	body(t, request(t, s, "GET", "/feed.rss", http.Header{"If-None-Match": {plain.Header.Get("ETag")}}))
	bodies := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() {
			bodies[i] = body(t, request(t, s, "GET", "/feed.atom", http.Header{"Accept-Encoding": {"gzip"}}))
		})
	}
	wg.Wait()
	for i := range bodies {
		if !bytes.Equal(bodies[i], bodies[0]) || len(bodies[i]) == 0 {
			t.Fatalf("concurrent first gzip requests got different bodies")
		}
	}
	if out := (*s.outputs.Load())["/feed.rss"]; out.gzipped != nil {
		t.Error("/feed.rss compressed though nobody asked for it gzipped")
	}
}
