//go:build unix

package storage

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole of f read-only.
func mapFile(f *os.File) ([]byte, func(), error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil, func() {}, err
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, func() {}, err
	}
	return data, func() { unix.Munmap(data) }, nil
}

// lockShared takes a shared lock on f, as a read-only bbolt does, waiting
// up to timeout: a daemon writing the file holds it exclusively.
func lockShared(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
}
