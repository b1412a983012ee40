package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// modelItems is what Items must return, computed the slow way: every stored
// item of the sources q covers, in the order of (sort, source key, item key)
// from the newest, through the same selection.
func modelItems(t *testing.T, s *Store, q Query, covered map[string]bool) []string {
	t.Helper()
	type entry struct {
		order []byte // sort ‖ srcKey ‖ itemKey
		key   []byte
		rec   itemRecord
	}
	var all []entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if !covered[rec.SourceID] || rec.Sort < sortValue(q.Since) && !q.Since.IsZero() {
				return nil
			}
			order := binary.BigEndian.AppendUint64(nil, rec.Sort)
			all = append(all, entry{order: append(append(order, k[:8]...), k[8:]...), key: bytes.Clone(k), rec: rec})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b entry) int { return bytes.Compare(b.order, a.order) })
	sel := newSelection(q)
	for _, e := range all {
		if sel.full() {
			break
		}
		sel.offer(e.key, e.rec)
	}
	sel.compact()
	ids := []string{}
	for _, it := range sel.items() {
		ids = append(ids, it.SourceID+"/"+it.ID)
	}
	return ids
}

// Items merges the sources' ranges exactly as a walk over every item in
// date order would: random planets, sections, dates (ties, dates before
// 1970), caps, age limits and duplicate links, checked against the model.
func TestItemsMatchesModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 30 {
		s, _ := newStore(t)
		sections := []string{"a", "b", "c"}
		var sources []aggregator.Source
		for i := range 1 + rng.IntN(25) {
			src := aggregator.Source{Name: fmt.Sprintf("s%02d", i), URL: "http://x.example/"}
			for _, sec := range sections {
				if rng.IntN(3) == 0 {
					src.Sections = append(src.Sections, sec)
				}
			}
			sources = append(sources, src)
		}
		if err := s.SyncSources(ctx, sources); err != nil {
			t.Fatal(err)
		}
		for _, src := range sources {
			var items []aggregator.Item
			for j := range rng.IntN(40) {
				var at time.Time
				switch rng.IntN(4) {
				case 0:
					at = t0.Add(-time.Duration(rng.IntN(5)) * time.Hour) // many ties
				case 1:
					at = time.Date(1960+rng.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC) // sort value 0
				default:
					at = t0.Add(-time.Duration(rng.IntN(1000)) * time.Minute)
				}
				it := item(src, fmt.Sprintf("i%d", j), at)
				it.Link = fmt.Sprintf("http://example.com/%d", rng.IntN(30)) // shared links
				items = append(items, it)
			}
			save(t, s, src, items...)
		}
		// Some sources leave the config.
		var configured []aggregator.Source
		for _, src := range sources {
			if rng.IntN(5) != 0 {
				configured = append(configured, src)
			}
		}
		if err := s.SyncSources(ctx, configured); err != nil {
			t.Fatal(err)
		}
		for _, section := range append([]string{""}, sections...) {
			covered := map[string]bool{}
			for _, src := range configured {
				if section == "" || slices.Contains(src.Sections, section) {
					covered[src.Name] = true
				}
			}
			for range 4 {
				q := Query{Section: section, Limit: 1 + rng.IntN(60), PerSource: rng.IntN(4), Dedup: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					q.Since = t0.Add(-time.Duration(rng.IntN(20)) * time.Hour)
				}
				got := []string{}
				items, err := s.Items(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					got = append(got, it.SourceID+"/"+it.ID)
				}
				if want := modelItems(t, s, q, covered); !slices.Equal(got, want) {
					t.Fatalf("round %d, %+v:\n got %v\nwant %v", round, q, got, want)
				}
			}
		}
	}
}

// Queries running while saves commit never miss an item the transaction
// they read holds: the catalog's bound on a source's newest item is raised
// before the commit that needs it. Each save brings an item newer than all
// before it, round the sources, so any snapshot holds a prefix of them and
// its newest items are consecutive.
func TestItemsDuringSaves(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var sources []aggregator.Source
	for i := range 8 {
		sources = append(sources, aggregator.Source{Name: fmt.Sprintf("s%d", i), URL: "http://x.example/"})
	}
	if err := s.SyncSources(ctx, sources); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var checks sync.WaitGroup
	for range 2 {
		checks.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				items, err := s.Items(ctx, Query{Limit: 5})
				if err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(items); i++ {
					if d := items[i-1].Date().Sub(items[i].Date()); d != time.Second {
						t.Errorf("items %s and %s are %v apart: one between them is missing", items[i-1].ID, items[i].ID, d)
						return
					}
				}
			}
		})
	}
	for j := range 300 {
		src := sources[j%len(sources)]
		save(t, s, src, item(src, fmt.Sprintf("i%d", j), t0.Add(-time.Hour+time.Duration(j)*time.Second)))
	}
	close(done)
	checks.Wait()
}
