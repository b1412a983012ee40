package websub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/planetgo/aggregator"
)

// statusRecorder keeps the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// answer is what the subscriber answered one request.
type answer struct {
	code       int
	retryAfter string
}

// recordingCallbacks serves s's callbacks at a server of its own that
// sends what each request was answered on the returned channel, as the
// handler returns (a push rejected before its body is read is answered
// while its hub still sends).
func recordingCallbacks(t *testing.T, s *Subscriber) (*httptest.Server, <-chan answer) {
	answers := make(chan answer, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		s.ServeHTTP(rec, r)
		answers <- answer{rec.code, w.Header().Get("Retry-After")}
	}))
	t.Cleanup(srv.Close)
	return srv, answers
}

// heldPushes sends pushes whose bodies (zeros, shared) are sent whole,
// then held open until release is closed, so that a push the subscriber
// reads is in flight meanwhile.
type heldPushes struct {
	zeros   []byte
	release chan struct{}
	sent    sync.WaitGroup // bodies sent whole, or refused
	done    sync.WaitGroup
}

func newHeldPushes(size int) *heldPushes {
	return &heldPushes{zeros: make([]byte, size), release: make(chan struct{})}
}

// push sends one to callback, signed with sig, of unknown length
// (chunked) unless length >= 0.
func (h *heldPushes) push(callback, sig string, length int64) {
	pr, pw := io.Pipe()
	h.sent.Add(1)
	h.done.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, callback, pr)
		req.ContentLength = length
		req.Header.Set(SignatureHeader, sig)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		pr.CloseWithError(errors.New("answered"))
	})
	h.done.Go(func() {
		_, err := pw.Write(h.zeros)
		h.sent.Done()
		if err != nil {
			return
		}
		<-h.release
		pw.Close()
	})
}

// wellFormedBadSignature is a signature of the right method and length
// that no body has under our secrets.
var wellFormedBadSignature = "sha256=" + strings.Repeat("00", 32)

// TestSubscriberBoundsPushesInFlight: the pushes being read take bounded
// memory, whatever hubs send at once: pushesPerToken at once to one
// callback (429 beyond), pushBudget × MaxBytes for all (503 beyond),
// with Retry-After; a push with a malformed signature, or a
// Content-Length over MaxBytes, is answered before its body is read.
// 24 pushes of 4 MiB held open at one callback took the heap from 2 to
// 191 MiB before. Not parallel: it measures the heap.
func TestSubscriberBoundsPushesInFlight(t *testing.T) {
	const max = 4 << 20
	clock := newClock()
	hub := newFakeSourceHub(t)
	in := newIngested()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, in, SubscriberOptions{MaxBytes: max})
	others := []aggregator.Source{{Name: "b2", URL: "https://b2.example/feed"}, {Name: "b3", URL: "https://b3.example/feed"}}
	s.Configure(append([]aggregator.Source{blogSource}, others...))
	forms := []url.Values{subscribed(t, s, hub, "")}
	for _, src := range others {
		forms = append(forms, subscribedAs(t, s, hub, src, src.URL, ""))
	}
	srv, answers := recordingCallbacks(t, s)
	callback := func(form url.Values) string {
		u, _ := url.Parse(form.Get("hub.callback"))
		return srv.URL + u.Path
	}
	reading := func() int64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.reading
	}
	expect := func(n, code int, what string) {
		t.Helper()
		for range n {
			a := within(t, answers, what)
			if a.code != code || a.retryAfter == "" {
				t.Errorf("%s: answered %d, Retry-After %q; want %d with Retry-After", what, a.code, a.retryAfter, code)
			}
		}
	}

	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	held := newHeldPushes(max - 1)
	const n = 24
	for range n {
		held.push(callback(forms[0]), wellFormedBadSignature, -1)
	}
	expect(n-pushesPerToken, http.StatusTooManyRequests, "answer to a push beyond the callback's bound")
	held.sent.Wait()
	runtime.GC()
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d pushes of %d MiB held open at one callback: heap in use %d MiB -> %d MiB", n, max>>20, before.HeapInuse>>20, during.HeapInuse>>20)
	if limit := int64(pushesPerToken*2*max + 16<<20); grew > limit {
		t.Errorf("the heap grew by %d MiB, want at most %d MiB", grew>>20, limit>>20)
	}
	if got := reading(); got != pushesPerToken*max {
		t.Errorf("bytes being read %d, want %d", got, pushesPerToken*max)
	}

	// Two more at each other callback: the budget of all takes two.
	for _, form := range forms[1:] {
		held.push(callback(form), wellFormedBadSignature, -1)
		held.push(callback(form), wellFormedBadSignature, -1)
	}
	expect(2, http.StatusServiceUnavailable, "answer to a push beyond the budget")
	held.sent.Wait()
	if got := reading(); got != pushBudget*max {
		t.Errorf("bytes being read %d, want the budget, %d", got, pushBudget*max)
	}

	// Answered without reading a byte, while all are held.
	held.push(callback(forms[1]), "sha256=00", -1)
	if a := within(t, answers, "answer to a malformed signature"); a.code != http.StatusAccepted {
		t.Errorf("malformed signature: %d, want 202", a.code)
	}
	held.push(callback(forms[1]), wellFormedBadSignature, max+1)
	if a := within(t, answers, "answer to a push too large"); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("Content-Length over MaxBytes: %d, want 413", a.code)
	}

	close(held.release)
	held.done.Wait()
	for range pushBudget {
		if a := within(t, answers, "answer to a push read"); a.code != http.StatusAccepted {
			t.Errorf("a push read whole with a bad signature: %d, want 202", a.code)
		}
	}
	if got := reading(); got != 0 {
		t.Errorf("bytes being read after all were answered: %d", got)
	}
	// The bounds free again: a signed push of a known length is taken.
	pushAll(t, forms[0], "<feed>after</feed>")
	if got := in.next(t); got != "<feed>after</feed>" {
		t.Errorf("ingested %q", got)
	}
	in.none(t)
}

// getStatus sends a GET to u and returns its answer.
func getStatus(t *testing.T, u string) answer {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header.Get("Retry-After")}
}

// storedSub is the record of source's subscription in s's store.
func storedSub(t *testing.T, s *Subscriber, source string) (ourSub, []byte) {
	t.Helper()
	recs, err := s.store.Records(context.Background(), subscriberRecords)
	if err != nil {
		t.Fatal(err)
	}
	var sub ourSub
	if err := json.Unmarshal(recs[source], &sub); err != nil {
		t.Fatalf("record of %s: %v", source, err)
	}
	return sub, recs[source]
}

// TestSubscriberDenials: a denial (hub.mode=denied) is taken while a
// request is pending or the subscription is live, once: another changes
// nothing, is not stored, and is answered 404; its reason is kept short
// and printable; a denial of a live subscription sends the source back
// to its schedule.
func TestSubscriberDenials(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	var lapsed atomic.Int32
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{
		Lapsed: func(aggregator.Source) { lapsed.Add(1) },
	})
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	form := hub.next(t)
	if code := deny(t, form, strings.Repeat("R", 50_000)); code != 200 {
		t.Fatalf("denial of a pending request: %d", code)
	}
	st := s.Status("blog")
	if !strings.Contains(st, "denied by") || len(st) > 400 {
		t.Errorf("status after a long reason: %d bytes, %.80q", len(st), st)
	}
	stored, before := storedSub(t, s, "blog")
	if stored.State != stateDenied || len(stored.Error) > maxReason {
		t.Errorf("stored %s with a reason of %d bytes", stored.State, len(stored.Error))
	}
	for range 5 {
		if code := deny(t, form, "again"); code != http.StatusNotFound {
			t.Errorf("a denial of a denied subscription: %d, want 404", code)
		}
	}
	if _, after := storedSub(t, s, "blog"); string(after) != string(before) {
		t.Errorf("denials of a denied subscription changed its record:\n%s\nwas\n%s", after, before)
	}
	if lapsed.Load() != 0 {
		t.Errorf("Lapsed called %d times for a subscription never live", lapsed.Load())
	}

	// Asked again after the backoff, verified, then denied: the hub
	// ended it (WebSub 5.2).
	clock.Advance(time.Minute)
	s.Tick(t.Context())
	hub.next(t)
	if code, _ := verifyAs(t, form, "subscribe", blogTopic, "c", ""); code != 200 || !s.Subscribed("blog") {
		t.Fatalf("verification: %d, %q", code, s.Status("blog"))
	}
	if code := deny(t, form, "bye\x00\n\xff"); code != 200 {
		t.Fatalf("denial of a live subscription: %d", code)
	}
	if s.Subscribed("blog") || !strings.HasSuffix(s.Status("blog"), ": bye  \uFFFD; polling on schedule") || lapsed.Load() != 1 {
		t.Errorf("after the denial of a live subscription: %q, Lapsed called %d times", s.Status("blog"), lapsed.Load())
	}
}

// TestCleanReason: a denial's reason is kept as valid UTF-8 without
// control characters, cut at a character to at most maxReason bytes.
func TestCleanReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "not allowed", "not allowed"},
		{"controls", "a\x00b\r\nc\x1b[31m", "a b  c [31m"},
		{"invalid", "a\xff\xfeb", "a\uFFFDb"},
	} {
		if got := cleanReason(tt.in); got != tt.want {
			t.Errorf("%s: cleanReason(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
	long := cleanReason(strings.Repeat("é", 500))
	if len(long) > maxReason || !utf8.ValidString(long) || !strings.HasSuffix(long, "é…") {
		t.Errorf("a long reason kept as %d bytes, valid %v: %q", len(long), utf8.ValidString(long), long[len(long)-8:])
	}
}

// TestSubscriberBoundsVerifications: a callback answers verifiesPerMinute
// verification requests a minute; more get 429 with Retry-After, until
// the next minute.
func TestSubscriberBoundsVerifications(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	form := subscribed(t, s, hub, "")
	clock.Advance(time.Minute)
	u, _ := url.Parse(form.Get("hub.callback"))
	u.RawQuery = url.Values{"hub.mode": {"bogus"}, "hub.topic": {blogTopic}}.Encode()
	for i := range verifiesPerMinute {
		if a := getStatus(t, u.String()); a.code != http.StatusNotFound {
			t.Fatalf("verification %d: %d, want 404", i+1, a.code)
		}
	}
	if a := getStatus(t, u.String()); a.code != http.StatusTooManyRequests || a.retryAfter == "" {
		t.Errorf("verification %d in a minute: %d, Retry-After %q; want 429 with Retry-After", verifiesPerMinute+1, a.code, a.retryAfter)
	}
	if !s.Subscribed("blog") {
		t.Errorf("a flood of verifications changed the subscription: %q", s.Status("blog"))
	}
	clock.Advance(time.Minute)
	if a := getStatus(t, u.String()); a.code != http.StatusNotFound {
		t.Errorf("the next minute: %d, want 404", a.code)
	}
}

// TestSubscriberLeaseBounds: the lease a hub grants is taken within
// leaseMin and leaseMaxFactor × the one asked for: one that overflows
// time.Duration is the longest, one of a second the shortest; a short
// lease is renewed when half of it has run, not back to back.
func TestSubscriberLeaseBounds(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{Lease: 10 * 24 * time.Hour})
	subscribed(t, s, hub, "9223372037")
	if want := clock.Now().Add(40 * 24 * time.Hour).Format(time.RFC3339); !strings.Contains(s.Status("blog"), "until "+want) {
		t.Errorf("an overflowing lease: %q, want until %s", s.Status("blog"), want)
	}

	// Another topic: a new subscription, granted a second.
	s.Discovered(blogSource, []string{hub.URL}, blogTopic+"?2", blogSource.URL)
	form := hub.next(t)
	if code, _ := verifyAs(t, form, "subscribe", blogTopic+"?2", "c", "1"); code != 200 {
		t.Fatalf("verification: %d", code)
	}
	if want := clock.Now().Add(time.Minute).Format(time.RFC3339); !s.Subscribed("blog") || !strings.Contains(s.Status("blog"), "until "+want) {
		t.Errorf("a lease of a second: %q, want until %s", s.Status("blog"), want)
	}
	s.Tick(t.Context())
	clock.Advance(29 * time.Second)
	s.Tick(t.Context())
	hub.none(t)
	clock.Advance(time.Second)
	s.Tick(t.Context())
	if renewal := hub.next(t); renewal.Get("hub.mode") != "subscribe" || renewal.Get("hub.callback") != form.Get("hub.callback") {
		t.Errorf("renewal %v", renewal)
	}
}
