package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func benchStore(b *testing.B, c *clock) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Now: c.Now, BatchDelay: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchSave(b *testing.B, s *Store, src aggregator.Source, items []aggregator.Item) {
	b.Helper()
	_, err := s.Save(context.Background(), src, items, aggregator.SourceState{Name: src.Name})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSaveListingPruned saves a feed of 500 items, 490 of them
// pruned (retention.max_items 10), one new item each time: the tombstone
// reads and upkeep of every Save of such a feed.
func BenchmarkSaveListingPruned(b *testing.B) {
	c := &clock{t: t0}
	s := benchStore(b, c)
	var items []aggregator.Item
	for i := range 500 {
		items = append(items, item(blog, fmt.Sprintf("b%d", i), time.Time{}))
	}
	benchSave(b, s, blog, items)
	if _, err := s.Prune(context.Background(), Retention{MaxItems: 10}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		c.Add(time.Minute)
		items[i%len(items)] = item(blog, fmt.Sprintf("new%d", i), time.Time{})
		i++
		benchSave(b, s, blog, items)
	}
}

// BenchmarkPrune prunes 50 sources that each stored 20 items past
// retention.max_items 100 since the last pass.
func BenchmarkPrune(b *testing.B) {
	c := &clock{t: t0}
	s := benchStore(b, c)
	const sources = 50
	srcs := make([]aggregator.Source, sources)
	for j := range srcs {
		srcs[j] = aggregator.Source{Name: fmt.Sprintf("s%d", j), URL: fmt.Sprintf("http://s%d.example/feed", j)}
	}
	next := 0
	fill := func(n int) {
		for _, src := range srcs {
			var items []aggregator.Item
			for range n {
				items = append(items, item(src, fmt.Sprintf("i%d", next), c.Now().Add(-time.Hour)))
				next++
			}
			benchSave(b, s, src, items)
		}
		c.Add(time.Minute)
	}
	fill(100)
	for b.Loop() {
		b.StopTimer()
		fill(20)
		b.StartTimer()
		if _, err := s.Prune(context.Background(), Retention{MaxItems: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPruneRemovedKept is BenchmarkPrune's pass with 50 more
// sources that left the config, 100 items each, kept: with
// retention.removed_after set (as by default; they left within it) and
// 0 (kept for ever, as before it existed); and the look at the removed
// sources alone (sweep), which is what a pass pays for them.
func BenchmarkPruneRemovedKept(b *testing.B) {
	b.Run("removed_after", func(b *testing.B) { benchPruneRemovedKept(b, 1000*24*time.Hour, false) })
	b.Run("for_ever", func(b *testing.B) { benchPruneRemovedKept(b, 0, false) })
	b.Run("sweep", func(b *testing.B) { benchPruneRemovedKept(b, 1000*24*time.Hour, true) })
}

func benchPruneRemovedKept(b *testing.B, removedAfter time.Duration, sweepOnly bool) {
	c := &clock{t: t0}
	s := benchStore(b, c)
	const sources = 50
	var srcs, all []aggregator.Source
	for j := range 2 * sources {
		src := aggregator.Source{Name: fmt.Sprintf("s%d", j), URL: fmt.Sprintf("http://s%d.example/feed", j)}
		all = append(all, src)
		if j < sources {
			srcs = append(srcs, src)
		}
	}
	if err := s.SyncSources(context.Background(), all); err != nil {
		b.Fatal(err)
	}
	next := 0
	fill := func(srcs []aggregator.Source, n int) {
		for _, src := range srcs {
			var items []aggregator.Item
			for range n {
				items = append(items, item(src, fmt.Sprintf("i%d", next), c.Now().Add(-time.Hour)))
				next++
			}
			benchSave(b, s, src, items)
		}
		c.Add(time.Minute)
	}
	fill(all, 100)
	if err := s.SyncSources(context.Background(), srcs); err != nil {
		b.Fatal(err)
	}
	r := Retention{MaxItems: 100, RemovedAfter: removedAfter}
	if sweepOnly {
		for b.Loop() {
			if n, err := s.sweepRemoved(context.Background(), removedAfter); err != nil || n != 0 {
				b.Fatalf("sweepRemoved = %d, %v", n, err)
			}
		}
		return
	}
	for b.Loop() {
		b.StopTimer()
		fill(srcs, 20)
		b.StartTimer()
		if _, err := s.Prune(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
