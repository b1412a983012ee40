package storage

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SalvageReport says what Salvage copied and what it could not.
type SalvageReport struct {
	Sources, Items, Tombstones int // copied
	Records                    int // copied records of other packages (PutRecord)
	// LostPages counts the pages skipped as unreadable; a lost branch
	// page takes the pages below it, uncounted. LostRecords counts the
	// records that did not decode.
	LostPages, LostRecords int
	Problems               []error // the first problems found
}

// WriteText writes r for a person: what was copied, then what was lost.
func (r SalvageReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "copied %d sources, %d items, %d tombstones, %d other records\n", r.Sources, r.Items, r.Tombstones, r.Records)
	if r.LostPages == 0 && r.LostRecords == 0 && len(r.Problems) == 0 {
		fmt.Fprintln(w, "nothing was lost")
		return
	}
	fmt.Fprintf(w, "lost: %d unreadable pages (and the pages below them), %d records that do not decode\n", r.LostPages, r.LostRecords)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %v\n", p)
	}
}

// salvageBatch is how many keys Salvage writes per transaction.
const salvageBatch = 10000

// Salvage copies every readable source, item and tombstone of the database
// at path into a new database at dst, skipping the pages and records that
// are damaged, and rebuilding the index and the item counts from the items
// copied. It reads the file's pages itself, never through bbolt, so it
// works on a file Open refuses as corrupt. It fails with an error wrapping
// ErrLocked when another process holds the database, and when dst exists.
// The new file gets the old one's owner and mode.
// An item whose source record was lost gets a bare record (the config's
// next load gives it its sections back).
func Salvage(path, dst string, lockTimeout time.Duration) (SalvageReport, error) {
	var rep SalvageReport
	if _, err := os.Lstat(dst); err == nil {
		return rep, fmt.Errorf("salvage into %s: %w", dst, os.ErrExist)
	}
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("salvage %s: %w", path, err)
	}
	defer f.Close()
	if err := lockShared(f, lockTimeout); err != nil {
		return rep, fmt.Errorf("salvage %s: %w", path, err)
	}
	data, unmap, err := mapFile(f)
	if err != nil {
		return rep, fmt.Errorf("salvage %s: %w", path, err)
	}
	defer unmap()
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return rep, fmt.Errorf("salvage into %s: %w", dst, err)
	}
	err = salvageInto(db, data, &rep)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Moved in place of the old file, it must open for the daemon's
		// user, not only for root who salvaged it.
		err = keepOwnerAndMode(dst, path)
	}
	if err != nil {
		os.Remove(dst)
		return rep, fmt.Errorf("salvage %s into %s: %w", path, dst, err)
	}
	return rep, nil
}

// salvageInto copies what data holds into db: first the schema and the
// source records, then the items and tombstones of the sources known.
func salvageInto(db *bolt.DB, data []byte, rep *SalvageReport) error {
	schema := []byte(schemaVersion)
	sources := make(map[string]sourceRecord) // by srcKey
	names := make(map[string]string)
	w, err := walkPages(data, func(buckets [][]byte, _ []uint64, k, v []byte) {
		if len(buckets) != 1 {
			return
		}
		switch {
		case bytes.Equal(buckets[0], bucketMeta) && string(k) == "schema":
			schema = bytes.Clone(v)
		case bytes.Equal(buckets[0], bucketSources):
			rec, err := decodeSourceRecord(v)
			if err != nil {
				rep.LostRecords++
				return
			}
			rec.Count = 0
			key := string(sourceKey(string(k)))
			sources[key], names[key] = rec, string(k)
		}
	})
	if err != nil {
		return err
	}
	rep.LostPages, rep.Problems = w.lost, w.problems

	out := &batchWriter{db: db}
	defer out.rollback()
	if err := out.put(bucketMeta, []byte("schema"), schema); err != nil {
		return err
	}
	var tombstones [][]byte
	// A damaged pointer may lead to a freed, older copy of a live page:
	// the items met again are copied, indexed and counted once, the first
	// copy met.
	seen := make(map[string]bool)
	_, err = walkPages(data, func(buckets [][]byte, _ []uint64, k, v []byte) {
		if len(buckets) != 1 || out.err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(buckets[0], []byte(recordBucketPrefix)):
			if out.put(buckets[0], k, v) == nil {
				rep.Records++
			}
		case bytes.Equal(buckets[0], bucketRemoved) && len(v) == 8:
			// A time whose source is lost, or no longer removed, is
			// deleted by the next Prune.
			out.put(bucketRemoved, k, v)
		case bytes.Equal(buckets[0], bucketTombstones) && len(k) == 24 && !seen["t"+string(k)]:
			seen["t"+string(k)] = true
			tombstones = append(tombstones, bytes.Clone(k))
		case bytes.Equal(buckets[0], bucketItems):
			rec, err := decodeRecord(v)
			if err != nil || len(k) != 24 || !bytes.Equal(k[:8], sourceKey(rec.SourceID)) || !bytes.Equal(k[8:], itemKey(rec.ID)) {
				rep.LostRecords++
				return
			}
			if seen[string(k)] {
				return
			}
			seen[string(k)] = true
			src, ok := sources[string(k[:8])]
			if !ok {
				names[string(k[:8])] = rec.SourceID
			}
			src.Count++
			sources[string(k[:8])] = src
			out.put(bucketItems, k, v)
			out.put(bucketBySource, sourceIndexKey(k[:8], rec.Sort, k[8:]), nil)
			rep.Items++
		}
	})
	if err != nil {
		return err
	}
	for _, k := range tombstones {
		if _, ok := sources[string(k[:8])]; ok {
			out.put(bucketTombstones, k, nil)
			rep.Tombstones++
		}
	}
	for key, rec := range sources {
		out.put(bucketSources, []byte(names[key]), rec.encode())
		rep.Sources++
	}
	return out.commit()
}

// batchWriter puts keys into db, committing every salvageBatch of them.
type batchWriter struct {
	db  *bolt.DB
	tx  *bolt.Tx
	n   int
	err error
}

func (b *batchWriter) put(bucket, k, v []byte) error {
	if b.err != nil {
		return b.err
	}
	if b.tx == nil {
		if b.tx, b.err = b.db.Begin(true); b.err != nil {
			return b.err
		}
		for _, name := range [][]byte{bucketMeta, bucketSources, bucketItems, bucketBySource, bucketTombstones} {
			if _, err := b.tx.CreateBucketIfNotExists(name); err != nil {
				b.err = err
				return err
			}
		}
	}
	if v == nil {
		v = []byte{}
	}
	bk := b.tx.Bucket(bucket)
	if bk == nil { // a bucket of records, or the removal times
		if bk, b.err = b.tx.CreateBucket(bytes.Clone(bucket)); b.err != nil {
			return b.err
		}
	}
	if b.err = bk.Put(bytes.Clone(k), bytes.Clone(v)); b.err != nil {
		return b.err
	}
	if b.n++; b.n%salvageBatch == 0 {
		return b.commit()
	}
	return nil
}

func (b *batchWriter) commit() error {
	if b.err != nil || b.tx == nil {
		return b.err
	}
	b.err = b.tx.Commit()
	b.tx = nil
	return b.err
}

func (b *batchWriter) rollback() {
	if b.tx != nil {
		b.tx.Rollback()
	}
}
