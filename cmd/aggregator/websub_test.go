package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
)

// reader is a feed reader subscribed to a hub: its callback echoes
// verifications of its topic and records what is pushed to it.
type reader struct {
	*httptest.Server
	secret string
	topic  string
	pushes chan readerPush
}

type readerPush struct {
	body   []byte
	header http.Header
}

func newReader(t *testing.T, topic, secret string) *reader {
	t.Helper()
	rd := &reader{topic: topic, secret: secret, pushes: make(chan readerPush, 100)}
	rd.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if r.URL.Query().Get("hub.topic") != rd.topic {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		body, _ := io.ReadAll(r.Body)
		rd.pushes <- readerPush{body, r.Header.Clone()}
	}))
	t.Cleanup(rd.Close)
	return rd
}

// subscribeTo asks hub to send rd its topic, and fails the test unless it
// answers 202.
func (rd *reader) subscribeTo(t *testing.T, hub string) {
	t.Helper()
	resp, err := http.PostForm(hub, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {rd.topic}, "hub.callback": {rd.URL + "/cb"}, "hub.secret": {rd.secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscribe to %s: %s", hub, resp.Status)
	}
}

// next waits for the next push whose feed cond accepts, checking its
// signature.
func (rd *reader) next(t *testing.T, d *serving, cond func(*gofeed.Feed) bool) *gofeed.Feed {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-rd.pushes:
			if !websub.Verify(rd.secret, p.header.Get(websub.SignatureHeader), p.body) {
				t.Fatalf("push without a valid signature: %q", p.header.Get(websub.SignatureHeader))
			}
			f, err := gofeed.NewParser().Parse(strings.NewReader(string(p.body)))
			if err != nil {
				t.Fatalf("pushed body: %v", err)
			}
			if cond(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no push came:\n%s", d.stderr)
			return nil
		}
	}
}

// webSubStatus reads the websub part of /status.json.
func webSubStatus(t *testing.T, base string) websub.Status {
	t.Helper()
	var doc struct{ WebSub *websub.Status }
	if err := json.Unmarshal(getOK(base+"/status.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.WebSub == nil {
		return websub.Status{}
	}
	return *doc.WebSub
}

func waitUntil(t *testing.T, d *serving, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, d.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newEntry returns blog.atom with one more entry, titled title.
func newEntry(t *testing.T, title string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "blog.atom"))
	if err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf(`<entry><title>%s</title><id>tag:blog.example,2026:%s</id><link href="http://blog.example/%s"/>
<published>2026-11-04T10:00:00Z</published><updated>2026-11-04T10:00:00Z</updated><content type="html">new</content></entry>
  <entry>`, title, url.PathEscape(title), url.PathEscape(title))
	return []byte(strings.Replace(string(b), "<entry>", entry, 1))
}

// hasTitle accepts a feed with an item titled title.
func hasTitle(title string) func(*gofeed.Feed) bool {
	return func(f *gofeed.Feed) bool { return slices.Contains(titles(f), title) }
}

// TestWebSubPublisherAndHub runs the daemon as its feeds' hub and with an
// outside hub in websub.hubs: every feed names both, ours first, in its
// Link header; a reader subscribed to our hub gets each new version of
// the merged feed, signed; the outside hub is pinged; /status.json and
// the metrics show both; and the subscription outlives a restart.
func TestWebSubPublisherAndHub(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	var pingMu sync.Mutex
	pinged := map[string]int{}
	outside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		pingMu.Lock()
		pinged[r.PostForm.Get("hub.url")]++
		pingMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(outside.Close)

	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	configPath := writeConfig(t, dir, addr, src.URL)
	cfg, _ := os.ReadFile(configPath)
	cfg = []byte(strings.Replace(string(cfg), `schedule: "@every 1h"`, `schedule: "@every 1s"`, 1))
	cfg = append(cfg, fmt.Sprintf("websub:\n  hub: true\n  hubs: [%s/hub]\n  allow_private_callbacks: true\n  allow_http_callbacks: true\n", outside.URL)...)
	cfg = []byte(strings.Replace(string(cfg), "fetch: {timeout: 60s, concurrency: 2}", "fetch: {timeout: 60s, concurrency: 2, jitter: 0}", 1))
	if err := os.WriteFile(configPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	d := startServe(t, configPath)
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })
	for _, path := range []string{"/feed.atom", "/feed.rss", "/feed.json", "/sections/go.atom"} {
		resp, _ := get(t, base+path)
		want := fmt.Sprintf(`<%s/websub>; rel="hub", <%s/hub>; rel="hub", <%s%s>; rel="self"`, base, outside.URL, base, path)
		if got := resp.Header.Get("Link"); got != want {
			t.Errorf("%s: Link %q, want %q", path, got, want)
		}
	}

	rd := newReader(t, base+"/feed.atom", "reader-secret")
	rd.subscribeTo(t, base+"/websub")
	waitUntil(t, d, "the subscription", func() bool {
		st := webSubStatus(t, base)
		return st.Hub != nil && st.Hub.Subscriptions == 1
	})
	src.set("/blog.atom", newEntry(t, "Pushed one"))
	rd.next(t, d, hasTitle("Pushed one"))
	waitUntil(t, d, "the outside hub pinged", func() bool {
		pingMu.Lock()
		defer pingMu.Unlock()
		return pinged[base+"/feed.atom"] > 0 && pinged[base+"/sections/go.json"] > 0
	})
	st := webSubStatus(t, base)
	if len(st.Hubs) != 1 || st.Hubs[0].URL != outside.URL+"/hub" || st.Hubs[0].LastSuccess.IsZero() {
		t.Errorf("status of websub.hubs: %+v", st.Hubs)
	}
	families := scrape(t, base)
	if v, _ := families.Value("aggregator_websub_hub_subscriptions"); v != 1 {
		t.Errorf("aggregator_websub_hub_subscriptions = %v, want 1", v)
	}
	if v, _ := families.Value("aggregator_websub_pings_total", "hub", outside.URL+"/hub", "result", "ok"); v == 0 {
		t.Errorf("aggregator_websub_pings_total{result=ok} = 0")
	}
	d.stop(t)

	d = startServe(t, configPath)
	defer d.stop(t)
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 4 })
	if st := webSubStatus(t, base); st.Hub == nil || st.Hub.Subscriptions != 1 {
		t.Fatalf("after restart: %+v", st.Hub)
	}
	src.set("/blog.atom", newEntry(t, "Pushed again, second"))
	rd.next(t, d, hasTitle("Pushed again, second"))
}

// hubbedSource is a source whose feed (testdata/blog.atom, or what set
// gives) names a hub of its own, a websub.Hub on loopback, in its Link
// header; it counts its fetches.
type hubbedSource struct {
	hub           *websub.Hub
	store         *storage.Store // the hub's
	hubURL, topic string

	mu      sync.Mutex
	body    []byte
	fetches int
}

func newHubbedSource(t *testing.T, dir string) *hubbedSource {
	t.Helper()
	hubStore, err := storage.Open(filepath.Join(dir, "source-hub.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hubStore.Close() })
	s := &hubbedSource{store: hubStore}
	s.body, _ = os.ReadFile(filepath.Join("testdata", "blog.atom"))
	s.hub, err = websub.NewHub(t.Context(), hubStore, websub.HubOptions{
		IsTopic:   func(u string) bool { return u == s.topic },
		AllowHTTP: true,
		Client:    websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { s.hub.Run(hubCtx); close(hubDone) }()
	t.Cleanup(func() { stopHub(); <-hubDone })
	hubSrv := httptest.NewServer(s.hub)
	t.Cleanup(hubSrv.Close)
	s.hubURL = hubSrv.URL
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body := s.body
		s.fetches++
		s.mu.Unlock()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="hub", <%s>; rel="self"`, s.hubURL, s.topic))
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Write(body)
	}))
	t.Cleanup(source.Close)
	s.topic = source.URL + "/blog.atom"
	return s
}

// set makes body the feed the source serves.
func (s *hubbedSource) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// fetched is how many times the source was fetched.
func (s *hubbedSource) fetched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// TestWebSubEndToEnd is the "done when": a source whose feed names
// its hub (a websub.Hub of its own, on loopback) is subscribed to; an item
// it posts reaches a reader subscribed to our hub within a second, pushed
// all the way, with no poll in between (the schedule is hourly); the
// source's status says it is subscribed; a push its hub did not sign is
// not stored.
func TestWebSubEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := newHubbedSource(t, dir)
	sourceHub, hubURL, topic := src.hub, src.hubURL, src.topic

	addr := freeAddr(t)
	base := "http://" + addr
	configPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`base_url: %[1]s
listen: %[2]s
database: %[3]s
schedule: "@every 1h"
fetch: {timeout: 60s, jitter: 0}
websub: {hub: true, subscribe: true, allow_private_callbacks: true, allow_http_callbacks: true}
sources:
  - {name: blog, url: %[4]s}
`, base, addr, filepath.Join(dir, "test.db"), topic)
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startServe(t, configPath)
	defer d.stop(t)
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 2 })
	waitUntil(t, d, "our subscription to the source's hub", func() bool {
		return sourceHub.Stats().Subscriptions == 1 && strings.Contains(sourceStatus(t, base, "blog"), "subscribed at "+hubURL)
	})
	rd := newReader(t, base+"/feed.atom", "reader")
	rd.subscribeTo(t, base+"/websub")
	waitUntil(t, d, "the reader's subscription", func() bool {
		st := webSubStatus(t, base)
		return st.Hub != nil && st.Hub.Subscriptions == 1
	})
	polled := src.fetched()

	for i, title := range []string{"Pushed first", "Pushed second one"} {
		body := newEntry(t, title)
		src.set(body)
		start := time.Now()
		sourceHub.Publish([]websub.Content{{Topic: topic, ContentType: "application/atom+xml", Body: body}})
		rd.next(t, d, hasTitle(title))
		// That it came by push is what the fetch count below shows; how
		// soon is a benchmark's to measure (go run ./bench -freshness).
		t.Logf("push %d reached the reader in %v", i, time.Since(start).Round(time.Millisecond))
	}
	if n := src.fetched(); n != polled {
		t.Errorf("the source was fetched %d times while pushes came", n-polled)
	}

	// A body pushed to our callback without its hub's signature, or to a
	// guessed callback, is not stored.
	recs, err := src.store.Records(t.Context(), "websub.hub")
	if err != nil || len(recs) != 1 {
		t.Fatalf("the source's hub keeps %d subscriptions (%v), want 1", len(recs), err)
	}
	var callback string
	for k := range recs {
		_, callback, _ = strings.Cut(k, "\x00")
	}
	forged := newEntry(t, "Forged")
	for _, tt := range []struct {
		url, sig string
		code     int
	}{
		{callback, websub.Sign("guessed secret", forged), http.StatusAccepted},
		{callback, "", http.StatusAccepted},
		{base + websub.CallbackPath + "guessed", "", http.StatusGone},
	} {
		req, _ := http.NewRequest(http.MethodPost, tt.url, strings.NewReader(string(forged)))
		req.Header.Set("Content-Type", "application/atom+xml")
		if tt.sig != "" {
			req.Header.Set(websub.SignatureHeader, tt.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("forged push to %s: %s, want %d", tt.url, resp.Status, tt.code)
		}
	}
	time.Sleep(100 * time.Millisecond) // what a stored push takes, many times over
	if slices.Contains(titles(parseFeed(t, base+"/feed.atom")), "Forged") {
		t.Errorf("a forged push was stored")
	}
}

// sourceStatus is the websub status of source in /status.json.
func sourceStatus(t *testing.T, base, source string) string {
	t.Helper()
	var doc struct{ Sources []poll.Status }
	if err := json.Unmarshal(getOK(base+"/status.json"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Sources {
		if s.Name == source {
			return s.WebSub
		}
	}
	return ""
}

// TestWebSubReload turns the hub and the subscriber on and off with
// SIGHUP to the real binary: the feeds name our hub exactly while it
// runs and answers subscriptions; turned on, the daemon subscribes to the
// source's hub at its next fetch and stops polling it; turned off, our
// hub is gone and the source goes back to its schedule at once.
func TestWebSubReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	dir := t.TempDir()
	src := newHubbedSource(t, dir)
	sourceHub, hubURL, topic, fetched := src.hub, src.hubURL, src.topic, src.fetched

	addr := freeAddr(t)
	base := "http://" + addr
	configPath := filepath.Join(dir, "config.yaml")
	writeWebSub := func(websub string) {
		t.Helper()
		cfg := fmt.Sprintf("base_url: %s\nlisten: %s\nschedule: \"@every 1s\"\nfetch: {timeout: 60s, jitter: 0}\n%ssources:\n  - {name: blog, url: %s}\n",
			base, addr, websub, topic)
		if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ourHub := fmt.Sprintf(`<%s/websub>; rel="hub"`, base)
	linkHasOurHub := func() bool {
		resp, err := http.Get(base + "/feed.atom")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return strings.Contains(resp.Header.Get("Link"), ourHub)
	}
	subscribe := func() int {
		resp, err := http.PostForm(base+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feed.atom"}, "hub.callback": {"http://127.0.0.1:1/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	writeWebSub("")
	p := startProcess(t, nil, "serve", "-config", configPath)
	p.eventually(t, "the first fetch", func() bool { return getOK(base+"/feed.atom") != nil && fetched() > 0 })
	if linkHasOurHub() {
		t.Error("the feeds name our hub before it is on")
	}
	if code := subscribe(); code == http.StatusAccepted {
		t.Error("a subscription accepted before the hub is on")
	}

	writeWebSub("websub: {hub: true, subscribe: true, allow_private_callbacks: true, allow_http_callbacks: true}\n")
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "our hub named by the feeds", linkHasOurHub)
	p.eventually(t, "our subscription to the source's hub", func() bool { return sourceHub.Stats().Subscriptions == 1 })
	rd := newReader(t, base+"/feed.atom", "reader")
	rd.subscribeTo(t, base+"/websub")
	p.eventually(t, "the reader's subscription verified", func() bool {
		st := webSubStatus(t, base)
		return st.Hub != nil && st.Hub.Subscriptions == 1
	})
	p.eventually(t, "the source subscribed", func() bool { return strings.Contains(sourceStatus(t, base, "blog"), "subscribed at "+hubURL) })
	// Subscribed, the source is polled every websub.poll_interval (6h),
	// not every second.
	before := fetched()
	time.Sleep(2500 * time.Millisecond)
	if n := fetched() - before; n > 1 {
		t.Errorf("a subscribed source was fetched %d times in 2.5 s", n)
	}

	writeWebSub("")
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "our hub no longer named", func() bool { return !linkHasOurHub() })
	if code := subscribe(); code == http.StatusAccepted {
		t.Error("a subscription accepted after the hub was turned off")
	}
	before = fetched()
	p.eventually(t, "the source polled again on its schedule", func() bool { return fetched() >= before+2 })
	if st := webSubStatus(t, base); st.Hub != nil || st.Subscriber != nil {
		t.Errorf("websub status after turning it off: %+v", st)
	}
	p.signal(t, syscall.SIGTERM)
	p.waitExit(t, 10*time.Second)
}
