package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// A database file cut short (its creation stopped by a full disk, or a
// partial copy) is refused with a reason; bbolt alone would read past its
// end and the process would die of SIGBUS.
func TestOpenRefusesTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "full.db")
	s := mustOpenPlain(t, path)
	src := aggregator.Source{Name: "s", URL: "http://s.example/", Sections: []string{"a"}}
	var items []aggregator.Item
	for i := range 300 {
		it := item(src, fmt.Sprint("i", i), t0.Add(-time.Duration(i)*time.Minute))
		it.Content = strings.Repeat("<p>words</p>", 100)
		items = append(items, it)
	}
	save(t, s, src, items...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for _, n := range []int{page, 2 * page, 3 * page, len(whole) / 2} {
		cut := filepath.Join(dir, "cut.db")
		if err := os.WriteFile(cut, whole[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(cut, Options{})
		if err == nil || !strings.Contains(err.Error(), "cut short") || !strings.Contains(err.Error(), cut) {
			t.Errorf("Open of the file cut to %d of %d bytes = %v, want an error naming it and saying it was cut short", n, len(whole), err)
		}
	}
	// A torn meta page 0 is bbolt's to handle (it reads page 1), not cut
	// short; a directory is not a database, and bbolt says so.
	torn := filepath.Join(dir, "torn.db")
	tornBytes := append([]byte(nil), whole...)
	tornBytes[16+60] ^= 0xff // in page 0's checksum
	if err := os.WriteFile(torn, tornBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkTruncated(torn); err != nil {
		t.Errorf("a file with page 0 torn: %v, want it left to bbolt", err)
	}
	if err := checkTruncated(dir); err != nil {
		t.Errorf("a directory: %v, want it left to bbolt", err)
	}
	// The whole file and an empty one open.
	for _, b := range [][]byte{whole, nil} {
		p := filepath.Join(dir, "ok.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{})
		if err != nil {
			t.Fatalf("Open of a %d-byte file: %v", len(b), err)
		}
		s.Close()
	}
}

func mustOpenPlain(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
