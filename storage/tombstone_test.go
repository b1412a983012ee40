package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

func undated(src aggregator.Source, ids ...string) []aggregator.Item {
	var items []aggregator.Item
	for _, id := range ids {
		items = append(items, item(src, id, time.Time{}))
	}
	return items
}

func prune(t *testing.T, s *Store, r Retention) int {
	t.Helper()
	n, err := s.Prune(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The finding: with retention.max_items 2 and undated items, a truncated
// response made retention prune the newest items, and the next full one
// brought pruned ones back as new, dated now. The newest items are kept,
// and nothing comes back. Each set of ids hashes differently: the order
// of the old code's pruning was the hashes'.
func TestRetentionChurn(t *testing.T) {
	t.Parallel()
	for set := range 12 {
		t.Run(fmt.Sprint(set), func(t *testing.T) {
			t.Parallel()
			s, c := newStore(t)
			id := func(name string) string { return fmt.Sprintf("%s-%d", name, set) }
			a, b, cc, d := id("a"), id("b"), id("c"), id("d")
			r := Retention{MaxItems: 2}
			step := func(what string, listed []string, wantNew, wantPruned int, want ...string) {
				t.Helper()
				c.Add(time.Hour)
				if res := save(t, s, blog, undated(blog, listed...)...); res.New != wantNew || res.Updated != 0 {
					t.Errorf("%s: Save = %+v, want %d new", what, res, wantNew)
				}
				if n := prune(t, s, r); n != wantPruned {
					t.Errorf("%s: Prune deleted %d, want %d", what, n, wantPruned)
				}
				wantIDs(t, s, "", 10, want...)
			}
			step("full", []string{a, b, cc}, 3, 1, a, b)
			step("truncated", []string{a}, 0, 0, a, b)
			step("full again", []string{a, b, cc}, 0, 0, a, b)
			step("a new item, alone", []string{d}, 1, 1, d, a)
			step("full with the new item", []string{d, a, b, cc}, 0, 0, d, a)
			if err := s.Verify(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// The same through the binary: cmd/aggregator's TestRetentionChurnThroughBinary.

// A tombstone outlives the feed's listing by TombstoneAge, however long
// the feed listed the item first; then the item may come back.
func TestTombstoneOutlivesListing(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	r := Retention{MaxItems: 1}
	day := func(listed ...string) SaveResult {
		t.Helper()
		c.Add(24 * time.Hour)
		res := save(t, s, blog, undated(blog, listed...)...)
		prune(t, s, r)
		return res
	}
	day("new", "old")
	wantIDs(t, s, "", 10, "new")
	for i := range 60 { // listed for two months: refreshed, never expired
		if res := day("new", "old"); res.New != 0 {
			t.Fatalf("day %d of listing: Save = %+v, want nothing new", i, res)
		}
	}
	for i := range 29 { // omitted for 29 days
		if res := day("new"); res.New != 0 {
			t.Fatalf("day %d unlisted: Save = %+v, want nothing new", i, res)
		}
	}
	if res := day("new", "old"); res.New != 0 {
		t.Errorf("listed again after 29 days: Save = %+v, want nothing new", res)
	}
	for range 31 {
		day("new")
	}
	if n := tombstones(t, s, "blog"); n != 0 {
		t.Errorf("%d tombstones left 31 days after the feed last listed the item, want 0", n)
	}
	if res := save(t, s, blog, undated(blog, "new", "old")...); res.New != 1 {
		t.Errorf("listed again after 31 days: Save = %+v, want it new", res)
	}
}

// A feed that lists new items each time cannot grow its tombstones without
// bound: a source keeps minUnlisted of the unlisted ones, the most
// recently listed.
func TestUnlistedTombstonesBounded(t *testing.T) {
	t.Parallel()
	s, c := newStore(t)
	const perFetch = 10
	round := func(i int) []aggregator.Item {
		var items []aggregator.Item
		for j := range perFetch {
			items = append(items, item(blog, fmt.Sprintf("r%d-%d", i, j), time.Time{}))
		}
		return items
	}
	const rounds = minUnlisted/perFetch + 50
	for i := range rounds {
		c.Add(time.Minute)
		save(t, s, blog, round(i)...)
		prune(t, s, Retention{MaxItems: 2})
	}
	if n, most := tombstones(t, s, "blog"), minUnlisted+perFetch; n > most {
		t.Errorf("%d tombstones after %d rounds of %d new items, want at most %d", n, rounds, perFetch, most)
	}
	c.Add(time.Minute)
	if res := save(t, s, blog, round(rounds-2)...); res.New != 0 {
		t.Errorf("a recent round listed again: Save = %+v, want nothing new", res)
	}
	if res := save(t, s, blog, round(0)...); res.New != perFetch {
		t.Errorf("the first round listed again: Save = %+v, want its %d items new (their tombstones went first)", res, perFetch)
	}
}

// Items of one fetch keep the feed's order, newest first, whether undated
// (all first seen at once) or sharing a date.
func TestFeedOrderWithinFetch(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ids := []string{"q", "a", "z", "m", "b", "k"}
	save(t, s, blog, undated(blog, ids...)...)
	wantIDs(t, s, "", 10, ids...)
	var same []aggregator.Item
	for _, id := range ids {
		same = append(same, item(news, "n"+id, t0.Add(-time.Hour)))
	}
	save(t, s, news, same...)
	wantIDs(t, s, "news", 10, "nq", "na", "nz", "nm", "nb", "nk")
}

// Databases of the versions before keep working: testdata/schema1.db and
// schema2.db (no tombstones), and tombstones-unstamped.db, written by the
// store of schema 2, whose tombstones had no time: blog b0..b4, dated, b0
// and b1 pruned by retention.max_items 3, their tombstones empty. An empty
// tombstone lasts TombstoneAge from the first Prune that sees it.
func TestOldDatabasesTombstones(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"schema1.db", "schema2.db", "tombstones-unstamped.db"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), file)
			if err := os.WriteFile(path, src, 0o600); err != nil {
				t.Fatal(err)
			}
			c := &clock{t: t0}
			s := mustOpen(t, path, c)
			if err := s.Verify(ctx); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var items []aggregator.Item
			for i := range 5 {
				items = append(items, item(blog, fmt.Sprintf("b%d", i), t0.Add(time.Duration(i-10)*time.Hour)))
			}
			r := Retention{MaxItems: 3}
			prune(t, s, r) // stamps the empty tombstones
			c.Add(time.Hour)
			save(t, s, blog, items[4])
			c.Add(TombstoneAge - 2*time.Hour)
			prune(t, s, r)
			save(t, s, blog, items...)
			prune(t, s, r)
			if res := save(t, s, blog, items...); res.New != 0 {
				t.Errorf("full listing after prune: Save = %+v, want nothing new", res)
			}
			c.Add(time.Hour)
			save(t, s, blog, items[4])
			prune(t, s, r)
			c.Add(TombstoneAge - 2*time.Hour)
			prune(t, s, r)
			if res := save(t, s, blog, items...); res.New != 0 {
				t.Errorf("full listing after a truncated one: Save = %+v, want nothing new", res)
			}
			save(t, s, blog, items[4])
			c.Add(TombstoneAge + time.Hour)
			prune(t, s, r)
			if n := tombstones(t, s, "blog"); n != 0 {
				t.Errorf("%d tombstones left after TombstoneAge unlisted, want 0", n)
			}
			if err := s.Verify(ctx); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// tombstones counts the tombstones of the named source.
func tombstones(t *testing.T, s *Store, name string) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		srcKey := sourceKey(name)
		c := tx.Bucket(bucketTombstones).Cursor()
		for k, _ := c.Seek(srcKey); k != nil && bytes.HasPrefix(k, srcKey); k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
