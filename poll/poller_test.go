package poll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// publisher counts its renders.
type publisher struct{ n atomic.Int32 }

func (p *publisher) Rebuild(context.Context) error { p.n.Add(1); return nil }

func rss(items ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://t.example/</link><description>d</description>`)
	for _, id := range items {
		fmt.Fprintf(&b, `<item><title>%s</title><guid>%s</guid><link>http://t.example/%s</link></item>`, id, id, id)
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

// feedServer answers by path: /ok an RSS feed with an ETag, /fail 500,
// /gone 410, /busy 503 with Retry-After: 3600. It counts requests by path.
type feedServer struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
}

func newFeedServer(t *testing.T) *feedServer {
	t.Helper()
	s := &feedServer{count: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.count[r.URL.Path]++
		s.mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			w.Write(rss("a", "b"))
		case "/fail":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/gone":
			http.Error(w, "gone", http.StatusGone)
		case "/busy":
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *feedServer) requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[path]
}

// newPoller returns a poller over a new store, configured with settings
// whose client, if nil, is a plain one on c's clock.
func newPoller(t *testing.T, c *clock, s Settings, opts Options) (*Poller, *storage.Store) {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "test.db"), storage.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts.Now = c.Now
	p := New(store, opts)
	if s.Client == nil {
		s.Client = testClient(c)
	}
	if err := p.Configure(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return p, store
}

func testClient(c *clock) *fetch.Client {
	return fetch.NewClient(&http.Client{}, fetch.Options{Now: c.Now, PerHost: 8})
}

func sources(srv *feedServer, names ...string) []aggregator.Source {
	var out []aggregator.Source
	for _, n := range names {
		out = append(out, aggregator.Source{Name: n, URL: srv.URL + "/" + n})
	}
	return out
}

// A scheduled pass fetches what the policy says is due, with a fake clock:
// every source at first; a quarter of an hour later the good one (not
// modified) and the failing one (its first backoff), not the gone one,
// nor the one whose host asked for an hour.
func TestPassFollowsPolicy(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t)
	c := &clock{t: t0}
	pub := &publisher{}
	srcs := sources(srv, "ok", "fail", "gone")
	busy := aggregator.Source{Name: "busy", URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/busy"}
	srcs = append(srcs, busy)
	p, store := newPoller(t, c, Settings{Sources: srcs, Schedule: "@every 15m", MaxInterval: 24 * time.Hour, Publisher: pub}, Options{})
	ctx := context.Background()

	var classes []string
	var mu sync.Mutex
	p.opts.Observe = func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		classes = append(classes, fmt.Sprintf("%s=%d", o.Source.Name, o.Class()))
	}
	if err := p.Pass(ctx, srcs, false); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/ok", "/fail", "/gone", "/busy"} {
		if n := srv.requests(path); n != 1 {
			t.Errorf("first pass: %s requested %d times, want once", path, n)
		}
	}
	states, _ := store.States(ctx)
	if st := states["ok"]; st.Result() != "new 2" || !st.NextAttempt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("ok: %q, next %v", st.Result(), st.NextAttempt)
	}
	if st := states["gone"]; !st.Gone || st.LastOutcome != aggregator.OutcomeGone {
		t.Errorf("gone: %+v", st)
	}
	if st := states["busy"]; st.RetryAfterHost != "localhost" || !st.RetryAfter.Equal(t0.Add(time.Hour)) {
		t.Errorf("busy: Retry-After %v from %q", st.RetryAfter, st.RetryAfterHost)
	}

	c.Add(16 * time.Minute)
	due, err := p.Due(ctx, srcs, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(due)); got != "[ok fail]" {
		t.Errorf("due after 16m: %s, want [ok fail]", got)
	}
	if err := p.Pass(ctx, srcs, false); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"/ok": 2, "/fail": 2, "/gone": 1, "/busy": 1}
	for path, n := range want {
		if got := srv.requests(path); got != n {
			t.Errorf("after the second pass: %s requested %d times, want %d", path, got, n)
		}
	}
	states, _ = store.States(ctx)
	if st := states["ok"]; st.Result() != "not modified" {
		t.Errorf("ok after the second pass: %q", st.Result())
	}
	if st := states["fail"]; st.ConsecutiveFailures != 2 || st.NextAttempt.Sub(c.Now()) < 15*time.Minute {
		t.Errorf("fail after the second pass: %d failures, next in %v", st.ConsecutiveFailures, st.NextAttempt.Sub(c.Now()))
	}
	if pub.n.Load() != 2 {
		t.Errorf("rendered %d times, want after each pass", pub.n.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	wantClasses := map[string]bool{
		fmt.Sprintf("ok=%d", ClassChanged): true, fmt.Sprintf("fail=%d", ClassFailed): true,
		fmt.Sprintf("gone=%d", ClassGone): true, fmt.Sprintf("busy=%d", ClassFailed): true,
		fmt.Sprintf("ok=%d", ClassNotModified): true,
	}
	for _, c := range classes {
		if !wantClasses[c] {
			t.Errorf("unexpected outcome class %s (of %v)", c, classes)
		}
	}
	if len(classes) != 6 {
		t.Errorf("%d outcomes observed, want 6: %v", len(classes), classes)
	}
}

func names(srcs []aggregator.Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
}

// blockingServer serves one feed, holding each request until release is
// closed; arrived gets a value as each request arrives.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan struct{}, 10), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Write(rss("x"))
	}))
	t.Cleanup(srv.Close)
	return srv, arrived, release
}

// Two passes that overlap never fetch one source twice at once: the second
// leaves it to the first, and reports nothing for it.
func TestOneFetchPerSource(t *testing.T) {
	t.Parallel()
	srv, arrived, release := blockingServer(t)
	c := &clock{t: t0}
	src := aggregator.Source{Name: "slow", URL: srv.URL + "/feed"}
	p, _ := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m"}, Options{})
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- p.Refresh(ctx, []aggregator.Source{src}, nil) }()
	<-arrived
	var second []Outcome
	if err := p.Refresh(ctx, []aggregator.Source{src}, func(o Outcome) { second = append(second, o) }); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if len(second) != 0 || len(arrived) != 0 {
		t.Errorf("the overlapping pass reported %d outcomes and sent %d requests, want none", len(second), len(arrived))
	}
}

// A pass that began before a reload publishes with the settings in force
// when it ends, and a shorter schedule brings next attempts forward.
func TestConfigureDuringPass(t *testing.T) {
	t.Parallel()
	srv, arrived, release := blockingServer(t)
	c := &clock{t: t0}
	src := aggregator.Source{Name: "s", URL: srv.URL + "/feed"}
	before, after := &publisher{}, &publisher{}
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 6h", Publisher: before}, Options{})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- p.Refresh(ctx, []aggregator.Source{src}, nil) }()
	<-arrived
	if err := p.Configure(ctx, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m", Publisher: after, Client: testClient(c)}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if before.n.Load() != 0 || after.n.Load() != 1 {
		t.Errorf("renders: %d by the old settings, %d by the new; want the new only", before.n.Load(), after.n.Load())
	}
	// The pass scheduled the next attempt by the schedule it began with;
	// the next reload to a shorter one brings it forward.
	st, _ := store.State(ctx, "s")
	if !st.NextAttempt.Equal(t0.Add(6 * time.Hour)) {
		t.Fatalf("next attempt %v, want +6h", st.NextAttempt)
	}
	if err := p.Configure(ctx, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 6h", Client: testClient(c)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Configure(ctx, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m", Client: testClient(c)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := store.State(ctx, "s"); !st.NextAttempt.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("after the schedule shortened: next attempt %v, want +15m", st.NextAttempt)
	}
	if err := p.Configure(ctx, Settings{Sources: []aggregator.Source{src}, Schedule: "every 5m", Client: testClient(c)}); err == nil {
		t.Error("Configure accepted a schedule that is no cron spec")
	}
}

// A failure of our own database is returned by the pass, once: the fetch
// of the source neither logs it nor counts it against the source.
func TestStoreFailureReturnedNotLogged(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://t.example/</link><description>d</description>`)
		for i := range 40 {
			fmt.Fprintf(&b, `<item><title>%d</title><guid>g%d</guid><description>%s</description></item>`, i, i, big)
		}
		b.WriteString(`</channel></rss>`)
		w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	c := &clock{t: t0}
	store, err := storage.Open(filepath.Join(t.TempDir(), "test.db"), storage.Options{Now: c.Now, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs bytes.Buffer
	p := New(store, Options{Now: c.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	src := aggregator.Source{Name: "big", URL: srv.URL + "/feed"}
	if err := p.Configure(context.Background(), Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m", Client: testClient(c)}); err != nil {
		t.Fatal(err)
	}
	var got Outcome
	err = p.Refresh(context.Background(), []aggregator.Source{src}, func(o Outcome) { got = o })
	var storeErr *StoreError
	if err == nil || !errors.As(got.Err, &storeErr) || got.Class() != ClassDatabase {
		t.Fatalf("Refresh = %v, outcome %v (class %d); want the database's failure", err, got.Err, got.Class())
	}
	if strings.Contains(logs.String(), "database") {
		t.Errorf("the store failure was logged as well as returned:\n%s", logs.String())
	}
	if st, _ := store.State(context.Background(), "big"); st.ConsecutiveFailures != 0 || st.ErrorKind != aggregator.ErrorKindDatabase || st.ETag != "" {
		t.Errorf("state after a store failure: %+v", st)
	}
}

// At the default level a pass logs the sources that changed or failed,
// and its summary; a source unchanged or not modified says so at Debug
// only (a line per source and pass would fill a journal with nothing).
func TestPassLogsChangesAtInfo(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t)
	var logs bytes.Buffer
	c := &clock{t: t0}
	srcs := sources(srv, "ok", "fail")
	p, _ := newPoller(t, c, Settings{Sources: srcs, Schedule: "@every 15m", MaxInterval: time.Hour},
		Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ctx := context.Background()
	if err := p.Pass(ctx, srcs, false); err != nil {
		t.Fatal(err)
	}
	first := logs.String()
	if !strings.Contains(first, "msg=fetched source=ok") || !strings.Contains(first, "source=fail") || !strings.Contains(first, `msg="fetch pass done"`) {
		t.Errorf("first pass, at Info: want the new items, the failure and the summary:\n%s", first)
	}
	logs.Reset()
	c.Add(16 * time.Minute)
	if err := p.Pass(ctx, srcs[:1], false); err != nil { // ok: 304
		t.Fatal(err)
	}
	if got := logs.String(); strings.Contains(got, "source=ok") || !strings.Contains(got, `msg="fetch pass done"`) {
		t.Errorf("a pass with nothing new, at Info: want only its summary:\n%s", got)
	}
}
