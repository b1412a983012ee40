package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// writeCorpusDB writes a database of a few MB through the store: several
// sources, thousands of items, some pruned (tombstones, free pages).
func writeCorpusDB(t testing.TB, path string) {
	t.Helper()
	s, err := Open(path, Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 8 {
		src := aggregator.Source{Name: fmt.Sprintf("src%d", n), URL: fmt.Sprintf("http://s%d.example/feed", n), Sections: []string{"all", fmt.Sprintf("s%d", n%3)}}
		var items []aggregator.Item
		for i := range 400 {
			it := item(src, fmt.Sprintf("%s-%04d", src.Name, i), t0.Add(-time.Duration(i)*time.Minute))
			it.Content = strings.Repeat(fmt.Sprintf("<p>words of %d</p>", i), 40)
			items = append(items, it)
		}
		if _, err := s.Save(context.Background(), src, items, aggregator.SourceState{Name: src.Name, LastOutcome: aggregator.OutcomeStored}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), Retention{MaxItems: 300}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipBits writes a copy of whole to path with bits flipped at random in
// a few random pages, and returns the pages hit.
func flipBits(t testing.TB, rng *rand.Rand, whole []byte, path string, pageSize int) []int {
	t.Helper()
	b := append([]byte(nil), whole...)
	var pages []int
	for range 1 + rng.IntN(3) {
		p := 2 + rng.IntN(len(b)/pageSize-2) // the meta pages are checksummed
		pages = append(pages, p)
		for range 1 + rng.IntN(4) {
			// Page headers and element tables are where a flip hurts:
			// aim half the flips at the first 256 bytes of the page.
			off := rng.IntN(pageSize)
			if rng.IntN(2) == 0 {
				off = rng.IntN(256)
			}
			b[p*pageSize+off] ^= 1 << rng.IntN(8)
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return pages
}

// A database with bits flipped in random pages either opens and reads, or
// fails with an error wrapping ErrCorrupt that names the file; bbolt never
// gets to panic or fault on it (a fault would kill this test's process).
// Salvage then copies it into a file that opens and verifies, with every
// item whose pages were not hit.
func TestOpenAndSalvageCorruptPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	writeCorpusDB(t, orig)
	whole, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	// The pages leading to each item, from the root bucket's to its leaf.
	itemPages := make(map[string][]uint64)
	if _, err := walkPages(whole, func(buckets [][]byte, pages []uint64, k, _ []byte) {
		if string(buckets[0]) == string(bucketItems) {
			itemPages[string(k)] = slices.Clone(pages)
		}
	}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 6))
	refused := 0
	const trials = 100
	for trial := range trials {
		path := filepath.Join(dir, fmt.Sprintf("flip%d.db", trial))
		hit := flipBits(t, rng, whole, path, os.Getpagesize())
		s, err := Open(path, Options{BatchDelay: -1})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("trial %d (pages %v): Open = %v, want an error wrapping ErrCorrupt and naming the file", trial, hit, err)
			}
			refused++
		} else {
			// Reads and Verify may find damaged records, never crash.
			s.RecentItems(context.Background(), "", 5000)
			if err := s.Verify(context.Background()); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("trial %d: Verify = %v, want nil or ErrCorrupt", trial, err)
			}
			s.Close()
		}

		saved := path + ".salvaged"
		rep, err := Salvage(path, saved, time.Second)
		if err != nil {
			t.Fatalf("trial %d (pages %v): Salvage: %v", trial, hit, err)
		}
		got, err := Open(saved, Options{BatchDelay: -1})
		if err != nil {
			t.Fatalf("trial %d (pages %v): Open of the salvaged file: %v", trial, hit, err)
		}
		if err := got.Verify(context.Background()); err != nil {
			t.Errorf("trial %d (pages %v): the salvaged file does not verify: %v", trial, hit, err)
		}
		var missing []string
		err = got.db.View(func(tx *bolt.Tx) error {
			items := tx.Bucket(bucketItems)
			for k, pages := range itemPages {
				if !slices.ContainsFunc(pages, func(p uint64) bool { return slices.Contains(hit, int(p)) }) && items.Get([]byte(k)) == nil {
					missing = append(missing, fmt.Sprintf("%x", k))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("trial %d (pages %v): salvage lost %d items of intact pages (report %+v)", trial, hit, len(missing), rep)
		}
		got.Close()
		os.Remove(path)
		os.Remove(saved)
	}
	t.Logf("%d of %d refused at Open", refused, trials)
}

// The file Salvage writes gets the damaged one's owner and mode: moved in
// its place, it must open for the daemon's user, not only for root.
func TestSalvageKeepsOwnerAndMode(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	dir := t.TempDir()
	path := ownedDatabase(t, dir)
	saved := filepath.Join(dir, "new.db")
	rep, err := Salvage(path, saved, time.Second)
	if err != nil || rep.Items != 1 || rep.Sources != 1 {
		t.Fatalf("Salvage = %+v, %v; want 1 source and 1 item", rep, err)
	}
	wantOwnedByNobody(t, "salvaged file", saved)
}

// itemsRootBranch writes a database at path of 200 items of 1 KB, after
// what also (if not nil) writes, and returns the items, the file's bytes,
// the bytes from the items bucket's root page on (a branch of 2 or more
// pointers), and the page size.
func itemsRootBranch(t *testing.T, path string, also func(*Store)) (items []aggregator.Item, data, root []byte, pageSize int) {
	t.Helper()
	s := mustOpenPlain(t, path)
	if also != nil {
		also(s)
	}
	for i := range 200 {
		it := item(blog, fmt.Sprintf("b%03d", i), t0.Add(-time.Duration(i)*time.Minute))
		it.Content = strings.Repeat("x", 1000)
		items = append(items, it)
	}
	save(t, s, blog, items...)
	var rootID uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rootID, pageSize = uint64(tx.Bucket(bucketItems).Root()), tx.DB().Info().PageSize
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	root = data[int(rootID)*pageSize:]
	if flags, count := binary.NativeEndian.Uint16(root[8:]), binary.NativeEndian.Uint16(root[10:]); flags&0x01 == 0 || count < 2 {
		t.Fatalf("the items bucket's root is no branch of 2 or more (flags %#x, count %d)", flags, count)
	}
	return items, data, root, pageSize
}

// A damaged branch page whose pointers lead to intact pages of the same
// tree, each where another belongs (two child pointers swapped): Open
// refuses the file, and Salvage copies every item all the same.
func TestSalvageMisdirectedPointers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "swapped.db")
	items, data, p, _ := itemsRootBranch(t, path, nil)
	first, second := p[16+8:16+16], p[32+8:32+16]
	a, b := bytes.Clone(first), bytes.Clone(second)
	copy(first, b)
	copy(second, a)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of the damaged file = %v, want ErrCorrupt", err)
	}
	saved := filepath.Join(dir, "saved.db")
	rep, err := Salvage(path, saved, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != len(items) {
		t.Errorf("Salvage copied %d items of %d (%+v)", rep.Items, len(items), rep)
	}
	got := mustOpenPlain(t, saved)
	if err := got.Verify(context.Background()); err != nil {
		t.Errorf("the salvaged file does not verify: %v", err)
	}
}

// Two pages with the same items, as a damaged pointer that leads to a
// freed, older copy of a live page leaves them (here the first child of
// the items' root copied over the second): each item is copied, indexed
// and counted once, and the salvaged file verifies. Before, the items met
// twice were counted twice ("source counts 202 items, holds 200"), as
// cmd/aggregator's TestCorruptDatabase found on one layout.
func TestSalvageItemsMetTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "twice.db")
	items, data, p, pageSize := itemsRootBranch(t, path, func(s *Store) {
		if err := s.PutRecords(context.Background(), "websub.hub", map[string][]byte{"sub1": []byte("a"), "sub2": []byte("b")}); err != nil {
			t.Fatal(err)
		}
	})
	first, second := int(binary.NativeEndian.Uint64(p[16+8:])), int(binary.NativeEndian.Uint64(p[32+8:]))
	for _, id := range []int{first, second} {
		if overflow := binary.NativeEndian.Uint32(data[id*pageSize+12:]); overflow != 0 {
			t.Skipf("child page %d spans %d more pages", id, overflow)
		}
	}
	copy(data[second*pageSize:(second+1)*pageSize], data[first*pageSize:(first+1)*pageSize])
	binary.NativeEndian.PutUint64(data[second*pageSize:], uint64(second)) // its own id, as a copy on its own page has
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "saved.db")
	rep, err := Salvage(path, saved, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := mustOpenPlain(t, saved)
	if err := got.Verify(context.Background()); err != nil {
		t.Errorf("the salvaged file does not verify: %v", err)
	}
	stored, err := got.Items(context.Background(), Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != len(stored) || len(stored) == 0 || len(stored) >= len(items) {
		t.Errorf("Salvage reported %d items, the file holds %d of %d (one child's items are lost)", rep.Items, len(stored), len(items))
	}
	// The records of other packages (WebSub's subscriptions) are copied.
	if recs, err := got.Records(context.Background(), "websub.hub"); err != nil || len(recs) != 2 || string(recs["sub2"]) != "b" || rep.Records != 2 {
		t.Errorf("records after salvage: %q, %v (reported %d), want both", recs, err, rep.Records)
	}
}

// A salvage's report says what was copied, then that nothing was lost or
// what was, with the first problems.
func TestSalvageReportWriteText(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	SalvageReport{Sources: 2, Items: 30, Tombstones: 1, Records: 4}.WriteText(&b)
	if want := "copied 2 sources, 30 items, 1 tombstones, 4 other records\nnothing was lost\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	SalvageReport{Sources: 2, LostPages: 3, LostRecords: 1, Problems: []error{errors.New("page 7: bad checksum")}}.WriteText(&b)
	if want := "copied 2 sources, 0 items, 0 tombstones, 0 other records\nlost: 3 unreadable pages (and the pages below them), 1 records that do not decode\n  page 7: bad checksum\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
