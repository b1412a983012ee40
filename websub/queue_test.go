package websub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
)

// pushAll pushes each body to the callback of form's subscription, signed,
// and fails the test unless each is taken (202).
func pushAll(t *testing.T, form url.Values, bodies ...string) {
	t.Helper()
	cb, secret := form.Get("hub.callback"), form.Get("hub.secret")
	for _, body := range bodies {
		if code := push(t, cb, Sign(secret, []byte(body)), body); code != http.StatusAccepted {
			t.Fatalf("push %.40q: %d", body, code)
		}
	}
}

// numbered returns the bodies "<feed>PREFIX-i</feed>" for i in [from, to].
func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("<feed>%s-%d</feed>", prefix, i))
	}
	return out
}

// settle forgets the ingests that started: call it when none runs,
// before a push whose ingest begun waits for.
func (in *ingested) settle() {
	for {
		select {
		case <-in.started:
		default:
			return
		}
	}
}

// nextN returns the next n bodies stored, in order.
func (in *ingested) nextN(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		got = append(got, in.next(t))
	}
	return got
}

// TestSubscriberQueuesPushesInOrder: the pushes that come while one of the
// source's is being stored wait, and are stored one at a time in the
// order they came, none lost (a hub may push only the new entries,
// WebSub 7); a body byte-identical to one waiting is dropped as
// coalesced.
func TestSubscriberQueuesPushesInOrder(t *testing.T) {
	t.Parallel()
	in := newIngested()
	in.hold = make(chan struct{})
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	pushAll(t, form, "<feed>first</feed>")
	if got := in.begun(t); got != "<feed>first</feed>" {
		t.Fatalf("first ingest %q", got)
	}
	waiting := numbered("p", 1, 10)
	for i, body := range waiting {
		pushAll(t, form, body)
		if i%2 == 1 {
			pushAll(t, form, waiting[i-1]) // again, as a hub retrying would
		}
	}
	if st := s.Stats(); st.Waiting != 10 || st.Coalesced != 5 || st.Overflowed != 0 || st.Pushes != 16 {
		t.Errorf("while the first is stored: stats %+v; want 10 waiting, 5 coalesced", st)
	}
	close(in.hold)
	got := in.nextN(t, 11)
	if want := append([]string{"<feed>first</feed>"}, waiting...); !slices.Equal(got, want) {
		t.Errorf("stored %q\nwant %q", got, want)
	}
	in.none(t)
	if st := s.Stats(); st.Waiting != 0 || st.Coalesced != 5 || st.Overflowed != 0 || st.Failed != 0 {
		t.Errorf("after: stats %+v", st)
	}
}

// within returns what ch gives, failing the test if it gives nothing
// within 10 seconds.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s came", what)
		var zero T
		return zero
	}
}

// lockedBuffer is a log destination that goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSubscriberOverflowDropsOldestAndAsksForPoll: a flood beyond the
// queue's bounds (queueBodies bodies, or queueMaxBytes × MaxBytes bytes)
// drops the oldest bodies waiting, counts them, logs once per flood, and
// asks once, before the next ingest, for the source to be polled.
func TestSubscriberOverflowDropsOldestAndAsksForPoll(t *testing.T) {
	t.Parallel()
	in := newIngested()
	in.hold = make(chan struct{})
	polls := make(chan string, 100)
	logs := &lockedBuffer{}
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{
		MaxBytes:   1000,
		Overflowed: func(src aggregator.Source) { polls <- src.Name },
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	floods := func() int { return strings.Count(logs.String(), "websub pushes come faster than they are stored") }
	release := func(n int) {
		for range n {
			in.hold <- struct{}{}
		}
	}

	// Bounded by count: 20 bodies come while the first is stored; the
	// 4 oldest make room for the newest.
	pushAll(t, form, "<feed>first</feed>")
	in.begun(t)
	flood := numbered("p", 1, 20)
	pushAll(t, form, flood...)
	if st := s.Stats(); st.Waiting != queueBodies || st.Overflowed != 4 || floods() != 1 || len(polls) != 0 {
		t.Errorf("during the flood: stats %+v, %d floods logged, %d polls asked; want %d waiting, 4 overflowed, 1 logged, no poll during an ingest",
			st, floods(), len(polls), queueBodies)
	}
	release(1)
	if got := in.next(t); got != "<feed>first</feed>" {
		t.Fatalf("stored %q first", got)
	}
	if got := within(t, polls, "poll request"); got != "blog" {
		t.Errorf("poll asked for %q", got)
	}
	release(queueBodies)
	if got := in.nextN(t, queueBodies); !slices.Equal(got, flood[4:]) {
		t.Errorf("stored %q\nwant %q", got, flood[4:])
	}
	in.none(t)
	if len(polls) != 0 {
		t.Errorf("%d more polls asked, want 1 for the flood", len(polls))
	}

	// Bounded by bytes: bodies of 900 bytes, 4000 in all may wait; a new
	// flood is logged again.
	big := func(i int) string { return fmt.Sprintf("<feed>%d%s</feed>", i, strings.Repeat("x", 886)) }
	in.settle()
	pushAll(t, form, big(0))
	in.begun(t)
	for i := 1; i <= 6; i++ {
		pushAll(t, form, big(i))
	}
	if st := s.Stats(); st.Waiting != 4 || st.Overflowed != 6 || floods() != 2 {
		t.Errorf("during the flood of large bodies: stats %+v, %d floods logged; want 4 waiting, 6 overflowed, 2 logged", st, floods())
	}
	release(5)
	if got := in.nextN(t, 5); !slices.Equal(got, []string{big(0), big(3), big(4), big(5), big(6)}) {
		t.Errorf("stored bodies %d to %d, want 0, 3, 4, 5, 6", len(got[0]), len(got[4]))
	}
	if got := within(t, polls, "poll request"); got != "blog" {
		t.Errorf("poll asked for %q", got)
	}
	in.none(t)
	if st := s.Stats(); st.Pushes != 28 || st.Overflowed != 6 || st.Waiting != 0 || st.Coalesced != 0 {
		t.Errorf("after: stats %+v", st)
	}
}

// partialFeed is what a hub that pushes only new entries sends: an Atom
// feed of the entries numbered in ids.
func partialFeed(ids ...int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>tag:blog.example,2026:feed</id>
<updated>2026-03-01T11:00:00Z</updated>`)
	for _, i := range ids {
		fmt.Fprintf(&b, `<entry><title>Post %d</title><id>tag:blog.example,2026:%d</id><link href="https://blog.example/%d"/>
<updated>2026-03-01T%02d:%02d:00Z</updated><content type="html">Post %d</content></entry>`, i, i, i, 10+i/60, i%60, i)
	}
	b.WriteString("</feed>")
	return b.String()
}

// TestSubscriberStoresEveryItemOfAFlood, through the real poller and
// store: a hub that pushes each new entry alone, faster than they are
// stored, has every one stored; when a flood overflows the queue, the
// entries of the bodies dropped are brought back by the poll it asks
// for, which comes at the source's schedule, not its safety-net
// interval.
func TestSubscriberStoresEveryItemOfAFlood(t *testing.T) {
	t.Parallel()
	clock := newClock()
	dir := t.TempDir()
	var feedMu sync.Mutex
	var listed []int // what the source's own feed lists
	feedSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		feedMu.Lock()
		defer feedMu.Unlock()
		w.Header().Set("Content-Type", "application/atom+xml")
		fmt.Fprint(w, partialFeed(listed...))
	}))
	t.Cleanup(feedSrv.Close)
	src := aggregator.Source{Name: blogSource.Name, URL: feedSrv.URL + "/feed"}

	items, err := storage.Open(filepath.Join(dir, "items.db"), storage.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { items.Close() })
	p := poll.New(items, poll.Options{Now: clock.Now, PushRenderInterval: time.Nanosecond})
	if err := p.Configure(t.Context(), poll.Settings{
		Sources: []aggregator.Source{src}, Schedule: "@every 1h",
		Client:     fetch.NewClient(&http.Client{}, fetch.Options{Now: clock.Now}),
		Subscribed: func(string) bool { return true }, PushPollInterval: 6 * time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Refresh(t.Context(), []aggregator.Source{src}, nil); err != nil {
		t.Fatal(err)
	}
	nextAttempt := func() time.Time {
		st, err := items.State(t.Context(), src.Name)
		if err != nil {
			t.Fatal(err)
		}
		return st.NextAttempt
	}
	if got, want := nextAttempt(), clock.Now().Add(6*time.Hour); !got.Equal(want) {
		t.Fatalf("next attempt of a subscribed source %v, want %v", got, want)
	}
	stored := func() []string {
		list, err := items.Items(t.Context(), storage.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, it := range list {
			titles = append(titles, it.Title)
		}
		slices.Sort(titles)
		return titles
	}
	posts := func(from, to int, except ...int) []string {
		var out []string
		for i := from; i <= to; i++ {
			if !slices.Contains(except, i) {
				out = append(out, fmt.Sprintf("Post %d", i))
			}
		}
		slices.Sort(out)
		return out
	}

	in := newIngested()
	in.hold = make(chan struct{})
	in.then = func(ctx context.Context, src aggregator.Source, body []byte, contentType string) error {
		_, err := p.Ingest(ctx, src, body, contentType)
		if err != nil {
			t.Logf("ingest: %v", err)
		}
		return err
	}
	polls := make(chan error, 10)
	s, _ := testSubscriber(t, filepath.Join(dir, "sub.db"), clock, in, SubscriberOptions{
		MaxBytes:   64 << 10,
		Overflowed: func(src aggregator.Source) { polls <- p.PollSoon(context.Background(), src) },
	})
	s.Configure([]aggregator.Source{src})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	release := func(n int) {
		for range n {
			in.hold <- struct{}{}
		}
	}
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			feedMu.Lock()
			listed = append(listed, i)
			feedMu.Unlock()
			pushAll(t, form, partialFeed(i))
		}
	}

	// As many as the queue holds, beside the one being stored: all kept.
	n := queueBodies + 1
	publish(1, 1)
	in.begun(t)
	publish(2, n)
	release(n)
	in.nextN(t, n)
	if got, want := stored(), posts(1, n); !slices.Equal(got, want) {
		t.Errorf("stored %q\nwant %q", got, want)
	}
	if st := s.Stats(); st.Overflowed != 0 || st.Failed != 0 || len(polls) != 0 {
		t.Errorf("stats %+v, %d polls asked; want none dropped, no poll", st, len(polls))
	}

	// Three more than it holds: the three oldest waiting are dropped, and
	// the source, polled at its schedule's next tick, brings them back.
	in.settle()
	publish(n+1, n+1)
	in.begun(t)
	publish(n+2, 2*n+3)
	release(n)
	in.nextN(t, n)
	if err := within(t, polls, "poll request"); err != nil {
		t.Fatal(err)
	}
	dropped := []int{n + 2, n + 3, n + 4}
	if got, want := stored(), posts(1, 2*n+3, dropped...); !slices.Equal(got, want) {
		t.Errorf("stored %q\nwant %q", got, want)
	}
	if st := s.Stats(); st.Overflowed != 3 {
		t.Errorf("stats %+v, want 3 overflowed", st)
	}
	if at := nextAttempt(); at.After(clock.Now().Add(time.Hour)) {
		t.Errorf("next attempt after the overflow %v, want within the schedule's hour of %v", at, clock.Now())
	}
	clock.Advance(time.Hour)
	if err := p.Pass(t.Context(), []aggregator.Source{src}, false); err != nil {
		t.Fatal(err)
	}
	if got, want := stored(), posts(1, 2*n+3); !slices.Equal(got, want) {
		t.Errorf("after the poll, stored %q\nwant %q", got, want)
	}
}

// TestSubscriberIngestInterval: the ingests of one source's pushes start
// at least IngestInterval apart: a hub alternating two bodies as fast as
// it can gets one ingest (one parse, store and render) for a hundred
// pushes within the interval, the others coalesced while they wait.
func TestSubscriberIngestInterval(t *testing.T) {
	t.Parallel()
	in := newIngested()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{IngestInterval: time.Hour})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	pushAll(t, form, "<feed>A</feed>")
	if got := in.next(t); got != "<feed>A</feed>" {
		t.Fatalf("first ingest %q", got)
	}
	for i := range 99 {
		pushAll(t, form, []string{"<feed>B</feed>", "<feed>A</feed>"}[i%2])
	}
	in.none(t)
	if st := s.Stats(); st.Pushes != 100 || st.Waiting != 2 || st.Coalesced != 97 || st.Overflowed != 0 {
		t.Errorf("stats %+v; want 100 pushes, 1 ingested, 2 waiting, 97 coalesced", st)
	}
}

// TestSubscriberForgetsIdleQueues: a source's queue is dropped once its
// pushes are stored, so that the subscriber keeps none for every source
// that ever had a push.
func TestSubscriberForgetsIdleQueues(t *testing.T) {
	t.Parallel()
	in := newIngested()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	pushAll(t, form, numbered("p", 1, 3)...)
	in.nextN(t, 3)
	eventually(t, "no queue kept", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queues) == 0
	})
	pushAll(t, form, "<feed>again</feed>")
	if got := in.next(t); got != "<feed>again</feed>" {
		t.Errorf("ingested %q after the queue was dropped", got)
	}
}

// TestSubscriberIngestShare: an ingest that takes long holds the next of
// its source off for ingestShare times its duration, whatever
// IngestInterval says.
func TestSubscriberIngestShare(t *testing.T) {
	t.Parallel()
	in := newIngested()
	var mu sync.Mutex
	var starts []time.Time
	in.then = func(context.Context, aggregator.Source, []byte, string) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		return nil
	}
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), newClock(), in, SubscriberOptions{})
	form := subscribed(t, s, newFakeSourceHub(t), "")
	pushAll(t, form, "<feed>1</feed>")
	in.begun(t)
	pushAll(t, form, "<feed>2</feed>")
	in.nextN(t, 2)
	mu.Lock()
	defer mu.Unlock()
	if gap := starts[1].Sub(starts[0]); gap < ingestShare*200*time.Millisecond-50*time.Millisecond {
		t.Errorf("ingests of 200ms started %v apart, want %v", gap, ingestShare*200*time.Millisecond)
	}
}
