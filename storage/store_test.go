package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// clock is a settable Now for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func mustOpen(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := &clock{t: t0}
	return mustOpen(t, filepath.Join(t.TempDir(), "test.db"), c), c
}

var (
	blog = aggregator.Source{Name: "blog", URL: "http://blog.example/feed", Sections: []string{"go"}}
	news = aggregator.Source{Name: "news", URL: "http://news.example/feed", Sections: []string{"news"}}
)

func item(src aggregator.Source, id string, published time.Time) aggregator.Item {
	return aggregator.Item{
		ID:        id,
		SourceID:  src.Name,
		Title:     "title " + id,
		Link:      "http://example.com/" + id,
		Content:   "<p>content " + id + "</p>",
		Published: published,
	}
}

func save(t *testing.T, s *Store, src aggregator.Source, items ...aggregator.Item) SaveResult {
	t.Helper()
	res, err := s.Save(context.Background(), src, items, aggregator.SourceState{Name: src.Name, LastOutcome: aggregator.OutcomeStored})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func recentIDs(t *testing.T, s *Store, section string, limit int) []string {
	t.Helper()
	items, err := s.RecentItems(context.Background(), section, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func wantIDs(t *testing.T, s *Store, section string, limit int, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := recentIDs(t, s, section, limit); !slices.Equal(got, want) {
		t.Errorf("RecentItems(%q, %d) = %v, want %v", section, limit, got, want)
	}
}

func TestSaveOrdersNewestFirst(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if err := s.SyncSources(context.Background(), []aggregator.Source{blog, news}); err != nil {
		t.Fatal(err)
	}
	res := save(t, s, blog,
		item(blog, "b1", t0.Add(-3*time.Hour)),
		item(blog, "b2", t0.Add(-1*time.Hour)),
		item(blog, "b-undated", time.Time{}), // first seen now: newest
	)
	if res.New != 3 || res.Updated != 0 {
		t.Errorf("first Save = %+v, want 3 new", res)
	}
	save(t, s, news, item(news, "n1", t0.Add(-2*time.Hour)))

	wantIDs(t, s, "", 10, "b-undated", "b2", "n1", "b1")
	wantIDs(t, s, "", 2, "b-undated", "b2")
	wantIDs(t, s, "go", 10, "b-undated", "b2", "b1")
	wantIDs(t, s, "news", 10, "n1")
	wantIDs(t, s, "nosuch", 10)

	st, err := s.State(context.Background(), "blog")
	if err != nil {
		t.Fatal(err)
	}
	if st.Result() != "new 3" {
		t.Errorf("state saved with items: Result() = %q, want %q", st.Result(), "new 3")
	}
}

func TestSaveAgainStoresNothing(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	items := []aggregator.Item{item(blog, "b1", t0.Add(-time.Hour)), item(blog, "b2", t0.Add(-2*time.Hour))}
	save(t, s, blog, items...)
	c.Add(time.Hour)
	if res := save(t, s, blog, items...); res != (SaveResult{}) {
		t.Errorf("second Save of the same items = %+v, want nothing new or updated", res)
	}
	if n := len(recentIDs(t, s, "", 100)); n != 2 {
		t.Errorf("%d items stored, want 2", n)
	}
}

func TestChangedItemUpdatedInPlace(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	b1, b2 := item(blog, "b1", t0.Add(-2*time.Hour)), item(blog, "b2", t0.Add(-time.Hour))
	save(t, s, blog, b1, b2)
	c.Add(time.Hour)

	b1.Title = "a better title"
	b1.Content = "<p>fixed a typo</p>"
	b1.Published = t0.Add(time.Hour) // a republished date must not move it
	if res := save(t, s, blog, b1, b2); res != (SaveResult{Updated: 1}) {
		t.Fatalf("Save of a changed item = %+v, want 1 updated", res)
	}
	items, err := s.RecentItems(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[1].ID != "b1" {
		t.Fatalf("order after update = %v, want b2, b1", recentIDs(t, s, "", 10))
	}
	got := items[1]
	if got.Title != "a better title" || got.Content != "<p>fixed a typo</p>" {
		t.Errorf("updated item = %q %q, want the new title and content", got.Title, got.Content)
	}
	if !got.FirstSeen.Equal(t0) {
		t.Errorf("FirstSeen = %v, want %v (kept from the first fetch)", got.FirstSeen, t0)
	}
	if !got.Updated.Equal(t0.Add(time.Hour)) {
		t.Errorf("Updated = %v, want the time the change was seen, %v", got.Updated, t0.Add(time.Hour))
	}
}

func TestFutureAndAncientDates(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	save(t, s, blog,
		item(blog, "future", t0.Add(365*24*time.Hour)),
		item(blog, "recent", t0.Add(-time.Minute)),
		item(blog, "ancient", time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC)),
	)
	// The future item is clamped to its first-seen time, now: still newest,
	// but it will sink as newer items arrive instead of staying on top.
	wantIDs(t, s, "", 10, "future", "recent", "ancient")
	items, _ := s.RecentItems(context.Background(), "", 1)
	if d := items[0].Date(); !d.Equal(t0) {
		t.Errorf("future item's Date() = %v, want first seen %v", d, t0)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	b := item(blog, "b1", t0.Add(-time.Hour))
	b.Categories = []string{"go", "release"}
	b.Enclosures = []aggregator.Enclosure{{URL: "http://example.com/a.mp3", Type: "audio/mpeg", Length: 1234}}
	save(t, s, blog, b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, c)
	items, err := s.RecentItems(context.Background(), "go", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("after reopen: %d items, want 1", len(items))
	}
	got := items[0]
	if got.Title != b.Title || got.Link != b.Link || !slices.Equal(got.Categories, b.Categories) ||
		!slices.Equal(got.Enclosures, b.Enclosures) || !got.Published.Equal(b.Published) || got.SourceID != "blog" {
		t.Errorf("after reopen: %+v, want %+v", got, b)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	mustOpen(t, path, &clock{t: t0})
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestSyncSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.SyncSources(ctx, []aggregator.Source{blog, news}); err != nil {
		t.Fatal(err)
	}
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	save(t, s, news, item(news, "n1", t0.Add(-2*time.Hour)))

	// The admin moves blog into a second section, then drops news.
	blog2 := blog
	blog2.Sections = []string{"news", "tech"}
	if err := s.SyncSources(ctx, []aggregator.Source{blog2}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "b1")
	wantIDs(t, s, "go", 10)
	wantIDs(t, s, "news", 10, "b1")
	wantIDs(t, s, "tech", 10, "b1")
	if _, err := s.State(ctx, "news"); err != nil {
		t.Errorf("state of a dropped source: %v, want it kept", err)
	}

	// A new fetch of blog indexes into its new sections only.
	save(t, s, blog2, item(blog, "b2", t0.Add(-30*time.Minute)))
	wantIDs(t, s, "tech", 10, "b2", "b1")
	wantIDs(t, s, "go", 10)

	// news comes back with the items it had.
	if err := s.SyncSources(ctx, []aggregator.Source{blog2, news}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "b2", "b1", "n1")
	wantIDs(t, s, "news", 10, "b2", "b1", "n1")
}

func TestPruneMaxItemsAndTombstones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	var items []aggregator.Item
	for i := range 5 {
		items = append(items, item(blog, fmt.Sprintf("b%d", i), t0.Add(time.Duration(i-10)*time.Hour)))
	}
	save(t, s, blog, items...)
	n, err := s.Prune(ctx, Retention{MaxItems: 3})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Prune deleted %d, want 2", n)
	}
	wantIDs(t, s, "", 10, "b4", "b3", "b2")

	// The feed still lists the pruned items: they must not come back.
	c.Add(time.Hour)
	if res := save(t, s, blog, items...); res.New != 0 {
		t.Errorf("Save after prune = %+v, want no pruned item back", res)
	}
	wantIDs(t, s, "", 10, "b4", "b3", "b2")

	// Once the feed stops listing b0, its tombstone lasts TombstoneAge:
	// listed again after that, it is a new item.
	save(t, s, blog, items[1:]...)
	c.Add(TombstoneAge + time.Hour)
	if _, err := s.Prune(ctx, Retention{MaxItems: 3}); err != nil {
		t.Fatal(err)
	}
	if res := save(t, s, blog, items[0]); res.New != 1 {
		t.Errorf("Save of an item relisted after TombstoneAge = %+v, want it new again", res)
	}
}

func TestPruneMaxAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	save(t, s, blog,
		item(blog, "old", t0.Add(-48*time.Hour)),
		item(blog, "new", t0.Add(-1*time.Hour)),
	)
	save(t, s, news, item(news, "older", t0.Add(-72*time.Hour)))
	if _, err := s.Prune(ctx, Retention{MaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "new")
	wantIDs(t, s, "news", 10)
}

func TestPruneInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	var items []aggregator.Item
	for i := range pruneBatch + 500 {
		items = append(items, item(blog, fmt.Sprintf("b%05d", i), t0.Add(time.Duration(i-5000)*time.Second)))
	}
	save(t, s, blog, items...)
	n, err := s.Prune(ctx, Retention{MaxItems: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(items) - 10; n != want {
		t.Errorf("Prune deleted %d, want %d", n, want)
	}
	if got := recentIDs(t, s, "", 100); len(got) != 10 || got[0] != items[len(items)-1].ID {
		t.Errorf("after prune: %v", got)
	}
}

func TestStateNotFound(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if _, err := s.State(context.Background(), "nosuch"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("State(unknown) = %v, want ErrNotFound", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.SyncSources(ctx, []aggregator.Source{blog, news}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		save(t, s, blog, item(blog, fmt.Sprintf("b%d", i), t0.Add(-time.Duration(i)*time.Hour)))
	}
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)))
	if _, err := s.Prune(ctx, Retention{MaxItems: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncSources(ctx, []aggregator.Source{blog}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify of a sound database: %v", err)
	}
	// Break it: an index entry whose item is gone.
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).Delete(concat(sourceKey("blog"), itemKey("b0")))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err == nil {
		t.Error("Verify of a database missing an item = nil, want errors")
	}
}

// TestConcurrentSavesShareCommits: saves from many goroutines, batched into
// shared commits, each store their feed whole.
func TestConcurrentSavesShareCommits(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var wg sync.WaitGroup
	for g := range 16 {
		src := aggregator.Source{Name: fmt.Sprintf("s%02d", g), URL: "http://x.example/", Sections: []string{"all"}}
		wg.Go(func() {
			var items []aggregator.Item
			for i := range 50 {
				items = append(items, item(src, fmt.Sprintf("i%02d", i), t0.Add(-time.Duration(i)*time.Minute)))
			}
			res, err := s.Save(context.Background(), src, items, aggregator.SourceState{})
			if err != nil || res.New != 50 {
				t.Errorf("%s: Save = %+v, %v; want 50 new", src.Name, res, err)
			}
		})
	}
	wg.Wait()
	if n := len(recentIDs(t, s, "all", 10000)); n != 16*50 {
		t.Errorf("%d items stored, want %d", n, 16*50)
	}
	if err := s.Verify(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestSaveStateFlushedInOneCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, blog, item(blog, "b1", t0))
	for _, src := range []aggregator.Source{blog, news} {
		if err := s.SaveState(ctx, src, aggregator.SourceState{Name: src.Name, LastOutcome: aggregator.OutcomeNotModified}); err != nil {
			t.Fatal(err)
		}
	}
	// Visible at once.
	if st, err := s.State(ctx, "news"); err != nil || st.Result() != "not modified" {
		t.Errorf("State before flush = %+v, %v", st, err)
	}
	// A Save after a SaveState wins, and the flush does not undo it.
	save(t, s, blog, item(blog, "b2", t0))
	if err := s.FlushStates(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, c)
	states, _ := s.States(ctx)
	if got := states["news"].Result(); got != "not modified" {
		t.Errorf("news after reopen: %q, want the flushed state", got)
	}
	if got := states["blog"].Result(); got != "new 1" {
		t.Errorf("blog after reopen: %q, want the state of the later Save", got)
	}
}

// TestWriteFailureLosesNothing: when the disk (here, MaxSize) refuses a
// feed's write, Save fails whole, the feed's state stays as it was so that
// the source is fetched again, and everything stored before is still read.
func TestWriteFailureLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s, err := Open(path, Options{Now: c.Now, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)))
	var big []aggregator.Item
	for i := range 500 {
		it := item(blog, fmt.Sprintf("b%03d", i), t0.Add(-time.Duration(i)*time.Minute))
		it.Content = strings.Repeat("x", 8<<10)
		big = append(big, it)
	}
	_, err = s.Save(ctx, blog, big, aggregator.SourceState{Name: "blog", ETag: `"new"`})
	if err == nil {
		t.Fatal("Save of 4 MB into a database capped at 1 MiB succeeded")
	}
	if st, _ := s.State(ctx, "blog"); st.ETag == `"new"` {
		t.Error("the failed Save's state was recorded: the source would not be fetched again")
	}
	wantIDs(t, s, "", 10, "n1")
	if err := s.Verify(ctx); err != nil {
		t.Error(err)
	}
	// The next, smaller write goes through.
	save(t, s, blog, big[:5]...)
	wantIDs(t, s, "", 3, "b000", "b001", "b002")
}

// Reads never write: on a full database the outputs are read all the same,
// and reading them leaves the file byte for byte as it was.
func TestItemsReadOnlyOnFullDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &clock{t: t0}
	path := filepath.Join(t.TempDir(), "test.db")
	s, err := Open(path, Options{Now: c.Now, MaxSize: 1 << 20, MapRelease: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := 0
	for i := 0; ; i++ {
		it := item(blog, fmt.Sprintf("b%03d", i), t0.Add(-time.Duration(i)*time.Minute))
		it.Content = strings.Repeat("x", 8<<10)
		if _, err := s.Save(ctx, blog, []aggregator.Item{it}, aggregator.SourceState{}); err != nil {
			break
		}
		stored++
	}
	if stored < 50 {
		t.Fatalf("only %d items fit in 1 MiB", stored)
	}
	if err := s.FlushStates(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		items, err := s.Items(ctx, Query{Limit: 50, Dedup: true})
		if err != nil {
			t.Fatalf("Items on a full database: %v", err)
		}
		if len(items) != 50 || items[0].Content != strings.Repeat("x", 8<<10) {
			t.Fatalf("Items returned %d, want 50 as stored", len(items))
		}
	}
	if _, err := s.States(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("reading items changed the database file")
	}
}

// A config change leaves alone the states recorded since the last flush:
// they are still written by the next one.
func TestSyncSourcesKeepsPendingStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s := mustOpen(t, path, c)
	if err := s.SyncSources(ctx, []aggregator.Source{blog}); err != nil {
		t.Fatal(err)
	}
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	want := aggregator.SourceState{Name: "blog", ETag: `"e2"`, LastOutcome: aggregator.OutcomeNotModified, NextAttempt: t0.Add(time.Hour)}
	if err := s.SaveState(ctx, blog, want); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncSources(ctx, []aggregator.Source{blog, news}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, s *Store) {
		t.Helper()
		st, err := s.State(ctx, "blog")
		if err != nil || st.ETag != want.ETag || !st.NextAttempt.Equal(want.NextAttempt) || st.Result() != want.Result() {
			t.Errorf("%s: state = %+v, %v; want the one recorded before the config change", when, st, err)
		}
	}
	check("after the config change", s)
	if _, err := s.State(ctx, "news"); err != nil {
		t.Errorf("state of the new source: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("after flush and reopen", mustOpen(t, path, c))
}
