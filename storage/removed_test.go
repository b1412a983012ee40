package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

const grace = 30 * 24 * time.Hour

// keysOf counts the keys of the named source in each bucket that holds
// them (items, by_source, tombstones), whether it has a record and a
// removal time.
type keysOf struct {
	items, bySource, tombstones int
	record, stamp               bool
}

func sourceKeys(t *testing.T, s *Store, name string) keysOf {
	t.Helper()
	var got keysOf
	srcKey := sourceKey(name)
	count := func(b *bolt.Bucket) int {
		n := 0
		c := b.Cursor()
		for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey); k, _ = c.Next() {
			n++
		}
		return n
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		got.items = count(tx.Bucket(bucketItems))
		got.bySource = count(tx.Bucket(bucketBySource))
		got.tombstones = count(tx.Bucket(bucketTombstones))
		got.record = tx.Bucket(bucketSources).Get([]byte(name)) != nil
		got.stamp = tx.Bucket(bucketRemoved) != nil && tx.Bucket(bucketRemoved).Get([]byte(name)) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func syncSources(t *testing.T, s *Store, sources ...aggregator.Source) {
	t.Helper()
	if err := s.SyncSources(context.Background(), sources); err != nil {
		t.Fatal(err)
	}
}

// wantForgotten fails unless the store has nothing left of the source
// name, on disk or in memory.
func wantForgotten(t *testing.T, s *Store, name string) {
	t.Helper()
	ctx := context.Background()
	if got := sourceKeys(t, s, name); got != (keysOf{}) {
		t.Errorf("%s after deletion: %+v, want nothing", name, got)
	}
	if _, err := s.State(ctx, name); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("State(%s) after deletion: %v, want ErrNotFound", name, err)
	}
	states, err := s.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := states[name]; ok {
		t.Errorf("States() after deletion holds %s", name)
	}
	s.catalog.mu.RLock()
	_, inCatalog := s.catalog.entries[name]
	s.catalog.mu.RUnlock()
	if inCatalog {
		t.Errorf("catalog after deletion holds %s", name)
	}
	s.hidden.mu.Lock()
	_, inHidden := s.hidden.entries[name]
	s.hidden.mu.Unlock()
	if inHidden {
		t.Errorf("hidden counts after deletion hold %s", name)
	}
	if err := s.Verify(ctx); err != nil {
		t.Errorf("Verify after deletion: %v", err)
	}
}

// A source that leaves the config keeps its items, tombstones, state and
// record for Retention.RemovedAfter; put back within it, it has its items
// back, and its time starts again when it leaves again. After it, Prune
// deletes them all and the store forgets it; put back then, it starts
// anew.
func TestRemovedSourceDeletedAfterGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	r := Retention{MaxItems: 2, RemovedAfter: grace}
	syncSources(t, s, blog, news)
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	n3 := item(news, "n3", t0.Add(-3*time.Hour))
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)), item(news, "n2", t0.Add(-2*time.Hour)), n3)
	if n := prune(t, s, r); n != 1 {
		t.Fatalf("Prune = %d, want n3 pruned", n)
	}
	rules := &aggregator.Rules{All: aggregator.Filter{Exclude: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `n1`)}}}
	if _, err := s.Hidden(ctx, rules, []aggregator.Source{blog, news}); err != nil {
		t.Fatal(err)
	}

	syncSources(t, s, blog)
	c.Add(grace - time.Minute)
	prune(t, s, r)
	if got := sourceKeys(t, s, "news"); got != (keysOf{items: 2, bySource: 2, tombstones: 1, record: true, stamp: true}) {
		t.Fatalf("news within the grace: %+v, want its 2 items, tombstone, record and removal time", got)
	}
	syncSources(t, s, blog, news)
	wantIDs(t, s, "news", 10, "n1", "n2")
	if got := sourceKeys(t, s, "news"); got.stamp {
		t.Error("news put back keeps its removal time")
	}

	syncSources(t, s, blog)
	c.Add(grace - time.Minute)
	prune(t, s, r)
	if got := sourceKeys(t, s, "news"); got.items != 2 || !got.record {
		t.Fatalf("news removed again, within the new grace: %+v, want it kept", got)
	}
	c.Add(time.Minute)
	prune(t, s, r)
	wantForgotten(t, s, "news")
	if got := sourceKeys(t, s, "blog"); got.items != 1 || !got.record {
		t.Errorf("blog after news was deleted: %+v, want it untouched", got)
	}
	wantIDs(t, s, "", 10, "b1")

	// Put back now, news is a new source: the item once pruned is new.
	syncSources(t, s, blog, news)
	wantIDs(t, s, "news", 10)
	if res := save(t, s, news, n3); res.New != 1 {
		t.Errorf("Save of news's pruned item after its deletion = %+v, want it new", res)
	}
	wantIDs(t, s, "news", 10, "n3")
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// RemovedAfter 0 keeps removed sources for ever, as before.
func TestRemovedSourceKeptWithoutGrace(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	syncSources(t, s, blog, news)
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)))
	syncSources(t, s, blog)
	c.Add(100 * grace)
	prune(t, s, Retention{MaxItems: 10})
	if got := sourceKeys(t, s, "news"); got.items != 1 || !got.record {
		t.Errorf("news with no RemovedAfter: %+v, want it kept", got)
	}
}

// A source renamed (renamed_from) within the grace keeps its items under
// its new name, and nothing is deleted when the grace of the old name has
// passed; renamed when the new name has a record already (fetched, with
// no items yet), it is configured as the new name too.
func TestRemovedSourceRenamed(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	r := Retention{MaxItems: 10, RemovedAfter: grace}
	syncSources(t, s, blog, news)
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)))
	syncSources(t, s, blog)
	c.Add(grace / 2)
	fresh := aggregator.Source{Name: "fresh", URL: news.URL, Sections: []string{"go"}}
	syncSources(t, s, blog, fresh)
	save(t, s, fresh)
	fresh.RenamedFrom = []string{"news"}
	syncSources(t, s, blog, fresh)
	if got := sourceKeys(t, s, "news"); got != (keysOf{}) {
		t.Errorf("news after its rename: %+v, want nothing under its name", got)
	}
	c.Add(grace)
	prune(t, s, r)
	if got := sourceKeys(t, s, "fresh"); got != (keysOf{items: 1, bySource: 1, record: true}) {
		t.Errorf("fresh, renamed from news, after news's grace: %+v, want its item and record", got)
	}
	wantIDs(t, s, "go", 10, "n1")
	if err := s.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A removed source with more items than one transaction deletes is
// deleted in several, whole.
func TestRemovedSourceDeletedInBatches(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	syncSources(t, s, blog, news)
	var items []aggregator.Item
	for i := range 2*pruneBatch + 10 {
		items = append(items, item(news, fmt.Sprintf("n%d", i), t0.Add(-time.Duration(i)*time.Minute)))
	}
	save(t, s, news, items...)
	prune(t, s, Retention{MaxItems: pruneBatch + 5})
	syncSources(t, s, blog)
	c.Add(grace)
	prune(t, s, Retention{MaxItems: pruneBatch + 5, RemovedAfter: grace})
	wantForgotten(t, s, "news")
}

// testdata/removed-unstamped.db was written by the store before sources
// had a removal time (at 57360db): blog (go) b1 b2; gone (news) g1 g2, g3
// pruned (a tombstone), and back (news) k1, both removed from the config
// an hour after t0. A source the old store removed lasts RemovedAfter
// from the first Prune that sees it; put back meanwhile, it has its
// items back.
func TestRemovedSourcesOfOldDatabase(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/removed-unstamped.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0.Add(2 * time.Hour)}
	s := mustOpen(t, path, c)
	if err := s.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r := Retention{MaxItems: 2, RemovedAfter: grace}
	back := aggregator.Source{Name: "back", URL: "http://back.example/feed", Sections: []string{"news"}}
	for _, name := range []string{"gone", "back"} {
		if got := sourceKeys(t, s, name); !got.record || got.stamp {
			t.Fatalf("%s as written by the old store: %+v, want a record with no removal time", name, got)
		}
	}
	prune(t, s, r) // stamps them
	if got := sourceKeys(t, s, "gone"); got != (keysOf{items: 2, bySource: 2, tombstones: 1, record: true, stamp: true}) {
		t.Fatalf("gone after the first Prune: %+v, want it kept and stamped", got)
	}
	c.Add(grace - time.Minute)
	prune(t, s, r)
	syncSources(t, s, blog, back)
	wantIDs(t, s, "news", 10, "k1")
	c.Add(time.Minute)
	prune(t, s, r)
	wantForgotten(t, s, "gone")
	wantIDs(t, s, "", 10, "b1", "k1", "b2")
	if got := sourceKeys(t, s, "back"); got != (keysOf{items: 1, bySource: 1, record: true}) {
		t.Errorf("back, put back: %+v, want its item and record", got)
	}
}

// A removal time whose record is not removed (a version before put the
// source back, or renamed it) is deleted by the next Prune, and does not
// doom the source.
func TestStaleRemovalTime(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	syncSources(t, s, blog)
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := stampRemoved(tx, "blog", t0.Add(-2*grace)); err != nil {
			return err
		}
		return stampRemoved(tx, "lost", t0.Add(-2*grace))
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(grace)
	prune(t, s, Retention{MaxItems: 10, RemovedAfter: grace})
	if got := sourceKeys(t, s, "blog"); got != (keysOf{items: 1, bySource: 1, record: true}) {
		t.Errorf("blog, configured, with a stale removal time, after Prune: %+v, want it whole and the time gone", got)
	}
	if got := sourceKeys(t, s, "lost"); got.stamp {
		t.Error("the removal time of a source with no record is kept")
	}
}

// What the hidden counts keep of a source is dropped when it leaves the
// config: pruning its items (retention.max_age) no longer adds to it.
func TestHiddenForgetsRemovedSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	syncSources(t, s, blog, news)
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)), item(news, "n2", t0.Add(-2*time.Hour)))
	rules := &aggregator.Rules{All: aggregator.Filter{Exclude: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `n1`)}}}
	if got, err := s.Hidden(ctx, rules, []aggregator.Source{blog, news}); err != nil || got["news"].All != 1 {
		t.Fatalf("Hidden = %v, %v; want news 1", got, err)
	}
	syncSources(t, s, blog)
	c.Add(24 * time.Hour)
	if n := prune(t, s, Retention{MaxAge: time.Hour}); n != 2 {
		t.Fatalf("Prune = %d, want news's 2 items", n)
	}
	s.hidden.mu.Lock()
	e := s.hidden.entries["news"]
	s.hidden.mu.Unlock()
	if e != nil {
		t.Errorf("hidden counts of news after it left the config: %d hidden, %d changed; want none kept", len(e.hidden), len(e.changed))
	}
}

// SyncSources putting a source back while Prune deletes it leaves either
// the source whole or a new one, never a record the catalog or the states
// do not know.
func TestRemovedSourcePutBackDuringDeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	r := Retention{MaxItems: 100, RemovedAfter: grace}
	for round := range 20 {
		syncSources(t, s, blog, news)
		var items []aggregator.Item
		for i := range 50 {
			items = append(items, item(news, fmt.Sprintf("r%dn%d", round, i), c.Now().Add(-time.Duration(i)*time.Minute)))
		}
		save(t, s, news, items...)
		syncSources(t, s, blog)
		c.Add(grace)
		var wg sync.WaitGroup
		wg.Go(func() { prune(t, s, r) })
		wg.Go(func() { syncSources(t, s, blog, news) })
		wg.Wait()
		got := sourceKeys(t, s, "news")
		if !got.record || got.stamp {
			t.Fatalf("round %d: news put back: %+v, want a record and no removal time", round, got)
		}
		if _, err := s.State(ctx, "news"); err != nil {
			t.Fatalf("round %d: State(news): %v", round, err)
		}
		s.catalog.mu.RLock()
		e := s.catalog.entries["news"]
		s.catalog.mu.RUnlock()
		if e == nil || e.removed {
			t.Fatalf("round %d: catalog entry of news put back = %+v", round, e)
		}
		if err := s.Verify(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// The catalog keeps the sorted sources of the sections asked for since
// its last change only: a section that left the config does not keep
// its list for good.
func TestCatalogForgetsOldSections(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	syncSources(t, s, blog, news)
	wantIDs(t, s, "go", 10)
	wantIDs(t, s, "news", 10)
	news2 := news
	news2.Sections = []string{"world"}
	syncSources(t, s, blog, news2)
	wantIDs(t, s, "world", 10)
	s.catalog.mu.RLock()
	defer s.catalog.mu.RUnlock()
	for section := range s.catalog.sorted {
		if section != "world" {
			t.Errorf("catalog keeps the sorted sources of %q, asked for before the last change", section)
		}
	}
}
