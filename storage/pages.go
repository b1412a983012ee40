package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// bbolt trusts its pages: a page id, an element's offset or a count that a
// flipped bit has made wild sends it reading outside its map (the process
// dies of SIGSEGV) or to a page of the wrong kind (it panics with "page N:
// has unexpected type/flags"). So Open first walks the pages itself, over
// a map of its own in which every read is bounds-checked, from the meta
// page through every bucket's tree and the freelist, and refuses the file
// if any page or element points outside it, a page is not of the kind its
// parent says, one is reachable twice or both reachable and free, or keys
// are out of order (bbolt's cursors would then miss them, and writes put
// them twice). Once that holds, bbolt only ever reads inside the file. Values are not read:
// a damaged record is the decoder's to report.

// bbolt's page layout, in native byte order (go.etcd.io/bbolt
// internal/common/page.go): a 16-byte header (id 8, flags 2, count 2,
// overflow 4), then count elements of 16 bytes: a branch's is pos 4,
// ksize 4, pgid 8; a leaf's flags 4, pos 4, ksize 4, vsize 4. pos counts
// from the element itself. A bucket's value is its root page id and
// sequence (8 each), followed by its page when it is inline (root 0).
const (
	pageHeaderSize  = 16
	pageElementSize = 16
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	freelistFlag    = 0x10
	bucketLeafFlag  = 0x01
	noFreelist      = ^uint64(0)
	maxPageProblems = 20
)

var ne = binary.NativeEndian

// pageWalker walks the trees of a bbolt file held in data.
type pageWalker struct {
	data     []byte
	pageSize uint64
	highMark uint64 // pages in use, from the meta page
	seen     []uint64
	problems []error
	lost     int // pages skipped as unreadable
	// leaf, if set, is called with the path of bucket names and each
	// key and value that is not a bucket, and the pages leading to it.
	leaf  func(buckets [][]byte, pages []uint64, k, v []byte)
	stack []uint64 // the pages from the root bucket's down to this one
}

// checkPagesOf checks the pages of the open file f (see above). It
// returns an error wrapping ErrCorrupt naming the first problems found.
func checkPagesOf(f *os.File) error {
	data, unmap, err := mapFile(f)
	if err != nil || len(data) == 0 {
		return err // a new file, or one that cannot be mapped: bbolt's to judge
	}
	defer unmap()
	w, err := walkPages(data, nil)
	if err != nil {
		return err
	}
	switch n := len(w.problems); {
	case n > 3:
		return fmt.Errorf("%w: %w (and more)", ErrCorrupt, errors.Join(w.problems[:3]...))
	case n > 0:
		return fmt.Errorf("%w: %w", ErrCorrupt, errors.Join(w.problems...))
	}
	return nil
}

// walkPages walks every tree of the bbolt file in data from its newest
// sound meta page, calling leaf with every value, and checks the freelist.
// It returns an error wrapping ErrCorrupt when no meta page is sound, and
// otherwise the walker with the problems found.
func walkPages(data []byte, leaf func(buckets [][]byte, pages []uint64, k, v []byte)) (w *pageWalker, err error) {
	m, ok := newestMeta(data)
	if !ok {
		return nil, fmt.Errorf("%w: neither meta page is sound", ErrCorrupt)
	}
	w = &pageWalker{data: data, pageSize: uint64(m.pageSize), highMark: m.pgid, leaf: leaf}
	if w.highMark > uint64(len(data))/w.pageSize {
		return nil, fmt.Errorf("%w: the meta page counts %d pages, the file holds %d", ErrCorrupt, w.highMark, uint64(len(data))/w.pageSize)
	}
	w.seen = make([]uint64, (w.highMark+63)/64)
	w.mark(0)
	w.mark(1)
	w.bucket(nil, m.root, nil)
	if m.freelist != noFreelist {
		w.freelist(m.freelist)
	}
	return w, nil
}

// newestMeta is the meta page bbolt uses: the sound one with the higher
// transaction id.
func newestMeta(data []byte) (meta, bool) {
	r := bytesReaderAt(data)
	m0, ok0 := readMeta(r, 0)
	var m1 meta
	var ok1 bool
	if ok0 {
		m1, ok1 = readMeta(r, int64(m0.pageSize))
	} else {
		for ps := int64(1024); ps <= 64<<10 && !ok1; ps *= 2 {
			if m1, ok1 = readMeta(r, ps); ok1 && int64(m1.pageSize) != ps {
				ok1 = false
			}
		}
	}
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, true
	}
	return m0, ok0
}

func (w *pageWalker) fail(format string, args ...any) {
	if len(w.problems) < maxPageProblems {
		w.problems = append(w.problems, fmt.Errorf(format, args...))
	}
}

// mark records page id as reachable, and reports false if it already was.
func (w *pageWalker) mark(id uint64) bool {
	bit := uint64(1) << (id % 64)
	if w.seen[id/64]&bit != 0 {
		return false
	}
	w.seen[id/64] |= bit
	return true
}

// misdirected notes, when salvaging, that page id holds keys outside the
// range its parent gives it: a damaged pointer led to an intact page of
// another part of the tree. The page is marked unreached again, so that
// the pointer that does lead to it, if one does, reads it as well. (Open
// refuses the file on the first problem; this is for Salvage's walk,
// which has a leaf function.)
func (w *pageWalker) misdirected(id uint64) {
	if w.leaf == nil || id < 2 || id >= w.highMark {
		return
	}
	overflow := uint64(ne.Uint32(w.data[id*w.pageSize+12:]))
	for i := id; i <= id+overflow && i < w.highMark; i++ {
		w.seen[i/64] &^= uint64(1) << (i % 64)
	}
}

// page returns page id with its overflow pages, checking that it lies
// within the pages in use, names itself, has one of the flags in want and
// was not reached before. It returns nil after recording the problem.
func (w *pageWalker) page(id uint64, want uint16) []byte {
	if id < 2 || id >= w.highMark {
		w.fail("page %d: out of the %d pages in use", id, w.highMark)
		return nil
	}
	start := id * w.pageSize
	p := w.data[start : start+w.pageSize]
	if got := ne.Uint64(p); got != id {
		w.fail("page %d: identifies itself as page %d", id, got)
		return nil
	}
	if flags := ne.Uint16(p[8:]); flags&want == 0 || flags&^(branchPageFlag|leafPageFlag|freelistFlag) != 0 {
		w.fail("page %d: has flags %#x, want %#x", id, flags, want)
		return nil
	}
	overflow := uint64(ne.Uint32(p[12:]))
	if overflow >= w.highMark-id {
		w.fail("page %d: its %d overflow pages run past the pages in use", id, overflow)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		if !w.mark(i) {
			w.fail("page %d: reached twice", i)
			return nil
		}
	}
	return w.data[start : start+(overflow+1)*w.pageSize]
}

// keyRange is where the keys of a page must lie: from lo, up to but not
// including hi; nil is unbounded.
type keyRange struct{ lo, hi []byte }

func (r keyRange) holds(k []byte) bool {
	return (r.lo == nil || bytes.Compare(k, r.lo) >= 0) && (r.hi == nil || bytes.Compare(k, r.hi) < 0)
}

// bucket walks the tree of a bucket: from page root, or from the inline
// page when root is 0.
func (w *pageWalker) bucket(path [][]byte, root uint64, inline []byte) {
	if root == 0 {
		w.node(path, inline, 0, keyRange{})
		return
	}
	p := w.page(root, branchPageFlag|leafPageFlag)
	if p == nil {
		w.lost++
		return
	}
	w.stack = append(w.stack, root)
	w.node(path, p, root, keyRange{})
	w.stack = w.stack[:len(w.stack)-1]
}

// pageName names page id in a problem; 0 is an inline bucket's page.
type pageName uint64

func (id pageName) String() string {
	if id == 0 {
		return "inline page"
	}
	return fmt.Sprintf("page %d", uint64(id))
}

// node checks the elements of page p (a branch or a leaf; id 0 when
// inline), whose keys must lie in r, and walks on.
func (w *pageWalker) node(path [][]byte, p []byte, id uint64, r keyRange) {
	name := pageName(id)
	if len(p) < pageHeaderSize {
		w.fail("%s: shorter than a page header", name)
		return
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*pageElementSize > len(p) {
		w.fail("%s: %d elements do not fit in it", name, count)
		return
	}
	if flags&branchPageFlag != 0 && count == 0 {
		w.fail("%s: a branch with no elements", name)
		return
	}
	if flags&branchPageFlag != 0 {
		w.branch(path, p, name, r, count)
		return
	}
	var prev []byte
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		e := p[at : at+pageElementSize]
		kv, ok := w.span(p, at, ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:]), name, i)
		if !ok {
			continue
		}
		k, v := kv[:ne.Uint32(e[8:])], kv[ne.Uint32(e[8:]):]
		if !r.holds(k) {
			w.fail("%s: key %d out of order", name, i)
			w.misdirected(id)
			if w.leaf == nil {
				w.lost++
				continue
			}
			// Salvage copies the key all the same: the new file orders
			// its keys anew, and the page is read again from the
			// pointer that leads to it, if any does.
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			w.fail("%s: key %d out of order", name, i)
			w.lost++
			continue
		}
		prev = k
		if ne.Uint32(e[0:])&bucketLeafFlag == 0 {
			if w.leaf != nil {
				w.leaf(path, w.stack, k, v)
			}
			continue
		}
		if len(v) < 16 {
			w.fail("%s: element %d: a bucket value of %d bytes", name, i, len(v))
			continue
		}
		w.bucket(append(path[:len(path):len(path)], k), ne.Uint64(v), v[16:])
	}
}

// branch checks the elements of branch page p and walks its children: the
// keys of child i lie from key i (or r.lo for the first) to key i+1.
func (w *pageWalker) branch(path [][]byte, p []byte, name pageName, r keyRange, count int) {
	keys := make([][]byte, count)
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		e := p[at : at+pageElementSize]
		k, ok := w.span(p, at, ne.Uint32(e[0:]), ne.Uint32(e[4:]), 0, name, i)
		if ok && i > 0 && !r.holds(k) {
			w.misdirected(uint64(name))
		}
		if !ok || (i > 0 && keys[i-1] != nil && bytes.Compare(keys[i-1], k) >= 0) || (i > 0 && !r.holds(k)) {
			if ok {
				w.fail("%s: key %d out of order", name, i)
			}
			w.lost++
			continue
		}
		keys[i] = k
	}
	for i := range count {
		if keys[i] == nil {
			continue
		}
		child := r
		if i > 0 {
			child.lo = keys[i]
		}
		child.hi = r.hi
		for _, next := range keys[i+1:] {
			if next != nil {
				child.hi = next
				break
			}
		}
		at := pageHeaderSize + i*pageElementSize
		id := ne.Uint64(p[at+8:])
		if c := w.page(id, branchPageFlag|leafPageFlag); c != nil {
			w.stack = append(w.stack, id)
			w.node(path, c, id, child)
			w.stack = w.stack[:len(w.stack)-1]
		} else {
			w.lost++
		}
	}
}

// span returns the key and value of the element at offset at of p, whose
// pos counts from the element, checking they lie within p.
func (w *pageWalker) span(p []byte, at int, pos, ksize, vsize uint32, name pageName, i int) ([]byte, bool) {
	start := uint64(at) + uint64(pos)
	end := start + uint64(ksize) + uint64(vsize)
	if end > uint64(len(p)) {
		w.fail("%s: element %d lies outside the page", name, i)
		return nil, false
	}
	return p[start:end], true
}

// freelist checks the freelist page: every free page in use, free once,
// and not reachable from a tree.
func (w *pageWalker) freelist(id uint64) {
	p := w.page(id, freelistFlag)
	if p == nil {
		return
	}
	start, count := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		count = ne.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		w.fail("freelist page %d: %d ids do not fit in it", id, count)
		return
	}
	for i := range count {
		free := ne.Uint64(p[start+8*i:])
		if free < 2 || free >= w.highMark {
			w.fail("freelist page %d: free page %d out of the %d pages in use", id, free, w.highMark)
			continue
		}
		if !w.mark(free) {
			w.fail("freelist page %d: page %d is free twice, or both free and in use", id, free)
		}
	}
}

// bytesReaderAt reads a byte slice at an offset, for readMeta.
type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(b)) {
		return 0, errors.New("past the end")
	}
	return copy(p, b[off:]), nil
}
