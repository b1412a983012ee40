package websub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetgo/aggregator/storage"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T, path string) *storage.Store {
	t.Helper()
	s, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const testTopic = "https://planet.example/feed.atom"

// callback is a subscriber's callback endpoint: it answers verifications
// as verify says and deliveries with the statuses in codes (then 204),
// and records both.
type callback struct {
	*httptest.Server
	mu       sync.Mutex
	verify   func(q url.Values) (int, string) // nil echoes the challenge
	codes    []int
	checks   []url.Values
	posts    []delivery
	got      chan delivery
	verified chan url.Values
	inFlight atomic.Int32
	maxIn    atomic.Int32
	hold     time.Duration
}

type delivery struct {
	header http.Header
	body   string
}

func newCallback(t *testing.T) *callback {
	c := &callback{got: make(chan delivery, 100), verified: make(chan url.Values, 100)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for {
			m := c.maxIn.Load()
			if n <= m || c.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		if c.hold > 0 {
			time.Sleep(c.hold)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			c.checks = append(c.checks, q)
			code, body := http.StatusOK, q.Get("hub.challenge")
			if c.verify != nil {
				code, body = c.verify(q)
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
			c.verified <- q
			return
		}
		b, _ := io.ReadAll(r.Body)
		d := delivery{r.Header.Clone(), string(b)}
		c.posts = append(c.posts, d)
		code := http.StatusNoContent
		if len(c.codes) > 0 {
			code, c.codes = c.codes[0], c.codes[1:]
		}
		w.WriteHeader(code)
		c.got <- d
	}))
	t.Cleanup(c.Close)
	return c
}

// testHub is a running hub over a store at path, whose client may reach
// loopback unless private is false.
func testHub(t *testing.T, path string, clock *fakeClock, private bool, opts HubOptions) (*Hub, *httptest.Server) {
	t.Helper()
	if opts.IsTopic == nil {
		opts.IsTopic = func(u string) bool { return strings.HasPrefix(u, "https://planet.example/") }
	}
	opts.AllowHTTP = true
	opts.Now = clock.Now
	opts.Client = NewGuardedClient(GuardOptions{AllowPrivate: private, Timeout: 5 * time.Second})
	h, err := NewHub(t.Context(), openStore(t, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	waitRunning(t, h)
	return h, srv
}

func waitRunning(t *testing.T, h *Hub) {
	t.Helper()
	eventually(t, "hub running", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.ctx != nil
	})
}

// eventually waits for cond, failing the test after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// subscribe posts a subscription request and returns the status.
func subscribe(t *testing.T, hubURL string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(hubURL, form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func subForm(mode, topic, cb string, extra ...string) url.Values {
	f := url.Values{"hub.mode": {mode}, "hub.topic": {topic}, "hub.callback": {cb}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func waitVerified(t *testing.T, c *callback) url.Values {
	t.Helper()
	return within(t, c.verified, "verification at the callback")
}

func waitDelivery(t *testing.T, c *callback) delivery {
	t.Helper()
	return within(t, c.got, "delivery at the callback")
}

func noDelivery(t *testing.T, c *callback) {
	t.Helper()
	select {
	case d := <-c.got:
		t.Errorf("unexpected delivery: %q", d.body)
	case <-time.After(100 * time.Millisecond):
	}
}

func content(body string) []Content {
	return []Content{{Topic: testTopic, ContentType: "application/atom+xml; charset=utf-8", Body: []byte(body),
		Link: `<https://planet.example/websub>; rel="hub", <` + testTopic + `>; rel="self"`}}
}

// TestHubSubscribeAndDeliver is websub.rocks hub tests 100, 101 and 102:
// a subscription with a secret and another parameter in its callback's
// query is verified (the query kept, the lease within bounds), and the
// new version of the feed reaches it with its Content-Type, Link headers
// and a signature of its secret.
func TestHubSubscribeAndDeliver(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{})
	cb := newCallback(t)
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/cb?keep=1", "hub.secret", "s3cret", "hub.lease_seconds", "3600")); code != http.StatusAccepted {
		t.Fatalf("subscribe = %d, want 202", code)
	}
	q := waitVerified(t, cb)
	if q.Get("hub.mode") != "subscribe" || q.Get("hub.topic") != testTopic || q.Get("keep") != "1" || q.Get("hub.lease_seconds") != "3600" || len(q.Get("hub.challenge")) < 32 {
		t.Errorf("verification query %v", q)
	}
	eventually(t, "subscription", func() bool { return h.Stats().Subscriptions == 1 })
	h.Publish(content("<feed>v1</feed>"))
	d := waitDelivery(t, cb)
	if d.body != "<feed>v1</feed>" || d.header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Errorf("delivery %q, Content-Type %q", d.body, d.header.Get("Content-Type"))
	}
	if got := d.header.Get("Link"); !strings.Contains(got, `rel="hub"`) || !strings.Contains(got, "<"+testTopic+`>; rel="self"`) {
		t.Errorf("Link = %q", got)
	}
	if sig := d.header.Get(SignatureHeader); !Verify("s3cret", sig, []byte(d.body)) || !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("X-Hub-Signature %q does not sign the body with the secret", sig)
	}
	// Another topic's content does not reach it.
	h.Publish([]Content{{Topic: "https://planet.example/feed.rss", Body: []byte("x")}})
	noDelivery(t, cb)
}

// TestHubUnsignedWithoutSecret: a subscription without hub.secret gets
// content without a signature.
func TestHubUnsignedWithoutSecret(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{})
	cb := newCallback(t)
	subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL))
	eventually(t, "subscription", func() bool { return h.Stats().Subscriptions == 1 })
	h.Publish(content("plain"))
	if d := waitDelivery(t, cb); d.header.Get(SignatureHeader) != "" {
		t.Errorf("signature %q without a secret", d.header.Get(SignatureHeader))
	}
}

// TestHubIntentVerification: a callback that echoes a wrong challenge,
// or refuses, is not subscribed.
func TestHubIntentVerification(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		verify func(url.Values) (int, string)
	}{
		{"wrong challenge", func(q url.Values) (int, string) { return 200, "not-" + q.Get("hub.challenge") }},
		{"empty body", func(q url.Values) (int, string) { return 200, "" }},
		{"challenge with more", func(q url.Values) (int, string) { return 200, q.Get("hub.challenge") + "x" }},
		{"refused", func(q url.Values) (int, string) { return 404, q.Get("hub.challenge") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{})
			cb := newCallback(t)
			cb.verify = tt.verify
			if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL)); code != http.StatusAccepted {
				t.Fatalf("subscribe = %d", code)
			}
			waitVerified(t, cb)
			eventually(t, "verification done", func() bool { return h.Stats().Unverified == 1 })
			if n := h.Stats().Subscriptions; n != 0 {
				t.Errorf("%d subscriptions, want 0", n)
			}
		})
	}
}

// TestHubLeases: hub.lease_seconds is honoured within the bounds, the
// longest is granted when none is asked, a renewal replaces the lease and
// secret of the same subscription (websub.rocks 103), and content is not
// sent once the lease has run out.
func TestHubLeases(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{LeaseMin: time.Hour, LeaseMax: 48 * time.Hour})
	cb := newCallback(t)
	for i, tt := range []struct{ asked, granted string }{
		{"", "172800"}, {"60", "3600"}, {"7200", "7200"}, {"999999999", "172800"},
	} {
		form := subForm("subscribe", testTopic, cb.URL, "hub.secret", "secret-"+tt.asked)
		if tt.asked != "" {
			form.Set("hub.lease_seconds", tt.asked)
		}
		subscribe(t, srv.URL, form)
		if q := waitVerified(t, cb); q.Get("hub.lease_seconds") != tt.granted {
			t.Errorf("asked %q: granted %s, want %s", tt.asked, q.Get("hub.lease_seconds"), tt.granted)
		}
		// One at a time: the last verified is the one in force.
		eventually(t, "verified", func() bool { return h.Stats().Verified == uint64(i+1) })
	}
	eventually(t, "all verified", func() bool { return h.Stats().Verified == 4 })
	if n := h.Stats().Subscriptions; n != 1 {
		t.Fatalf("%d subscriptions after renewals, want 1", n)
	}
	h.Publish(content("renewed"))
	if d := waitDelivery(t, cb); !Verify("secret-999999999", d.header.Get(SignatureHeader), []byte(d.body)) {
		t.Errorf("delivery not signed with the renewal's secret")
	}
	clock.Advance(48*time.Hour + time.Second)
	h.Publish(content("too late"))
	noDelivery(t, cb)
	if st := h.Stats(); st.Subscriptions != 0 || st.Expired != 1 {
		t.Errorf("after the lease: %+v", st)
	}
}

// TestHubUnsubscribe is websub.rocks hub test 104: a verified
// unsubscription ends deliveries; one the callback does not confirm
// leaves the subscription.
func TestHubUnsubscribe(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{})
	cb := newCallback(t)
	subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL))
	waitVerified(t, cb)
	eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == 1 })

	cb.mu.Lock()
	cb.verify = func(url.Values) (int, string) { return 404, "" }
	cb.mu.Unlock()
	subscribe(t, srv.URL, subForm("unsubscribe", testTopic, cb.URL))
	if q := waitVerified(t, cb); q.Get("hub.mode") != "unsubscribe" || q.Has("hub.lease_seconds") {
		t.Errorf("unsubscribe verification %v", q)
	}
	eventually(t, "refused", func() bool { return h.Stats().Unverified == 1 })
	if h.Stats().Subscriptions != 1 {
		t.Fatalf("an unconfirmed unsubscription ended the subscription")
	}

	cb.mu.Lock()
	cb.verify = nil
	cb.mu.Unlock()
	subscribe(t, srv.URL, subForm("unsubscribe", testTopic, cb.URL))
	waitVerified(t, cb)
	eventually(t, "unsubscribed", func() bool { return h.Stats().Subscriptions == 0 })
	h.Publish(content("after"))
	noDelivery(t, cb)
}

// TestHubRetriesAndGivesUp: a failing callback is retried with backoff
// until it takes the content; one that keeps failing is dropped after
// MaxAttempts; one that answers 410 at once.
func TestHubRetriesAndGivesUp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		codes     []int
		posts     int
		delivered bool
	}{
		{"recovers", []int{500, 502}, 3, true},
		{"keeps failing", []int{500, 500, 500, 500}, 3, false},
		{"gone", []int{410}, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{MaxAttempts: 3, RetryBase: time.Minute})
			cb := newCallback(t)
			cb.codes = tt.codes
			subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL))
			eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == 1 })
			h.Publish(content("x"))
			for i := range tt.posts {
				waitDelivery(t, cb)
				if i < tt.posts-1 {
					eventually(t, "failure recorded", func() bool { return h.Stats().Failures == uint64(i+1) })
					noDelivery(t, cb) // the backoff has not passed
					clock.Advance(time.Duration(1<<i) * time.Minute)
					h.poke()
				}
			}
			eventually(t, "done", func() bool {
				st := h.Stats()
				return st.Deliveries == 1 || st.Dropped == 1
			})
			st := h.Stats()
			if tt.delivered != (st.Deliveries == 1 && st.Subscriptions == 1 && st.Pending == 0) || !tt.delivered != (st.Dropped == 1 && st.Subscriptions == 0) {
				t.Errorf("stats %+v", st)
			}
			clock.Advance(time.Hour)
			h.poke()
			noDelivery(t, cb)
		})
	}
}

// TestHubPrivateCallbacksRefused: unless allowed, no request reaches a
// callback on a loopback address, given as an address or as a name that
// resolves to one.
func TestHubPrivateCallbacksRefused(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), false, HubOptions{})
	cb := newCallback(t)
	port := cb.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	for i, u := range []string{cb.URL, "http://localhost:" + port + "/cb", "http://[::ffff:127.0.0.1]:" + port + "/cb"} {
		if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, u)); code != http.StatusAccepted {
			t.Fatalf("%s: subscribe = %d", u, code)
		}
		eventually(t, "verification failed", func() bool { return h.Stats().Unverified == uint64(i+1) })
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.checks) != 0 || h.Stats().Subscriptions != 0 {
		t.Errorf("%d requests reached the loopback callback, %d subscriptions", len(cb.checks), h.Stats().Subscriptions)
	}
}

// TestHubRefusesBadRequests: what the hub refuses at once, sending no
// request anywhere.
func TestHubRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{})
	h.opts.AllowHTTP = false
	cb := newCallback(t)
	https := "https" + strings.TrimPrefix(cb.URL, "http")
	for _, tt := range []struct {
		name string
		form url.Values
		code int
	}{
		{"not our topic", subForm("subscribe", "https://elsewhere.example/feed", https), 400},
		{"bad mode", subForm("publish", testTopic, https), 400},
		{"plain http callback", subForm("subscribe", testTopic, cb.URL), 400},
		{"relative callback", subForm("subscribe", testTopic, "/cb"), 400},
		{"callback with credentials", subForm("subscribe", testTopic, "https://u:p@example.org/cb"), 400},
		{"javascript callback", subForm("subscribe", testTopic, "javascript:alert(1)"), 400},
		{"long secret", subForm("subscribe", testTopic, https, "hub.secret", strings.Repeat("s", 200)), 400},
		{"bad lease", subForm("subscribe", testTopic, https, "hub.lease_seconds", "-5"), 400},
	} {
		if code := subscribe(t, srv.URL, tt.form); code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, code, tt.code)
		}
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", resp.StatusCode)
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.checks) != 0 {
		t.Errorf("%d requests sent for refused subscriptions", len(cb.checks))
	}
}

// TestHubClientBounds: one client's request rate and subscriptions, and
// the subscriptions on one callback host, are bounded.
func TestHubClientBounds(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{ClientRate: 5, MaxPerClient: 2, MaxPerCallbackHost: 3})
	cb := newCallback(t)
	var codes []int
	for i := range 6 {
		codes = append(codes, subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/"+strconv.Itoa(i))))
		if i < 2 {
			eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == i+1 })
		}
	}
	if want := []int{202, 202, 403, 403, 403, 429}; !equalInts(codes, want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
	clock.Advance(time.Minute)
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/0")); code != http.StatusAccepted {
		t.Errorf("a renewal after a minute: %d, want 202", code)
	}
	// Subscriptions from other clients on the same callback host count.
	h.mu.Lock()
	other := newSubscription(testTopic, cb.URL+"/x", "192.0.2.1", clock.Now())
	other.Expires = clock.Now().Add(time.Hour)
	h.subs[key(testTopic, cb.URL+"/x")] = other
	h.opts.MaxPerClient = 10
	h.mu.Unlock()
	if code := subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/y")); code != http.StatusForbidden {
		t.Errorf("a fourth on one callback host: %d, want 403", code)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHubKeepsSubscriptionsAcrossRestart: a hub opened again on the same
// database delivers to the subscriptions the first verified.
func TestHubKeepsSubscriptionsAcrossRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	clock := newClock()
	cb := newCallback(t)
	store, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHub(t.Context(), store, HubOptions{IsTopic: func(string) bool { return true }, AllowHTTP: true, Now: clock.Now,
		Client: NewGuardedClient(GuardOptions{AllowPrivate: true})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	waitRunning(t, h)
	srv := httptest.NewServer(h)
	subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL, "hub.secret", "kept"))
	eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == 1 })
	srv.Close()
	cancel()
	<-done
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	h2, _ := testHub(t, path, clock, true, HubOptions{})
	if n := h2.Stats().Subscriptions; n != 1 {
		t.Fatalf("%d subscriptions after restart, want 1", n)
	}
	h2.Publish(content("after restart"))
	if d := waitDelivery(t, cb); d.body != "after restart" || !Verify("kept", d.header.Get(SignatureHeader), []byte(d.body)) {
		t.Errorf("delivery after restart: %q", d.body)
	}
}

// TestHubBoundsRequestsPerCallbackHost: deliveries to callbacks on one
// host never run more than PerHost at once, and a newer version replaces
// one not yet sent.
func TestHubBoundsRequestsPerCallbackHost(t *testing.T) {
	t.Parallel()
	h, srv := testHub(t, filepath.Join(t.TempDir(), "hub.db"), newClock(), true, HubOptions{PerHost: 1})
	cb := newCallback(t)
	for i := range 4 {
		subscribe(t, srv.URL, subForm("subscribe", testTopic, cb.URL+"/"+strconv.Itoa(i)))
		eventually(t, "subscribed", func() bool { return h.Stats().Subscriptions == i+1 })
	}
	cb.hold = 20 * time.Millisecond
	h.Publish(content("v1"))
	h.Publish(content("v2"))
	got := map[string]int{}
	for range 4 {
		got[waitDelivery(t, cb).body]++
	}
	eventually(t, "all delivered", func() bool { return h.Stats().Pending == 0 })
	for len(cb.got) > 0 {
		got[(<-cb.got).body]++
	}
	if got["v2"] != 4 || cb.maxIn.Load() != 1 {
		t.Errorf("deliveries %v, at most %d at once; want v2 to each of 4, one at a time", got, cb.maxIn.Load())
	}
}
