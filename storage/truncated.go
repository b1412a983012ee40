package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// checkTruncated refuses a database file shorter than its own meta page
// says it is. bbolt maps the file and reads its pages without checking
// them against the file's end, so opening such a file kills the process
// with SIGBUS; a file whose creation was cut short by a full disk is one.
// A missing or empty file is new; a file whose meta pages are both
// unreadable is left for bbolt to refuse.
func checkTruncated(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return nil // bbolt reports it (permission denied and the like)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 || !fi.Mode().IsRegular() {
		return nil // new, or not a file: bbolt says what is wrong
	}
	size := fi.Size()
	m0, ok0 := readMeta(f, 0)
	var m1 meta
	var ok1 bool
	if ok0 {
		m1, ok1 = readMeta(f, int64(m0.pageSize))
	} else {
		// Page 0 is torn: look for page 1 at every page size bbolt may
		// have used, as bbolt does.
		for ps := int64(1024); ps <= 64<<10 && !ok1; ps *= 2 {
			if m1, ok1 = readMeta(f, ps); ok1 && int64(m1.pageSize) != ps {
				ok1 = false
			}
		}
	}
	pageSize := int64(os.Getpagesize())
	if ok0 {
		pageSize = int64(m0.pageSize)
	}
	m := m0
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case !ok0 && !ok1:
		if size < 4*pageSize {
			return fmt.Errorf("the file is %d bytes, less than a database's first 4 pages: its creation was cut short (a full disk?); move it away to start afresh", size)
		}
		return nil
	}
	if need := int64(max(m.pgid, 4)) * int64(m.pageSize); size < need {
		return fmt.Errorf("the file is %d bytes, but its pages need %d: it was cut short (a full disk when it was created, or a partial copy); move it away, or restore it, to start", size, need)
	}
	return nil
}

// meta is what checkTruncated needs of a bbolt meta page.
type meta struct {
	pageSize uint32
	pgid     uint64 // pages in use: the file holds at least this many
	txid     uint64
	root     uint64 // page of the root bucket
	freelist uint64 // page of the freelist, or noFreelist
}

// readMeta reads the bbolt meta page at off and reports whether it is
// sound: bbolt's magic number, version 2 and a matching checksum. The
// layout (after a 16-byte page header, native byte order): magic,
// version, page size, flags (4 bytes each), root bucket (16), freelist,
// pgid, txid, checksum (8 each); the checksum is FNV-64a of what precedes
// it.
func readMeta(r io.ReaderAt, off int64) (meta, bool) {
	var b [16 + 64]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return meta{}, false
	}
	m := b[16:]
	le := binary.NativeEndian
	if le.Uint32(m[0:]) != 0xED0CDAED || le.Uint32(m[4:]) != 2 {
		return meta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return meta{}, false
	}
	ps := le.Uint32(m[8:])
	if ps < 512 || ps > 1<<20 {
		return meta{}, false
	}
	return meta{pageSize: ps, pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:])}, true
}
