package storage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// testdata/schema1.db was written by the store of schema 1 (JSON records,
// date indexes by_time and sections/N): blog (section go) b1 b2, news
// (news) n1, loose (no section) l1, two (go and news) t1, and gone (news)
// g1, dropped from the config. Opening it migrates it in place.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile("testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path, &clock{t: t0})
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify after migration: %v", err)
	}
	wantIDs(t, s, "", 10, "b1", "n1", "l1", "t1", "b2")
	wantIDs(t, s, "go", 10, "b1", "t1", "b2")
	wantIDs(t, s, "news", 10, "n1", "t1")
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("schema")); string(v) != schemaVersion {
			t.Errorf("schema after migration = %q, want %q", v, schemaVersion)
		}
		for _, name := range []string{"by_time", "sections"} {
			if tx.Bucket([]byte(name)) != nil {
				t.Errorf("bucket %s still there after migration", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The old JSON records are read as they are; one that changes is
	// stored again in the binary form, in its place.
	b1 := item(blog, "b1", t0.Add(-time.Hour))
	b1.Title = "edited"
	if res := save(t, s, blog, b1, item(blog, "b2", t0.Add(-5*time.Hour))); res.Updated != 1 || res.New != 0 {
		t.Errorf("save of one edited item = %+v, want 1 updated", res)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		items := tx.Bucket(bucketItems)
		if v := items.Get(concat(sourceKey("blog"), itemKey("b1"))); len(v) == 0 || v[0] != recordBinary {
			t.Errorf("edited record starts %q, want the binary form", v[:min(len(v), 1)])
		}
		if v := items.Get(concat(sourceKey("blog"), itemKey("b2"))); !bytes.HasPrefix(v, []byte("{")) {
			t.Errorf("unchanged record rewritten: starts %q", v[:min(len(v), 1)])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "", 10, "b1", "n1", "l1", "t1", "b2")
	if items, err := s.RecentItems(ctx, "go", 1); err != nil || len(items) != 1 || items[0].Title != "edited" {
		t.Errorf("newest of go = %+v, %v; want the edited b1", items, err)
	}

	// gone comes back into the config, with the items it had.
	gone := aggregator.Source{Name: "gone", URL: "http://gone.example/feed", Sections: []string{"news"}}
	two := aggregator.Source{Name: "two", URL: "http://two.example/feed", Sections: []string{"go", "news"}}
	loose := aggregator.Source{Name: "loose", URL: "http://loose.example/feed"}
	if err := s.SyncSources(ctx, []aggregator.Source{blog, news, loose, two, gone}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s, "news", 10, "g1", "n1", "t1")
	wantIDs(t, s, "", 10, "b1", "g1", "n1", "l1", "t1", "b2")
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// Sources move in and out of sections, and the merged feed lists every
// item once, whatever sections its source is in.
func TestSectionlessSources(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	loose := aggregator.Source{Name: "loose", URL: "http://loose.example/feed"}
	two := aggregator.Source{Name: "two", URL: "http://two.example/feed", Sections: []string{"go", "news"}}
	step := func(what string, sources ...aggregator.Source) {
		t.Helper()
		if err := s.SyncSources(ctx, sources); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := s.Verify(ctx); err != nil {
			t.Fatalf("%s: Verify: %v", what, err)
		}
	}
	step("start", blog, loose, two)
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	save(t, s, loose, item(loose, "l1", t0.Add(-2*time.Hour)), item(loose, "l2", t0.Add(-4*time.Hour)))
	save(t, s, two, item(two, "t1", t0.Add(-3*time.Hour)))
	wantIDs(t, s, "", 10, "b1", "l1", "t1", "l2")
	wantIDs(t, s, "go", 10, "b1", "t1")
	wantIDs(t, s, "news", 10, "t1")

	loose.Sections = []string{"news"}
	step("loose into news", blog, loose, two)
	wantIDs(t, s, "", 10, "b1", "l1", "t1", "l2")
	wantIDs(t, s, "news", 10, "l1", "t1", "l2")

	loose.Sections, two.Sections = nil, nil
	step("both out of every section", blog, loose, two)
	wantIDs(t, s, "", 10, "b1", "l1", "t1", "l2")
	wantIDs(t, s, "news", 10)
	wantIDs(t, s, "go", 10, "b1")

	step("loose dropped", blog, two)
	wantIDs(t, s, "", 10, "b1", "t1")
	save(t, s, two, item(two, "t2", t0.Add(-10*time.Minute)))
	wantIDs(t, s, "", 3, "t2", "b1", "t1")
}

// testdata/schema2.db was written by the store of schema 2 (canonical
// links without their fragment, source records of format 1): blog (go) b1
// b2, news (news) n1 linking to b1 with a tracking parameter, day (go) d1
// d2 d3 on one day page (#a1 #a2 #a3), and oldname (news) o1 o2; every
// source has a feed title, site link, validators and a result.
func TestMigrateFromSchema2(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile("testdata/schema2.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0.Add(time.Hour)}
	s := mustOpen(t, path, c)
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify after migration: %v", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("schema")); string(v) != schemaVersion {
			t.Errorf("schema after migration = %q, want %q", v, schemaVersion)
		}
		v := tx.Bucket(bucketItems).Get(concat(sourceKey("day"), itemKey("d2")))
		rec, err := decodeRecord(v)
		if err != nil || rec.Canon != "http://day.example/2026/11/01#a2" {
			t.Errorf("canon of d2 after migration = %q, %v; want it with its fragment", rec.Canon, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.State(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the validators, forgotten so that the next fetch
	// brings the feed's id.
	want := aggregator.SourceState{Name: "blog", FeedTitle: "Title of blog", SiteLink: "http://blog.example/",
		LastAttempt: t0, LastSuccess: t0, LastOutcome: aggregator.OutcomeStored, LastNew: 2, URL: blog.URL, NextAttempt: t0.Add(15 * time.Minute)}
	if st != want {
		t.Errorf("state of blog after migration:\n got %+v\nwant %+v", st, want)
	}
	if st, _ := s.State(ctx, "news"); st.FeedTitle != "News" || st.Result() != "not modified" {
		t.Errorf("state of news after migration = %+v, want the one flushed at close", st)
	}
	// Every item of the day page, and the news copy of b1 collapsed.
	wantQuery(t, s, Query{Limit: 20, Dedup: true}, "n1", "d1", "d2", "d3", "b2", "o1", "o2")
	wantQuery(t, s, Query{Limit: 20, Dedup: true, Origin: func(source, link string) bool { return source == "blog" }},
		"b1", "d1", "d2", "d3", "b2", "o1", "o2")

	// A state stored now keeps the new fields, in the new form.
	day := aggregator.Source{Name: "day", URL: "http://day.example/feed.rss", Sections: []string{"go"}}
	st, _ = s.State(ctx, "day")
	st.FeedID, st.FeedUpdated = "tag:day.example,2026:feed", t0.Add(-time.Hour)
	if _, err := s.Save(ctx, day, nil, st); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, path, c)
	got, err := s.State(ctx, "day")
	if err != nil || got.FeedID != st.FeedID || !got.FeedUpdated.Equal(st.FeedUpdated) || got.FeedTitle != "Title of day" {
		t.Errorf("state of day after reopening = %+v, %v; want feed id and updated kept", got, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSources).Get([]byte("day")); len(v) == 0 || v[0] != sourceRecordV3 {
			t.Errorf("source record of day starts %q, want format %d", v[:min(len(v), 1)], sourceRecordV3)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testdata/sources-v2.db was written by the store before source records
// kept the feed's image (format 2): blog (go) with one item b1, a feed
// title, site link, id, updated time, validators and outcome. Its state
// reads whole, with no image; a state stored now keeps the image, in
// format 3, and the database verifies.
func TestSourceRecordFormat2(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile("testdata/sources-v2.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0.Add(time.Hour)}
	s := mustOpen(t, path, c)
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	blog := aggregator.Source{Name: "blog", URL: "http://blog.example/feed.atom", Sections: []string{"go"}}
	want := aggregator.SourceState{Name: "blog", FeedTitle: "Title of blog", SiteLink: "http://blog.example/",
		FeedID: "tag:blog.example,2026:feed", FeedUpdated: at, ETag: `"v1"`, LastAttempt: at, LastSuccess: at,
		LastOutcome: aggregator.OutcomeStored, LastNew: 1, URL: blog.URL, NextAttempt: at.Add(15 * time.Minute)}
	st, err := s.State(ctx, "blog")
	if err != nil || st != want {
		t.Fatalf("state of blog = %+v, %v\nwant %+v", st, err, want)
	}
	wantIDs(t, s, "go", 10, "b1")

	st.Image = "http://blog.example/logo.png"
	if _, err := s.Save(ctx, blog, nil, st); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, path, c)
	if got, err := s.State(ctx, "blog"); err != nil || got.Image != st.Image || got.FeedID != st.FeedID || got.ETag != st.ETag {
		t.Errorf("state of blog after reopening = %+v, %v\nwant the image kept with the rest", got, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSources).Get([]byte("blog")); len(v) == 0 || v[0] != sourceRecordV3 {
			t.Errorf("source record of blog starts %q, want format %d", v[:min(len(v), 1)], sourceRecordV3)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify after storing: %v", err)
	}
}
