package fetch

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// TestPreview: each item with what its identity was made from, the date it
// is ordered by (first seen, now, for a future, missing or unreadable
// date, and why) and its canonical link; the request is unconditional.
func TestPreview(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, staticFeed(readTestdata(t, "atom-preview.xml"), "application/atom+xml", `"v1"`, ""))
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	c := newClient(Options{Now: fixedClock(now)})
	p, err := c.Preview(context.Background(), source(srv.URL+"/feed"))
	if err != nil {
		t.Fatal(err)
	}
	if h := srv.lastRequest().Header.Get("If-None-Match"); h != "" {
		t.Errorf("If-None-Match = %q, want an unconditional request", h)
	}
	if p.Feed.Title != "Preview sample" || p.Feed.Format != "atom" || len(p.Items) != 4 {
		t.Fatalf("preview of %q (%s) with %d items, want the sample's 4", p.Feed.Title, p.Feed.Format, len(p.Items))
	}
	type want struct {
		id, from, why string
		date          time.Time
		dateFrom      string
		dateWhy       string
		canonical     string
	}
	for i, w := range []want{
		{"tag:preview.example,2026:1", aggregator.IdentityGUID, "", time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), "published", "",
			"http://preview.example/posts/1?a=1&b=2"},
		{"tag:preview.example,2026:2", aggregator.IdentityGUID, "", now, "published", "first seen: its published date 2099-01-01T00:00:00Z is in the future",
			"http://preview.example/posts/2"},
		{"tag:preview.example,2026:3", aggregator.IdentityGUID, "", time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC), "updated", "",
			"http://preview.example/posts/3"},
		{"http://preview.example/posts/4", aggregator.IdentityLink, "no guid", now, "", `first seen: its date "the day before yesterday" cannot be read`,
			"http://preview.example/posts/4"},
	} {
		got := p.Items[i]
		if got.Item.ID != w.id || got.IdentityFrom != w.from || got.IdentityWhy != w.why {
			t.Errorf("item %d: identity %q from %q (%q), want %q from %q (%q)", i, got.Item.ID, got.IdentityFrom, got.IdentityWhy, w.id, w.from, w.why)
		}
		if !got.Date.Equal(w.date) || got.DateFrom != w.dateFrom || got.DateWhy != w.dateWhy {
			t.Errorf("item %d: date %v from %q (%q), want %v from %q (%q)", i, got.Date, got.DateFrom, got.DateWhy, w.date, w.dateFrom, w.dateWhy)
		}
		if got.Canonical != w.canonical {
			t.Errorf("item %d: canonical %q, want %q", i, got.Canonical, w.canonical)
		}
		if !got.Item.FirstSeen.Equal(now) {
			t.Errorf("item %d: first seen %v, want now", i, got.Item.FirstSeen)
		}
	}
}

// TestPreviewIdentityReasons: why an item is identified by its link or a
// hash rather than its guid, by default and as the admin chose.
func TestPreviewIdentityReasons(t *testing.T) {
	t.Parallel()
	missing := newFeedServer(t, staticFeed(readTestdata(t, "rss-missing-guids.xml"), "application/rss+xml", "", ""))
	repeated := newFeedServer(t, staticFeed(readTestdata(t, "rss-repeated-guids.xml"), "application/rss+xml", "", ""))
	for _, tt := range []struct {
		name     string
		url      string
		identity string
		want     []string // from: why, per item
	}{
		{"missing", missing.URL, "", []string{"link: no guid", "hash: no guid, and no link", "guid: "}},
		{"missing, identity link", missing.URL, aggregator.IdentityLink, []string{"link: identity: link", "hash: identity: link, and no link", "link: identity: link"}},
		{"missing, identity hash", missing.URL, aggregator.IdentityHash, []string{"hash: identity: hash", "hash: identity: hash", "hash: identity: hash"}},
		{"repeated", repeated.URL, "", []string{"link: the feed repeats this guid", "link: the feed repeats this guid", "link: the feed repeats this guid"}},
		{"repeated, identity guid", repeated.URL, aggregator.IdentityGUID, []string{"guid: ", "guid: ", "guid: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := aggregator.Source{Name: "s", URL: tt.url + "/feed", Identity: tt.identity}
			p, err := newClient(Options{}).Preview(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range p.Items {
				got = append(got, it.IdentityFrom+": "+it.IdentityWhy)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("identities = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPreviewNotFeed: an HTML page is said to be no feed, with the feeds
// it names; a failing status is Fetch's error.
func TestPreviewNotFeed(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<html><head><link rel="alternate" type="application/atom+xml" href="feed.atom"></head><body>hi</body></html>`))
	})
	c := newClient(Options{})
	_, err := c.Preview(context.Background(), source(srv.URL+"/blog/"))
	var nf *NotFeedError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFeed) || Kind(err) != "not a feed" {
		t.Fatalf("Preview(HTML page) = %v, want a NotFeedError", err)
	}
	if want := []string{srv.URL + "/blog/feed.atom"}; !slices.Equal(nf.Feeds, want) || !strings.HasPrefix(nf.ContentType, "text/html") {
		t.Errorf("NotFeedError = %+v, want the feeds %q of a text/html page", nf, want)
	}
	var status *StatusError
	if _, err := c.Preview(context.Background(), source(srv.URL+"/gone")); !errors.As(err, &status) || status.Code != http.StatusGone {
		t.Errorf("Preview(410) = %v, want a StatusError", err)
	}
}
