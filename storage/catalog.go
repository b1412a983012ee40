package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"maps"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The store keeps no index of items by date across sources: each feed's
// items would land all over such an index, and every commit would rewrite a
// page of it per item (a tenth of a first pass's CPU, measured with
// BenchmarkFirstPass). Items are indexed by source alone (by_source, in
// date order within each source), which a feed's items reach together, and
// a query merges the sources it covers, newest first, taking a source into
// the merge only once its newest item could come next. What it needs to
// know of every source without reading the database is here.

// catalog holds, for every source the database has a record of, what a
// query needs: its key, sections, whether it left the config, and a bound
// on its newest item's sort value.
type catalog struct {
	mu      sync.RWMutex
	entries map[string]*catalogEntry // by source name
	// version counts changes to entries; sorted holds each section's
	// candidates as of a version, so that renders between two changes
	// (the serving of every feed, the pages) do not sort every source again.
	version uint64
	sorted  map[string]sortedCandidates
}

type sortedCandidates struct {
	version uint64
	list    []candidate
}

type catalogEntry struct {
	key      []byte // sourceKey(name)
	sections []string
	removed  bool
	// newest is at least the sort value of the source's newest stored item
	// in any transaction a query may read. It is raised before a commit
	// that stores newer items and never lowered, since a value too high
	// costs a query a little work, a value too low would misplace the
	// source's items. (Pruning removes the oldest items, so it rarely
	// makes one stale; a restart makes it exact.)
	newest uint64
}

// newCatalogEntry returns the entry of the source name of record rec, its
// bound read with cur, a by_source cursor.
func newCatalogEntry(name string, rec sourceRecord, cur *bolt.Cursor) *catalogEntry {
	e := &catalogEntry{key: sourceKey(name), sections: rec.Sections, removed: rec.Removed}
	if last := lastOfSource(cur, e.key); last != nil {
		e.newest = binary.BigEndian.Uint64(last[8:16])
	}
	return e
}

// load replaces the catalog with entries read from the database (by
// loadStates). A Save may have committed while they were read: what the
// catalog already holds is kept where it could be newer (a bound raised, a
// source the transaction did not show yet).
func (c *catalog) load(entries map[string]*catalogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	for name, old := range c.entries {
		if e, ok := entries[name]; ok {
			e.newest = max(e.newest, old.newest)
		} else {
			entries[name] = old
		}
	}
	c.entries = entries
}

// lastOfSource returns the newest by_source key of the source srcKey, or
// nil when it has no items.
func lastOfSource(c *bolt.Cursor, srcKey []byte) []byte {
	end := append(bytes.Clone(srcKey), bytes.Repeat([]byte{0xff}, 24)...)
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else if !bytes.Equal(k, end) {
		k, _ = c.Prev()
	}
	if k == nil || len(k) != 32 || !bytes.HasPrefix(k, srcKey) {
		return nil
	}
	return k
}

// saving records, before the commit, that a Save of the named source, of
// the given record, may store items up to sort value newest; and, after
// their commits, the records SyncSources and FlushStates wrote.
func (c *catalog) saving(name string, rec sourceRecord, newest uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*catalogEntry)
	}
	e, ok := c.entries[name]
	if !ok {
		e = &catalogEntry{key: sourceKey(name)}
		c.entries[name] = e
	}
	if ok && e.removed == rec.Removed && newest <= e.newest && slices.Equal(e.sections, rec.Sections) {
		return // nothing a query sees changed: the sorted lists stay
	}
	e.sections, e.removed = rec.Sections, rec.Removed
	e.newest = max(e.newest, newest)
	c.version++
}

// candidate is a source a query covers.
type candidate struct {
	key    []byte
	newest uint64
}

// candidates returns the configured sources of section ("" for all),
// newest first by their bound. The list is shared: callers must not modify
// it.
func (c *catalog) candidates(section string) []candidate {
	c.mu.RLock()
	if s, ok := c.sorted[section]; ok && s.version == c.version {
		c.mu.RUnlock()
		return s.list
	}
	version := c.version
	out := make([]candidate, 0, len(c.entries))
	for _, e := range c.entries {
		if e.removed {
			continue
		}
		if section != "" && !slices.Contains(e.sections, section) {
			continue
		}
		out = append(out, candidate{key: e.key, newest: e.newest})
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b candidate) int {
		if c := cmp.Compare(b.newest, a.newest); c != 0 {
			return c
		}
		return bytes.Compare(b.key, a.key)
	})
	c.mu.Lock()
	if c.version == version {
		if c.sorted == nil {
			c.sorted = make(map[string]sortedCandidates)
		}
		// Lists of an older version are never used again: a section no
		// longer configured would keep its list for good.
		maps.DeleteFunc(c.sorted, func(_ string, s sortedCandidates) bool { return s.version != version })
		c.sorted[section] = sortedCandidates{version, out}
	}
	c.mu.Unlock()
	return out
}

// rename moves the entry of source old to name.
func (c *catalog) rename(old, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[old]
	if !ok {
		return
	}
	delete(c.entries, old)
	e.key = sourceKey(name)
	if cur, ok := c.entries[name]; ok {
		e.newest = max(e.newest, cur.newest)
	}
	c.entries[name] = e
	c.version++
}

// removedNames returns the sources that left the config.
func (c *catalog) removedNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var names []string
	for name, e := range c.entries {
		if e.removed {
			names = append(names, name)
		}
	}
	return names
}

// remove drops the entry of the source name, whose record was deleted.
func (c *catalog) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; ok {
		delete(c.entries, name)
		c.version++
	}
}
