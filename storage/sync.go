package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// SyncSources brings the indexes in step with the configured sources: a
// source no longer configured leaves the outputs (its items and state are
// kept, and come back if it is configured again), and a source whose
// sections changed moves between the section indexes. Call it after opening
// the store and after every config change, before fetching.
func (s *Store) SyncSources(ctx context.Context, sources []aggregator.Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	configured := make(map[string]aggregator.Source, len(sources))
	used := make(map[string]bool)
	for _, src := range sources {
		configured[src.Name] = src
		for _, sec := range src.Sections {
			used[sec] = true
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var stored []string
		err := tx.Bucket(bucketSources).ForEach(func(k, _ []byte) error {
			stored = append(stored, string(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range stored {
			if _, ok := configured[name]; ok {
				continue
			}
			if err := s.unconfigure(tx, name); err != nil {
				return err
			}
		}
		for _, src := range sources {
			if err := s.configure(tx, src); err != nil {
				return err
			}
		}
		return dropUnusedSections(tx, used)
	})
	if err != nil {
		return err
	}
	// New sources have a state now, if an empty one.
	return s.loadStates()
}

func (s *Store) unconfigure(tx *bolt.Tx, name string) error {
	rec, _, err := getSource(tx, name)
	if err != nil || rec.Removed {
		return err
	}
	indexes, err := publicIndexes(tx, rec.Sections)
	if err != nil {
		return err
	}
	if err := deleteIndexEntries(tx, name, indexes); err != nil {
		return err
	}
	rec.Removed = true
	s.logger.Info("source left the config", "source", name, "items_kept", rec.Count)
	return putSource(tx, name, rec)
}

func (s *Store) configure(tx *bolt.Tx, src aggregator.Source) error {
	rec, ok, err := getSource(tx, src.Name)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		rec.Sections = slices.Clone(src.Sections)
		return putSource(tx, src.Name, rec)
	case rec.Removed:
		indexes, err := publicIndexes(tx, src.Sections)
		if err != nil {
			return err
		}
		if err := addIndexEntries(tx, src.Name, indexes); err != nil {
			return err
		}
	default:
		gone, added := diff(rec.Sections, src.Sections), diff(src.Sections, rec.Sections)
		if len(gone) == 0 && len(added) == 0 {
			return nil
		}
		goneIdx := existingSections(tx, gone)
		if len(rec.Sections) == 0 {
			goneIdx = append(goneIdx, tx.Bucket(bucketByTime))
		}
		if err := deleteIndexEntries(tx, src.Name, goneIdx); err != nil {
			return err
		}
		addedIdx, err := sectionIndexes(tx, added)
		if err != nil {
			return err
		}
		if len(src.Sections) == 0 {
			addedIdx = append(addedIdx, tx.Bucket(bucketByTime))
		}
		if err := addIndexEntries(tx, src.Name, addedIdx); err != nil {
			return err
		}
	}
	rec.Removed = false
	rec.Sections = slices.Clone(src.Sections)
	return putSource(tx, src.Name, rec)
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func existingSections(tx *bolt.Tx, names []string) []*bolt.Bucket {
	var out []*bolt.Bucket
	for _, name := range names {
		if b := tx.Bucket(bucketSections).Bucket([]byte(name)); b != nil {
			out = append(out, b)
		}
	}
	return out
}

// eachSourceItem calls fn with the index key of every item of the named
// source, oldest first, walking by_source.
func eachSourceItem(tx *bolt.Tx, name string, fn func(indexKey []byte) error) error {
	srcKey := sourceKey(name)
	var keys [][]byte
	c := tx.Bucket(bucketBySource).Cursor()
	for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey); k, _ = c.Next() {
		if len(k) != 32 {
			continue
		}
		keys = append(keys, indexKey(binary.BigEndian.Uint64(k[8:16]), srcKey, k[16:]))
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func addIndexEntries(tx *bolt.Tx, name string, indexes []*bolt.Bucket) error {
	return eachSourceItem(tx, name, func(k []byte) error {
		for _, b := range indexes {
			if err := b.Put(k, nil); err != nil {
				return fmt.Errorf("index source %q: %w", name, err)
			}
		}
		return nil
	})
}

func deleteIndexEntries(tx *bolt.Tx, name string, indexes []*bolt.Bucket) error {
	return eachSourceItem(tx, name, func(k []byte) error {
		for _, b := range indexes {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("unindex source %q: %w", name, err)
			}
		}
		return nil
	})
}

// dropUnusedSections deletes the index of every section no configured source
// is in.
func dropUnusedSections(tx *bolt.Tx, used map[string]bool) error {
	parent := tx.Bucket(bucketSections)
	var unused [][]byte
	err := parent.ForEachBucket(func(k []byte) error {
		if !used[string(k)] {
			unused = append(unused, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range unused {
		if err := parent.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}
