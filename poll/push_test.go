package poll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// TestIngestStoresLikeAFetch: a pushed body goes through the path of a
// fetched one: its items are stored with the identities a fetch gives
// them (one more item, the others unchanged), the same body again is
// not modified, the outputs are rendered, and the source's schedule and
// validators are left alone.
func TestIngestStoresLikeAFetch(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	srv := newFeedServer(t)
	pub := &publisher{}
	src := aggregator.Source{Name: "ok", URL: srv.URL + "/ok"}
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 1h", Publisher: pub}, Options{})
	if err := p.Refresh(t.Context(), []aggregator.Source{src}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := store.State(t.Context(), "ok")
	renders := pub.n.Load()

	c.Add(time.Minute)
	o, err := p.Ingest(t.Context(), src, rss("a", "b", "c"), "application/rss+xml")
	if err != nil {
		t.Fatal(err)
	}
	if o.Class() != ClassChanged || o.Saved.New != 1 || o.Saved.Updated != 0 {
		t.Errorf("outcome %v, saved %+v; want one new item", o.Class(), o.Saved)
	}
	if pub.n.Load() != renders+1 {
		t.Errorf("renders %d, want %d", pub.n.Load(), renders+1)
	}
	items, err := store.Items(t.Context(), storage.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if len(ids) != 3 {
		t.Errorf("items %q, want a, b and c", ids)
	}
	after, _ := store.State(t.Context(), "ok")
	if after.NextAttempt != before.NextAttempt || after.ETag != before.ETag || after.LastNew != 1 || after.BodyHash == before.BodyHash {
		t.Errorf("state after push %+v\nbefore %+v", after, before)
	}

	o, err = p.Ingest(t.Context(), src, rss("a", "b", "c"), "application/rss+xml")
	if err != nil || o.Class() != ClassNotModified || pub.n.Load() != renders+1 {
		t.Errorf("the same body again: %v, %v, renders %d", o.Class(), err, pub.n.Load())
	}
}

// TestIngestRefusesHostileBodies: a pushed body that a fetch would refuse
// is refused with the same error, and stores nothing.
func TestIngestRefusesHostileBodies(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	src := aggregator.Source{Name: "s", URL: "https://s.example/feed"}
	client := fetch.NewClient(&http.Client{}, fetch.Options{Now: c.Now, MaxBytes: 64 << 10})
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 1h", Client: client}, Options{})
	deep := strings.Repeat("<x>", 5_000) + strings.Repeat("</x>", 5_000)
	for _, tt := range []struct {
		name string
		body string
		want error
	}{
		{"too large", string(rss(strings.Repeat("a", 70<<10))), fetch.ErrTooLarge},
		{"nested deep", `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>` + deep + `</channel></rss>`, fetch.ErrTooComplex},
		{"not a feed", "<html><body>hello</body></html>", fetch.ErrNotFeed},
	} {
		_, err := p.Ingest(t.Context(), src, []byte(tt.body), "application/rss+xml")
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
	if items, _ := store.Items(t.Context(), storage.Query{Limit: 10}); len(items) != 0 {
		t.Errorf("%d items stored", len(items))
	}
}

// TestSubscribedSourcePolledAsSafetyNet: a subscribed source is scheduled
// PushPollInterval after a fetch rather than at its schedule's next tick,
// and Wake brings it back to its schedule.
func TestSubscribedSourcePolledAsSafetyNet(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	srv := newFeedServer(t)
	src := aggregator.Source{Name: "ok", URL: srv.URL + "/ok"}
	live := true
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m",
		Subscribed: func(name string) bool { return live && name == "ok" }, PushPollInterval: 6 * time.Hour}, Options{})
	if err := p.Refresh(t.Context(), []aggregator.Source{src}, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := store.State(t.Context(), "ok")
	if want := t0.Add(6 * time.Hour); !st.NextAttempt.Equal(want) {
		t.Errorf("next attempt %v, want %v", st.NextAttempt, want)
	}
	live = false
	if err := p.Wake(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	st, _ = store.State(t.Context(), "ok")
	if !st.NextAttempt.After(t0) || st.NextAttempt.After(t0.Add(15*time.Minute)) {
		t.Errorf("after Wake: next attempt %v, want within the schedule's 15 minutes", st.NextAttempt)
	}
}

// TestPollSoonWaitsForAFetchInFlight: a source whose pushed content was
// dropped is brought back to its schedule like Wake does, but, unlike
// Wake, not given up on while it is being fetched: PollSoon waits for
// the fetch and reschedules after it.
func TestPollSoonWaitsForAFetchInFlight(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	srv := newFeedServer(t)
	src := aggregator.Source{Name: "ok", URL: srv.URL + "/ok"}
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m",
		Subscribed: func(string) bool { return true }, PushPollInterval: 6 * time.Hour}, Options{})
	if err := p.Refresh(t.Context(), []aggregator.Source{src}, nil); err != nil {
		t.Fatal(err)
	}
	onSchedule := func() bool {
		st, err := store.State(t.Context(), "ok")
		return err == nil && st.NextAttempt.After(t0) && !st.NextAttempt.After(t0.Add(15*time.Minute))
	}
	if !p.claim("ok") {
		t.Fatal("claimed already")
	}
	if err := p.Wake(t.Context(), src); err != nil || onSchedule() {
		t.Fatalf("Wake during a fetch: %v, rescheduled %v; want it left to the fetch", err, onSchedule())
	}
	synctest.Test(t, func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- p.PollSoon(context.Background(), src) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("PollSoon returned %v during a fetch", err)
		default:
		}
		p.release("ok")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	if !onSchedule() {
		st, _ := store.State(t.Context(), "ok")
		t.Errorf("after PollSoon: next attempt %v, want within the schedule's 15 minutes", st.NextAttempt)
	}
}

// TestPushRendersCoalesced: the renders pushes ask for are at most one
// every PushRenderInterval, the first at once: five hubs pushing four
// times each, each push waiting for its render, cost four renders after
// the first, every item stored.
func TestPushRendersCoalesced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := &clock{t: t0}
		pub := &publisher{}
		var sources []aggregator.Source
		for i := range 5 {
			sources = append(sources, aggregator.Source{Name: fmt.Sprintf("s%d", i), URL: fmt.Sprintf("https://s%d.example/feed", i)})
		}
		p, store := newPoller(t, c, Settings{Sources: sources, Schedule: "@every 1h", Publisher: pub}, Options{PushRenderInterval: 10 * time.Second})
		ingest := func(src aggregator.Source, id string) {
			if o, err := p.Ingest(t.Context(), src, rss(id), "application/rss+xml"); err != nil || o.Class() != ClassChanged {
				t.Errorf("ingest %s: %v, %v", id, o.Class(), err)
			}
		}
		start := time.Now()
		ingest(sources[0], "first")
		if n := pub.n.Load(); n != 1 || time.Since(start) >= time.Second {
			t.Fatalf("the first push: %d renders after %v, want 1 at once", n, time.Since(start))
		}
		var wg sync.WaitGroup
		for _, src := range sources {
			wg.Go(func() {
				for round := range 4 {
					ingest(src, fmt.Sprintf("%s-%d", src.Name, round))
				}
			})
		}
		wg.Wait()
		if n, took := pub.n.Load(), time.Since(start); n != 5 || took < 40*time.Second || took > 41*time.Second {
			t.Errorf("20 more pushes: %d renders in %v, want 5 in 40s", n, took)
		}
		if items, err := store.Items(t.Context(), storage.Query{Limit: 100}); err != nil || len(items) != 21 {
			t.Errorf("%d items stored (%v), want 21", len(items), err)
		}
	})
}

// slowPublisher is a publisher whose render takes took.
type slowPublisher struct {
	publisher
	took time.Duration
}

func (p *slowPublisher) Rebuild(ctx context.Context) error {
	time.Sleep(p.took)
	return p.publisher.Rebuild(ctx)
}

// TestPushRendersShareBounded: a render pushes ask for that takes longer
// than a fifth of PushRenderInterval holds the next off for
// pushRenderShare times its duration.
func TestPushRendersShareBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := &clock{t: t0}
		pub := &slowPublisher{took: 2 * time.Second}
		src := aggregator.Source{Name: "s", URL: "https://s.example/feed"}
		p, _ := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 1h", Publisher: pub}, Options{PushRenderInterval: time.Second})
		start := time.Now()
		for _, id := range []string{"a", "b"} {
			if _, err := p.Ingest(t.Context(), src, rss(id), "application/rss+xml"); err != nil {
				t.Fatal(err)
			}
		}
		if n, took := pub.n.Load(), time.Since(start); n != 2 || took < 12*time.Second || took > 13*time.Second {
			t.Errorf("two pushes, renders of 2s: %d renders in %v, want 2, the second starting 10s after the first", n, took)
		}
	})
}
