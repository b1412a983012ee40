package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func TestCompact(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	var items []aggregator.Item
	for i := range 2000 {
		it := item(blog, fmt.Sprintf("b%04d", i), t0.Add(-time.Duration(i)*time.Minute))
		it.Content = strings.Repeat("<p>words</p>", 200)
		items = append(items, it)
	}
	save(t, s, blog, items...)
	if _, err := s.Prune(context.Background(), Retention{MaxItems: 100}); err != nil {
		t.Fatal(err)
	}
	want := recentIDs(t, s, "", 1000)

	// Refused while the database is open.
	if _, _, err := Compact(path, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact of an open database = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	before, after, err := Compact(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before/2 {
		t.Errorf("Compact: %d → %d bytes, want it at least halved after pruning 95%%", before, after)
	}
	s = mustOpen(t, path, c)
	if got := recentIDs(t, s, "", 1000); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Compact: %d items, want the same %d", len(got), len(want))
	}
	// Tombstones survive: pruned items still do not come back.
	if res := save(t, s, blog, items...); res.New != 0 {
		t.Errorf("Save after Compact = %+v, want no pruned item back", res)
	}
}
