package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func queryIDs(t *testing.T, s *Store, q Query) []string {
	t.Helper()
	items, err := s.Items(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestQueryPerSourceCap(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var flood []aggregator.Item
	for i := range 30 {
		flood = append(flood, item(news, fmt.Sprintf("n%02d", i), t0.Add(-time.Duration(i)*time.Minute)))
	}
	save(t, s, news, flood...)
	save(t, s, blog, item(blog, "b1", t0.Add(-2*time.Hour)), item(blog, "b2", t0.Add(-3*time.Hour)))

	got := queryIDs(t, s, Query{Limit: 5, PerSource: 3})
	want := []string{"n00", "n01", "n02", "b1", "b2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("capped at 3 per source: %v, want %v", got, want)
	}
	if got := queryIDs(t, s, Query{Limit: 5}); fmt.Sprint(got) != "[n00 n01 n02 n03 n04]" {
		t.Errorf("uncapped: %v, want the flood", got)
	}
}

func TestQuerySince(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	save(t, s, blog,
		item(blog, "recent", t0.Add(-time.Hour)),
		item(blog, "last-month", t0.Add(-30*24*time.Hour)),
		item(blog, "undated", time.Time{}), // first seen now
	)
	wantQuery(t, s, Query{Limit: 10, Since: t0.Add(-7 * 24 * time.Hour)}, "undated", "recent")
	// Stored all the same.
	wantQuery(t, s, Query{Limit: 10}, "undated", "recent", "last-month")
}

func wantQuery(t *testing.T, s *Store, q Query, want ...string) {
	t.Helper()
	if got := queryIDs(t, s, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Items(%+v) = %v, want %v", q, got, want)
	}
}

func TestQueryDedupFirstSeenWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	planet := aggregator.Source{Name: "planet", URL: "http://planet.example/feed", Sections: []string{"news"}}
	mirror := aggregator.Source{Name: "mirror", URL: "http://mirror.example/feed", Sections: []string{"news"}, KeepDuplicates: true}
	if err := s.SyncSources(ctx, []aggregator.Source{blog, planet, mirror}); err != nil {
		t.Fatal(err)
	}
	orig := item(blog, "post", t0.Add(-2*time.Hour))
	orig.Link = "https://Blog.Example:443/post"
	save(t, s, blog, orig)

	// An hour later a planet republishes it with tracking parameters and a
	// newer date; a mirror that opted out of dedup copies it too.
	c.Add(time.Hour)
	copied := item(planet, "planet-copy", t0.Add(-time.Hour))
	copied.Link = "https://blog.example/post?utm_source=planet"
	other := item(planet, "planet-own", t0.Add(-90*time.Minute))
	save(t, s, planet, copied, other)
	mirrored := item(mirror, "mirror-copy", t0.Add(-30*time.Minute))
	mirrored.Link = orig.Link
	save(t, s, mirror, mirrored)

	// Merged: once, the blog's copy (first seen), in its own place.
	wantQuery(t, s, Query{Limit: 10, Dedup: true, KeepDuplicates: map[string]bool{"mirror": true}}, "mirror-copy", "planet-own", "post")
	// A section without the blog still shows the planet's copy.
	wantQuery(t, s, Query{Section: "news", Limit: 10, Dedup: true, KeepDuplicates: map[string]bool{"mirror": true}}, "mirror-copy", "planet-copy", "planet-own")
	// Without dedup, every copy.
	wantQuery(t, s, Query{Limit: 10}, "mirror-copy", "planet-copy", "planet-own", "post")
}

func TestBacklogDoesNotFlood(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	save(t, s, blog, item(blog, "fresh", t0.Add(-time.Hour)), item(blog, "yesterday", t0.Add(-24*time.Hour)))
	// A new source arrives with ten years of posts.
	c.Add(time.Hour)
	var backlog []aggregator.Item
	for i := range 1000 {
		backlog = append(backlog, item(news, fmt.Sprintf("old%04d", i), t0.Add(-time.Duration(i+2)*72*time.Hour)))
	}
	if res := save(t, s, news, backlog...); res.New != 1000 {
		t.Fatalf("backlog Save = %+v", res)
	}
	wantQuery(t, s, Query{Limit: 4}, "fresh", "yesterday", "old0000", "old0001")
}

func TestEditedThreeTimes(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	b1, b2, b3 := item(blog, "b1", t0.Add(-3*time.Hour)), item(blog, "b2", t0.Add(-2*time.Hour)), item(blog, "b3", t0.Add(-time.Hour))
	save(t, s, blog, b1, b2, b3)
	for i := range 3 {
		c.Add(time.Hour)
		b2.Title = fmt.Sprintf("edit %d", i+1)
		b2.Updated = c.Now() // the feed says when
		if res := save(t, s, blog, b1, b2, b3); res != (SaveResult{Updated: 1}) {
			t.Fatalf("edit %d: Save = %+v, want 1 updated", i+1, res)
		}
	}
	items, err := s.RecentItems(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[1].ID != "b2" {
		t.Fatalf("after three edits: %v, want b3 b2 b1", recentIDs(t, s, "", 10))
	}
	if got := items[1]; got.Title != "edit 3" || !got.Updated.Equal(t0.Add(3*time.Hour)) || !got.FirstSeen.Equal(t0) {
		t.Errorf("after three edits: title %q updated %v first seen %v", got.Title, got.Updated, got.FirstSeen)
	}
}

// itemAt is an item of src linking to link, published ago before t0.
func itemAt(src aggregator.Source, id, link string, ago time.Duration) aggregator.Item {
	it := item(src, id, t0.Add(-ago))
	it.Link = link
	return it
}

// A source's own items are never collapsed into each other, however alike
// their links: a podcast whose items all link to the show page, a day page
// whose items are its fragments.
func TestQueryKeepsASourcesOwnItems(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	podcast := aggregator.Source{Name: "podcast", URL: "http://pod.example/feed"}
	day := aggregator.Source{Name: "day", URL: "http://day.example/feed"}
	save(t, s, podcast,
		itemAt(podcast, "ep3", "http://pod.example/show", time.Hour),
		itemAt(podcast, "ep2", "http://pod.example/show", 2*time.Hour),
		itemAt(podcast, "ep1", "http://pod.example/show?utm_source=rss", 3*time.Hour))
	save(t, s, day,
		itemAt(day, "a1", "http://day.example/2026/12/06#a1", 90*time.Minute),
		itemAt(day, "a2", "http://day.example/2026/12/06#a2", 150*time.Minute))
	wantQuery(t, s, Query{Limit: 10, Dedup: true}, "ep3", "a1", "ep2", "a2", "ep1")
	wantQuery(t, s, Query{Limit: 10, Dedup: true, PerSource: 2}, "ep3", "a1", "ep2", "a2")
}

// Across sources a fragment tells articles apart: #a1 carried by two
// sources is one article, #a2 another.
func TestQueryFragmentsAcrossSources(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	day := aggregator.Source{Name: "day", URL: "http://day.example/feed"}
	planet := aggregator.Source{Name: "planet", URL: "http://planet.example/feed"}
	save(t, s, day,
		itemAt(day, "a1", "http://day.example/d#a1", time.Hour),
		itemAt(day, "a2", "http://day.example/d#a2", 2*time.Hour))
	c.Add(time.Minute)
	save(t, s, planet, itemAt(planet, "p1", "http://day.example/d#a1", 30*time.Minute))
	items, err := s.Items(context.Background(), Query{Limit: 10, Dedup: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.ID+fmt.Sprint(it.AlsoIn))
	}
	if want := "[a1[planet] a2[]]"; fmt.Sprint(got) != want {
		t.Errorf("Items = %v, want %v", got, want)
	}
}

// A copy from the article's origin wins over copies from other hosts,
// even when another source listed the link first; among copies from other
// hosts the first seen still wins. The winner credits the others.
func TestQueryOriginWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	fake := aggregator.Source{Name: "fake", URL: "http://evil.example/feed"}
	aggr := aggregator.Source{Name: "aggr", URL: "http://aggr.example/feed"}
	goblog := aggregator.Source{Name: "goblog", URL: "https://go.dev/blog/feed.atom"}
	hosts := map[string]string{"fake": "evil.example", "aggr": "aggr.example", "goblog": "go.dev"}
	origin := func(source, link string) bool {
		return strings.Contains(link, "://"+hosts[source]+"/")
	}
	post := "https://go.dev/blog/go1.27"
	save(t, s, fake, itemAt(fake, "fake", post+"?utm_source=x", 10*time.Minute))
	c.Add(time.Minute)
	save(t, s, aggr, itemAt(aggr, "aggr", post, 20*time.Minute))
	q := Query{Limit: 10, Dedup: true, Origin: origin}
	wantQuery(t, s, q, "fake") // no origin yet: the first seen
	c.Add(time.Minute)
	save(t, s, goblog, itemAt(goblog, "real", post, time.Hour))
	wantQuery(t, s, q, "real")
	items, err := s.Items(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(items[0].AlsoIn); got != "[fake aggr]" {
		t.Errorf("AlsoIn = %s, want [fake aggr]", got)
	}
	// Without the origin rule, the first seen.
	wantQuery(t, s, Query{Limit: 10, Dedup: true}, "fake")
	// The origin's copy wins whatever the walk meets first: here its own
	// copy is the newest.
	c.Add(time.Minute)
	save(t, s, fake, itemAt(fake, "fake", post+"?utm_source=x", 10*time.Minute), itemAt(fake, "fake2", "https://go.dev/blog/other", 5*time.Minute))
	wantQuery(t, s, q, "fake2", "real")
}

// A source that wins a group after losing it brings all its copies back,
// and one that loses it drops all of its.
func TestQueryGroupSwapsWholeSources(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	a := aggregator.Source{Name: "a", URL: "http://a.example/feed"}
	b := aggregator.Source{Name: "b", URL: "http://b.example/feed"}
	link := "http://show.example/x"
	// a's older copy was seen first; its newer copy after b's.
	save(t, s, a, itemAt(a, "a-old", link, 3*time.Hour))
	c.Add(time.Minute)
	save(t, s, b, itemAt(b, "b1", link, 2*time.Hour))
	c.Add(time.Minute)
	save(t, s, a, itemAt(a, "a-new", link, time.Hour))
	wantQuery(t, s, Query{Limit: 10, Dedup: true}, "a-new", "a-old")
	wantQuery(t, s, Query{Limit: 2, Dedup: true}, "a-new", "a-old")
	wantQuery(t, s, Query{Limit: 1, Dedup: true}, "a-new")
}
