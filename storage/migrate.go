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
// article. Source records of schema 2 (format 1: no feed id, no updated
// time, published under their own name) lose their validators, so that
// each feed is fetched in full once more, and are rewritten in the new
// form.
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
	if err == nil {
		err = forgetValidators(tx)
	}
	if err != nil {
		return fmt.Errorf("migrate schema 2 to 3: %w", err)
	}
	return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(schemaVersion))
}

// forgetValidators clears every source's validators and body hash, so that
// the next pass fetches and parses each feed in full once and learns what
// schema 2 did not keep (its id and updated time), rather than being told
// "not modified" for as long as the feed does not change.
func forgetValidators(tx *bolt.Tx) error {
	var changed []kv
	err := eachSource(tx, func(name []byte, rec sourceRecord) error {
		rec.State.ETag, rec.State.LastModified, rec.State.BodyHash = "", "", ""
		changed = append(changed, kv{bytes.Clone(name), rec.encode()})
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changed {
		if err := tx.Bucket(bucketSources).Put(c.k, c.v); err != nil {
			return err
		}
	}
	return nil
}
