package poll

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// Updated dates in the future are dropped as the feed is read (fetch), so
// what is stored does not move from pass to pass: a feed that is read
// again, its body changed only in its own <updated>, stores nothing new
// and updates nothing, and its items keep no date that has not happened.
// Nor does a date that arrives between passes count as a change.
func TestFutureUpdatedNoChurn(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		fmt.Fprintf(w, `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id><updated>%s</updated>
<entry><title>end</title><id>urn:t:end</id><link href="http://t.example/end"/><published>2026-10-01T08:00:00Z</published><updated>9999-12-31T23:59:59Z</updated></entry>
<entry><title>only</title><id>urn:t:only</id><link href="http://t.example/only"/><updated>2095-01-01T00:00:00Z</updated></entry>
<entry><title>soon</title><id>urn:t:soon</id><link href="http://t.example/soon"/><published>2026-10-02T08:00:00Z</published><updated>%s</updated></entry>
</feed>`, c.Now().Add(-time.Minute).Format(time.RFC3339), t0.Add(90*time.Minute).Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	src := aggregator.Source{Name: "future", URL: srv.URL + "/feed"}
	srcs := []aggregator.Source{src}
	p, store := newPoller(t, c, Settings{Sources: srcs, Schedule: "@every 15m", MaxInterval: 24 * time.Hour, Publisher: &publisher{}}, Options{})
	ctx := context.Background()
	for pass := range 3 {
		if err := p.Pass(ctx, srcs, false); err != nil {
			t.Fatal(err)
		}
		st, err := store.State(ctx, src.Name)
		if err != nil {
			t.Fatal(err)
		}
		want := "new 0"
		if pass == 0 {
			want = "new 3"
		}
		if st.Result() != want || st.LastOutcome != aggregator.OutcomeStored {
			t.Errorf("pass %d: %q (%s), want %q", pass, st.Result(), st.LastOutcome, want)
		}
		if !st.FeedUpdated.Equal(c.Now().Add(-time.Minute)) {
			t.Errorf("pass %d: feed updated %v, want the feed's own", pass, st.FeedUpdated)
		}
		items, err := store.RecentItems(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if !it.Updated.IsZero() {
				t.Errorf("pass %d: %q stored updated %v, want none", pass, it.Title, it.Updated)
			}
			if it.Date().After(t0) {
				t.Errorf("pass %d: %q dated %v, after it was first seen", pass, it.Title, it.Date())
			}
		}
		c.Add(time.Hour)
	}
}
