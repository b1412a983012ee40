package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func TestPageShowsItemsAndHealth(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	tests := []struct {
		name, path string
		want       []string
		wantNot    []string
	}{{
		name: "all sources",
		path: "/",
		want: []string{
			`<h3><a href="https://alpha.example/posts/1">Go 1.26 &amp; more</a></h3>`,
			`<a href="https://alpha.example/">Alpha Blog</a> · Ann Author · <time datetime="2026-02-27T09:00:00Z">27 Feb 2026 09:00 UTC</time>`,
			`<div class="content"><p>Full <b>content</b></p></div>`, // trusted, not escaped
			`<h3>A note without a link</h3>`,
			`<h3><a href="https://beta.example/2">(untitled)</a></h3>`,
			`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; friends`,
			`From the future`, `Title only`,
			`failed 2 times in a row<br>last error: parse /var/lib/planet/gamma.xml: unexpected EOF &lt;oops&gt;`,
			`: new 3</div>`, `: not modified</div>`, `not fetched yet`,
			`<li class="current"><a href="https://planet.example/">All sources</a></li>`,
			`<meta name="viewport" content="width=device-width, initial-scale=1">`,
			`<link rel="alternate" type="application/atom+xml" title="Planet Test (Atom)" href="https://planet.example/feed.atom">`,
			`<a href="https://planet.example/sources.opml">OPML</a>`,
		},
		wantNot: []string{"<script", "\x07", "\x00"},
	}, {
		name: "section",
		path: "/sections/news.html",
		want: []string{
			`<title>news — Planet Test</title>`,
			`From the future`, `Summary only`,
			`<li class="current"><a href="https://planet.example/sections/news.html">news</a></li>`,
			`<a href="https://planet.example/sections/news.opml">OPML</a>`,
			`failed 2 times`, `delta`,
		},
		wantNot: []string{"Go 1.26", "Alpha Blog"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := body(t, request(t, s, "GET", tt.path, nil))
			for _, w := range tt.want {
				if !bytes.Contains(page, []byte(w)) {
					t.Errorf("GET %s lacks %q", tt.path, w)
				}
			}
			for _, w := range tt.wantNot {
				if bytes.Contains(page, []byte(w)) {
					t.Errorf("GET %s contains %q", tt.path, w)
				}
			}
		})
	}
}

// TestSectionPageDiscoversItsOwnFeedFirst: a reader given a section's page
// subscribes to the first alternate link, which must be the section's.
func TestSectionPageDiscoversItsOwnFeedFirst(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	page := body(t, request(t, s, "GET", "/sections/go.html", nil))
	first := regexp.MustCompile(`<link rel="alternate"[^>]*href="([^"]*)"`).FindSubmatch(page)
	if first == nil || string(first[1]) != "https://planet.example/sections/go.atom" {
		t.Errorf("first alternate link = %q, want the section's Atom feed", first)
	}
}

// TestPageURLsAreHTTP: a javascript: or relative item link from a feed is
// not linked from the page, nor from any feed.
func TestPageURLsAreHTTP(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	store.items = append(store.items, aggregator.Item{
		ID: "js", SourceID: "alpha", Title: "Click me", Link: "javascript:alert(1)",
		Enclosures: []aggregator.Enclosure{{URL: "/relative.mp3", Type: "audio/mpeg"}},
		Published:  day(28, 1), FirstSeen: day(28, 1),
	}, aggregator.Item{
		ID: "rel", SourceID: "alpha", Title: "Relative", Link: "/posts/relative",
		Published: day(28, 2), FirstSeen: day(28, 2),
	})
	store.states["alpha"] = aggregator.SourceState{SiteLink: "javascript:alert(2)"}
	s := mustSite(t, store, testOptions())
	for _, path := range allPaths() {
		b := body(t, request(t, s, "GET", path, nil))
		for _, bad := range []string{"javascript:", "/relative.mp3", `"/posts/relative"`, ">/posts/relative<"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("GET %s contains %q", path, bad)
			}
		}
	}
}

func TestPageSecurityPolicy(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	for _, path := range []string{"/", "/sections/go.html"} {
		resp := request(t, s, "GET", path, nil)
		page := body(t, resp)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'none' and no script-src", path, csp)
		}
		// The policy allows the page's own stylesheet by its hash.
		style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(page)
		if style == nil {
			t.Fatalf("GET %s has no <style>", path)
		}
		sum := sha256.Sum256(style[1])
		if want := "style-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
		}
	}
	resp := request(t, s, "GET", "/feed.atom", nil)
	body(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "" {
		t.Errorf("feed has Content-Security-Policy %q", csp)
	}
}

func TestCacheMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		maxAge time.Duration
		want   string
		ttl    string // the RSS channel's, in minutes, rounded up
	}{
		{"default", 0, "public, max-age=300", "<ttl>5</ttl>"},
		{"from the schedule", 450 * time.Second, "public, max-age=450", "<ttl>8</ttl>"},
		{"under a second", time.Millisecond, "public, max-age=1", "<ttl>1</ttl>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.CacheMaxAge = tt.maxAge
			s := mustSite(t, newTestStore(), opts)
			for _, path := range allPaths() {
				resp := request(t, s, "GET", path, nil)
				body(t, resp)
				if got := resp.Header.Get("Cache-Control"); got != tt.want {
					t.Errorf("GET %s: Cache-Control = %q, want %q", path, got, tt.want)
				}
			}
			for _, path := range []string{"/feed.rss", "/sections/go.rss"} {
				if b := body(t, request(t, s, "GET", path, nil)); strings.Count(string(b), "<ttl>") != 1 || !bytes.Contains(b, []byte(tt.ttl)) {
					t.Errorf("GET %s: want one %s in the channel:\n%s", path, tt.ttl, b)
				}
			}
		})
	}
}

// opmlCheck is what a reader decodes from our OPML.
type opmlCheck struct {
	Version string             `xml:"version,attr"`
	Title   string             `xml:"head>title"`
	Body    []opmlCheckOutline `xml:"body>outline"`
}

type opmlCheckOutline struct {
	Text     string             `xml:"text,attr"`
	Type     string             `xml:"type,attr"`
	XMLURL   string             `xml:"xmlUrl,attr"`
	Outlines []opmlCheckOutline `xml:"outline"`
}

// names lists the outlines as "group/text" or "text".
func (o opmlCheck) names() []string {
	var out []string
	for _, top := range o.Body {
		if top.Type == "rss" {
			out = append(out, top.Text)
		}
		for _, sub := range top.Outlines {
			out = append(out, top.Text+"/"+sub.Text)
		}
	}
	return out
}

func TestOPML(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Sources = append(opts.Sources, aggregator.Source{Name: "loner", URL: "https://loner.example/feed"})
	store := newTestStore()
	s := mustSite(t, store, opts)
	t.Run("unrendered", func(t *testing.T) {
		// What `aggregator opml export` prints: the served list, with no
		// render and no items.
		t.Parallel()
		got, err := NewSite(store, opts).OPML(store.states)
		if err != nil {
			t.Fatalf("OPML() = %v", err)
		}
		if want := body(t, request(t, s, "GET", "/sources.opml", nil)); !bytes.Equal(got, want) {
			t.Errorf("OPML() =\n%s\nwant what /sources.opml serves:\n%s", got, want)
		}
	})
	tests := []struct {
		path string
		want []string
	}{
		// gamma is a local file: nothing a reader could subscribe to.
		{"/sources.opml", []string{"Go/Alpha Blog", "Go/Beta <News> & Views", "news/Beta <News> & Views", "news/delta", "loner"}},
		{"/sections/go.opml", []string{"Alpha Blog", "Beta <News> & Views"}},
		{"/sections/news.opml", []string{"Beta <News> & Views", "delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			var doc opmlCheck
			if err := xml.Unmarshal(body(t, request(t, s, "GET", tt.path, nil)), &doc); err != nil {
				t.Fatalf("xml.Unmarshal() = %v", err)
			}
			if doc.Version != "2.0" || doc.Title == "" {
				t.Errorf("version %q, title %q; want 2.0 and a title", doc.Version, doc.Title)
			}
			if got := strings.Join(doc.names(), "|"); got != strings.Join(tt.want, "|") {
				t.Errorf("outlines = %q, want %q", got, strings.Join(tt.want, "|"))
			}
			var walk func([]opmlCheckOutline)
			walk = func(list []opmlCheckOutline) {
				for _, o := range list {
					if o.Text == "" {
						t.Errorf("outline %+v has no text", o)
					}
					if o.Type == "rss" && publicURL(o.XMLURL) == "" {
						t.Errorf("outline %q: xmlUrl %q, want an absolute http(s) URL", o.Text, o.XMLURL)
					}
					walk(o.Outlines)
				}
			}
			walk(doc.Body)
		})
	}
}

func TestRebuildRendersOnlyChangedFeeds(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	s := NewSite(store, testOptions())
	rebuild := func(step string, wantRendered, wantReused int) {
		t.Helper()
		stats, err := s.rebuild(t.Context())
		if err != nil {
			t.Fatalf("%s: rebuild() = %v", step, err)
		}
		if stats.rendered != wantRendered || stats.reused != wantReused {
			t.Errorf("%s: rendered %d feeds, reused %d; want %d and %d", step, stats.rendered, stats.reused, wantRendered, wantReused)
		}
	}
	rebuild("first", 3, 0)
	rebuild("unchanged", 0, 3)

	// A fetch that only records a result changes the pages, not the feeds.
	st := store.states["alpha"]
	st.LastOutcome = aggregator.OutcomeNotModified
	store.states["alpha"] = st
	rebuild("state only", 0, 3)
	if page := body(t, request(t, s, "GET", "/", nil)); !bytes.Contains(page, []byte("not modified</div>\n</li>\n<li><img class=\"face\" src=\"https://planet.example/static/faces/beta.png\"")) {
		t.Errorf("page does not show alpha's new result")
	}

	// alpha is in section go only.
	store.items[0].Content = "<p>Edited</p>"
	rebuild("alpha edited", 2, 1)
	if got := body(t, request(t, s, "GET", "/sections/go.atom", nil)); !bytes.Contains(got, []byte("Edited")) {
		t.Errorf("section go's feed lacks the edit")
	}

	// A source's new title shows in every feed holding its items.
	st = store.states["gamma"]
	st.FeedTitle = "Gamma Rays"
	store.states["gamma"] = st
	rebuild("gamma renamed", 2, 1)

	// Pruning an item of beta (go and news) changes every feed.
	store.items = slices.DeleteFunc(store.items, func(it aggregator.Item) bool { return it.ID == "https://beta.example/3" })
	rebuild("beta pruned", 3, 0)
}

// hiddenStore is a fakeStore that also counts hidden items.
type hiddenStore struct {
	*fakeStore
	hidden map[string]aggregator.HiddenCount
}

func (h hiddenStore) Hidden(ctx context.Context) (map[string]aggregator.HiddenCount, error) {
	return h.hidden, nil
}

// TestPageShowsHiddenCounts: each page shows beside a source how many of
// its items the filters keep out of that page's feeds, and nothing for a
// source they hide none of.
func TestPageShowsHiddenCounts(t *testing.T) {
	t.Parallel()
	store := hiddenStore{newTestStore(), map[string]aggregator.HiddenCount{
		"alpha": {All: 3},
		"beta":  {All: 1, Sections: map[string]int{"news": 7}},
	}}
	s := mustSite(t, store, testOptions())
	sourceLine := func(page []byte, title string) string {
		_, page, _ = bytes.Cut(page, []byte(`<section class="sources">`))
		i := bytes.Index(page, []byte(">"+title+"</a>"))
		if i < 0 {
			i = bytes.Index(page, []byte("<li>"+title+" ")) // no site link
		}
		if i < 0 {
			t.Fatalf("no source %q on the page", title)
		}
		end := bytes.Index(page[i:], []byte("</li>"))
		return string(page[i : i+end])
	}
	home := body(t, request(t, s, "GET", "/", nil))
	if got := sourceLine(home, "Alpha Blog"); !strings.Contains(got, "<br>filters hide 3 of its stored items</div>") {
		t.Errorf("alpha on /: %q, want its 3 hidden items", got)
	}
	if got := sourceLine(home, "Beta &lt;News&gt; &amp; Views"); !strings.Contains(got, "filters hide 1 of its stored items") {
		t.Errorf("beta on /: %q, want its 1 hidden item", got)
	}
	news := body(t, request(t, s, "GET", "/sections/news.html", nil))
	if got := sourceLine(news, "Beta &lt;News&gt; &amp; Views"); !strings.Contains(got, "filters hide 7 of its stored items") {
		t.Errorf("beta on the news page: %q, want the section's 7", got)
	}
	if got := sourceLine(home, "delta"); strings.Contains(got, "filters hide") {
		t.Errorf("delta, with nothing hidden: %q", got)
	}
}
