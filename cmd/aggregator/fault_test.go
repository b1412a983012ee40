package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/internal/pipenet"
	"github.com/planetgo/aggregator/poll"
)

// faultServer serves, on its own host each, every way a source misbehaves,
// and counts the requests for each host and path.
type faultServer struct {
	net  *pipenet.Net
	mu   sync.Mutex
	hits map[string]int // "host/path" → requests
}

func (f *faultServer) count(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.Host+r.URL.Path]++
}

func (f *faultServer) requests(hostPath string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[hostPath]
}

func testFeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newFaultServer must be called inside the synctest bubble.
func newFaultServer(t *testing.T) *faultServer {
	f := &faultServer{net: pipenet.New(), hits: map[string]int{}}
	blog := testFeed(t, "testdata/blog.atom")
	news := testFeed(t, "testdata/news.rss")
	fetchData := func(name string) []byte { return testFeed(t, filepath.Join("..", "..", "fetch", "testdata", name)) }
	static := func(body []byte, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			etag := fmt.Sprintf(`"%x"`, len(body))
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
			w.Header().Set("Content-Type", contentType)
			w.Write(body)
		}
	}
	status := func(code int, retryAfter string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(code)
		}
	}
	redirect := func(code int, to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, code) }
	}
	hosts := map[string]map[string]http.HandlerFunc{
		"good.test":        {"/blog.atom": static(blog, "application/atom+xml"), "/news.rss": static(news, "application/rss+xml")},
		"busy.test":        {"/limited": status(429, "3600"), "/sibling": static(blog, "application/atom+xml")},
		"unavailable.test": {"/": status(503, time.Now().Add(30*time.Minute).UTC().Format(http.TimeFormat))},
		"error.test":       {"/": status(500, "")},
		"missing.test":     {"/": status(404, "")},
		"gone.test":        {"/": status(410, "")},
		"temporary.test":   {"/old": redirect(302, "/feed"), "/feed": static(news, "application/rss+xml")},
		"permanent.test":   {"/old": redirect(301, "/middle"), "/middle": redirect(308, "http://new.test/feed")},
		"new.test":         {"/feed": static(blog, "application/atom+xml")},
		"loop.test":        {"/a": redirect(302, "/b"), "/b": redirect(301, "/a")},
		"bomb.test":        {"/": gzipBomb},
		"endless.test": {"/": func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("<item>"), 1000)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
		"trickle.test":   {"/": pipenet.Trickle(news)},
		"truncated.test": {"/": static(fetchData("rss-truncated.xml"), "application/rss+xml")},
		"html.test":      {"/": static(fetchData("not-a-feed.html"), "text/html")},
		"charset.test": {
			"/latin1-declared":   static(fetchData("rss-latin1-declared.xml"), "text/xml; charset=utf-8"),
			"/latin1-undeclared": static(fetchData("rss-latin1-undeclared.xml"), "text/xml"),
			"/cp1251":            static(fetchData("rss-windows-1251.xml"), "text/xml"),
			"/sjis":              static(fetchData("rss-shift-jis-undeclared.xml"), "text/xml; charset=Shift_JIS"),
		},
		"links.test": {
			"/feeds/xml-base.atom": static(fetchData("atom-xml-base.xml"), "application/atom+xml"),
			"/feeds/no-link.rss":   static(fetchData("rss-relative-no-link.xml"), "application/rss+xml"),
		},
	}
	for host, paths := range hosts {
		f.net.Handle(host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.count(r)
			h, ok := paths[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h(w, r)
		}))
	}
	return f
}

// gzipBomb sends an endless gzip stream of zeros.
func gzipBomb(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Encoding", "gzip")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	zw.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>`))
	zeros := make([]byte, 64<<10)
	for r.Context().Err() == nil {
		if _, err := zw.Write(zeros); err != nil {
			return
		}
	}
}

// faultSources maps each source name to its URL.
var faultSources = [][2]string{
	{"good-blog", "http://good.test/blog.atom"},
	{"good-news", "http://good.test/news.rss"},
	{"limited", "http://busy.test/limited"},
	{"sibling", "http://busy.test/sibling"},
	{"unavailable", "http://unavailable.test/"},
	{"error", "http://error.test/"},
	{"missing", "http://missing.test/"},
	{"gone", "http://gone.test/"},
	{"temporary", "http://temporary.test/old"},
	{"permanent", "http://permanent.test/old"},
	{"loop", "http://loop.test/a"},
	{"bomb", "http://bomb.test/"},
	{"endless", "http://endless.test/"},
	{"trickle", "http://trickle.test/"},
	{"truncated", "http://truncated.test/"},
	{"html", "http://html.test/"},
	{"latin1-declared", "http://charset.test/latin1-declared"},
	{"latin1-undeclared", "http://charset.test/latin1-undeclared"},
	{"cp1251", "http://charset.test/cp1251"},
	{"sjis", "http://charset.test/sjis"},
	{"xml-base", "http://links.test/feeds/xml-base.atom"},
	{"no-link", "http://links.test/feeds/no-link.rss"},
}

func faultConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "database: %s\nschedule: \"@every 15m\"\n", filepath.Join(dir, "test.db"))
	fmt.Fprintf(&b, "fetch: {timeout: 30s, header_timeout: 10s, max_bytes: 1MiB, concurrency: 8, per_host: 2, jitter: 0%s}\n", extra)
	b.WriteString("sources:\n")
	for _, s := range faultSources {
		fmt.Fprintf(&b, "  - {name: %s, url: %q}\n", s[0], s[1])
	}
	return writeAndLoadConfig(t, dir, b.String())
}

func openTestApp(t *testing.T, cfg *config.Config, n *pipenet.Net) *app {
	t.Helper()
	// Saves commit alone: the batch delay of shared commits would move the
	// bubble's clock, and these tests count time to the millisecond.
	a, err := openAppWith(context.Background(), cfg, discardLogger(), appOptions{dial: n.Dial, batchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func itemsBySource(t *testing.T, a *app) map[string][]aggregator.Item {
	t.Helper()
	items, err := a.store.RecentItems(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]aggregator.Item{}
	for _, it := range items {
		by[it.SourceID] = append(by[it.SourceID], it)
	}
	return by
}

// TestPassWithFaults runs passes over healthy and broken sources on the
// fake clock: every healthy item is stored in the same pass as the
// failures, every failure is classified with the right next attempt, no
// request goes to a host before its Retry-After, a 410 is no longer polled,
// and a permanent redirect seen three times becomes a move.
func TestPassWithFaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFaultServer(t)
		defer f.net.Close()
		cfg := faultConfig(t, "")
		a := openTestApp(t, cfg, f.net)
		defer a.close()

		t0 := time.Now().UTC()
		var printed bytes.Buffer
		err := a.poller.Refresh(context.Background(), cfg.Sources, func(o poll.Outcome) { o.WriteText(&printed) })
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took != 30*time.Second {
			t.Errorf("pass took %v, want 30s: the trickling source's timeout", took)
		}
		for _, host := range []string{"good.test", "busy.test", "charset.test", "links.test"} {
			if peak := f.net.Peak(host); peak > cfg.Fetch.PerHost {
				t.Errorf("%d connections open to %s at once, want at most per_host %d", peak, host, cfg.Fetch.PerHost)
			}
		}
		states, err := a.store.States(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		const m = time.Minute
		tests := []struct {
			source string
			kind   string
			next   time.Duration // after t0; -1 for none
		}{
			{"good-blog", "", 15 * m},
			{"good-news", "", 15 * m},
			{"limited", "http status 429", time.Hour},
			{"unavailable", "http status 503", 30 * m},
			{"error", "http status 500", 15 * m},
			{"missing", "http status 404", 15 * m},
			{"gone", "http status 410", -1},
			{"temporary", "", 15 * m},
			{"permanent", "", 15 * m},
			{"loop", "redirect loop", 15 * m},
			{"bomb", "too large", 15 * m},
			{"endless", "too large", 15 * m},
			{"trickle", "timeout", 15 * m},
			{"truncated", "parse error", 15 * m},
			{"html", "not a feed", 15 * m},
			{"latin1-declared", "", 15 * m},
			{"sjis", "", 15 * m},
			{"xml-base", "", 15 * m},
		}
		for _, tt := range tests {
			st := states[tt.source]
			if st.ErrorKind != tt.kind {
				t.Errorf("%s: ErrorKind %q, want %q (%s)", tt.source, st.ErrorKind, tt.kind, st.Result())
			}
			want := time.Time{}
			if tt.next >= 0 {
				want = t0.Add(tt.next)
			}
			if !st.NextAttempt.Equal(want) {
				t.Errorf("%s: NextAttempt %v, want %v", tt.source, st.NextAttempt, want)
			}
			if failed := tt.kind != ""; failed != (st.ConsecutiveFailures == 1) || st.LastAttempt.IsZero() {
				t.Errorf("%s: %d failures, last attempt %v", tt.source, st.ConsecutiveFailures, st.LastAttempt)
			}
		}
		if !states["gone"].Gone || states["limited"].RetryAfterHost != "busy.test" {
			t.Errorf("gone = %+v, limited = %+v", states["gone"], states["limited"])
		}
		if st := states["permanent"]; st.RedirectTo != "http://new.test/feed" || st.RedirectCount != 1 || st.MovedTo != "" {
			t.Errorf("permanent: redirected to %q %d times, moved to %q; want the new URL once, no move yet", st.RedirectTo, st.RedirectCount, st.MovedTo)
		}

		items := itemsBySource(t, a)
		wantItems := map[string]string{
			"good-blog":         "Generics, revisited",
			"good-news":         "Datacenter moves to the moon",
			"temporary":         "Datacenter moves to the moon",
			"latin1-declared":   "Déjà vu",
			"latin1-undeclared": "Déjà vu",
			"cp1251":            "Привет, мир",
			"sjis":              "こんにちは世界",
		}
		for src, title := range wantItems {
			found := false
			for _, it := range items[src] {
				found = found || it.Title == title
			}
			if !found {
				t.Errorf("%s: no item %q stored in the pass: %+v", src, title, items[src])
			}
		}
		links := map[string]bool{}
		for _, src := range []string{"xml-base", "no-link"} {
			for _, it := range items[src] {
				links[it.Link] = true
			}
		}
		for _, l := range []string{"https://cdn.example/base/posts/one.html", "https://other.example/entries/two.html",
			"http://links.test/feeds/posts/one.html", "http://links.test/two.html"} {
			if !links[l] {
				t.Errorf("no item links to %s: %v", l, links)
			}
		}
		for _, want := range []string{
			"good-blog: new 2\n",
			"gone: error: http status 410 Gone\n  gone: no longer polled",
			"error: error: http status 500 Internal Server Error\n  next attempt " + t0.Add(15*m).Format(time.RFC3339) + " (1 failure)",
		} {
			if !strings.Contains(printed.String(), want) {
				t.Errorf("fetch output lacks %q:\n%s", want, printed.String())
			}
		}

		// A quarter of an hour later: the sources due are asked again, but
		// not the gone one, not those waiting for a later time, and no
		// source on the host whose Retry-After has not passed.
		time.Sleep(15 * m)
		tick := time.Now()
		before := map[string]int{}
		for _, hp := range []string{"gone.test/", "busy.test/sibling", "busy.test/limited", "unavailable.test/", "error.test/", "good.test/blog.atom"} {
			before[hp] = f.requests(hp)
		}
		if err := a.poller.Pass(context.Background(), cfg.Sources, false); err != nil {
			t.Fatal(err)
		}
		for hp, n := range before {
			asked := f.requests(hp) > n
			if want := hp == "error.test/" || hp == "good.test/blog.atom"; asked != want {
				t.Errorf("second pass: %s asked = %v, want %v", hp, asked, want)
			}
		}
		states, _ = a.store.States(context.Background())
		st := states["error"]
		if base := 15 * m; st.ConsecutiveFailures != 2 || st.NextAttempt.Before(tick.Add(base)) || st.NextAttempt.After(tick.Add(2*base)) {
			t.Errorf("error after 2 failures: next attempt %v, want within 15-30m of %v", st.NextAttempt, tick)
		}
		if st := states["good-blog"]; st.Result() != "not modified" || !st.NextAttempt.Equal(tick.Add(15*m)) {
			t.Errorf("good-blog: %q, next attempt %v", st.Result(), st.NextAttempt)
		}

		// A restart while busy.test's Retry-After holds still respects it.
		a.close()
		a = openTestApp(t, cfg, f.net)
		due, err := a.poller.Due(context.Background(), cfg.Sources, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range due {
			if src.Name == "sibling" || src.Name == "limited" || src.Name == "gone" {
				t.Errorf("after a restart, %s is due before busy.test's Retry-After", src.Name)
			}
		}

		// status.json reports every source.
		w := httptest.NewRecorder()
		poll.StatusHandler(a.store, func() ([]aggregator.Source, *aggregator.Rules) { return a.cfg.Sources, a.cfg.Rules }, a.logger).ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
		var status struct{ Sources []poll.Status }
		if err := json.Unmarshal(w.Body.Bytes(), &status); err != nil || len(status.Sources) != len(faultSources) {
			t.Fatalf("status.json: %v, %d sources:\n%s", err, len(status.Sources), w.Body)
		}
		for _, s := range status.Sources {
			switch s.Name {
			case "gone":
				if !s.Gone || s.ErrorKind != "http status 410" || !s.NextAttempt.IsZero() {
					t.Errorf("status of gone: %+v", s)
				}
			case "sibling":
				if !s.HostBlockedUntil.Equal(t0.Add(time.Hour)) || !s.NextAttempt.Equal(t0.Add(time.Hour)) {
					t.Errorf("status of sibling: %+v, want blocked until %v", s, t0.Add(time.Hour))
				}
			case "trickle":
				if s.ErrorKind != "timeout" || s.ConsecutiveFailures != 2 || s.Error == "" || !s.LastSuccess.IsZero() {
					t.Errorf("status of trickle: %+v", s)
				}
			}
		}
	})
}

// TestPermanentRedirectBecomesMove fetches a source that has moved three
// times, then finds it fetched from its new URL directly.
func TestPermanentRedirectBecomesMove(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := pipenet.New()
		defer n.Close()
		blog := testFeed(t, "testdata/blog.atom")
		var mu sync.Mutex
		old := 0
		n.Handle("old.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			old++
			mu.Unlock()
			http.Redirect(w, r, "http://new.test/feed", http.StatusMovedPermanently)
		}))
		n.Handle("new.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blog) }))
		dir := t.TempDir()
		cfg := writeAndLoadConfig(t, dir, fmt.Sprintf("database: %s\nsources:\n  - {name: moved, url: \"http://old.test/feed\"}\n", filepath.Join(dir, "db")))
		a := openTestApp(t, cfg, n)
		defer a.close()
		var out bytes.Buffer
		for range 4 {
			if err := a.poller.Refresh(context.Background(), cfg.Sources, func(o poll.Outcome) { o.WriteText(&out) }); err != nil {
				t.Fatal(err)
			}
		}
		if old != 3 {
			t.Errorf("%d requests to the old URL, want 3: then the new one directly", old)
		}
		st, _ := a.store.State(context.Background(), "moved")
		if st.MovedTo != "http://new.test/feed" || !strings.Contains(st.Result(), "moved to http://new.test/feed") {
			t.Errorf("state = %+v, want moved to the new URL", st)
		}
		if !strings.Contains(out.String(), "moved: not modified; moved to http://new.test/feed\n") {
			t.Errorf("fetch output:\n%s", out.String())
		}
	})
}

// TestJitterSpreadsAPass checks that sources on one schedule start at
// different times within the jitter window, each at the same place every
// pass.
func TestJitterSpreadsAPass(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := pipenet.New()
		defer n.Close()
		blog := testFeed(t, "testdata/blog.atom")
		var mu sync.Mutex
		starts := map[string][]time.Duration{}
		var t0 time.Time
		dir := t.TempDir()
		var b strings.Builder
		fmt.Fprintf(&b, "database: %s\nschedule: \"@every 15m\"\nfetch: {jitter: 1m}\nsources:\n", filepath.Join(dir, "db"))
		for i := range 6 {
			host := fmt.Sprintf("h%d.test", i)
			fmt.Fprintf(&b, "  - {name: s%d, url: \"http://%s/\"}\n", i, host)
			n.Handle(host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				starts[host] = append(starts[host], time.Since(t0)%(15*time.Minute))
				mu.Unlock()
				w.Write(blog)
			}))
		}
		cfg := writeAndLoadConfig(t, dir, b.String())
		a := openTestApp(t, cfg, n)
		defer a.close()
		t0 = time.Now()
		for range 2 {
			if err := a.poller.Pass(context.Background(), cfg.Sources, true); err != nil {
				t.Fatal(err)
			}
			time.Sleep(15*time.Minute - time.Since(t0)%(15*time.Minute))
		}
		seen := map[time.Duration]bool{}
		for host, s := range starts {
			if len(s) != 2 || s[0] != s[1] || s[0] >= time.Minute {
				t.Errorf("%s started at %v into each pass, want the same offset within 1m", host, s)
			}
			seen[s[0]] = true
		}
		if len(seen) < 5 {
			t.Errorf("offsets %v: sources not spread", starts)
		}
	})
}
