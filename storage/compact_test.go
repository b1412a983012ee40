package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// An Open that waits for the lock while Compact runs must end up with the
// new file: before openLocked, it got the old, unlinked one, and what it
// wrote was lost (296 of 300 trials in the review).
func TestCompactRacingOpenLosesNoWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "race.db")
	s := mustOpenPlain(t, path)
	var items []aggregator.Item
	for i := range 200 {
		items = append(items, item(blog, fmt.Sprintf("b%03d", i), t0.Add(-time.Duration(i)*time.Minute)))
	}
	save(t, s, blog, items...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	const trials = 40
	written := 0
	for trial := range trials {
		start := make(chan struct{})
		var wg sync.WaitGroup
		var compactErr, openErr, saveErr error
		id := fmt.Sprintf("trial%02d", trial)
		wg.Go(func() {
			<-start
			_, _, compactErr = Compact(path, 10*time.Second)
		})
		wg.Go(func() {
			<-start
			s, err := Open(path, Options{LockTimeout: 10 * time.Second, BatchDelay: -1})
			if err != nil {
				openErr = err
				return
			}
			_, saveErr = s.Save(context.Background(), news, []aggregator.Item{item(news, id, t0)}, aggregator.SourceState{Name: news.Name})
			saveErr = errors.Join(saveErr, s.Close())
		})
		close(start)
		wg.Wait()
		if compactErr != nil || openErr != nil || saveErr != nil {
			t.Fatalf("trial %d: Compact: %v; Open: %v; Save: %v", trial, compactErr, openErr, saveErr)
		}
		written++
	}
	s = mustOpenPlain(t, path)
	defer s.Close()
	got := recentIDs(t, s, "news", 1000)
	if len(got) != written {
		t.Errorf("after %d trials of Compact racing Open and Save: %d items saved are there, want %d", trials, len(got), written)
	}
}

// Compact run as root keeps the file's owner and mode: the daemon's user
// could not open a database left to root.
func TestCompactKeepsOwnerAndMode(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	path := ownedDatabase(t, t.TempDir())
	if _, _, err := Compact(path, 0); err != nil {
		t.Fatal(err)
	}
	wantOwnedByNobody(t, "after Compact", path)
}

// nobody is the owner ownedDatabase gives its file.
const nobody = 65534

// ownedDatabase writes a database of one item in dir, owned by nobody
// with mode 0640, and returns its path. It needs root.
func ownedDatabase(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "owned.db")
	s := mustOpenPlain(t, path)
	save(t, s, blog, item(blog, "a", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantOwnedByNobody checks that path has ownedDatabase's owner and mode.
func wantOwnedByNobody(t *testing.T, what, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != nobody || st.Gid != nobody || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: owner %d:%d, mode %v; want %d:%d, %v", what, st.Uid, st.Gid, fi.Mode().Perm(), nobody, nobody, os.FileMode(0o640))
	}
}
