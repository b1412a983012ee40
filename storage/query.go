package storage

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// Query selects the items of one output feed.
type Query struct {
	Section string // "" for every configured source
	Limit   int    // items wanted

	// PerSource caps the items of any one source; 0 is no cap.
	PerSource int
	// Since leaves out items dated (Item.Date) before it; zero is no limit.
	Since time.Time
	// Dedup shows an article reached through several sources once: items
	// with the same canonical link (aggregator.CanonicalLink) collapse into
	// the copy first seen, placed by its own date. Items of the sources
	// in KeepDuplicates are never collapsed.
	Dedup          bool
	KeepDuplicates map[string]bool
}

// scanBudget bounds how many index entries one query reads beyond its
// limit, so that a flood of capped or duplicate items cannot make a render
// walk the whole store.
const scanBudget = 20_000

// RecentItems returns the newest limit items of a section, or of every
// configured source when section is "", newest first by Item.Date(). An
// unknown section, or one with no items yet, gives an empty list.
func (s *Store) RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error) {
	return s.Items(ctx, Query{Section: section, Limit: limit})
}

// Items returns the items q selects, newest first by Item.Date(). It merges
// the by_source ranges of the sources q covers, taking a source into the
// merge only when its newest item could come next (see catalog.go), so its
// cost follows the number of items returned and skipped and the number of
// sources covered, not the number of items stored.
func (s *Store) Items(ctx context.Context, q Query) ([]aggregator.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return nil, nil
	}
	since := uint64(0)
	if !q.Since.IsZero() {
		since = sortValue(q.Since)
	}
	sel := newSelection(q)
	err := s.db.View(func(tx *bolt.Tx) error {
		// After the transaction began: every commit it shows raised its
		// sources' bounds before committing, so the bounds read now cover
		// every item it holds.
		cands := s.catalog.candidates(q.Section)
		all, bySource := tx.Bucket(bucketItems), tx.Bucket(bucketBySource)
		var m sourceMerge
		next := 0
		for budget := q.Limit + scanBudget; !sel.full() && budget > 0; budget-- {
			// Every source whose newest item could beat the merge's
			// newest joins it; the others wait, in order of their newest.
			for next < len(cands) && cands[next].newest >= since && (m.Len() == 0 || cands[next].newest >= m.newest()) {
				c := bySource.Cursor()
				if k := lastOfSource(c, cands[next].key); k != nil {
					heap.Push(&m, sourceCursor{c: c, key: k})
				}
				next++
			}
			if m.Len() == 0 {
				break
			}
			top := &m[0]
			k := top.key
			if binary.BigEndian.Uint64(k[8:16]) < since {
				heap.Pop(&m) // the rest of this source is older still
				continue
			}
			itemKey := concat(k[:8], k[16:])
			if prev, _ := top.c.Prev(); len(prev) == 32 && bytes.HasPrefix(prev, k[:8]) {
				top.key = prev
				heap.Fix(&m, 0)
			} else {
				heap.Pop(&m)
			}
			v := all.Get(itemKey)
			if v == nil {
				s.logger.Error("index entry without item", "key", fmt.Sprintf("%x", k))
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("item %x: corrupt record: %w", itemKey, err)
			}
			sel.offer(itemKey, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.prepareSelected(sel)
	return sel.items(), nil
}

// sourceCursor walks one source's by_source range backwards; key is its
// current entry.
type sourceCursor struct {
	c   *bolt.Cursor
	key []byte // srcKey(8) ‖ sort(8) ‖ itemKey(16)
}

// sourceMerge is a heap of source cursors, the newest entry on top: by sort
// value, then source key, then item key, the order of the items across
// sources.
type sourceMerge []sourceCursor

func (m sourceMerge) Len() int { return len(m) }
func (m sourceMerge) Less(i, j int) bool {
	a, b := m[i].key, m[j].key
	if c := bytes.Compare(a[8:16], b[8:16]); c != 0 {
		return c > 0
	}
	if c := bytes.Compare(a[:8], b[:8]); c != 0 {
		return c > 0
	}
	return bytes.Compare(a[16:], b[16:]) > 0
}
func (m sourceMerge) Swap(i, j int) { m[i], m[j] = m[j], m[i] }
func (m *sourceMerge) Push(x any)   { *m = append(*m, x.(sourceCursor)) }
func (m *sourceMerge) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

// newest is the sort value of the newest entry in the merge.
func (m sourceMerge) newest() uint64 { return binary.BigEndian.Uint64(m[0].key[8:16]) }

// prepareSelected applies Options.Prepare to the selected items that have
// not had it, outside any transaction, then stores the results, so that it
// runs once per version of an item, and only for items that are published.
// A failure to store them is logged, not returned.
func (s *Store) prepareSelected(sel *selection) {
	if s.prepare == nil {
		return
	}
	var todo []int
	for i, rec := range sel.recs {
		if !rec.Prepared {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	// On every CPU: a render waits for it, and each item is its own.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for i := range next {
				it := sel.recs[i].item()
				s.prepare(&it)
				sel.recs[i] = sel.recs[i].with(it)
				sel.recs[i].Prepared = true
			}
		})
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	err := s.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketItems)
		for _, i := range todo {
			rec, key := sel.recs[i], sel.keys[i]
			v := all.Get(key)
			if v == nil {
				continue // pruned since
			}
			if stored, err := decodeRecord(v); err != nil || !bytes.Equal(stored.Hash, rec.Hash) {
				continue // changed since: the new version gets its turn
			}
			if err := all.Put(key, rec.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The prepared items are published all the same; they are prepared
		// again until a store succeeds. A full disk must not stop the
		// outputs.
		s.logger.Warn("store prepared items", "items", len(todo), "err", err)
	}
}

// selection gathers a query's items as the walk offers them, newest first.
type selection struct {
	q        Query
	recs     []itemRecord
	keys     [][]byte       // items bucket key of each of recs
	bySource map[string]int // items taken per source
	byCanon  map[string]int // index in recs of the copy taken of each link
}

func newSelection(q Query) *selection {
	return &selection{q: q, bySource: make(map[string]int), byCanon: make(map[string]int)}
}

func (s *selection) full() bool { return len(s.recs) >= s.q.Limit }

func (s *selection) capped(source string) bool {
	return s.q.PerSource > 0 && s.bySource[source] >= s.q.PerSource
}

func (s *selection) offer(key []byte, rec itemRecord) {
	dedup := s.q.Dedup && rec.Canon != "" && !s.q.KeepDuplicates[rec.SourceID]
	if dedup {
		if i, ok := s.byCanon[rec.Canon]; ok {
			// A copy of an article already taken: the one first seen wins.
			old := s.recs[i]
			if rec.FirstSeen.Before(old.FirstSeen) && (rec.SourceID == old.SourceID || !s.capped(rec.SourceID)) {
				s.bySource[old.SourceID]--
				s.bySource[rec.SourceID]++
				s.recs[i], s.keys[i] = rec, key
			}
			return
		}
	}
	if s.capped(rec.SourceID) {
		return
	}
	if dedup {
		s.byCanon[rec.Canon] = len(s.recs)
	}
	s.bySource[rec.SourceID]++
	s.recs = append(s.recs, rec)
	s.keys = append(s.keys, key)
}

func (s *selection) items() []aggregator.Item {
	// A copy that won over a newer one goes to its own place in the order.
	recs := slices.Clone(s.recs)
	slices.SortStableFunc(recs, func(a, b itemRecord) int { return cmp.Compare(b.Sort, a.Sort) })
	out := make([]aggregator.Item, len(recs))
	for i, rec := range recs {
		out[i] = rec.item()
	}
	return out
}
