package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A pruned item leaves a tombstone, so that a feed listing it again does
// not bring it back as new, dated now. A feed that omits an item from one
// response (a truncated or paged feed, a CDN's stale copy) must not make it
// new at the next: a tombstone lasts TombstoneAge after the feed last
// listed its item, not only while the feed lists it.
//
// Its value is that time, 8 bytes of big-endian Unix nanoseconds. Saves
// refresh it when the feed lists the item, at most once a
// tombstoneRefresh; Prune deletes it once it is older than TombstoneAge.
// An empty value, left by the versions before, is stamped by the first
// Prune that sees it, and so lasts TombstoneAge from then.
const (
	// TombstoneAge is how long the tombstone of a pruned item outlives the
	// feed's last listing of it.
	TombstoneAge = 30 * 24 * time.Hour

	tombstoneRefresh = 24 * time.Hour

	// minUnlisted is how many tombstones of items its feed does not list a
	// source keeps at least, however short the feed: a feed that lists new
	// items each time cannot grow them without bound, as the source keeps
	// no more unlisted ones than this or the number of items the feed
	// lists, whichever is more. The longest unlisted go first.
	minUnlisted = 1000

	// tombstoneSweep is how often Prune looks for expired tombstones.
	tombstoneSweep = 24 * time.Hour
)

// metaSwept is the meta key of when Prune last swept the tombstones.
var metaSwept = []byte("tombstones_swept")

func tombstoneValue(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

// tombstoneTime returns the time in a tombstone's value; ok is false for
// an empty value (the versions before stored no time) or a damaged one.
func tombstoneTime(v []byte) (t time.Time, ok bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true
}

// listedTombstone records that the feed lists the pruned item of the
// tombstone at key, whose value is v.
func (w *indexWriter) listedTombstone(key, v []byte, now time.Time) {
	if t, ok := tombstoneTime(v); ok && now.Sub(t) < tombstoneRefresh {
		return
	}
	w.stage(w.tombstones, key, tombstoneValue(now))
}

// sweepTombstones deletes the tombstones older than TombstoneAge and stamps
// those with no time (see above), at most once a tombstoneSweep, in
// transactions of at most pruneBatch changes. It returns how many it
// deleted.
func (s *Store) sweepTombstones(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.now().UTC()
	expiry := now.Add(-TombstoneAge)
	var expired, unstamped [][]byte
	swept := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if t, ok := tombstoneTime(tx.Bucket(bucketMeta).Get(metaSwept)); ok && now.Sub(t) < tombstoneSweep && !now.Before(t) {
			return nil
		}
		swept = true
		return tx.Bucket(bucketTombstones).ForEach(func(k, v []byte) error {
			if t, ok := tombstoneTime(v); !ok {
				unstamped = append(unstamped, bytes.Clone(k))
			} else if t.Before(expiry) {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || !swept {
		return 0, err
	}
	deleted := 0
	for len(expired) > 0 || len(unstamped) > 0 {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		n := min(len(expired), pruneBatch)
		m := min(len(unstamped), pruneBatch-n)
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketTombstones)
			// A Save may have refreshed one since it was read.
			for _, k := range expired[:n] {
				if t, ok := tombstoneTime(b.Get(k)); ok && t.Before(expiry) {
					if err := b.Delete(k); err != nil {
						return err
					}
					deleted++
				}
			}
			for _, k := range unstamped[:m] {
				if v := b.Get(k); v != nil && len(v) == 0 {
					if err := b.Put(k, tombstoneValue(now)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		expired, unstamped = expired[n:], unstamped[m:]
	}
	if deleted > 0 {
		s.logger.Debug("tombstones expired", "count", deleted)
	}
	return deleted, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSwept, tombstoneValue(now))
	})
}

// forgetTombstones deletes the tombstones of the source of w whose items
// listed does not hold beyond the most it keeps (see minUnlisted), those
// the feed last listed longest ago first.
func (w *indexWriter) forgetTombstones(listed map[string]bool) error {
	type unlisted struct {
		k []byte
		t int64 // the value's nanoseconds; 0 when it has none
	}
	var stale []unlisted
	c := w.tombstones.Cursor()
	for k, v := c.Seek(w.srcKey); k != nil && bytes.HasPrefix(k, w.srcKey); k, v = c.Next() {
		if !listed[string(k[len(w.srcKey):])] {
			var t int64
			if len(v) == 8 {
				t = int64(binary.BigEndian.Uint64(v))
			}
			stale = append(stale, unlisted{k, t})
		}
	}
	keep := max(len(listed), minUnlisted)
	if len(stale) <= keep {
		return nil
	}
	slices.SortFunc(stale, func(a, b unlisted) int { return cmp.Compare(a.t, b.t) })
	doomed := make([][]byte, 0, len(stale)-keep)
	for _, u := range stale[:len(stale)-keep] {
		doomed = append(doomed, bytes.Clone(u.k))
	}
	for _, k := range doomed {
		if err := w.tombstones.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
