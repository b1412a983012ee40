package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
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

// Items returns the items q selects, newest first by Item.Date(). It walks
// the section's (or all sources') date index backwards from the newest
// entry, so its cost follows the number of items returned and skipped, not
// the size of the store.
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
		var indexes []*bolt.Bucket
		if q.Section != "" {
			if b := tx.Bucket(bucketSections).Bucket([]byte(q.Section)); b != nil {
				indexes = append(indexes, b)
			}
		} else {
			indexes = allIndexes(tx)
		}
		all := tx.Bucket(bucketItems)
		c := newMergedCursor(indexes)
		budget := q.Limit + scanBudget
		for k := c.last(); k != nil && !sel.full() && budget > 0; k = c.prev() {
			budget--
			if len(k) != 32 {
				continue
			}
			if binary.BigEndian.Uint64(k[:8]) < since {
				break
			}
			v := all.Get(k[8:])
			if v == nil {
				s.logger.Error("index entry without item", "key", fmt.Sprintf("%x", k))
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("item %x: corrupt record: %w", k[8:], err)
			}
			sel.offer(bytes.Clone(k[8:]), rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.prepareSelected(sel)
	return sel.items(), nil
}

// allIndexes returns every date index: by_time (the sources in no section)
// and each section's. Together they list every configured source.
func allIndexes(tx *bolt.Tx) []*bolt.Bucket {
	indexes := []*bolt.Bucket{tx.Bucket(bucketByTime)}
	parent := tx.Bucket(bucketSections)
	parent.ForEachBucket(func(name []byte) error {
		indexes = append(indexes, parent.Bucket(name))
		return nil
	})
	return indexes
}

// mergedCursor walks several date indexes backwards as one, newest key
// first. A key in several of them (an item of a source in several
// sections) comes once.
type mergedCursor struct {
	cursors []*bolt.Cursor
	heads   [][]byte // the current key of each cursor; nil when it is done
}

func newMergedCursor(indexes []*bolt.Bucket) *mergedCursor {
	m := &mergedCursor{heads: make([][]byte, len(indexes))}
	for _, b := range indexes {
		m.cursors = append(m.cursors, b.Cursor())
	}
	return m
}

// last positions every cursor on its newest key and returns the newest.
func (m *mergedCursor) last() []byte {
	for i, c := range m.cursors {
		m.heads[i], _ = c.Last()
	}
	return m.max()
}

// prev moves past the key last returned and returns the next newest.
func (m *mergedCursor) prev() []byte {
	top := m.max()
	if top == nil {
		return nil
	}
	// top stays valid as the cursors move: keys live in the transaction's
	// pages, which no cursor changes.
	for i, c := range m.cursors {
		if m.heads[i] != nil && bytes.Equal(m.heads[i], top) {
			m.heads[i], _ = c.Prev()
		}
	}
	return m.max()
}

// max is the greatest current key. There are few indexes (the sections),
// so a scan of the heads beats a heap.
func (m *mergedCursor) max() []byte {
	var top []byte
	for _, k := range m.heads {
		if k != nil && (top == nil || bytes.Compare(k, top) > 0) {
			top = k
		}
	}
	return top
}

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
	for _, i := range todo {
		it := sel.recs[i].item()
		s.prepare(&it)
		sel.recs[i] = sel.recs[i].with(it)
		sel.recs[i].Prepared = true
	}
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
