package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Verify checks that the database is whole: bbolt's own page checks, then
// that every item is stored under its keys and has its by_source entry,
// that every entry leads to an item, and that each source's item count is
// right. It returns every problem found, joined and wrapping ErrCorrupt,
// or nil.
func (s *Store) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		return verifyIndexes(tx)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

func verifyIndexes(tx *bolt.Tx) error {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	sources := make(map[string]sourceRecord) // by srcKey
	names := make(map[string]string)
	err := eachSource(tx, func(k []byte, rec sourceRecord) error {
		key := string(sourceKey(string(k)))
		sources[key], names[key] = rec, string(k)
		return nil
	})
	if err != nil {
		return err
	}
	counts := make(map[string]int)
	bySource := tx.Bucket(bucketBySource)
	err = tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
		if len(k) != 24 {
			fail("items key %x is not 24 bytes", k)
			return nil
		}
		rec, err := decodeRecord(v)
		if err != nil {
			fail("item %x: corrupt record: %v", k, err)
			return nil
		}
		srcKey, itKey := k[:8], k[8:]
		if _, ok := sources[string(srcKey)]; !ok {
			fail("item %q of unknown source %q", rec.ID, rec.SourceID)
			return nil
		}
		if !bytes.Equal(itKey, itemKey(rec.ID)) || names[string(srcKey)] != rec.SourceID {
			fail("item %q of %q stored under the wrong key", rec.ID, rec.SourceID)
		}
		counts[string(srcKey)]++
		if bySource.Get(sourceIndexKey(srcKey, rec.Sort, itKey)) == nil {
			fail("item %q of %q missing from by_source", rec.ID, rec.SourceID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for key, src := range sources {
		if counts[key] != src.Count {
			fail("source %q counts %d items, holds %d", names[key], src.Count, counts[key])
		}
	}
	// Every item has an entry, and every entry an item: with equal numbers,
	// no item is indexed twice.
	total := 0
	for _, n := range counts {
		total += n
	}
	items, entries := tx.Bucket(bucketItems), 0
	c := bySource.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		entries++
		if len(k) != 32 || items.Get(concat(k[:8], k[16:])) == nil {
			fail("by_source entry %x leads to no item", k)
		}
	}
	if entries != total {
		fail("by_source has %d entries for %d items", entries, total)
	}
	return errors.Join(errs...)
}
