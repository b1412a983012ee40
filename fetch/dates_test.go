package fetch

import (
	"context"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// An updated date later than the fetch time plus futureSkew is dropped,
// for items and for the feed, which then says its newest date that has
// happened; published dates stay for Item.Date to clamp. Against a clock
// past those dates, the same body keeps them all.
func TestFutureUpdatedDropped(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "atom-future-updated.xml")
	srv := newFeedServer(t, staticFeed(body, "application/atom+xml", "", ""))
	date := func(s string) time.Time {
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	type dates struct{ published, updated string }
	tests := []struct {
		name        string
		now         time.Time
		feedUpdated string
		items       []dates
	}{
		{"read on 2026-11-02", clock0, "2026-11-02T12:04:00Z", []dates{
			{"2026-10-01T08:00:00Z", ""},
			{"2095-01-01T00:00:00Z", ""}, // its updated date, as published, clamped at display
			{"2026-10-02T08:00:00Z", "2026-11-02T12:04:00Z"},
			{"2026-10-03T08:00:00Z", ""},
		}},
		{"read in 2096", date("2096-01-01T00:00:00Z"), "2090-06-01T00:00:00Z", []dates{
			{"2026-10-01T08:00:00Z", ""},
			{"2095-01-01T00:00:00Z", "2095-01-01T00:00:00Z"},
			{"2026-10-02T08:00:00Z", "2026-11-02T12:04:00Z"},
			{"2026-10-03T08:00:00Z", "2026-11-02T12:06:00Z"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(Options{Now: fixedClock(tt.now)})
			src := source(srv.URL + "/feed")
			fetched, err := c.Fetch(context.Background(), src, aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			f := fetched.Feed
			if !f.Updated.Equal(date(tt.feedUpdated)) {
				t.Errorf("feed updated %v, want %s", f.Updated, tt.feedUpdated)
			}
			if len(f.Items) != len(tt.items) {
				t.Fatalf("%d items, want %d", len(f.Items), len(tt.items))
			}
			for i, want := range tt.items {
				it := f.Items[i]
				var wantUpdated time.Time
				if want.updated != "" {
					wantUpdated = date(want.updated)
				}
				if !it.Published.Equal(date(want.published)) || !it.Updated.Equal(wantUpdated) {
					t.Errorf("%q published %v updated %v, want %s and %q", it.Title, it.Published, it.Updated, want.published, want.updated)
				}
			}
		})
	}
}

// A feed whose own date and items' dates are all ahead has no updated
// date at all.
func TestFutureUpdatedAllAhead(t *testing.T) {
	t.Parallel()
	body := []byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://t.example/</link><description>d</description>` +
		`<lastBuildDate>Fri, 31 Dec 9999 23:59:59 GMT</lastBuildDate>` +
		`<item><title>a</title><guid>a</guid><pubDate>Sat, 01 Jun 2090 00:00:00 GMT</pubDate></item></channel></rss>`)
	srv := newFeedServer(t, staticFeed(body, "application/rss+xml", "", ""))
	res, err := newClient(Options{Now: fixedClock(clock0)}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Feed.Updated.IsZero() {
		t.Errorf("feed updated %v, want none", res.Feed.Updated)
	}
	if it := res.Feed.Items[0]; !it.Published.Equal(time.Date(2090, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("published %v, want the feed's 2090 date kept for Item.Date to clamp", it.Published)
	}
}

// Content a hub pushes is held to the same rule, against the time it
// arrives.
func TestFutureUpdatedPushed(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "atom-future-updated.xml")
	c := newClient(Options{Now: fixedClock(clock0)})
	res, err := c.Pushed(context.Background(), source("http://future.example/feed"), aggregator.SourceState{}, body, "application/atom+xml")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 2, 12, 4, 0, 0, time.UTC); !res.Feed.Updated.Equal(want) {
		t.Errorf("feed updated %v, want %v", res.Feed.Updated, want)
	}
	if u := res.Feed.Items[0].Updated; !u.IsZero() {
		t.Errorf("pushed item updated %v, want the 9999 date dropped", u)
	}
}
