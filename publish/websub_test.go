package publish

import (
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

var testHubs = []string{"https://planet.example/websub", "https://hub.example/"}

// hubLinks returns the hub and self links a subscriber discovers in a feed
// document of path (WebSub 4): Atom and RSS atom:link, JSON Feed hubs and
// feed_url.
func hubLinks(t *testing.T, path string, b []byte) (hubs []string, self string) {
	t.Helper()
	type link struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	}
	var links []link
	switch filepath.Ext(path) {
	case ".atom":
		var doc struct {
			Links []link `xml:"http://www.w3.org/2005/Atom link"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		links = doc.Links
	case ".rss":
		var doc struct {
			Channel struct {
				Links []link `xml:"http://www.w3.org/2005/Atom link"`
			} `xml:"channel"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		links = doc.Channel.Links
	case ".json":
		var doc struct {
			FeedURL string `json:"feed_url"`
			Hubs    []struct{ Type, URL string }
		}
		decodeJSON(t, b, &doc)
		for _, h := range doc.Hubs {
			if h.Type != "WebSub" {
				t.Errorf("%s: hub type %q, want WebSub", path, h.Type)
			}
			hubs = append(hubs, h.URL)
		}
		return hubs, doc.FeedURL
	}
	for _, l := range links {
		switch l.Rel {
		case "hub":
			hubs = append(hubs, l.Href)
		case "self":
			self = l.Href
		}
	}
	return hubs, self
}

// TestFeedsNameTheirHubs: every feed, in every format, names each hub in
// order and itself, in its document and in the Link header of every 200
// (plain, gzip, HEAD); pages name none.
func TestFeedsNameTheirHubs(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Hubs = testHubs
	s := mustSite(t, newTestStore(), opts)
	docs := make(map[string][]byte)
	for _, path := range feedPaths() {
		self := "https://planet.example" + path
		want := `<https://planet.example/websub>; rel="hub", <https://hub.example/>; rel="hub", <` + self + `>; rel="self"`
		for _, h := range []http.Header{nil, {"Accept-Encoding": {"gzip"}}} {
			for _, method := range []string{"GET", "HEAD"} {
				resp := request(t, s, method, path, h)
				if got := resp.Header.Values("Link"); len(got) != 1 || got[0] != want {
					t.Errorf("%s %s (%v): Link = %q, want %q", method, path, h, got, want)
				}
			}
		}
		b := body(t, request(t, s, "GET", path, nil))
		hubs, gotSelf := hubLinks(t, path, b)
		if !slices.Equal(hubs, testHubs) || gotSelf != self {
			t.Errorf("%s: document names hubs %q and self %q, want %q and %q", path, hubs, gotSelf, testHubs, self)
		}
		if strings.HasSuffix(path, ".atom") {
			docs[strings.ReplaceAll(path[1:], "/", "-")] = b
		}
	}
	if got := request(t, s, "GET", "/", nil).Header.Get("Link"); got != "" {
		t.Errorf("the page has Link %q, want none", got)
	}

	// Without hubs, no Link header.
	plain := mustSite(t, newTestStore(), testOptions())
	if got := request(t, plain, "GET", "/feed.atom", nil).Header.Get("Link"); got != "" {
		t.Errorf("without hubs: Link %q, want none", got)
	}

	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Log("jing is not installed: Atom with hub links not validated")
		return
	}
	schema := filepath.Join("..", "..", "shared", "schemas", "atom.rnc")
	if _, err := os.Stat(schema); err != nil {
		t.Logf("Atom schema not found at %s: not validated", schema)
		return
	}
	if out, err := runJing(t, jing, schema, docs); err != nil {
		t.Errorf("jing: %v\n%s", err, out)
	}
}

// TestChangedNamesChangedFeeds: a Rebuild that changed a section's items
// reports exactly the feeds whose bytes changed, with their bodies and
// Link headers; one that changed nothing reports nothing; the first
// reports nothing (it has nothing to compare with).
func TestChangedNamesChangedFeeds(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got [][]FeedChange
	opts := testOptions()
	opts.Hubs = testHubs
	opts.Changed = func(c []FeedChange) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	}
	store := newTestStore()
	s := mustSite(t, store, opts)
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("Changed called %d times for no change: %v", len(got), got)
	}
	store.items = append(store.items, aggregator.Item{
		ID: "new", SourceID: "delta", Title: "New in news", Link: "https://delta.example/new",
		Published: fixedNow.Add(-time.Minute), FirstSeen: fixedNow,
	})
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Changed called %d times, want 1", len(got))
	}
	var urls []string
	for _, c := range got[0] {
		urls = append(urls, c.URL)
		fc, ok := s.Feed(c.URL)
		if !ok || string(fc.Body) != string(c.Body) || fc.ContentType != c.ContentType || fc.Link != c.Link {
			t.Errorf("Feed(%s) = %v, want what Changed gave", c.URL, ok)
		}
		if !strings.Contains(c.Link, `<`+c.URL+`>; rel="self"`) || !strings.Contains(string(c.Body), "New in news") {
			t.Errorf("%s: Link %q, body without the new item", c.URL, c.Link)
		}
	}
	want := []string{
		"https://planet.example/feed.atom", "https://planet.example/feed.json", "https://planet.example/feed.rss",
		"https://planet.example/sections/news.atom", "https://planet.example/sections/news.json", "https://planet.example/sections/news.rss",
	}
	if !slices.Equal(urls, want) {
		t.Errorf("changed feeds = %q, want %q", urls, want)
	}
	for _, u := range append(want, "https://planet.example/sections/go.rss") {
		if !s.IsFeed(u) {
			t.Errorf("IsFeed(%s) = false", u)
		}
	}
	for _, u := range []string{"https://planet.example/", "https://planet.example/sources.opml", "https://other.example/feed.atom", "https://planet.example/health.atom"} {
		if s.IsFeed(u) {
			t.Errorf("IsFeed(%s) = true", u)
		}
	}
}
