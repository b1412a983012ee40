package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pruneBatch bounds the deletions of one transaction, so that pruning a large
// backlog never holds the writer lock for long.
const pruneBatch = 1000

// Retention says how many items each source keeps, and for how long a
// source that left the config is kept.
type Retention struct {
	MaxItems int           // items kept per source, newest by date; 0 = no limit
	MaxAge   time.Duration // items dated longer ago are dropped; 0 = no limit
	// RemovedAfter is how long a source that left the config keeps its
	// items, tombstones, state and record, in case it is put back; then
	// Prune deletes them (removed.go). 0 keeps them for ever.
	RemovedAfter time.Duration
}

// Prune deletes, for every source, the items beyond r.MaxItems and those
// older than r.MaxAge, oldest first (in the order of Item.Date, and for
// items of one date the feed's order, newest first: see feedOrder), in
// transactions of at most pruneBatch items. A source's newest r.MaxItems
// are never pruned for their number. A pruned item leaves a tombstone, so
// that a feed still listing it does not bring it back; the tombstone lasts
// TombstoneAge after the feed last listed the item, and Prune deletes it
// then (tombstone.go). First, it deletes the sources that left the config
// longer than r.RemovedAfter ago (removed.go). Prune returns how many
// items it deleted by r.MaxItems and r.MaxAge.
func (s *Store) Prune(ctx context.Context, r Retention) (int, error) {
	if _, err := s.sweepRemoved(ctx, r.RemovedAfter); err != nil {
		return 0, err
	}
	if r.MaxItems <= 0 && r.MaxAge <= 0 {
		_, err := s.sweepTombstones(ctx)
		return 0, err
	}
	var cutoff uint64
	if r.MaxAge > 0 {
		cutoff = sortValue(s.now().Add(-r.MaxAge))
	}
	names, err := s.pruneCandidates(ctx, r.MaxItems, cutoff)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, name := range names {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n, err := s.pruneSource(name, r.MaxItems, cutoff)
			total += n
			if err != nil {
				return total, fmt.Errorf("prune source %q: %w", name, err)
			}
			if n < pruneBatch {
				break
			}
		}
	}
	if _, err := s.sweepTombstones(ctx); err != nil {
		return total, fmt.Errorf("expire tombstones: %w", err)
	}
	return total, nil
}

// pruneCandidates returns the sources that have items to prune, found in one
// read transaction: a write transaction costs an fsync even when it
// changes nothing, and most passes prune nothing.
func (s *Store) pruneCandidates(ctx context.Context, maxItems int, cutoff uint64) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var names []string
	err := s.db.View(func(tx *bolt.Tx) error {
		bySource := tx.Bucket(bucketBySource).Cursor()
		return eachSource(tx, func(k []byte, rec sourceRecord) error {
			if maxItems > 0 && rec.Count > maxItems {
				names = append(names, string(k))
				return nil
			}
			if cutoff > 0 {
				srcKey := sourceKey(string(k))
				if first, _ := bySource.Seek(srcKey); first != nil && bytes.HasPrefix(first, srcKey) &&
					len(first) == 32 && binary.BigEndian.Uint64(first[8:16]) < cutoff {
					names = append(names, string(k))
				}
			}
			return nil
		})
	})
	return names, err
}

func (s *Store) pruneSource(name string, maxItems int, cutoff uint64) (int, error) {
	deleted := 0
	var doomed [][]byte
	err := s.db.Update(func(tx *bolt.Tx) error {
		deleted = 0
		rec, ok, err := getSource(tx, name)
		if err != nil || !ok {
			return err
		}
		excess := 0
		if maxItems > 0 && rec.Count > maxItems {
			excess = rec.Count - maxItems
		}
		if excess == 0 && cutoff == 0 {
			return nil
		}
		srcKey := sourceKey(name)
		doomed = doomed[:0]
		c := tx.Bucket(bucketBySource).Cursor()
		for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey) && len(doomed) < pruneBatch; k, _ = c.Next() {
			if len(k) != 32 {
				continue
			}
			if len(doomed) >= excess && binary.BigEndian.Uint64(k[8:16]) >= cutoff {
				break
			}
			doomed = append(doomed, bytes.Clone(k))
		}
		stamp := tombstoneValue(s.now())
		for _, k := range doomed {
			if err := deleteItem(tx, k, stamp); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		if deleted == 0 {
			return nil
		}
		rec.Count -= deleted
		return putSource(tx, name, rec)
	})
	if deleted > 0 && err == nil {
		keys := make([][]byte, len(doomed))
		for i, k := range doomed {
			keys[i] = k[16:]
		}
		s.itemsChanged(name, keys)
		s.logger.Debug("pruned", "source", name, "items", deleted)
	}
	return deleted, err
}

// deleteItem removes the item of by_source key k and its entry, and leaves
// its tombstone, of value stamp.
func deleteItem(tx *bolt.Tx, k, stamp []byte) error {
	srcKey, itKey := k[:8], k[16:]
	fullKey := concat(srcKey, itKey)
	if err := tx.Bucket(bucketItems).Delete(fullKey); err != nil {
		return err
	}
	if err := tx.Bucket(bucketBySource).Delete(k); err != nil {
		return err
	}
	return tx.Bucket(bucketTombstones).Put(fullKey, stamp)
}
