package storage

import (
	"context"
	"fmt"
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
	copied.Link = "https://blog.example/post?utm_source=planet#top"
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
