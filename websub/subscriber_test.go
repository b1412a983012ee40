package websub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// fakeSourceHub is a source's hub, over https (the topics of the tests
// are https: a plain http hub would not get their secret), that records
// the requests it gets and answers them with code (202 unless set).
type fakeSourceHub struct {
	*httptest.Server
	mu    sync.Mutex
	code  int
	forms chan url.Values
}

func newFakeSourceHub(t *testing.T) *fakeSourceHub { return newFakeSourceHubOver(t, true) }

// newFakeSourceHubOver is a fakeSourceHub over https if tls, else over
// plain http.
func newFakeSourceHubOver(t *testing.T, tls bool) *fakeSourceHub {
	h := &fakeSourceHub{code: http.StatusAccepted, forms: make(chan url.Values, 100)}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		h.mu.Lock()
		code := h.code
		h.mu.Unlock()
		w.WriteHeader(code)
		h.forms <- r.PostForm
	})
	if tls {
		h.Server = httptest.NewTLSServer(handler)
	} else {
		h.Server = httptest.NewServer(handler)
	}
	t.Cleanup(h.Close)
	return h
}

func (h *fakeSourceHub) next(t *testing.T) url.Values {
	t.Helper()
	return within(t, h.forms, "request at the source's hub")
}

func (h *fakeSourceHub) none(t *testing.T) {
	t.Helper()
	select {
	case f := <-h.forms:
		t.Errorf("unexpected request to the hub: %v", f)
	case <-time.After(50 * time.Millisecond):
	}
}

// ingested records what the subscriber stored. Each call is announced on
// started; hold, if set, keeps it waiting until the test sends on hold
// (one call) or closes it (all); then, if set, is what the body is
// handed to next (a real poller).
type ingested struct {
	mu      sync.Mutex
	bodies  []string
	calls   chan string
	started chan string
	hold    chan struct{}
	then    IngestFunc
}

func newIngested() *ingested {
	return &ingested{calls: make(chan string, 1000), started: make(chan string, 1000)}
}

func (in *ingested) ingest(ctx context.Context, src aggregator.Source, body []byte, contentType string) error {
	in.started <- string(body)
	if in.hold != nil {
		select {
		case <-in.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var err error
	if in.then != nil {
		err = in.then(ctx, src, body, contentType)
	}
	in.mu.Lock()
	in.bodies = append(in.bodies, src.Name+":"+string(body))
	in.mu.Unlock()
	in.calls <- string(body)
	return err
}

// begun waits for the ingest of the next body to start, and returns it.
func (in *ingested) begun(t *testing.T) string {
	t.Helper()
	return within(t, in.started, "ingest's start")
}

func (in *ingested) next(t *testing.T) string {
	t.Helper()
	return within(t, in.calls, "ingest")
}

func (in *ingested) none(t *testing.T) {
	t.Helper()
	select {
	case b := <-in.calls:
		t.Errorf("ingested %q, want nothing", b)
	case <-time.After(50 * time.Millisecond):
	}
}

var blogSource = aggregator.Source{Name: "blog", URL: "https://blog.example/feed"}

// testSubscriber is a running subscriber over the store at path, with
// its callbacks served at the returned server's URL (its base URL).
func testSubscriber(t *testing.T, path string, clock *fakeClock, in *ingested, opts SubscriberOptions) (*Subscriber, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	opts.BaseURL = srv.URL
	opts.Now = clock.Now
	opts.Client = NewGuardedClient(GuardOptions{AllowPrivate: true, Transport: trustTestTLS()})
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1000
	}
	if opts.IngestInterval == 0 {
		opts.IngestInterval = time.Nanosecond
	}
	store, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSubscriber(t.Context(), store, in.ingest, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(CallbackPath, s)
	s.Configure([]aggregator.Source{blogSource})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { srv.Close(); cancel(); <-done; store.Close() })
	eventually(t, "subscriber running", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ctx != nil
	})
	return s, srv
}

// trustTestTLS returns a transport that trusts the certificate of
// httptest's TLS servers (one for all of them).
func trustTestTLS() *http.Transport {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	return srv.Client().Transport.(*http.Transport).Clone()
}

// verifyAs sends the verification a hub would for form's request, and
// returns the status and body of the answer.
func verifyAs(t *testing.T, form url.Values, mode, topic, challenge, lease string) (int, string) {
	t.Helper()
	u, _ := url.Parse(form.Get("hub.callback"))
	q := url.Values{"hub.mode": {mode}, "hub.topic": {topic}, "hub.challenge": {challenge}}
	if lease != "" {
		q.Set("hub.lease_seconds", lease)
	}
	u.RawQuery = q.Encode()
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// push sends body to callback as a hub would, signed with sig ("" for
// none), and returns the status.
func push(t *testing.T, callback, sig, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, callback, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/atom+xml")
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const blogTopic = "https://blog.example/feed.atom"

// subscribed runs a subscription of blog at hub through its verification.
func subscribed(t *testing.T, s *Subscriber, hub *fakeSourceHub, lease string) url.Values {
	t.Helper()
	return subscribedAs(t, s, hub, blogSource, blogTopic, lease)
}

// subscribedAs runs a subscription of src (configured) to topic at hub
// through its verification.
func subscribedAs(t *testing.T, s *Subscriber, hub *fakeSourceHub, src aggregator.Source, topic, lease string) url.Values {
	t.Helper()
	s.Discovered(src, []string{hub.URL}, topic, src.URL)
	form := hub.next(t)
	if code, body := verifyAs(t, form, "subscribe", topic, "chal-1", lease); code != 200 || body != "chal-1" {
		t.Fatalf("verification answered %d %q", code, body)
	}
	if !s.Subscribed(src.Name) {
		t.Fatalf("not subscribed after verification: %s", s.Status(src.Name))
	}
	return form
}

// TestSubscriberSubscribesAndVerifies is websub.rocks subscriber tests
// 100-105 at their end: a discovered hub gets a subscription request for
// the topic (self) with a callback under our base URL, an unguessable
// token and secret; the verification is answered for that topic and
// mode only.
func TestSubscriberSubscribesAndVerifies(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	s, srv := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	s.Discovered(blogSource, []string{hub.URL, "https://second.example/"}, blogTopic, blogSource.URL)
	form := hub.next(t)
	cb := form.Get("hub.callback")
	token := strings.TrimPrefix(cb, srv.URL+CallbackPath)
	if form.Get("hub.mode") != "subscribe" || form.Get("hub.topic") != blogTopic || !strings.HasPrefix(cb, srv.URL+CallbackPath) ||
		len(token) < 32 || len(form.Get("hub.secret")) < 32 || form.Get("hub.lease_seconds") != "864000" {
		t.Fatalf("request %v", form)
	}
	if s.Subscribed("blog") || !strings.Contains(s.Status("blog"), "requested") {
		t.Errorf("before verification: %v, %q", s.Subscribed("blog"), s.Status("blog"))
	}
	for _, tt := range []struct{ mode, topic string }{
		{"subscribe", "https://blog.example/other"},
		{"unsubscribe", blogTopic},
		{"bogus", blogTopic},
	} {
		if code, body := verifyAs(t, form, tt.mode, tt.topic, "c", ""); code != http.StatusNotFound || body == "c" {
			t.Errorf("verification of %s %s answered %d %q, want 404", tt.mode, tt.topic, code, body)
		}
	}
	bad := url.Values{"hub.callback": {srv.URL + CallbackPath + "guessed"}}
	if code, _ := verifyAs(t, bad, "subscribe", blogTopic, "c", ""); code != http.StatusGone {
		t.Errorf("verification at a guessed token: %d, want 410", code)
	}
	if code, body := verifyAs(t, form, "subscribe", blogTopic, "the-challenge", "3600"); code != 200 || body != "the-challenge" {
		t.Fatalf("verification answered %d %q", code, body)
	}
	if !s.Subscribed("blog") || !strings.Contains(s.Status("blog"), "until 2026-03-01T13:00:00Z") {
		t.Errorf("after verification: %v, %q", s.Subscribed("blog"), s.Status("blog"))
	}
	// Discovering the same hub and topic again asks nothing.
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	hub.none(t)
}

// TestSubscriberSignatures is websub.rocks subscriber tests 200-205: a push
// is taken with a valid signature (sha1, sha256, sha384, sha512 of the
// subscription's secret), and dropped (still 202) with a wrong secret, a
// signature of another body, or none; a body over MaxBytes is 413; a
// push to an unknown callback 410.
func TestSubscriberSignatures(t *testing.T) {
	t.Parallel()
	in := newIngested()
	s, srv := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{})
	hub := newFakeSourceHub(t)
	form := subscribed(t, s, hub, "")
	cb, secret := form.Get("hub.callback"), form.Get("hub.secret")
	for _, method := range []string{"sha1", "sha256", "sha384", "sha512"} {
		body := "<feed>" + method + "</feed>"
		if code := push(t, cb, signWith(method, secret, body), body); code != http.StatusAccepted {
			t.Errorf("%s: %d", method, code)
		}
		if got := in.next(t); got != body {
			t.Errorf("%s: ingested %q", method, got)
		}
	}
	for name, sig := range map[string]string{
		"wrong secret": Sign("not-the-secret", []byte("<feed>x</feed>")),
		"other body":   Sign(secret, []byte("<feed>y</feed>")),
		"none":         "",
		"bad method":   "md5=" + strings.TrimPrefix(Sign(secret, []byte("<feed>x</feed>")), "sha256="),
		"not hex":      "sha256=zz",
	} {
		if code := push(t, cb, sig, "<feed>x</feed>"); code != http.StatusAccepted {
			t.Errorf("%s: %d, want 202", name, code)
		}
	}
	in.none(t)
	big := strings.Repeat("x", 1001)
	if code := push(t, cb, Sign(secret, []byte(big)), big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d, want 413", code)
	}
	if code := push(t, srv.URL+CallbackPath+"guessed", Sign(secret, []byte("x")), "x"); code != http.StatusGone {
		t.Errorf("unknown callback: %d, want 410", code)
	}
	in.none(t)
	if st := s.Stats(); st.Pushes != 4 || st.Rejected != 7 {
		t.Errorf("stats %+v, want 4 pushes and 7 rejected", st)
	}
}

// signWith signs body with an HMAC of method, as hubs other than ours may.
func signWith(method, secret, body string) string {
	if method == "sha256" {
		return Sign(secret, []byte(body))
	}
	return method + "=" + hmacHex(method, secret, body)
}

// TestSubscriberRenewsAndLapses: on a fake clock, a lease is renewed when
// a tenth of it is left, not before; a renewal the hub never verifies
// lets the lease lapse, which sends the source back to its schedule
// (Lapsed) and says so in its status, and subscribing starts again.
func TestSubscriberRenewsAndLapses(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var lapsedMu sync.Mutex
	var lapsed []string
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{
		VerifyWithin: 30 * time.Minute,
		Lapsed: func(src aggregator.Source) {
			lapsedMu.Lock()
			lapsed = append(lapsed, src.Name)
			lapsedMu.Unlock()
		},
	})
	hub := newFakeSourceHub(t)
	form := subscribed(t, s, hub, "36000") // 10 hours
	clock.Advance(8*time.Hour + 50*time.Minute)
	s.Tick(t.Context())
	hub.none(t)
	clock.Advance(12 * time.Minute)
	s.Tick(t.Context())
	renewal := hub.next(t)
	if renewal.Get("hub.mode") != "subscribe" || renewal.Get("hub.callback") != form.Get("hub.callback") || renewal.Get("hub.secret") != form.Get("hub.secret") {
		t.Errorf("renewal %v, want the same callback and secret", renewal)
	}
	if !s.Subscribed("blog") {
		t.Errorf("not subscribed while renewing")
	}
	// The renewal verified: a new lease from now.
	if code, _ := verifyAs(t, renewal, "subscribe", blogTopic, "c2", "36000"); code != 200 {
		t.Fatalf("renewal verification: %d", code)
	}
	clock.Advance(9*time.Hour + 2*time.Minute)
	s.Tick(t.Context())
	hub.next(t) // the second renewal, never verified
	clock.Advance(time.Hour)
	s.Tick(t.Context())
	if s.Subscribed("blog") || !strings.Contains(s.Status("blog"), "lapsed; polling on schedule") {
		t.Errorf("after the lease: subscribed %v, status %q", s.Subscribed("blog"), s.Status("blog"))
	}
	lapsedMu.Lock()
	if len(lapsed) != 1 || lapsed[0] != "blog" {
		t.Errorf("Lapsed called for %v, want [blog]", lapsed)
	}
	lapsedMu.Unlock()
	if again := hub.next(t); again.Get("hub.mode") != "subscribe" {
		t.Errorf("after lapsing: %v, want a new subscription request", again)
	}
}

// TestSubscriberRefusedOrDenied: a hub that refuses the request, or
// denies the subscription later, leaves the source polled on its
// schedule, says so, and is asked again after a backoff.
func TestSubscriberRefusedOrDenied(t *testing.T) {
	t.Parallel()
	clock := newClock()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	hub := newFakeSourceHub(t)
	hub.code = http.StatusForbidden
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	form := hub.next(t)
	eventually(t, "refusal recorded", func() bool { return strings.Contains(s.Status("blog"), "failed: hub answered 403") })
	s.Tick(t.Context())
	hub.none(t)
	clock.Advance(time.Minute)
	hub.mu.Lock()
	hub.code = http.StatusAccepted
	hub.mu.Unlock()
	s.Tick(t.Context())
	hub.next(t)
	if code := deny(t, form, "not allowed"); code != 200 {
		t.Fatalf("denial answered %d", code)
	}
	if s.Subscribed("blog") || !strings.Contains(s.Status("blog"), "denied by "+hub.URL+": not allowed; polling on schedule") {
		t.Errorf("after denial: %q", s.Status("blog"))
	}
}

// deny sends the denial a hub would of form's request, with reason, and
// returns the status of the answer.
func deny(t *testing.T, form url.Values, reason string) int {
	t.Helper()
	u, _ := url.Parse(form.Get("hub.callback"))
	q := url.Values{"hub.mode": {"denied"}, "hub.topic": {form.Get("hub.topic")}, "hub.reason": {reason}}
	u.RawQuery = q.Encode()
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSubscriberUnsubscribesRemovedSource: a source that left the config
// is unsubscribed at its hub; the verification of that is answered, the
// subscription forgotten, and a later push gets 410.
func TestSubscriberUnsubscribesRemovedSource(t *testing.T) {
	t.Parallel()
	in := newIngested()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{})
	hub := newFakeSourceHub(t)
	form := subscribed(t, s, hub, "")
	s.Configure([]aggregator.Source{{Name: "other", URL: "https://other.example/"}})
	un := hub.next(t)
	if un.Get("hub.mode") != "unsubscribe" || un.Get("hub.topic") != blogTopic || un.Get("hub.callback") != form.Get("hub.callback") {
		t.Errorf("unsubscribe request %v", un)
	}
	if code := push(t, form.Get("hub.callback"), Sign(form.Get("hub.secret"), []byte("x")), "x"); code != http.StatusGone {
		t.Errorf("push while unsubscribing: %d, want 410", code)
	}
	if code, body := verifyAs(t, un, "unsubscribe", blogTopic, "bye", ""); code != 200 || body != "bye" {
		t.Errorf("unsubscribe verification answered %d %q", code, body)
	}
	if s.Status("blog") != "" {
		t.Errorf("status after unsubscribing: %q", s.Status("blog"))
	}
	if code := push(t, form.Get("hub.callback"), Sign(form.Get("hub.secret"), []byte("x")), "x"); code != http.StatusGone {
		t.Errorf("push after unsubscribing: %d, want 410", code)
	}
	in.none(t)
}

// TestSubscriberKeepsSubscriptionsAcrossRestart: a subscriber opened again
// on the same database takes pushes signed with the secret the first
// one gave, at the same callback.
func TestSubscriberKeepsSubscriptionsAcrossRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub.db")
	clock := newClock()
	hub := newFakeSourceHub(t)
	s, srv := testSubscriber(t, path, clock, newIngested(), SubscriberOptions{})
	form := subscribed(t, s, hub, "")
	token := strings.TrimPrefix(form.Get("hub.callback"), srv.URL+CallbackPath)
	// The database is opened again while the first subscriber still
	// runs (its cleanup comes at the end): close its file first.
	srv.Close()
	s.store.Close()

	in := newIngested()
	s2, srv2 := testSubscriber(t, path, clock, in, SubscriberOptions{})
	if !s2.Subscribed("blog") {
		t.Fatalf("after restart: %q", s2.Status("blog"))
	}
	if code := push(t, srv2.URL+CallbackPath+token, Sign(form.Get("hub.secret"), []byte("kept")), "kept"); code != http.StatusAccepted {
		t.Fatalf("push after restart: %d", code)
	}
	if got := in.next(t); got != "kept" {
		t.Errorf("ingested %q", got)
	}
}

// TestSubscriberWithOurHub: our subscriber against our hub, each as the
// other would meet it on the network: subscription, verification,
// signed delivery, ingest.
func TestSubscriberWithOurHub(t *testing.T) {
	t.Parallel()
	clock := newClock()
	in := newIngested()
	h, plain := testHub(t, filepath.Join(t.TempDir(), "hub.db"), clock, true, HubOptions{})
	hubSrv := httptest.NewTLSServer(plain.Config.Handler)
	t.Cleanup(hubSrv.Close)
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, in, SubscriberOptions{})
	s.Discovered(blogSource, []string{hubSrv.URL}, testTopic, blogSource.URL)
	eventually(t, "subscribed", func() bool { return s.Subscribed("blog") && h.Stats().Subscriptions == 1 })
	h.Publish(content("<feed>pushed</feed>"))
	if got := in.next(t); got != "<feed>pushed</feed>" {
		t.Errorf("ingested %q", got)
	}
}
