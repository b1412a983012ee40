package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/internal/promtest"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
)

// scrape parses what m's handler serves.
func scrape(t *testing.T, m *Metrics) promtest.Families {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return promtest.Parse(t, rec.Body.Bytes())
}

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "m.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// Every outcome is counted under its class, with the failures' kinds, the
// bytes and the items stored; waiting and cancelled fetches are not
// fetches; a source that left is forgotten.
func TestFetched(t *testing.T) {
	t.Parallel()
	a := aggregator.Source{Name: "a", URL: "https://a.example/feed"}
	b := aggregator.Source{Name: "b", URL: "https://b.example/feed"}
	m := New(newStore(t), func() []aggregator.Source { return []aggregator.Source{a, b} }, func(string) string { return "other" })
	m.Fetched(poll.Outcome{Source: a, Saved: storage.SaveResult{New: 3, Updated: 1}, Bytes: 1000, Took: time.Second})
	m.Fetched(poll.Outcome{Source: a, NotModified: true})
	m.Fetched(poll.Outcome{Source: b, Err: errors.New("500"), State: aggregator.SourceState{ErrorKind: "http status 500"}})
	m.Fetched(poll.Outcome{Source: b, Err: context.Canceled})
	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aggregator_fetches_total", []string{"source", "a", "result", "changed"}, 1},
		{"aggregator_fetches_total", []string{"source", "a", "result", "not_modified"}, 1},
		{"aggregator_fetches_total", []string{"source", "b", "result", "error"}, 1},
		{"aggregator_fetch_errors_total", []string{"source", "b", "kind", "http status 500"}, 1},
		{"aggregator_fetch_bytes_total", []string{"source", "a"}, 1000},
		{"aggregator_items_stored_total", []string{"source", "a", "change", "new"}, 3},
		{"aggregator_items_stored_total", []string{"source", "a", "change", "updated"}, 1},
		{"aggregator_fetch_duration_seconds", nil, 3},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := f.Value("aggregator_fetches_total", "result", "cancelled"); ok {
		t.Error("a cancelled fetch was counted")
	}
	m.Forget([]string{"b"})
	f = scrape(t, m)
	if _, ok := f.Value("aggregator_fetches_total", "source", "b"); ok {
		t.Error("the series of a source that left are still exported")
	}
}

// Requests are counted by the route label and status code; the sources'
// state and the database are read at each scrape.
func TestRequestsAndState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)
	src := aggregator.Source{Name: "s", URL: "https://s.example/feed"}
	if err := store.SyncSources(ctx, []aggregator.Source{src}); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveState(ctx, src, aggregator.SourceState{Name: "s", URL: src.URL, ConsecutiveFailures: 2, LastError: "x"}); err != nil {
		t.Fatal(err)
	}
	m := New(store, func() []aggregator.Source { return []aggregator.Source{src} }, func(path string) string {
		if path == "/feed.atom" {
			return "feed"
		}
		return "other"
	})
	h := m.Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/feed.atom" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	for _, p := range []string{"/feed.atom", "/feed.atom", "/nothing", "/../../etc"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://x"+p, nil))
	}
	m.Reloaded(false)
	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aggregator_http_requests_total", []string{"route", "feed", "code", "200"}, 2},
		{"aggregator_http_requests_total", []string{"route", "other", "code", "404"}, 2},
		{"aggregator_sources", nil, 1},
		{"aggregator_sources_failing", nil, 1},
		{"aggregator_source_consecutive_failures", []string{"source", "s"}, 2},
		{"aggregator_config_last_reload_successful", nil, 0},
		{"aggregator_config_reloads_total", []string{"result", "invalid"}, 1},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if size, ok := f.Value("aggregator_db_size_bytes"); !ok || size <= 0 {
		t.Errorf("database size %v (present %v)", size, ok)
	}
}

// The subscriber's counts are exported at each scrape: live
// subscriptions, pushes taken and rejected, those dropped by reason, and
// those waiting.
func TestWebSubSubscriber(t *testing.T) {
	t.Parallel()
	m := New(newStore(t), func() []aggregator.Source { return nil }, func(string) string { return "other" })
	st := &websub.Status{Subscriber: &websub.SubscriberStats{Subscriptions: 2, Pushes: 30, Rejected: 4, Coalesced: 5, Overflowed: 6, Waiting: 7}}
	if err := m.RegisterWebSub(func() *websub.Status { return st }); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aggregator_websub_subscriptions", nil, 2},
		{"aggregator_websub_pushes_total", []string{"result", "taken"}, 30},
		{"aggregator_websub_pushes_total", []string{"result", "rejected"}, 4},
		{"aggregator_websub_pushes_dropped_total", []string{"reason", "duplicate"}, 5},
		{"aggregator_websub_pushes_dropped_total", []string{"reason", "overflow"}, 6},
		{"aggregator_websub_pushes_waiting", nil, 7},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}
