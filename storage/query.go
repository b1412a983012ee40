package storage

import (
	"bytes"
	"cmp"
	"container/heap"
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
	// Origin, if set, reports whether link is on the own site of the
	// source named: a copy from the article's origin wins over the others,
	// whenever it is met, so that no source can hide another's post by
	// listing its link first.
	Origin func(source, link string) bool
	// Rules, if set, leave out the items they hide in the feeds of
	// Section (aggregator.Rules.Hides) before anything else sees them: a
	// hidden copy of an article neither wins over another source's copy
	// nor is credited by it, and counts against no PerSource cap.
	Rules *aggregator.Rules
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
			if q.Rules.Touches(rec.SourceID, q.Section) {
				it := rec.item()
				if _, hidden := q.Rules.Hides(&it, q.Section); hidden {
					continue
				}
			}
			sel.offer(itemKey, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sel.compact()
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

// selection gathers a query's items as the walk offers them, newest first.
//
// Deduplication works on groups: the copies of one article (one canonical
// link) from different sources. A group publishes the copies of one source,
// its winner, and credits the others (Item.AlsoIn); a source's own items
// are never collapsed into each other, however alike their links. The
// winner is the copy from the article's origin (Query.Origin) if one was
// met, else the source whose copy was first seen; the copies of a source
// that stops winning are kept aside, in case it wins again.
type selection struct {
	q        Query
	recs     []itemRecord
	keys     [][]byte       // items bucket key of each of recs
	dead     []bool         // recs collapsed into another source's copy
	live     int            // recs not dead
	bySource map[string]int // live items taken per source
	groups   map[string]*group
}

// group is the copies of one article met so far, by source; sources[0] is
// the winner.
type group struct {
	sources []groupSource
}

type groupSource struct {
	name      string
	recs      []int     // its copies, indexes in selection.recs
	firstSeen time.Time // the earliest FirstSeen of its copies
	origin    bool      // the source is the article's origin
}

// beats reports whether a's copies win over b's.
func (a *groupSource) beats(b *groupSource) bool {
	if a.origin != b.origin {
		return a.origin
	}
	return a.firstSeen.Before(b.firstSeen)
}

func newSelection(q Query) *selection {
	return &selection{q: q, bySource: make(map[string]int), groups: make(map[string]*group)}
}

func (s *selection) full() bool { return s.live >= s.q.Limit }

func (s *selection) capped(source string) bool {
	return s.q.PerSource > 0 && s.bySource[source] >= s.q.PerSource
}

func (s *selection) offer(key []byte, rec itemRecord) {
	if !s.q.Dedup || rec.Canon == "" || s.q.KeepDuplicates[rec.SourceID] {
		s.take(key, rec)
		return
	}
	g := s.groups[rec.Canon]
	if g == nil {
		if i := s.take(key, rec); i >= 0 {
			s.groups[rec.Canon] = &group{sources: []groupSource{{name: rec.SourceID, recs: []int{i}, firstSeen: rec.FirstSeen}}}
		}
		return
	}
	if g.sources[0].name == rec.SourceID {
		// Another item of the winning source: its own, never a duplicate.
		if i := s.take(key, rec); i >= 0 {
			w := &g.sources[0]
			w.recs = append(w.recs, i)
			w.firstSeen = minTime(w.firstSeen, rec.FirstSeen)
		}
		return
	}
	if len(g.sources) == 1 && s.q.Origin != nil {
		w := &g.sources[0]
		w.origin = s.q.Origin(w.name, s.recs[w.recs[0]].Link)
	}
	i := s.add(key, rec, true)
	j := slices.IndexFunc(g.sources, func(gs groupSource) bool { return gs.name == rec.SourceID })
	if j < 0 {
		origin := s.q.Origin != nil && s.q.Origin(rec.SourceID, rec.Link)
		g.sources = append(g.sources, groupSource{name: rec.SourceID, firstSeen: rec.FirstSeen, origin: origin})
		j = len(g.sources) - 1
	}
	gs := &g.sources[j]
	gs.recs = append(gs.recs, i)
	gs.firstSeen = minTime(gs.firstSeen, rec.FirstSeen)
	w := &g.sources[0]
	if !gs.beats(w) || s.q.PerSource > 0 && s.bySource[gs.name]+len(gs.recs) > s.q.PerSource {
		return
	}
	// The newcomer's source wins: its copies come to life, the old
	// winner's are collapsed into them.
	for _, k := range w.recs {
		s.setDead(k, true)
	}
	for _, k := range gs.recs {
		s.setDead(k, false)
	}
	// The others keep the order they were met in.
	won := g.sources[j]
	copy(g.sources[1:j+1], g.sources[:j])
	g.sources[0] = won
}

// take adds rec as a live item unless its source is capped, and returns
// its index, or -1.
func (s *selection) take(key []byte, rec itemRecord) int {
	if s.capped(rec.SourceID) {
		return -1
	}
	return s.add(key, rec, false)
}

func (s *selection) add(key []byte, rec itemRecord, dead bool) int {
	s.recs = append(s.recs, rec)
	s.keys = append(s.keys, key)
	s.dead = append(s.dead, true)
	i := len(s.recs) - 1
	s.setDead(i, dead)
	return i
}

func (s *selection) setDead(i int, dead bool) {
	if s.dead[i] == dead {
		return
	}
	s.dead[i] = dead
	d := 1
	if dead {
		d = -1
	}
	s.live += d
	s.bySource[s.recs[i].SourceID] += d
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// compact drops the dead records, and the live ones past the limit that
// a winner's copies coming back to life pushed out: the oldest.
func (s *selection) compact() {
	type taken struct {
		rec itemRecord
		key []byte
	}
	var out []taken
	for i, rec := range s.recs {
		if !s.dead[i] {
			out = append(out, taken{rec, s.keys[i]})
		}
	}
	// A copy that won over a newer one goes to its own place in the order.
	slices.SortStableFunc(out, func(a, b taken) int { return cmp.Compare(b.rec.Sort, a.rec.Sort) })
	out = out[:min(len(out), s.q.Limit)]
	s.recs, s.keys, s.dead = s.recs[:0], s.keys[:0], s.dead[:0]
	for _, t := range out {
		s.recs, s.keys, s.dead = append(s.recs, t.rec), append(s.keys, t.key), append(s.dead, false)
	}
	s.live = len(s.recs)
}

// items returns the selected items, newest first, each with the other
// sources its article was collapsed from. Call compact first.
func (s *selection) items() []aggregator.Item {
	out := make([]aggregator.Item, len(s.recs))
	for i, rec := range s.recs {
		out[i] = rec.item()
		if g := s.groups[rec.Canon]; g != nil && len(g.sources) > 1 && g.sources[0].name == rec.SourceID {
			for _, other := range g.sources[1:] {
				out[i].AlsoIn = append(out[i].AlsoIn, other.name)
			}
		}
	}
	return out
}
