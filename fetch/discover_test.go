package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator/internal/loopback"
	"github.com/planetgo/aggregator/internal/pipenet"
)

// site is a test web site: each path's body and Content-Type, the requests
// it got, and the User-Agent of each.
type site struct {
	*httptest.Server
	mu       sync.Mutex
	pages    map[string][2]string // path → Content-Type, body
	requests []string             // paths, in order
	agents   []string
}

func newSite(t *testing.T, ip string, pages map[string][2]string) *site {
	t.Helper()
	s := &site{pages: pages}
	s.Server = loopback.Serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path)
		s.agents = append(s.agents, r.Header.Get("User-Agent"))
		page, ok := s.pages[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", page[0])
		w.Write([]byte(page[1]))
	}))
	return s
}

func (s *site) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

const htmlType = "text/html; charset=utf-8"

// foundSummary is each feed of d as "URL via (format, N items, title)", or
// "URL via: error kind" for one that is no feed.
func foundSummary(d Discovery) []string {
	var out []string
	for _, f := range d.Feeds {
		if f.Err != nil {
			out = append(out, fmt.Sprintf("%s %s: %s", f.URL, f.Via, Kind(f.Err)))
			continue
		}
		out = append(out, fmt.Sprintf("%s %s (%s, %d items, %s)", f.URL, f.Via, f.Format, f.Items, f.Title))
	}
	return out
}

// TestDiscoverAlternates: the feeds a page names, relative (against its
// <base href>) and absolute, on its host and another, each fetched once;
// links of other types and repeated ones are left out, a named feed that
// fails is listed as failing, and no well-known path is tried.
func TestDiscoverAlternates(t *testing.T) {
	t.Parallel()
	rss, atom, jsonFeed := readTestdata(t, "rss-basic.xml"), readTestdata(t, "atom-preview.xml"), readTestdata(t, "jsonfeed.json")
	other := newSite(t, "127.0.0.1", map[string][2]string{"/comments.json": {"application/feed+json", string(jsonFeed)}})
	s := newSite(t, "127.0.0.1", nil)
	page := fmt.Sprintf(`<!DOCTYPE html><html><head><title>Blog</title>
<base href="/blog/">
<link rel="stylesheet" href="style.css">
<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">
<link rel="alternate" type="application/json+oembed" href="/oembed">
<LINK REL="Alternate" TYPE="application/rss+xml; charset=utf-8" href="posts.rss" title="Posts (RSS)">
<link rel="alternate" type="application/rss+xml" href="/blog/posts.rss">
<link rel="alternate home" type="application/atom+xml" href="%s/blog/posts.atom" title="Posts (Atom)">
<link rel="alternate" type="application/atom+xml" href="missing.atom">
<link rel="alternate" type="application/feed+json" href="%s/comments.json">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><a href="/feed">not this</a></body></html>`, s.URL, other.URL)
	s.pages = map[string][2]string{
		"/":                {htmlType, page},
		"/blog/posts.rss":  {"application/rss+xml", string(rss)},
		"/blog/posts.atom": {"application/atom+xml", string(atom)},
		"/feed":            {"application/rss+xml", string(rss)},
	}
	c := newClient(Options{UserAgent: "discover-test/1"})
	d, err := c.Discover(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		s.URL + "/blog/posts.rss " + ViaLink + " (rss, 3 items, Basic & Plain)",
		s.URL + "/blog/posts.atom " + ViaLink + " (atom, 4 items, Preview sample)",
		other.URL + "/comments.json " + ViaLink + " (json, 2 items, JSON Example)",
		s.URL + "/blog/missing.atom " + ViaLink + ": http status 404",
	}
	if got := foundSummary(d); !slices.Equal(got, want) || d.Site != s.URL+"/" || len(d.Tried) != 0 {
		t.Errorf("Discover() = %q at %q, tried %q; want %q", got, d.Site, d.Tried, want)
	}
	if got, want := s.asked(), []string{"/", "/blog/posts.rss", "/blog/posts.atom", "/blog/missing.atom"}; !slices.Equal(got, want) {
		t.Errorf("the site was asked for %q, want %q", got, want)
	}
	if got := other.asked(); !slices.Equal(got, []string{"/comments.json"}) {
		t.Errorf("the other host was asked for %q", got)
	}
	for _, ua := range append(s.agents, other.agents...) {
		if ua != "discover-test/1" {
			t.Errorf("User-Agent %q, want the client's", ua)
		}
	}
	if newest := d.Feeds[0].Newest; !newest.Equal(time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("newest item of the RSS feed = %v", newest)
	}
}

// TestDiscoverFeedURL: an address that is a feed is the one feed found,
// with one request; an address without a scheme is asked for with https,
// then http.
func TestDiscoverFeedURL(t *testing.T) {
	t.Parallel()
	s := newSite(t, "127.0.0.1", map[string][2]string{"/feed.xml": {"text/xml", string(readTestdata(t, "rss-basic.xml"))}})
	c := newClient(Options{})
	for _, address := range []string{s.URL + "/feed.xml", strings.TrimPrefix(s.URL, "http://") + "/feed.xml"} {
		before := len(s.asked())
		d, err := c.Discover(context.Background(), address)
		if err != nil {
			t.Fatalf("Discover(%q): %v", address, err)
		}
		want := []string{s.URL + "/feed.xml " + ViaPage + " (rss, 3 items, Basic & Plain)"}
		if got := foundSummary(d); !slices.Equal(got, want) {
			t.Errorf("Discover(%q) = %q, want %q", address, got, want)
		}
		if n := len(s.asked()) - before; n != 1 {
			t.Errorf("Discover(%q) sent %d requests, want 1", address, n)
		}
	}
}

// TestDiscoverWellKnown: a page that names no feed (or a 404) leads to the
// well-known paths at the site's root, each asked for once: those that are
// feeds are found, a second address of the same feed once, pages and 404s
// are passed over.
func TestDiscoverWellKnown(t *testing.T) {
	t.Parallel()
	rss := string(readTestdata(t, "rss-basic.xml"))
	s := newSite(t, "127.0.0.1", map[string][2]string{
		"/blog/":     {htmlType, `<html><head><title>No feeds named</title></head><body>hi</body></html>`},
		"/rss.xml":   {"application/rss+xml", rss},
		"/atom.xml":  {"application/rss+xml", rss}, // the same feed again
		"/index.xml": {htmlType, "<html><body>a page</body></html>"},
		"/feed.json": {"application/feed+json", string(readTestdata(t, "jsonfeed.json"))},
	})
	c := newClient(Options{})
	for _, path := range []string{"/blog/", "/no/such/page"} {
		before := len(s.asked())
		d, err := c.Discover(context.Background(), s.URL+path)
		if err != nil {
			t.Fatalf("Discover(%s): %v", path, err)
		}
		want := []string{
			s.URL + "/rss.xml " + ViaWellKnown + " (rss, 3 items, Basic & Plain)",
			s.URL + "/feed.json " + ViaWellKnown + " (json, 2 items, JSON Example)",
		}
		if got := foundSummary(d); !slices.Equal(got, want) {
			t.Errorf("Discover(%s) = %q, want %q", path, got, want)
		}
		wantAsked := []string{path, "/feed", "/rss.xml", "/atom.xml", "/index.xml", "/feed.json"}
		if got := s.asked()[before:]; !slices.Equal(got, wantAsked) {
			t.Errorf("Discover(%s) asked for %q, want %q", path, got, wantAsked)
		}
		if len(d.Tried) != 5 || d.Tried[0] != s.URL+"/feed" {
			t.Errorf("Tried = %q, want the five well-known URLs", d.Tried)
		}
	}
}

// TestDiscoverSilentHost: a host that never answers fails as a timeout
// within the fetch's header timeout, and nothing more is asked of it; a
// site that answers 500 is an error too, without probing.
func TestDiscoverSilentHost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var requests atomic.Int32
		n := pipenet.New()
		n.Handle("silent.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			<-r.Context().Done()
		}))
		n.Handle("broken.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		}))
		hc := n.Client()
		defer n.Close()
		defer hc.CloseIdleConnections()
		c := NewClient(hc, Options{Timeout: 30 * time.Second, HeaderTimeout: 10 * time.Second})
		start := time.Now()
		_, err := c.Discover(t.Context(), "http://silent.test/")
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("Discover(silent) = %v, want a timeout", err)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("took %v, want the header timeout", took)
		}
		var status *StatusError
		if _, err := c.Discover(t.Context(), "http://broken.test/"); !errors.As(err, &status) || status.Code != 500 {
			t.Errorf("Discover(broken) = %v, want its 500", err)
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("%d requests, want one to each host", n)
		}
	})
}

// TestDiscoverPrivateRefused: a page on a public address cannot make us
// fetch from a private one, as a redirect could not; a page on a private
// address names what it likes.
func TestDiscoverPrivateRefused(t *testing.T) {
	t.Parallel()
	rss := string(readTestdata(t, "rss-basic.xml"))
	internal := newSite(t, "127.0.0.1", map[string][2]string{"/feed": {"application/rss+xml", rss}})
	link := `<link rel="alternate" type="application/rss+xml" href="` + internal.URL + `/feed">`
	public := newSite(t, "127.0.0.2", map[string][2]string{"/": {htmlType, link}})
	private := newSite(t, "127.0.0.1", map[string][2]string{"/": {htmlType, link}})
	c := NewClient(&http.Client{Transport: &http.Transport{}}, Options{IsPrivate: publicInTests})
	d, err := c.Discover(context.Background(), public.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Feeds) != 1 || !errors.Is(d.Feeds[0].Err, ErrPrivateRedirect) || len(internal.asked()) != 0 {
		t.Errorf("from a public page: %q, internal asked for %q; want the link refused", foundSummary(d), internal.asked())
	}
	d, err = c.Discover(context.Background(), private.URL+"/")
	if err != nil || len(d.Found()) != 1 {
		t.Errorf("from a private page: %q, %v; want the feed", foundSummary(d), err)
	}
}

// TestDiscoverBadAddress: what is no http(s) address is said so before any
// request.
func TestDiscoverBadAddress(t *testing.T) {
	t.Parallel()
	for _, address := range []string{"ftp://example.com/", "http:///feed", "", "exa mple.com:x"} {
		if _, err := newClient(Options{}).Discover(context.Background(), address); !errors.Is(err, ErrBadAddress) {
			t.Errorf("Discover(%q) = nil error", address)
		}
	}
}

// FuzzFeedLinks: whatever a page holds, the feeds it names are absolute
// http(s) URLs within the size cap, each once.
func FuzzFeedLinks(f *testing.F) {
	f.Add([]byte(`<base href="/b/"><link rel="alternate" type="application/rss+xml" href="x.rss" title="X">`), "http://a.example/p/")
	f.Add([]byte(`<LINK REL="alternate feed" TYPE="Application/Atom+XML; q=1" HREF="//other.example/feed">`), "https://a.example/")
	f.Add(readTestdata(f, "not-a-feed.html"), "http://a.example/")
	f.Fuzz(func(t *testing.T, body []byte, page string) {
		seen := make(map[string]bool)
		for _, l := range feedLinks(body, page) {
			if !isHTTP(l.url) || len(l.url) > maxURL || len(l.title) > maxTitle || seen[l.url] {
				t.Errorf("feedLinks() gave %q", l.url)
			}
			seen[l.url] = true
		}
	})
}

// A discovery prints each feed found with its format, items and newest
// date, the links that are no feeds, the links left unfetched, and the
// well-known paths tried when none was found.
func TestDiscoveryWriteText(t *testing.T) {
	t.Parallel()
	newest := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d := Discovery{
		Site: "https://blog.example/",
		Feeds: []FoundFeed{
			{URL: "https://blog.example/feed.atom", Via: ViaLink, Title: "Blog", Format: "atom", Items: 1, Newest: newest},
			{URL: "https://blog.example/empty.rss", Via: ViaLink, Title: "Empty", Format: "rss"},
			{URL: "https://blog.example/comments", Err: errors.New("not a feed")},
		},
		Unchecked: 3,
	}
	want := `https://blog.example/: 2 feeds

Blog
  url       https://blog.example/feed.atom
  format    atom, 1 item, newest 2026-12-01T09:00:00Z
  found as  <link rel="alternate">

Empty
  url       https://blog.example/empty.rss
  format    rss, 0 items, no item dated
  found as  <link rel="alternate">

https://blog.example/comments (named by the page): not a feed

The page names 3 more feeds, not fetched.
`
	var b strings.Builder
	d.WriteText(&b)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	Discovery{Site: "https://empty.example/", Tried: []string{"https://empty.example/feed"}}.WriteText(&b)
	if want := "https://empty.example/: no feed found\nThe page names no feed, and none of these is one:\n  https://empty.example/feed\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
