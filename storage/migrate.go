package storage

import (
	"bytes"
	"fmt"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// migrateFrom2 brings a database of schema 2 to 3. Canonical links keep
// their fragment now, so the stored link of every item whose link has one
// is computed again: two fragments of one day page are no longer one
// article. Source records of schema 2 are read as they are (format 1: no
// feed id, no updated time, published under their own name) and
// rewritten in the new form when next stored.
func migrateFrom2(tx *bolt.Tx) error {
	items := tx.Bucket(bucketItems)
	var changed []kv
	err := items.ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("item %x: corrupt record: %w", k, err)
		}
		if canon := aggregator.CanonicalLink(rec.Link); canon != rec.Canon {
			rec.Canon = canon
			changed = append(changed, kv{bytes.Clone(k), rec.encode()})
		}
		return nil
	})
	if err == nil {
		for _, c := range changed {
			if err = items.Put(c.k, c.v); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("migrate schema 2 to 3: %w", err)
	}
	return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(schemaVersion))
}
