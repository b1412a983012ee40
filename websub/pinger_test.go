package websub

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// recordingHub is a hub that answers the statuses given, in order, then
// 204, and records the forms it received.
type recordingHub struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	forms    []url.Values
	got      chan url.Values
	hold     chan struct{} // if not nil, each request waits for it
}

func newRecordingHub(t *testing.T, statuses ...int) *recordingHub {
	h := &recordingHub{statuses: statuses, got: make(chan url.Values, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.hold != nil {
			select {
			case <-h.hold:
			case <-r.Context().Done():
				return
			}
		}
		r.ParseForm()
		h.mu.Lock()
		h.forms = append(h.forms, r.PostForm)
		code := http.StatusNoContent
		if len(h.statuses) > 0 {
			code, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(code)
		h.got <- r.PostForm
	}))
	t.Cleanup(h.Close)
	return h
}

// runPinger runs p until the test ends.
func runPinger(t *testing.T, p *Pinger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitForm(t *testing.T, h *recordingHub) url.Values {
	t.Helper()
	return within(t, h.got, "ping at the hub")
}

// TestPingerRetriesWithBackoff: a hub that fails twice gets the ping a
// third time, the form names the feed as hub.url and hub.topic, and the
// status shows the failures and then the success.
func TestPingerRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	hub := newRecordingHub(t, 500, 503)
	p := NewPinger([]string{hub.URL}, PingerOptions{RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	runPinger(t, p)
	p.Publish([]string{"https://planet.example/feed.atom"})
	for i := range 3 {
		f := waitForm(t, hub)
		if f.Get("hub.mode") != "publish" || f.Get("hub.url") != "https://planet.example/feed.atom" || f.Get("hub.topic") != "https://planet.example/feed.atom" {
			t.Errorf("ping %d: form %v", i, f)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.Status()[0]
		if st.Pending == 0 && st.Pings == 3 {
			if st.Failures != 2 || st.ConsecutiveFailures != 0 || st.Error != "" || st.LastSuccess.IsZero() {
				t.Errorf("status %+v, want 2 failures then a success", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, want the ping done", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPingerGivesUp: a hub that always fails is tried MaxAttempts times.
func TestPingerGivesUp(t *testing.T) {
	t.Parallel()
	hub := newRecordingHub(t, 500, 500, 500, 500, 500)
	p := NewPinger([]string{hub.URL}, PingerOptions{RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, MaxAttempts: 3})
	runPinger(t, p)
	p.Publish([]string{"https://planet.example/feed.rss"})
	for range 3 {
		waitForm(t, hub)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Status()[0].GivenUp != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, want the ping given up", p.Status()[0])
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case f := <-hub.got:
		t.Errorf("a fourth ping: %v", f)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPingerSlowHubHoldsNobody: while one hub holds its request, Publish
// returns at once and the other hub is pinged.
func TestPingerSlowHubHoldsNobody(t *testing.T) {
	t.Parallel()
	slow, fast := newRecordingHub(t), newRecordingHub(t)
	slow.hold = make(chan struct{})
	p := NewPinger([]string{slow.URL, fast.URL}, PingerOptions{})
	runPinger(t, p)
	// The slow hub holds its request until the end of the test: a Publish
	// that waited for it would not return before then.
	published := make(chan struct{})
	go func() {
		p.Publish([]string{"https://planet.example/a"})
		p.Publish([]string{"https://planet.example/a", "https://planet.example/b"})
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(10 * time.Second):
		close(slow.hold) // so that the servers can close
		t.Fatal("Publish waits for the slow hub")
	}
	got := map[string]bool{}
	for range 2 {
		got[waitForm(t, fast).Get("hub.url")] = true
	}
	if !got["https://planet.example/a"] || !got["https://planet.example/b"] {
		t.Errorf("fast hub got %v", got)
	}
	if st := p.Status(); st[0].Pending != 2 || st[0].Pings != 0 {
		t.Errorf("slow hub status %+v, want 2 pending", st[0])
	}
	close(slow.hold)
	waitForm(t, slow)
	waitForm(t, slow)
}

// TestPingerDeadHubBacksOff: a hub that fails DownAfter times in a row is
// logged once at Warn and then tried once every ProbeEvery, with one ping
// of those waiting, whatever the feeds' changes; its failures are logged
// at Debug. When a probe goes through, the pings waiting go at once.
func TestPingerDeadHubBacksOff(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newRecordingHub(t, 500, 500, 500, 500) // then 204
	logs := &logRecorder{}
	p := NewPinger([]string{hub.URL}, PingerOptions{Now: clock.Now, Logger: slog.New(logs),
		RetryBase: time.Minute, RetryMax: 10 * time.Minute, DownAfter: 3, ProbeEvery: time.Hour})
	runPinger(t, p)
	const a, b, c = "https://planet.example/a", "https://planet.example/b", "https://planet.example/c"
	p.Publish([]string{a, b})
	waitForm(t, hub)
	waitForm(t, hub)
	clock.Advance(time.Minute)
	p.Publish(nil)   // wakes the worker
	waitForm(t, hub) // the third failure in a row: down
	eventually(t, "down", func() bool { return p.Status()[0].Down })
	noPing := func() {
		t.Helper()
		select {
		case f := <-hub.got:
			t.Errorf("pinged %s while down, before the probe", f.Get("hub.url"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	for range 5 { // changes come, the backoff of each ping passes
		clock.Advance(10 * time.Minute)
		p.Publish([]string{a, b, c})
	}
	noPing()
	clock.Advance(10 * time.Minute) // an hour since it went down
	p.Publish(nil)
	if f := waitForm(t, hub); f.Get("hub.url") != a {
		t.Errorf("probe of %s, want %s", f.Get("hub.url"), a)
	}
	noPing()
	if st := p.Status()[0]; !st.Down || st.Pending != 3 || st.Pings != 4 || st.GivenUp != 0 {
		t.Errorf("status while down %+v, want 3 pending, 4 pings, none given up", st)
	}
	clock.Advance(time.Hour)
	p.Publish(nil)
	got := map[string]bool{}
	for range 3 {
		got[waitForm(t, hub).Get("hub.url")] = true
	}
	if !got[a] || !got[b] || !got[c] {
		t.Errorf("after the hub answered: %v, want a, b and c", got)
	}
	eventually(t, "all sent", func() bool { st := p.Status()[0]; return st.Pending == 0 && !st.Down })
	if warns := logs.atLeast(slog.LevelWarn); len(warns) != 1 || warns[0].msg != "hub down: pinging it again once it answers a probe" {
		t.Errorf("Warn lines %+v, want the hub going down alone", warns)
	}
	if n := len(logs.find("hub ping failed")) + len(logs.find("hub still down")); n != 3 {
		t.Errorf("%d failures logged at Debug, want 3", n)
	}
	if n := len(logs.find("hub answers again")); n != 1 {
		t.Errorf("%d lines of the hub answering again, want 1", n)
	}
}

// TestPingerGivenUpWarnsOnce: a hub that keeps refusing one feed gives a
// Warn the first time its ping is given up, and Debug the next times,
// until one goes through.
func TestPingerGivenUpWarnsOnce(t *testing.T) {
	t.Parallel()
	hub := newRecordingHub(t, 400, 400, 400, 400, 204, 400, 400)
	logs := &logRecorder{}
	p := NewPinger([]string{hub.URL}, PingerOptions{Logger: slog.New(logs), RetryBase: time.Millisecond, RetryMax: time.Millisecond, MaxAttempts: 2})
	runPinger(t, p)
	const x = "https://planet.example/x"
	warns := func() int { return len(logs.atLeast(slog.LevelWarn)) }
	ping := func(pings uint64) {
		t.Helper()
		p.Publish([]string{x})
		eventually(t, "done", func() bool { st := p.Status()[0]; return st.Pings == pings && st.Pending == 0 })
	}
	ping(2)
	ping(4)
	if st := p.Status()[0]; st.GivenUp != 2 || warns() != 1 {
		t.Errorf("given up %d times, %d Warn lines; want 2, 1", st.GivenUp, warns())
	}
	ping(5) // goes through
	ping(7)
	if st := p.Status()[0]; st.GivenUp != 3 || warns() != 2 {
		t.Errorf("given up %d times, %d Warn lines; want 3, 2", st.GivenUp, warns())
	}
}
