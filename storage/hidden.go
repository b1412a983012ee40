package storage

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// hiddenCounts keeps, for each source Hidden counted, which of its stored
// items the rules hide, and the items stored, edited or pruned since: the
// next count reads only those. A first count reads every item of the
// source (up to retention.max_items, 1,000 by default), too many to read
// again for each item a pass adds. Entries live while the rules hold: a
// daemon asks for every configured source's at each render.
type hiddenCounts struct {
	counting sync.Mutex // held by Hidden: one count at a time
	mu       sync.Mutex // guards entries and their changed sets
	entries  map[string]*hiddenEntry
}

type hiddenEntry struct {
	rules    *aggregator.Rules
	sections []string // the source's sections when counted
	// hidden holds the items the rules hide, by item key: bit 0 set when
	// hidden from every feed, bit i+1 when hidden in sections[i]'s.
	hidden map[string]uint64
	// changed holds the items stored, edited or pruned since the count,
	// by item key; written after each commit.
	changed map[string]bool
}

// itemsChanged records, after the commit, that the items of the named
// source with the given item keys (itemKey) were stored, edited or
// deleted: the next count reads them again. A count that read them
// already, its transaction begun after the commit, reads them once more
// and finds the same.
func (s *Store) itemsChanged(name string, keys [][]byte) {
	h := &s.hidden
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[name]
	if e == nil {
		return // never counted: its first count reads every item
	}
	if e.changed == nil {
		e.changed = make(map[string]bool, len(keys))
	}
	for _, k := range keys {
		e.changed[string(k)] = true
	}
}

// forgetHidden drops what the counts know of the named sources: their next
// counts read every item.
func (s *Store) forgetHidden(names ...string) {
	h := &s.hidden
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		delete(h.entries, name)
	}
}

// Hidden returns, for each of sources, how many of its stored items rules
// hide (see aggregator.HiddenCount). What a count learns is kept until the
// rules are others (another *Rules, as each config compiles its own) or
// the source's sections change: a later call reads only the items stored,
// edited or pruned since, so its cost follows what passes changed, and the
// first reads every item. It returns an empty map, reading nothing, when
// rules has none.
func (s *Store) Hidden(ctx context.Context, rules *aggregator.Rules, sources []aggregator.Source) (map[string]aggregator.HiddenCount, error) {
	out := make(map[string]aggregator.HiddenCount, len(sources))
	h := &s.hidden
	h.counting.Lock() // one count at a time reads and writes the entries' hidden items
	defer h.counting.Unlock()
	if rules.IsZero() {
		h.mu.Lock()
		h.entries = nil // and nothing more to keep up to date
		h.mu.Unlock()
		return out, nil
	}
	// The entries are in place before the counts' transactions begin,
	// so that a commit a transaction does not show is recorded in its
	// entry, to be read next time.
	type job struct {
		src     aggregator.Source
		e       *hiddenEntry
		full    bool
		changed map[string]bool
	}
	jobs := make([]job, len(sources))
	h.mu.Lock()
	for i, src := range sources {
		e := h.entries[src.Name]
		full := e == nil || e.rules != rules || !slices.Equal(e.sections, src.Sections)
		if full {
			e = &hiddenEntry{rules: rules, sections: slices.Clone(src.Sections), hidden: make(map[string]uint64)}
			if h.entries == nil {
				h.entries = make(map[string]*hiddenEntry)
			}
			h.entries[src.Name] = e
		}
		jobs[i] = job{src, e, full, e.changed}
		e.changed = nil
	}
	h.mu.Unlock()
	// Sources are counted on every CPU: a daemon's first count reads
	// every item stored. (publish's runRenderJobs has the same loop: see
	// there why it is not shared.)
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				switch {
				case ctx.Err() != nil:
					errs[i] = ctx.Err()
				case j.full:
					errs[i] = s.countHidden(j.e, j.src)
				case len(j.changed) > 0:
					errs[i] = s.recountHidden(j.e, j.src, j.changed)
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	var first error
	for i, j := range jobs {
		if errs[i] != nil {
			s.forgetHidden(j.src.Name) // what it read is partial: count it again
			first = cmp.Or(first, errs[i])
		}
	}
	if first != nil {
		return nil, first
	}
	for _, j := range jobs {
		out[j.src.Name] = j.e.count()
	}
	return out, nil
}

// count sums e's hidden items.
func (e *hiddenEntry) count() aggregator.HiddenCount {
	var c aggregator.HiddenCount
	var ruled []int // indexes of the sections with rules of their own
	for i, sec := range e.sections {
		if !e.rules.Sections[sec].IsZero() {
			ruled = append(ruled, i)
		}
	}
	if len(ruled) > 0 {
		c.Sections = make(map[string]int, len(ruled))
		for _, i := range ruled {
			c.Sections[e.sections[i]] = 0
		}
	}
	for _, bits := range e.hidden {
		if bits&1 != 0 {
			c.All++
		}
		for _, i := range ruled {
			if bits&(1<<(i+1)) != 0 {
				c.Sections[e.sections[i]]++
			}
		}
	}
	return c
}

// maxCountedSections is the most sections of a source whose hidden items
// are counted apart (bits of hiddenEntry.hidden); a source in more has the
// others counted as its merged feed's.
const maxCountedSections = 63

// verdict is the bits of hiddenEntry.hidden for it, a stored item of a
// source in sections.
func verdict(rules *aggregator.Rules, it *aggregator.Item, sections []string) uint64 {
	sections = sections[:min(len(sections), maxCountedSections)]
	var in [maxCountedSections]bool
	if rules.HidesIn(it, sections, in[:len(sections)]) {
		return 1<<(len(sections)+1) - 1
	}
	var bits uint64
	for i := range sections {
		if in[i] {
			bits |= 1 << (i + 1)
		}
	}
	return bits
}

// countHidden reads every stored item of src into e, new.
func (s *Store) countHidden(e *hiddenEntry, src aggregator.Source) error {
	touched := e.rules.Touches(src.Name, "")
	for _, sec := range src.Sections {
		touched = touched || e.rules.Touches(src.Name, sec)
	}
	if !touched {
		return nil
	}
	srcKey := sourceKey(src.Name)
	return s.db.View(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketItems)
		c := tx.Bucket(bucketBySource).Cursor()
		for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey); k, _ = c.Next() {
			if len(k) != 32 {
				continue
			}
			if err := e.read(all, srcKey, k[16:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// recountHidden reads again the items of src whose keys are in changed.
func (s *Store) recountHidden(e *hiddenEntry, src aggregator.Source, changed map[string]bool) error {
	srcKey := sourceKey(src.Name)
	return s.db.View(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketItems)
		for k := range changed {
			if err := e.read(all, srcKey, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// read records whether the rules hide the item of key itKey, now.
func (e *hiddenEntry) read(all *bolt.Bucket, srcKey, itKey []byte) error {
	v := all.Get(concat(srcKey, itKey))
	if v == nil {
		delete(e.hidden, string(itKey)) // pruned
		return nil
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return fmt.Errorf("item %x: corrupt record: %w", itKey, err)
	}
	it := rec.item()
	if bits := verdict(e.rules, &it, e.sections); bits != 0 {
		e.hidden[string(itKey)] = bits
	} else {
		delete(e.hidden, string(itKey))
	}
	return nil
}
