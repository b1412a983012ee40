package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/metrics"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const feed = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Blog</title><id>urn:blog</id><updated>2026-12-01T09:00:00Z</updated>
  <entry><title>Hello</title><id>urn:blog:1</id><link href="https://blog.example/1"/>
    <updated>2026-12-01T09:00:00Z</updated><content type="html">&lt;p&gt;hi&lt;/p&gt;</content></entry>
</feed>`

// planet is a daemon over a real store, poller and site, whose one source
// is served on loopback.
type planet struct {
	d       *Daemon
	store   *storage.Store
	fetches atomic.Int32 // requests to the source
	source  aggregator.Source
}

func newPlanet(t *testing.T, opts Options) *planet {
	t.Helper()
	p := &planet{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/atom+xml")
		io.WriteString(w, feed)
	}))
	t.Cleanup(srv.Close)
	store, err := storage.Open(filepath.Join(t.TempDir(), "planet.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p.store, p.source = store, aggregator.Source{Name: "blog", URL: srv.URL + "/feed.atom"}
	m := metrics.New(store, func() []aggregator.Source { return p.d.Setup().Poll.Sources }, Route)
	poller := poll.New(store, poll.Options{Observe: func(o poll.Outcome) { p.d.Observe(o) }})
	p.d = New(store, poller, m, opts)
	t.Cleanup(p.d.Close)
	return p
}

// setup is a Setup of the planet's source, titled title, with ws.
func (p *planet) setup(title string, ws WebSub) *Setup {
	sources := []aggregator.Source{p.source}
	site := publish.NewSite(poll.NewFeeds(p.store, poll.FeedOptions{Sources: sources}), publish.Options{
		Title: title, BaseURL: "http://planet.test", Sources: poll.PublicSources(sources),
		Sanitize: func(html, base string) string { return html },
		Changed:  p.d.Changed,
	})
	return &Setup{
		Site:       site,
		Poll:       poll.Settings{Sources: sources, Schedule: "@hourly", Client: fetch.NewClient(nil, fetch.Options{}), Publisher: site},
		AllowAdmin: func(remoteAddr string) bool { return strings.HasPrefix(remoteAddr, "127.0.0.1:") },
		WebSub:     ws,
	}
}

// get asks the daemon's handler for path, from remoteAddr.
func (p *planet) get(method, path, remoteAddr string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remoteAddr
	w := httptest.NewRecorder()
	p.d.Handler().ServeHTTP(w, r)
	return w
}

const (
	local    = "127.0.0.1:40000"
	stranger = "203.0.113.9:40000"
)

// The daemon's routes: health for anyone, status and metrics for the
// admin networks only, GET and HEAD only; the rest is the site's, our hub
// not among them until the Setup asks for one.
func TestHandlerRoutes(t *testing.T) {
	t.Parallel()
	p := newPlanet(t, Options{})
	if err := p.d.Start(context.Background(), p.setup("Planet", WebSub{})); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path, from string
		code               int
		has                string
	}{
		{"GET", "/healthz", stranger, 200, "ok\n"},
		{"HEAD", "/healthz", stranger, 200, ""},
		{"POST", "/healthz", local, 405, "method not allowed"},
		{"GET", "/status.json", stranger, 403, "admin.allow"},
		{"GET", "/status.json", local, 200, `"name": "blog"`},
		{"GET", "/metrics", stranger, 403, "admin.allow"},
		{"GET", "/metrics", local, 200, "aggregator_http_requests_total"},
		{"GET", "/feed.atom", stranger, 200, "<title>Planet</title>"},
		{"GET", websub.HubPath, stranger, 404, ""},
		{"POST", websub.CallbackPath + "token", stranger, 404, ""},
		{"GET", "/nope", stranger, 404, ""},
	} {
		w := p.get(tt.method, tt.path, tt.from)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.has) {
			t.Errorf("%s %s from %s: %d %q, want %d with %q", tt.method, tt.path, tt.from, w.Code, w.Body.String(), tt.code, tt.has)
		}
	}
	if w := p.get("GET", "/healthz", stranger); w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("/healthz Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
	}
	if w := p.get("POST", "/status.json", local); w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("405 Allow %q", w.Header().Get("Allow"))
	}
}

// The route label of a request is one of a few values whatever the path.
func TestRoute(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/healthz":                        "/healthz",
		"/websub":                         "/websub",
		websub.CallbackPath + "abc":       websub.CallbackPath,
		"/feed.atom":                      publish.RouteLabel("/feed.atom"),
		"/sections/go.rss":                publish.RouteLabel("/sections/go.rss"),
		"/wp-login.php":                   "other",
		"/" + strings.Repeat("x", 10_000): "other",
	} {
		if got := Route(path); got != want || got == "" {
			t.Errorf("Route(%.40q) = %q, want %q", path, got, want)
		}
	}
}

// A pass that finds the database damaged turns /healthz red for good;
// other failures of a pass do not.
func TestDamagedDatabaseHealth(t *testing.T) {
	t.Parallel()
	p := newPlanet(t, Options{})
	if err := p.d.Start(context.Background(), p.setup("Planet", WebSub{})); err != nil {
		t.Fatal(err)
	}
	p.d.passFailed(fmt.Errorf("pass: %w", context.DeadlineExceeded))
	if w := p.get("GET", "/healthz", stranger); w.Code != 200 {
		t.Errorf("after a failed pass: /healthz %d, want 200", w.Code)
	}
	p.d.passFailed(fmt.Errorf("pass: %w", storage.ErrCorrupt))
	if w := p.get("GET", "/healthz", stranger); w.Code != 503 || !strings.Contains(w.Body.String(), "damaged") {
		t.Errorf("after a pass found the database damaged: /healthz %d %q, want 503", w.Code, w.Body.String())
	}
}

// Apply puts a new Setup in force: its site is served, our hub runs when
// it asks for one and stops when it no longer does; a Setup the poller
// refuses leaves the one in force.
func TestApply(t *testing.T) {
	t.Parallel()
	p := newPlanet(t, Options{})
	ctx := context.Background()
	if err := p.d.Start(ctx, p.setup("Before", WebSub{})); err != nil {
		t.Fatal(err)
	}
	hub := WebSub{Hub: true, BaseURL: "http://planet.test", UserAgent: "test", LeaseMin: time.Hour, LeaseMax: 24 * time.Hour}
	if err := p.d.Apply(ctx, p.setup("With hub", hub)); err != nil {
		t.Fatal(err)
	}
	if w := p.get("GET", "/feed.atom", stranger); !strings.Contains(w.Body.String(), "<title>With hub</title>") {
		t.Errorf("after Apply, /feed.atom = %.200q", w.Body.String())
	}
	form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {"http://planet.test/nope.atom"}, "hub.callback": {"https://reader.example/cb"}}
	r := httptest.NewRequest("POST", websub.HubPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	p.d.Handler().ServeHTTP(w, r)
	if w.Code == http.StatusNotFound || w.Code/100 == 2 {
		t.Errorf("our hub, asked for a topic that is none of our feeds: %d %q, want its refusal", w.Code, w.Body.String())
	}

	// The same WebSub settings keep the WebSub running.
	running := p.d.push.Load()
	if err := p.d.Apply(ctx, p.setup("Same hub", hub)); err != nil {
		t.Fatal(err)
	}
	if p.d.push.Load() != running {
		t.Error("Apply with unchanged WebSub settings started the WebSub anew")
	}

	// A Setup whose outputs fail to render is refused, and the poller
	// goes back to the settings in force.
	bad := p.setup("Refused", WebSub{})
	bad.Poll.Schedule = "@daily"
	bad.Poll.Publisher = failingPublisher{}
	if err := p.d.Apply(ctx, bad); err == nil {
		t.Fatal("Apply of a Setup whose outputs fail to render succeeded")
	}
	if p.d.Setup().WebSub != hub || p.d.push.Load() != running {
		t.Error("a refused Setup replaced the one in force")
	}
	if groups := p.d.poller.Policy().Groups(bad.Poll.Sources); len(groups["@hourly"]) != 1 {
		t.Errorf("after a refused Apply the poller schedules %v, want the @hourly in force", groups)
	}

	if err := p.d.Apply(ctx, p.setup("Without hub", WebSub{})); err != nil {
		t.Fatal(err)
	}
	if w := p.get("POST", websub.HubPath, stranger); w.Code != http.StatusNotFound {
		t.Errorf("hub turned off: %s answered %d, want the site's 404", websub.HubPath, w.Code)
	}
	if err := p.d.Apply(ctx, p.setup("Hub again", hub)); err != nil {
		t.Fatal(err)
	}
	p.d.Close()
	if p.d.push.Load() != nil || p.d.pushStop != nil {
		t.Error("Close left the WebSub running")
	}
}

// A pass that began before a reload and still fetches a source the
// reload removed does not bring its series back into /metrics: Apply
// forgets them, and Observe ignores the sources not in force.
func TestObserveIgnoresRemovedSources(t *testing.T) {
	t.Parallel()
	fetching, release := make(chan struct{}), make(chan struct{})
	var released sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(fetching)
		<-release
		w.Header().Set("Content-Type", "application/atom+xml")
		io.WriteString(w, feed)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { released.Do(func() { close(release) }) }) // before slow.Close
	p := newPlanet(t, Options{})
	ctx := context.Background()
	removed := aggregator.Source{Name: "removed", URL: slow.URL + "/feed.atom"}
	kept := p.source
	p.source = removed
	before := p.setup("Before", WebSub{})
	before.Poll.Sources = append(before.Poll.Sources, kept)
	if err := p.d.Start(ctx, before); err != nil {
		t.Fatal(err)
	}
	metric := func() string {
		t.Helper()
		w := p.get("GET", "/metrics", local)
		if w.Code != http.StatusOK {
			t.Fatalf("/metrics: %d", w.Code)
		}
		return w.Body.String()
	}
	// An earlier fetch of the source to be removed, counted.
	p.d.Observe(poll.Outcome{Source: removed, NotModified: true})
	if m := metric(); !strings.Contains(m, `aggregator_fetches_total{result="not_modified",source="removed"}`) {
		t.Fatalf("/metrics before the reload has no fetch of the source:\n%s", m)
	}
	passDone := make(chan error, 1)
	go func() { passDone <- p.d.poller.Pass(ctx, before.Poll.Sources, false) }()
	<-fetching

	p.source = kept
	if err := p.d.Apply(ctx, p.setup("After", WebSub{})); err != nil {
		t.Fatal(err)
	}
	released.Do(func() { close(release) })
	if err := <-passDone; err != nil {
		t.Fatal(err)
	}
	if state, err := p.store.State(ctx, "removed"); err != nil || state.LastOutcome != aggregator.OutcomeStored {
		t.Fatalf("state of the removed source after the pass = %+v, %v; want it fetched and stored", state, err)
	}
	m := metric()
	if strings.Contains(m, `source="removed"`) {
		t.Errorf("/metrics after the pass that fetched a source removed meanwhile has its series:\n%s", m)
	}
	if !strings.Contains(m, `aggregator_fetches_total{result="changed",source="blog"}`) {
		t.Errorf("/metrics after the pass has no fetch of blog, still configured:\n%s", m)
	}
}

// failingPublisher is a site whose render fails.
type failingPublisher struct{}

func (failingPublisher) Rebuild(context.Context) error { return errors.New("render failed") }

// On cancellation, Run says it is stopping, then lets the pass in flight
// finish while it still serves, then stops serving.
func TestRunStopsInOrder(t *testing.T) {
	t.Parallel()
	fetching, release := make(chan struct{}), make(chan struct{})
	var released sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(fetching)
		<-release
		w.Header().Set("Content-Type", "application/atom+xml")
		io.WriteString(w, feed)
	}))
	t.Cleanup(slow.Close) // after the cleanup below releases its request
	stopping := make(chan struct{})
	p := newPlanet(t, Options{PassGrace: time.Minute, Stopping: func() { close(stopping) }})
	p.source.URL = slow.URL + "/feed.atom"
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.d.Start(ctx, p.setup("Planet", WebSub{})); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.d.Run(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		released.Do(func() { close(release) })
		<-done
	})
	<-fetching
	cancel()
	<-stopping
	if body := httpGet(t, "http://"+ln.Addr().String()+"/healthz"); body != "ok\n" {
		t.Errorf("while the pass in flight finishes, /healthz = %q", body)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) before the pass in flight finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	released.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil // for the cleanup
	if p.fetches.Load() != 0 {
		t.Error("the planet's own source was fetched; want the slow one")
	}
}

// Run serves on its listener, fetches what is due at once, calls Reload
// on each signal, and on cancellation says it is stopping and returns.
func TestRun(t *testing.T) {
	t.Parallel()
	reloaded := make(chan struct{}, 1)
	stopping := atomic.Bool{}
	p := newPlanet(t, Options{
		Reload:   func(context.Context) { reloaded <- struct{}{} },
		Stopping: func() { stopping.Store(true) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.d.Start(ctx, p.setup("Planet", WebSub{})); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- p.d.Run(ctx, ln, reloads) }()
	waited := false
	t.Cleanup(func() {
		if !waited {
			cancel()
			<-done
		}
	})

	base := "http://" + ln.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := httpGet(t, base+"/feed.atom")
		if strings.Contains(body, "urn:blog:1") || strings.Contains(body, "Hello") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first pass never published the source's item (%d fetches):\n%.300s", p.fetches.Load(), body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reloads <- syscall.SIGHUP
	select {
	case <-reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("a signal on reloads never called Reload")
	}
	cancel()
	select {
	case err := <-done:
		waited = true
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !stopping.Load() {
		t.Error("Run returned without calling Stopping")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

// client keeps no connection open: goleak finds every goroutine left.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The watchdog is pinged while the database answers, and no longer once
// it does not.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	p := newPlanet(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	pings := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.d.Watchdog(ctx, 20*time.Millisecond, func() { pings <- struct{}{} })
	}()
	select {
	case <-pings:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping while the database is readable")
	}
	if err := p.store.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a check begun before Close may still ping
	for len(pings) > 0 {
		<-pings
	}
	time.Sleep(200 * time.Millisecond) // ten periods
	if n := len(pings); n > 0 {
		t.Errorf("%d pings after the database was closed", n)
	}
	cancel()
	<-done
}

// TestObserveHandsHubsToSubscriber: a fetch's hubs go to our
// subscriber; a fetch that read the feed and found none ends the
// source's subscription, while a 304 (whose feed was not read) or a
// source waiting for its host tells it nothing.
func TestObserveHandsHubsToSubscriber(t *testing.T) {
	t.Parallel()
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(hub.Close)
	p := newPlanet(t, Options{})
	ws := WebSub{Subscribe: true, BaseURL: "http://127.0.0.1:1", UserAgent: "test", LeaseMax: 24 * time.Hour, AllowPrivateCallbacks: true}
	if err := p.d.Start(context.Background(), p.setup("Planet", ws)); err != nil {
		t.Fatal(err)
	}
	status := func() string { return p.d.push.Load().SourceStatus(p.source.Name) }
	p.d.Observe(poll.Outcome{Source: p.source, Hubs: []string{hub.URL}, Self: p.source.URL})
	if st := status(); st == "" || strings.HasPrefix(st, "unsubscribing") {
		t.Fatalf("after a fetch named a hub: %q", st)
	}
	p.d.Observe(poll.Outcome{Source: p.source, NotModified: true})
	p.d.Observe(poll.Outcome{Source: p.source, Waiting: &fetch.HostBlockedError{Host: "127.0.0.1", Until: time.Now().Add(time.Hour)}})
	if st := status(); st == "" || strings.HasPrefix(st, "unsubscribing") {
		t.Errorf("after a 304 and a wait: %q, want the subscription kept", st)
	}
	p.d.Observe(poll.Outcome{Source: p.source})
	if st := status(); st != "" && !strings.HasPrefix(st, "unsubscribing") {
		t.Errorf("after a fetch of the feed named no hub: %q, want it ended", st)
	}
}
