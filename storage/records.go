package storage

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// recordBucketPrefix starts the name of every bucket of records: the
// records other packages keep (WebSub's subscriptions), each kind in a
// bucket of its own, which the first write creates. They are outside the
// schema of sources and items: a database without them is complete;
// salvage copies what it can read of them.
const recordBucketPrefix = "records."

// recordBucket returns the bucket name of kind.
func recordBucket(kind string) ([]byte, error) {
	if kind == "" || strings.ContainsAny(kind, "\x00/") {
		return nil, fmt.Errorf("bad record kind %q", kind)
	}
	return []byte(recordBucketPrefix + kind), nil
}

// PutRecord stores value under key among the records of kind (a name such
// as "websub.hub"), replacing what was there, in one transaction.
func (s *Store) PutRecord(ctx context.Context, kind, key string, value []byte) error {
	return s.PutRecords(ctx, kind, map[string][]byte{key: value})
}

// PutRecords stores each value under its key among the records of kind,
// and deletes the keys whose value is nil, in one transaction.
func (s *Store) PutRecords(ctx context.Context, kind string, values map[string][]byte) error {
	name, err := recordBucket(kind)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		for k, v := range values {
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), bytes.Clone(v))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRecord deletes key from the records of kind; deleting what is not
// there is no error.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	return s.PutRecords(ctx, kind, map[string][]byte{key: nil})
}

// Records returns every record of kind by key; none (and no error) before
// the first is stored. A read never writes: the bucket is not created.
func (s *Store) Records(ctx context.Context, kind string) (map[string][]byte, error) {
	name, err := recordBucket(kind)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string][]byte)
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}
