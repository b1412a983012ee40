package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Verify checks that the database is whole: bbolt's own page checks, then
// that every item is in the indexes its source's configuration calls for,
// that every index entry leads to an item, and that each source's item count
// is right. It returns every problem found, joined, or nil.
func (s *Store) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		return verifyIndexes(tx)
	})
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
	err := tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
		var rec sourceRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("source %q: corrupt record: %w", k, err)
		}
		key := string(sourceKey(string(k)))
		sources[key], names[key] = rec, string(k)
		return nil
	})
	if err != nil {
		return err
	}
	counts := make(map[string]int)
	byTime, bySource := tx.Bucket(bucketByTime), tx.Bucket(bucketBySource)
	sections := tx.Bucket(bucketSections)
	err = tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			fail("item %x: corrupt record: %v", k, err)
			return nil
		}
		srcKey, itKey := k[:8], k[8:]
		src, ok := sources[string(srcKey)]
		if !ok {
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
		if src.Removed {
			return nil
		}
		ik := indexKey(rec.Sort, srcKey, itKey)
		if len(src.Sections) == 0 && byTime.Get(ik) == nil {
			fail("item %q of %q missing from by_time", rec.ID, rec.SourceID)
		}
		for _, sec := range src.Sections {
			if b := sections.Bucket([]byte(sec)); b == nil || b.Get(ik) == nil {
				fail("item %q of %q missing from section %q", rec.ID, rec.SourceID, sec)
			}
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
	items := tx.Bucket(bucketItems)
	check := func(where string, b *bolt.Bucket, itemOf func(k []byte) []byte) int {
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
			if len(k) != 32 || items.Get(itemOf(k)) == nil {
				fail("%s entry %x leads to no item", where, k)
			}
		}
		return n
	}
	// Every item has an entry, and every entry an item: with equal numbers,
	// no item is indexed twice.
	var total int
	public := make(map[string]int) // items listed per date index; "" is by_time
	for key, n := range counts {
		total += n
		src := sources[key]
		switch {
		case src.Removed:
		case len(src.Sections) == 0:
			public[""] += n
		default:
			for _, sec := range src.Sections {
				public[sec] += n
			}
		}
	}
	fromIndex := func(k []byte) []byte { return k[8:] }
	if n := check("by_time", byTime, fromIndex); n != public[""] {
		fail("by_time has %d entries for %d items", n, public[""])
	}
	if n := check("by_source", bySource, func(k []byte) []byte { return concat(k[:8], k[16:]) }); n != total {
		fail("by_source has %d entries for %d items", n, total)
	}
	err = sections.ForEachBucket(func(name []byte) error {
		if n := check("section "+string(name), sections.Bucket(name), fromIndex); n != public[string(name)] {
			fail("section %q has %d entries for %d items", name, n, public[string(name)])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
