package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// TestCorpusMergedFeedRules ingests the real-world and well-formed corpus
// and checks the merged feed as publish would get it: no two sources'
// items with the same canonical link, none dated after it was first seen,
// and no source beyond its cap.
func TestCorpusMergedFeedRules(t *testing.T) {
	t.Parallel()
	corpus := newCorpus(t, "realworld", "wellformed")
	const perSource = 3
	c := corpus.config(t, "fetch: {concurrency: 8, per_host: 8, timeout: 5m}\npublish: {items: 5000, per_source: 3}\n")
	a, err := openApp(context.Background(), c, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.poller.Refresh(context.Background(), c.Sources, nil); err != nil {
		t.Fatal(err)
	}
	items, err := feedsOf(a.store, c).RecentItems(context.Background(), "", c.Publish.Items)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) < 500 {
		t.Fatalf("merged feed of the corpus holds %d items, want hundreds", len(items))
	}
	type holder struct{ source, item string }
	links := map[string]holder{}
	perSrc := map[string]int{}
	for i, it := range items {
		if canon := aggregator.CanonicalLink(it.Link); canon != "" {
			if other, dup := links[canon]; dup && other.source != it.SourceID {
				t.Errorf("%s/%s and %s/%s share canonical link %s", other.source, other.item, it.SourceID, it.ID, canon)
			}
			links[canon] = holder{it.SourceID, it.ID}
		}
		if d := it.Date(); d.After(it.FirstSeen) {
			t.Errorf("%s/%s dated %v, after it was first seen %v", it.SourceID, it.ID, d, it.FirstSeen)
		}
		if i > 0 && it.Date().After(items[i-1].Date()) {
			t.Errorf("item %d (%v) is newer than item %d (%v)", i, it.Date(), i-1, items[i-1].Date())
		}
		if perSrc[it.SourceID]++; perSrc[it.SourceID] > perSource {
			t.Errorf("source %s has %d items, over the cap of %d", it.SourceID, perSrc[it.SourceID], perSource)
		}
	}
}

// TestCorpusEverySourcePublishesEveryItem: a planet of any single corpus
// feed publishes as many items as the feed has distinct identities, up to
// publish.items; none is lost as a "duplicate" of its own sibling (day
// pages, podcasts whose items all link to the show, changelogs). Each
// source gets a section of its own, whose feed is what a planet of that
// source alone would publish.
func TestCorpusEverySourcePublishesEveryItem(t *testing.T) {
	t.Parallel()
	corpus := newCorpus(t, "realworld", "wellformed", "illformed")
	const limit = 200
	var header strings.Builder
	fmt.Fprintf(&header, "fetch: {concurrency: 8, per_host: 8, timeout: 5m}\npublish: {items: %d}\nretention: {max_items: 100000}\nsections:\n", limit)
	for name := range corpus.files {
		fmt.Fprintf(&header, "  %s: {}\n", name)
	}
	c := corpus.config(t, header.String())
	for i := range c.Sources {
		c.Sources[i].Sections = []string{c.Sources[i].Name}
	}
	ctx := context.Background()
	a, err := openApp(ctx, c, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.poller.Refresh(ctx, c.Sources, nil); err != nil {
		t.Fatal(err)
	}
	fs := feedsOf(a.store, c)
	parser := fetch.NewParser()
	checked, collapsedBefore := 0, 0
	for _, src := range c.Sources {
		resp, err := http.Get(src.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		feed, err := parser.Parse(t.Context(), body, src.URL, resp.Header.Get("Content-Type"), src)
		if err != nil {
			continue // not a feed the planet can read
		}
		ids := map[string]bool{}
		canons := map[string]bool{}
		for _, it := range feed.Items {
			ids[it.ID] = true
			// The canonical link as it was before fragments counted.
			if canon, _, _ := strings.Cut(aggregator.CanonicalLink(it.Link), "#"); canon != "" {
				canons[canon] = true
			}
		}
		if len(canons) < len(ids) {
			collapsedBefore++
		}
		want := min(len(ids), limit)
		items, err := fs.RecentItems(ctx, src.Name, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want {
			t.Errorf("%s: a planet of it alone publishes %d items, want %d (its distinct identities)", corpus.files[src.Name], len(items), want)
		}
		checked++
	}
	if checked < 700 || collapsedBefore < 9 {
		t.Errorf("checked %d corpus feeds, %d with items sharing a page; want most of the corpus and the 9 known", checked, collapsedBefore)
	}
}

// TestGUIDChangedScheme: a feed that moves its GUIDs from http to https
// duplicates every item, unless its source is identified by link.
func TestGUIDChangedScheme(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), src.URL)
	// news identified by link; blog by its (changing) ids.
	cfg, _ := os.ReadFile(configPath)
	cfg = append(cfg, "    identity: link\n"...)
	os.WriteFile(configPath, cfg, 0o644)
	rss := func(guid string) []byte {
		return []byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://news.example/</link><description>d</description>
<item><title>Moon</title><link>http://news.example/moon</link><guid>` + guid + `</guid></item></channel></rss>`)
	}
	atom := func(id string) []byte {
		return []byte(`<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id><updated>2026-11-01T00:00:00Z</updated>
<entry><title>Post</title><id>` + id + `</id><link href="http://blog.example/post"/><updated>2026-11-01T00:00:00Z</updated></entry></feed>`)
	}
	src.set("/news.rss", rss("http://news.example/moon"))
	src.set("/blog.atom", atom("http://blog.example/post"))
	wantLines(t, fetchCommand(t, configPath), "news: new 1", "blog: new 1")
	src.set("/news.rss", rss("https://news.example/moon"))
	src.set("/blog.atom", atom("https://blog.example/post"))
	wantLines(t, fetchCommand(t, configPath), "news: new 0", "blog: new 1")
}

// TestRepublishedAcrossSources: a post that reaches the planet through its
// blog and through an aggregator of it appears once in the merged feed.
func TestRepublishedAcrossSources(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), src.URL)
	wantLines(t, fetchCommand(t, configPath, "blog"), "blog: new 2")
	// The news feed now carries the blog's post too, with tracking tags.
	src.set("/news.rss", []byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><link>http://news.example/</link><description>d</description>
<item><title>Generics, revisited (via News)</title><link>http://BLOG.example/generics?utm_source=news</link><guid>news-generics</guid><pubDate>Tue, 03 Nov 2026 11:00:00 GMT</pubDate></item>
</channel></rss>`))
	wantLines(t, fetchCommand(t, configPath, "news"), "news: new 1")

	cfg := loadConfig(t, configPath)
	store, err := storage.Open(cfg.Database, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fs := feedsOf(store, cfg)
	merged, err := fs.RecentItems(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, it := range merged {
		titles = append(titles, it.Title)
	}
	if len(merged) != 2 || merged[0].Title != "Generics, revisited" {
		t.Errorf("merged feed: %q, want the blog's copy once, first", titles)
	}
	// The news section holds only the news copy, and shows it.
	section, err := fs.RecentItems(context.Background(), "news", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(section) != 1 || section[0].Title != "Generics, revisited (via News)" {
		t.Errorf("news section: %v, want the news copy", section)
	}
}
