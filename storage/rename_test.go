package storage

import (
	"context"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// A source renamed with renamed_from keeps its state, items, first-seen
// times, tombstones and the name its items are published as; fetching
// the same items again under the new name stores nothing new.
func TestRenameCarriesEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	old := aggregator.Source{Name: "old", URL: "http://old.example/feed", Sections: []string{"go"}}
	if err := s.SyncSources(ctx, []aggregator.Source{old, blog}); err != nil {
		t.Fatal(err)
	}
	items := []aggregator.Item{item(old, "o1", t0.Add(-time.Hour)), item(old, "o2", t0.Add(-2*time.Hour)), item(old, "o3", t0.Add(-3*time.Hour))}
	if _, err := s.Save(ctx, old, items, aggregator.SourceState{Name: "old", FeedTitle: "Old", ETag: `"v1"`, URL: old.URL}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, Retention{MaxItems: 2}); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 pruned", n, err)
	}
	before, err := s.Items(ctx, Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)

	renamed := aggregator.Source{Name: "new", URL: old.URL, Sections: []string{"go", "news"}, RenamedFrom: []string{"gone-long-ago", "old"}}
	if err := s.SyncSources(ctx, []aggregator.Source{renamed, blog}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify after rename: %v", err)
	}
	st, err := s.State(ctx, "new")
	if err != nil || st.FeedTitle != "Old" || st.ETag != `"v1"` || st.PublishedAs != "old" {
		t.Errorf("state of new = %+v, %v; want old's, published as old", st, err)
	}
	if _, err := s.State(ctx, "old"); err == nil {
		t.Error("old still has a state")
	}
	after, err := s.Items(ctx, Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("items after rename = %d, want %d", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || after[i].SourceID != "new" || !after[i].FirstSeen.Equal(before[i].FirstSeen) {
			t.Errorf("item %d after rename = %s/%s first seen %v, want new/%s first seen %v",
				i, after[i].SourceID, after[i].ID, after[i].FirstSeen, before[i].ID, before[i].FirstSeen)
		}
	}
	wantIDs(t, s, "news", 10, "o1", "o2")
	for i := range items {
		items[i].SourceID = "new"
	}
	// The pruned o3 stays pruned (its tombstone moved), the others are
	// known: nothing is new.
	res, err := s.Save(ctx, renamed, items, st)
	if err != nil || res.New != 0 || res.Updated != 0 {
		t.Errorf("save of the same items after rename = %+v, %v; want nothing new", res, err)
	}
	if st, _ := s.State(ctx, "new"); st.PublishedAs != "old" {
		t.Errorf("PublishedAs after a save = %q, want old", st.PublishedAs)
	}

	// The rename survives a restart, and a second sync changes nothing.
	path := s.Path()
	s.Close()
	s = mustOpen(t, path, c)
	if err := s.SyncSources(ctx, []aggregator.Source{renamed, blog}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(ctx, "new"); err != nil || st.PublishedAs != "old" {
		t.Errorf("after restart: state of new = %+v, %v", st, err)
	}
	wantIDs(t, s, "go", 10, "o1", "o2")

	// Renamed twice: still published as the first name.
	again := renamed
	again.Name, again.RenamedFrom = "newer", []string{"new", "old"}
	if err := s.SyncSources(ctx, []aggregator.Source{again, blog}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(ctx, "newer"); err != nil || st.PublishedAs != "old" {
		t.Errorf("renamed twice: state = %+v, %v; want published as old", st, err)
	}
	wantIDs(t, s, "go", 10, "o1", "o2")
}

// A renamed_from name that the store does not know, or a new name that has
// items of its own, renames nothing.
func TestRenameNothingToCarry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	a := aggregator.Source{Name: "a", URL: "http://a.example/feed"}
	b := aggregator.Source{Name: "b", URL: "http://b.example/feed"}
	if err := s.SyncSources(ctx, []aggregator.Source{a, b}); err != nil {
		t.Fatal(err)
	}
	save(t, s, a, item(a, "a1", t0))
	save(t, s, b, item(b, "b1", t0))
	// b claims a's old name while a still exists under it: config check
	// refuses that, and the store leaves both alone.
	b.RenamedFrom = []string{"a"}
	if err := s.SyncSources(ctx, []aggregator.Source{a, b}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "a1", "b1")
	// a leaves; b has items of its own, so it does not take a's.
	if err := s.SyncSources(ctx, []aggregator.Source{b}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "b1")
	if _, err := s.State(ctx, "a"); err != nil {
		t.Errorf("a's state is gone: %v", err)
	}
}
