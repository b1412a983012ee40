package websub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logRecorder is a slog.Handler that keeps the records, at every level.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, rec)
	return nil
}

// find returns the records of msg.
func (l *logRecorder) find(msg string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// atLeast returns the records at level or above.
func (l *logRecorder) atLeast(level slog.Level) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.level >= level {
			out = append(out, r)
		}
	}
	return out
}

// storedSubs returns the keys of the subscriptions h's store holds.
func storedSubs(t *testing.T, h *Hub) []string {
	t.Helper()
	recs, err := h.store.Records(context.Background(), hubRecords)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range recs {
		keys = append(keys, k)
	}
	return keys
}

// serveAs sends h a subscription request from the client address addr,
// and returns the status.
func serveAs(h *Hub, addr string, form url.Values) int {
	r := httptest.NewRequest(http.MethodPost, HubPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestHubSweepsExpired: subscriptions whose lease ran out count toward no
// bound and no statistic, are deleted from memory and store by the sweep
// of Run, whatever their topic, and NewHub deletes those it finds.
func TestHubSweepsExpired(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{MaxSubscriptions: 2})
	cb := newCallback(t)
	for i := range 2 {
		if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, fmt.Sprintf("%s/cb%d", cb.URL, i), "hub.lease_seconds", "3600")); code != http.StatusAccepted {
			t.Fatalf("subscribe %d: %d", i, code)
		}
		waitVerified(t, cb)
	}
	eventually(t, "2 subscriptions", func() bool { return h.Stats().Subscriptions == 2 })
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/new")); code != http.StatusForbidden {
		t.Fatalf("a third while 2 are in force: %d, want 403", code)
	}
	clock.Advance(2 * time.Hour)
	if n := h.Stats().Subscriptions; n != 0 {
		t.Errorf("%d subscriptions once both leases ended, want 0", n)
	}
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/new")); code != http.StatusAccepted {
		t.Fatalf("a new subscriber once both leases ended: %d, want 202", code)
	}
	waitVerified(t, cb)
	h.sweep(t.Context())
	eventually(t, "the new one in force and stored", func() bool { return h.Stats().Subscriptions == 1 && len(storedSubs(t, h)) == 1 })
	if keys, st := storedSubs(t, h), h.Stats(); len(keys) != 1 || keys[0] != key(testTopic, cb.URL+"/new") || st.Expired != 2 {
		t.Errorf("stored %q, stats %+v; want only the new one, 2 expired", keys, st)
	}

	// Records of ended subscriptions, or unreadable ones, left by an
	// earlier version: NewHub deletes them.
	live, _ := json.Marshal(subscription{Topic: testTopic, Callback: "https://a.example/", Expires: clock.Now().Add(time.Hour)})
	ended, _ := json.Marshal(subscription{Topic: testTopic, Callback: "https://b.example/", Expires: clock.Now().Add(-time.Hour)})
	store := openStore(t, filepath.Join(t.TempDir(), "old.db"))
	if err := store.PutRecords(t.Context(), hubRecords, map[string][]byte{
		key(testTopic, "https://a.example/"): live,
		key(testTopic, "https://b.example/"): ended,
		"unreadable":                         []byte("{"),
	}); err != nil {
		t.Fatal(err)
	}
	h2, err := NewHub(t.Context(), store, HubOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if keys := storedSubs(t, h2); h2.Stats().Subscriptions != 1 || len(keys) != 1 || keys[0] != key(testTopic, "https://a.example/") {
		t.Errorf("after NewHub: %d subscriptions, stored %q; want the live one alone", h2.Stats().Subscriptions, keys)
	}
}

// TestHubDeniesGoneTopics: a subscription whose topic is no longer one of
// our feeds stays through TopicGrace (a topic back within it changes
// nothing), then the hub denies it (WebSub 5.2): its callback gets
// hub.mode=denied with the topic and a reason, and it is deleted from
// memory and store.
func TestHubDeniesGoneTopics(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var gone atomic.Bool
	isTopic := func(u string) bool { return u == testTopic && !gone.Load() }
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{IsTopic: isTopic, TopicGrace: 24 * time.Hour})
	cb := newCallback(t)
	subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/cb?x=1"))
	waitVerified(t, cb)
	eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == 1 })
	sweepAfter := func(d time.Duration) {
		clock.Advance(d)
		h.sweep(t.Context())
	}

	gone.Store(true)
	sweepAfter(time.Minute) // seen gone
	sweepAfter(23 * time.Hour)
	gone.Store(false) // put right within the grace
	sweepAfter(time.Minute)
	gone.Store(true)
	sweepAfter(time.Minute) // seen gone again: the grace starts again
	sweepAfter(23 * time.Hour)
	if st := h.Stats(); st.Subscriptions != 1 || st.Denied != 0 || len(cb.verified) != 0 {
		t.Fatalf("within the grace: %+v, %d requests to the callback", st, len(cb.verified))
	}
	sweepAfter(time.Hour)
	q := waitVerified(t, cb)
	if q.Get("hub.mode") != "denied" || q.Get("hub.topic") != testTopic || q.Get("hub.reason") == "" || q.Get("x") != "1" {
		t.Errorf("denial %v", q)
	}
	if st, keys := h.Stats(), storedSubs(t, h); st.Subscriptions != 0 || st.Denied != 1 || len(keys) != 0 {
		t.Errorf("after the grace: %+v, stored %q", st, keys)
	}
}

// TestHubBoundsCountVerifications: a subscription being verified counts
// toward each bound, so that concurrent requests, with the bound at 1,
// end as one subscription.
func TestHubBoundsCountVerifications(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts HubOptions
	}{
		{"MaxSubscriptions", HubOptions{MaxSubscriptions: 1}},
		{"MaxPerCallbackHost", HubOptions{MaxPerCallbackHost: 1}},
		{"MaxPerClient", HubOptions{MaxPerClient: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, tt.opts)
			cb := newCallback(t)
			cb.hold = 100 * time.Millisecond
			var wg sync.WaitGroup
			codes := make([]int, 20)
			for i := range codes {
				wg.Go(func() {
					codes[i] = subscribe(t, srv.URL, subForm("subscribe", testTopic, fmt.Sprintf("%s/cb%d", cb.URL, i)))
				})
			}
			wg.Wait()
			accepted := 0
			for _, c := range codes {
				if c == http.StatusAccepted {
					accepted++
				}
			}
			eventually(t, "verifications done", func() bool { st := h.Stats(); return st.Verified+st.Unverified == uint64(accepted) })
			if n := h.Stats().Subscriptions; accepted != 1 || n != 1 {
				t.Errorf("codes %v: %d accepted, %d subscriptions; want 1", codes, accepted, n)
			}
		})
	}
}

// TestHubClientIsIPv6Slash64: the addresses of one IPv6 /64 are one
// client, for its rate and its subscriptions; another /64 is another.
func TestHubClientIsIPv6Slash64(t *testing.T) {
	t.Parallel()
	h, _ := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{MaxPerClient: 2, ClientRate: 5})
	cb := newCallback(t)
	var codes []int
	for i := range 8 {
		codes = append(codes, serveAs(h, fmt.Sprintf("[2001:db8:1:2:%x::1]:4000", i+1), subForm("subscribe", testTopic, fmt.Sprintf("%s/cb%d", cb.URL, i))))
	}
	if want := []int{202, 202, 403, 403, 403, 429, 429, 429}; !equalInts(codes, want) {
		t.Errorf("one /64: codes %v, want %v", codes, want)
	}
	if code := serveAs(h, "[2001:db8:1:3::1]:4000", subForm("subscribe", testTopic, cb.URL+"/other")); code != http.StatusAccepted {
		t.Errorf("another /64: %d, want 202", code)
	}
	if code := serveAs(h, "[::ffff:192.0.2.7]:4000", subForm("subscribe", testTopic, cb.URL+"/v4")); code != http.StatusAccepted {
		t.Errorf("an IPv4-mapped client: %d, want 202", code)
	}
	if code := serveAs(h, "192.0.2.7:4000", subForm("subscribe", testTopic, cb.URL+"/v4b")); code != http.StatusAccepted {
		t.Errorf("the same IPv4 client: %d, want 202", code)
	}
	if code := serveAs(h, "192.0.2.7:4001", subForm("subscribe", testTopic, cb.URL+"/v4c")); code != http.StatusForbidden {
		t.Errorf("its third: %d, want 403", code)
	}
}

// TestHubCallbackSites: the per-host bound counts a callback's site, the
// same whatever the case, trailing dot, IPv4-mapped form or subdomain;
// numeric hosts in any form but the usual four numbers are refused.
func TestHubCallbackSites(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{MaxPerCallbackHost: 1})
	cb := newCallback(t)
	_, port, _ := net.SplitHostPort(cb.Listener.Addr().String())
	for _, tt := range []struct {
		host string
		code int
	}{
		{"127.0.0.1", 202},
		{"[::ffff:127.0.0.1]", 403},
		{"[::ffff:7f00:1]", 403},
		{"127.000.000.001", 400},
		{"2130706433", 400},
		{"0x7f.1", 400},
		{"127.1", 400},
		{"localhost", 202}, // another name: telling would take resolving it
		{"LOCALHOST", 403},
		{"localhost.", 403},
	} {
		if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, "http://"+tt.host+":"+port+"/cb")); code != tt.code {
			t.Errorf("%s: %d, want %d", tt.host, code, tt.code)
		}
	}
	eventually(t, "verified", func() bool { return h.Stats().Subscriptions == 2 })

	for _, tt := range []struct{ callback, site string }{
		{"https://a.example.com/cb", "example.com"},
		{"https://B.Example.COM./cb", "example.com"},
		{"https://a.b.example.co.uk/cb", "example.co.uk"},
		{"https://alice.github.io/cb", "alice.github.io"},
		{"https://bob.github.io/cb", "bob.github.io"},
		{"https://[2001:db8:1:2::5]:8443/cb", "2001:db8:1:2::/64"},
		{"https://[2001:db8:1:2:aaaa::9]/cb", "2001:db8:1:2::/64"},
		{"https://[::ffff:192.0.2.1]/cb", "192.0.2.1"},
		{"https://localhost./cb", "localhost"},
	} {
		if got := siteOf(tt.callback); got != tt.site {
			t.Errorf("siteOf(%s) = %q, want %q", tt.callback, got, tt.site)
		}
	}
}

// TestHubRatesBounded: the clients' buckets are bounded by two
// generations of maxClients, whatever the number of clients, and a client
// seen within a generation keeps its empty bucket.
func TestHubRatesBounded(t *testing.T) {
	t.Parallel()
	h, err := NewHub(t.Context(), openStore(t, filepath.Join(t.TempDir(), "hub.db")), HubOptions{ClientRate: 1, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.allow("keep") || h.allow("keep") {
		t.Fatal("a rate of 1: want one request, then none")
	}
	for i := range 5 * maxClients / 2 {
		h.allow(fmt.Sprint("c", i))
		if i%(maxClients/2) == 0 && h.allow("keep") {
			t.Fatalf("after %d others, a client with an empty bucket has a token", i)
		}
	}
	if n := len(h.rates.cur) + len(h.rates.old); n > 2*maxClients {
		t.Errorf("%d buckets kept, want at most %d", n, 2*maxClients)
	}
}

// slowServer is a callback server that holds each request until release
// is closed or the request ends.
func slowServer(t *testing.T, listen string) (*httptest.Server, chan struct{}) {
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	if listen != "" {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", listen, err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		srv.Close()
	})
	return srv, release
}

// TestHubVerificationSlots: slow callbacks of one client hold at most
// maxVerifyingPerClient verifications, and those on one site at most
// maxVerifyingPerSite: another client with a callback elsewhere is
// verified meanwhile; VerifyTimeout ends a verification the callback
// holds.
func TestHubVerificationSlots(t *testing.T) {
	t.Parallel()
	h, _ := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{ClientRate: 1000, VerifyTimeout: time.Minute})
	slow, release := slowServer(t, "")
	var codes []int
	for i := range maxVerifyingPerClient + 2 {
		codes = append(codes, serveAs(h, "192.0.2.1:1000", subForm("subscribe", testTopic, fmt.Sprintf("%s/x%d", slow.URL, i))))
	}
	want := make([]int, maxVerifyingPerClient+2)
	for i := range want {
		want[i] = http.StatusAccepted
		if i >= maxVerifyingPerClient {
			want[i] = http.StatusServiceUnavailable
		}
	}
	if !equalInts(codes, want) {
		t.Errorf("one client's slow callbacks: %v, want %v", codes, want)
	}
	// Another client, the same slow site: its slots are taken.
	if code := serveAs(h, "198.51.100.1:1000", subForm("subscribe", testTopic, slow.URL+"/y")); code != http.StatusServiceUnavailable {
		t.Errorf("another client on the slow site: %d, want 503", code)
	}
	// Another client, another site: verified while the slow ones wait.
	cb := newCallback(t)
	_, port, _ := net.SplitHostPort(cb.Listener.Addr().String())
	if code := serveAs(h, "198.51.100.1:1000", subForm("subscribe", testTopic, "http://localhost:"+port+"/legit")); code != http.StatusAccepted {
		t.Errorf("another client and site: %d, want 202", code)
	}
	waitVerified(t, cb)
	eventually(t, "the other verified", func() bool { return h.Stats().Subscriptions == 1 })
	close(release)
	eventually(t, "slow ones done", func() bool { return h.Stats().Unverified == maxVerifyingPerClient })

	// A callback that holds the request past VerifyTimeout.
	h2, _ := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{VerifyTimeout: 50 * time.Millisecond})
	slow2, _ := slowServer(t, "")
	if code := serveAs(h2, "192.0.2.1:1000", subForm("subscribe", testTopic, slow2.URL+"/z")); code != http.StatusAccepted {
		t.Fatalf("subscribe: %d", code)
	}
	eventually(t, "timed out", func() bool { return h2.Stats().Unverified == 1 })
}

// TestHubDeliverySlotsFair: callback sites whose last delivery failed
// (here, held past DeliverTimeout) get a slot only after every site in
// good standing that waits: with one slot, 4 slow sites and 8 good ones,
// the 8 get the next version before any slow one is tried again.
func TestHubDeliverySlotsFair(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{Concurrency: 1, DeliverTimeout: 100 * time.Millisecond})
	var mu sync.Mutex
	var order []string // "good" or "slow", as the v2 deliveries come
	record := func(kind string, r *http.Request) {
		if r.Method == http.MethodPost {
			if b, _ := io.ReadAll(r.Body); string(b) == "v2" {
				mu.Lock()
				order = append(order, kind)
				mu.Unlock()
			}
		}
	}
	serve := func(addr, kind string, hold bool) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				w.Write([]byte(r.URL.Query().Get("hub.challenge")))
				return
			}
			record(kind, r)
			if hold {
				<-r.Context().Done()
			}
		}))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		srv.Listener.Close()
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	n := 0
	for i := range 12 {
		kind, hold := "good", false
		if i%3 == 0 {
			kind, hold = "slow", true
		}
		u := serve(fmt.Sprintf("127.0.0.%d:0", i+2), kind, hold)
		if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, u+"/cb")); code != http.StatusAccepted {
			t.Fatalf("subscribe %s: %d", u, code)
		}
		n++
		eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == n })
	}
	h.Publish(content("v1"))
	eventually(t, "v1 sent", func() bool { st := h.Stats(); return st.Deliveries == 8 && st.Failures == 4 })
	h.Publish(content("v2"))
	eventually(t, "v2 sent", func() bool { st := h.Stats(); return st.Deliveries == 16 && st.Failures == 8 })
	mu.Lock()
	defer mu.Unlock()
	if want := "good good good good good good good good slow slow slow slow"; strings.Join(order, " ") != want {
		t.Errorf("v2 came to %v, want the 8 good sites first", order)
	}
}

// TestHubLogsUnverifiedQuietly: anyone can have the hub verify a callback
// that fails: that is logged at Debug, with the callback cut short, never
// above.
func TestHubLogsUnverifiedQuietly(t *testing.T) {
	t.Parallel()
	logs := &logRecorder{}
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{Logger: slog.New(logs)})
	cb := newCallback(t)
	cb.verify = func(url.Values) (int, string) { return 404, "" }
	long := cb.URL + "/" + strings.Repeat("é", 900)
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, long)); code != http.StatusAccepted {
		t.Fatalf("subscribe: %d", code)
	}
	eventually(t, "refused", func() bool { return h.Stats().Unverified == 1 })
	if above := logs.atLeast(slog.LevelInfo); len(above) != 0 {
		t.Errorf("logged at Info or above: %+v", above)
	}
	recs := logs.find("websub intent not verified")
	if len(recs) != 1 || recs[0].level != slog.LevelDebug {
		t.Fatalf("records %+v, want one at Debug", recs)
	}
	if c := recs[0].attrs["callback"]; len(c) > maxLoggedURL+len("…") || !strings.HasPrefix(c, cb.URL) || !strings.HasSuffix(c, "…") {
		t.Errorf("callback logged as %q (%d bytes)", c, len(c))
	}
}
