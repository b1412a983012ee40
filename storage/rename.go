package storage

import (
	"bytes"
	"fmt"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// renameFrom returns the name src had before, whose record SyncSources
// carries over to src: the first of src.RenamedFrom the store has a record
// of and that no configured source is called, when src itself has stored
// nothing yet; "" when there is none.
func (s *Store) renameFrom(src aggregator.Source, configured map[string]bool) string {
	if len(src.RenamedFrom) == 0 {
		return ""
	}
	s.statesMu.RLock()
	_, known := s.states[src.Name]
	s.statesMu.RUnlock()
	if e := s.catalog.entries[src.Name]; known && e != nil && e.newest != 0 {
		return "" // renamed already, or the new name has items of its own
	}
	for _, old := range src.RenamedFrom {
		if e := s.catalog.entries[old]; e != nil && !configured[old] {
			return old
		}
	}
	return ""
}

// rename moves the record of source old, its items, their index entries and
// tombstones to source name, in tx. Its items keep their first-seen times
// and places; the record keeps the state, and the name its items are
// published as (SourceState.PublishedAs), so that readers see no change.
// It returns the record as stored under name.
func rename(tx *bolt.Tx, old, name string) (sourceRecord, error) {
	rec, ok, err := getSource(tx, old)
	if err != nil || !ok {
		return rec, err
	}
	if cur, ok, err := getSource(tx, name); err != nil {
		return rec, err
	} else if ok && cur.Count > 0 {
		return rec, fmt.Errorf("rename source %q to %q: %q has %d items already", old, name, name, cur.Count)
	}
	from, to := sourceKey(old), sourceKey(name)
	err = moveRange(tx.Bucket(bucketItems), from, to, func(v []byte) ([]byte, error) {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		r.SourceID = name
		return r.encode(), nil
	})
	if err == nil {
		err = moveRange(tx.Bucket(bucketBySource), from, to, nil)
	}
	if err == nil {
		err = moveRange(tx.Bucket(bucketTombstones), from, to, nil)
	}
	if err != nil {
		return rec, fmt.Errorf("rename source %q to %q: %w", old, name, err)
	}
	if rec.State.PublishedAs == "" {
		rec.State.PublishedAs = old
	}
	if err := tx.Bucket(bucketSources).Delete([]byte(old)); err != nil {
		return rec, err
	}
	if err := unstampRemoved(tx, old); err != nil {
		return rec, err
	}
	return rec, putSource(tx, name, rec)
}

// moveRange moves every key of b that starts with from to the same key
// starting with to, its value passed through conv when conv is not nil.
// The keys are written in order, so each put appends to its page.
func moveRange(b *bolt.Bucket, from, to []byte, conv func([]byte) ([]byte, error)) error {
	var moved []kv
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, from); k, v = c.Next() {
		nv := bytes.Clone(v)
		if conv != nil {
			var err error
			if nv, err = conv(v); err != nil {
				return fmt.Errorf("key %x: %w", k, err)
			}
		}
		moved = append(moved, kv{concat(to, k[len(from):]), nv})
	}
	for _, m := range moved {
		if err := b.Delete(concat(from, m.k[len(to):])); err != nil {
			return err
		}
	}
	for _, m := range moved {
		if err := b.Put(m.k, m.v); err != nil {
			return err
		}
	}
	return nil
}
