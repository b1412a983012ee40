package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// compactTxSize bounds the bytes copied per transaction while compacting.
const compactTxSize = 64 << 20

// Compact rewrites the database at path into a new file that holds only
// live data, then puts it in place of the old one: bbolt reuses freed pages
// but never shrinks its file. It holds the database's lock throughout, so
// it fails with an error wrapping ErrLocked when a daemon has the database
// open, and no daemon can open it while it runs; one that was waiting for
// the lock opens the new file (openLocked). The new file keeps the old
// one's owner and mode, so that compacting as root leaves the database to
// the daemon's user. It returns the file's size before and after.
func Compact(path string, lockTimeout time.Duration) (before, after int64, err error) {
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	before = fi.Size()
	src, err := openLocked(path, bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("compact %s: %w", path, ErrLocked)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	// Closing src last keeps the lock until the new file is in place.
	defer func() { err = errors.Join(err, src.Close()) }()

	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".compact")
	os.Remove(tmp) // left over from a crashed run; ours alone, as we hold the lock
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	// The lock's file, not the Stat above: the file may have been
	// replaced before we locked it.
	if err := keepOwnerAndMode(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	fi, err = os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	return before, fi.Size(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
