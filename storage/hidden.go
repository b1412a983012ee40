package storage

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// hiddenCounts keeps the counts Hidden made, for each source, until its
// items change or other rules are asked about: a count reads every item
// the source has stored, a render wants every source's.
type hiddenCounts struct {
	mu      sync.Mutex
	changes map[string]uint64 // by source: bumped after each commit that changes its items
	counts  map[string]hiddenEntry
}

type hiddenEntry struct {
	rules    *aggregator.Rules
	sections []string
	changes  uint64 // changes[source] when counted
	count    aggregator.HiddenCount
}

// itemsChanged records that the items of the named sources changed: their
// counts are made again. Called after the commit, so that a count whose
// transaction began before it is not kept under the new number.
func (s *Store) itemsChanged(names ...string) {
	h := &s.hidden
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changes == nil {
		h.changes = make(map[string]uint64)
	}
	for _, name := range names {
		h.changes[name]++
	}
}

// Hidden returns, for each of sources, how many of its stored items rules
// hide (see aggregator.HiddenCount). A source's count is kept until its items change
// or the rules are others (another *Rules, as a reloaded config compiles),
// so the cost of a call follows the items stored since the last one; the
// first reads every item. It returns an empty map, reading nothing, when
// rules has none.
func (s *Store) Hidden(ctx context.Context, rules *aggregator.Rules, sources []aggregator.Source) (map[string]aggregator.HiddenCount, error) {
	out := make(map[string]aggregator.HiddenCount, len(sources))
	if rules.IsZero() {
		return out, nil
	}
	h := &s.hidden
	for _, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h.mu.Lock()
		e, ok := h.counts[src.Name]
		changes := h.changes[src.Name]
		h.mu.Unlock()
		if ok && e.rules == rules && e.changes == changes && slices.Equal(e.sections, src.Sections) {
			out[src.Name] = e.count
			continue
		}
		count, err := s.countHidden(rules, src)
		if err != nil {
			return nil, err
		}
		out[src.Name] = count
		h.mu.Lock()
		if h.counts == nil {
			h.counts = make(map[string]hiddenEntry)
		}
		h.counts[src.Name] = hiddenEntry{rules: rules, sections: src.Sections, changes: changes, count: count}
		h.mu.Unlock()
	}
	return out, nil
}

// countHidden reads every stored item of src and counts those rules hide.
func (s *Store) countHidden(rules *aggregator.Rules, src aggregator.Source) (aggregator.HiddenCount, error) {
	var count aggregator.HiddenCount
	var sections []string // those with rules of their own
	for _, sec := range src.Sections {
		if !rules.Sections[sec].IsZero() {
			sections = append(sections, sec)
		}
	}
	if len(sections) > 0 {
		count.Sections = make(map[string]int, len(sections))
		for _, sec := range sections {
			count.Sections[sec] = 0
		}
	}
	if !rules.Touches(src.Name, "") && len(sections) == 0 {
		return count, nil
	}
	srcKey := sourceKey(src.Name)
	err := s.db.View(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketItems)
		c := tx.Bucket(bucketBySource).Cursor()
		for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey); k, _ = c.Next() {
			if len(k) != 32 {
				continue
			}
			v := all.Get(concat(k[:8], k[16:]))
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("item %x: corrupt record: %w", k, err)
			}
			it := rec.item()
			// The top-level and source rules hold in every feed; a
			// section's add to them in its own.
			if _, hidden := rules.Hides(&it, ""); hidden {
				count.All++
				for _, sec := range sections {
					count.Sections[sec]++
				}
				continue
			}
			for _, sec := range sections {
				if _, hidden := rules.Sections[sec].Hides(&it); hidden {
					count.Sections[sec]++
				}
			}
		}
		return nil
	})
	return count, err
}
