//go:build unix

package storage

import (
	"os"

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
