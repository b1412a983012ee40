package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A source that leaves the config keeps its record, items and tombstones
// for a while: put back in the config, it has its items back (a rename,
// with renamed_from, carries them over at once: rename.go). After
// Retention.RemovedAfter, Prune deletes them, and the store forgets the
// source, in memory as on disk; otherwise each source ever configured
// would keep retention.max_items items for ever.
//
// When a source left the config is in the removed bucket: name → 8 bytes
// of big-endian Unix nanoseconds, written by SyncSources with the Removed
// flag of its record. It is a bucket of its own, not a field of the
// record, so that the versions before read a database written by this one
// (they ignore the bucket), and this one theirs: a record they marked
// Removed has no time, and is stamped by the first Prune that sees it,
// so it lasts RemovedAfter from then. A time whose record is not Removed
// (a version before put the source back, or renamed it) means nothing:
// Prune deletes it.
var bucketRemoved = []byte("removed")

// stampRemoved records in tx that the source name left the config at t.
func stampRemoved(tx *bolt.Tx, name string, t time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketRemoved)
	if err != nil {
		return err
	}
	return b.Put([]byte(name), tombstoneValue(t))
}

// unstampRemoved forgets, in tx, when the source name left the config.
func unstampRemoved(tx *bolt.Tx, name string) error {
	if b := tx.Bucket(bucketRemoved); b != nil {
		return b.Delete([]byte(name))
	}
	return nil
}

// sweepRemoved deletes the sources that left the config longer than after
// ago, stamps those removed with no time (see above) and deletes the times
// of sources not removed. It returns how many sources it deleted.
func (s *Store) sweepRemoved(ctx context.Context, after time.Duration) (int, error) {
	if after <= 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.now().UTC()
	var doomed, unstamped, stale []string
	err := s.db.View(func(tx *bolt.Tx) error {
		stamps := tx.Bucket(bucketRemoved)
		for _, name := range s.catalog.removedNames() {
			rec, ok, err := getSource(tx, name)
			if err != nil {
				return err
			}
			if !ok || !rec.Removed {
				continue
			}
			var v []byte
			if stamps != nil {
				v = stamps.Get([]byte(name))
			}
			if t, ok := tombstoneTime(v); !ok {
				unstamped = append(unstamped, name)
			} else if !now.Before(t.Add(after)) {
				doomed = append(doomed, name)
			}
		}
		if stamps == nil {
			return nil
		}
		return stamps.ForEach(func(k, _ []byte) error {
			if rec, ok, err := getSource(tx, string(k)); err != nil || !ok || !rec.Removed {
				stale = append(stale, string(k))
				return err
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	if len(unstamped) > 0 || len(stale) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			// SyncSources may have put a source back, or taken one out,
			// since the read.
			for _, name := range unstamped {
				rec, ok, err := getSource(tx, name)
				if err != nil {
					return err
				}
				if b := tx.Bucket(bucketRemoved); !ok || !rec.Removed || b != nil && b.Get([]byte(name)) != nil {
					continue
				}
				if err := stampRemoved(tx, name, now); err != nil {
					return err
				}
			}
			for _, name := range stale {
				rec, ok, err := getSource(tx, name)
				if err != nil {
					return err
				}
				if ok && rec.Removed {
					continue
				}
				if err := unstampRemoved(tx, name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("stamp removed sources: %w", err)
		}
	}
	deleted := 0
	for _, name := range doomed {
		ok, err := s.deleteSource(ctx, name)
		if err != nil {
			return deleted, fmt.Errorf("delete removed source %q: %w", name, err)
		}
		if ok {
			deleted++
		}
	}
	return deleted, nil
}

// deleteSource deletes the removed source name: its items, their index
// entries, its tombstones, in transactions of at most pruneBatch keys, then
// its record and removal time, and forgets it in memory. It stops, and
// returns false, if the source is put back meanwhile.
func (s *Store) deleteSource(ctx context.Context, name string) (bool, error) {
	srcKey := sourceKey(name)
	items := 0
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n, removed, err := s.deleteSourceBatch(name, srcKey, &items)
		if err != nil || !removed {
			return false, err
		}
		if n == 0 {
			break
		}
	}
	s.logger.Info("removed source deleted", "source", name, "items", items)
	return true, nil
}

// deleteSourceBatch deletes up to pruneBatch of the keys of the removed
// source name, or, when none is left, its record, and then forgets it:
// both under sourcesMu, so that SyncSources puts it back either before
// (and the record stays) or after (and is written anew). n is how many
// keys it deleted (0 once the record is deleted); removed is false when
// the source is no longer removed. items counts the items deleted.
func (s *Store) deleteSourceBatch(name string, srcKey []byte, items *int) (n int, removed bool, err error) {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	// Saves and FlushStates (of a pass that began before the source left
	// the config) wait: what they write is then of a source with no record.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		n, removed = 0, false
		rec, ok, err := getSource(tx, name)
		if err != nil || !ok || !rec.Removed {
			return err
		}
		removed = true
		for _, b := range []*bolt.Bucket{tx.Bucket(bucketBySource), tx.Bucket(bucketItems), tx.Bucket(bucketTombstones)} {
			d, err := deletePrefix(b, srcKey, pruneBatch-n)
			if err != nil {
				return err
			}
			if b == tx.Bucket(bucketItems) {
				rec.Count -= d
				*items += d
			}
			n += d
		}
		if n > 0 {
			return putSource(tx, name, rec)
		}
		if err := tx.Bucket(bucketSources).Delete([]byte(name)); err != nil {
			return err
		}
		return unstampRemoved(tx, name)
	})
	if err != nil || !removed {
		return 0, removed, err
	}
	if n == 0 {
		s.forgetSource(name)
	}
	return n, true, nil
}

// deletePrefix deletes up to limit keys of b that start with prefix,
// returning how many it deleted.
func deletePrefix(b *bolt.Bucket, prefix []byte, limit int) (int, error) {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < limit; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// forgetSource drops what the store keeps in memory of the source name,
// whose record was just deleted.
func (s *Store) forgetSource(name string) {
	s.catalog.remove(name)
	s.forgetHidden(name)
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	delete(s.states, name)
	delete(s.dirty, name)
	s.statesCopy = nil
}
