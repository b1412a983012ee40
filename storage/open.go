package storage

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt is wrapped by the errors of a database whose pages are
// damaged: bbolt would panic, or read outside the file, on them. Nothing
// done with the file can repair it in place; Salvage copies what is
// readable into a new one.
var ErrCorrupt = errors.New("database is corrupt")

// maxReopens bounds how often openLocked starts again because the file it
// locked was replaced meanwhile; each time is a whole Compact.
const maxReopens = 10

// openLocked opens the bbolt file at path and takes its lock, making sure
// that the file it locked is still the one at path, and that its pages are
// sound (checkPages) before anything reads them through bbolt. Compact
// puts a new file in place of the old one while holding the old one's
// lock: an opener waiting for that lock would otherwise get the old,
// unlinked file, and its writes would be lost.
func openLocked(path string, opts bolt.Options) (*bolt.DB, error) {
	for range maxReopens {
		var file *os.File
		o := opts
		o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		}
		db, err := boltOpen(path, &o)
		if err != nil {
			return nil, err
		}
		same, err := isFileAt(file, path)
		if err != nil {
			db.Close()
			return nil, err
		}
		if !same {
			db.Close()
			continue
		}
		if err := checkPagesOf(file); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	return nil, fmt.Errorf("the file was replaced %d times while it was being opened", maxReopens)
}

// boltOpen is bolt.Open, with a panic or memory fault of bbolt on a
// damaged meta page or freelist returned as an error wrapping ErrCorrupt.
func boltOpen(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// isFileAt reports whether f is the file now at path.
func isFileAt(f *os.File, path string) (bool, error) {
	if f == nil {
		return false, errors.New("bbolt opened no file")
	}
	open, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(open, now), nil
}

// recordError is a record that does not decode: its message is the
// decoder's, and it is ErrCorrupt.
type recordError struct{ err error }

func (e recordError) Error() string        { return e.err.Error() }
func (e recordError) Unwrap() error        { return e.err }
func (e recordError) Is(target error) bool { return target == ErrCorrupt }

// corruptRecord marks err, from decoding a stored record, as ErrCorrupt.
func corruptRecord(err error) error {
	if err == nil {
		return nil
	}
	return recordError{err}
}
