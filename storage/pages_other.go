//go:build !unix

package storage

import (
	"io"
	"os"
	"time"
)

// mapFile reads the whole of f.
func mapFile(f *os.File) ([]byte, func(), error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, func() {}, err
	}
	data := make([]byte, fi.Size())
	_, err = f.ReadAt(data, 0)
	if err == io.EOF {
		err = nil
	}
	return data, func() {}, err
}

// lockShared does nothing where there is no flock.
func lockShared(*os.File, time.Duration) error { return nil }
