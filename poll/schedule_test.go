package poll

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// hangingServer answers /feed only once release is closed, or never
// when the request is cancelled first; arrived gets each request's start.
func hangingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}, release func()) {
	t.Helper()
	arrived = make(chan struct{}, 16)
	done := make(chan struct{})
	var once sync.Once
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-done:
			w.Write(rss("a"))
		case <-r.Context().Done():
		}
	}))
	release = func() { once.Do(func() { close(done) }) }
	t.Cleanup(func() { release(); srv.Close() })
	return srv, arrived, release
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s after 10s", what)
	}
}

// Stop waits for a pass that finishes within the grace: what it fetched
// is stored.
func TestSchedulerStopLetsAPassFinish(t *testing.T) {
	t.Parallel()
	srv, arrived, release := hangingServer(t)
	c := &clock{t: t0}
	src := aggregator.Source{Name: "slow", URL: srv.URL + "/feed"}
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 1h"}, Options{})
	var failures []error
	s := NewScheduler(p, func(err error) { failures = append(failures, err) })
	s.Go(p.current.Load().Sources)
	waitFor(t, arrived, "request")
	time.AfterFunc(50*time.Millisecond, release)
	s.Stop(time.Minute)
	states, _ := store.States(context.Background())
	if st := states["slow"]; st.Result() != "new 1" {
		t.Errorf("after Stop: %q, want the pass finished (new 1)", st.Result())
	}
	if len(failures) > 0 {
		t.Errorf("failures reported: %v", failures)
	}
}

// Stop cancels the fetches of a pass that outlasts the grace, and reports
// no failure for it: the scheduler stopped it.
func TestSchedulerStopCancelsAfterGrace(t *testing.T) {
	t.Parallel()
	srv, arrived, _ := hangingServer(t)
	c := &clock{t: t0}
	src := aggregator.Source{Name: "hung", URL: srv.URL + "/feed"}
	p, _ := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 1h"}, Options{})
	var failures []error
	s := NewScheduler(p, func(err error) { failures = append(failures, err) })
	s.Go(p.current.Load().Sources)
	waitFor(t, arrived, "request")
	stopped := make(chan struct{})
	go func() { s.Stop(10 * time.Millisecond); close(stopped) }()
	waitFor(t, stopped, "return from Stop after its grace")
	if len(failures) > 0 {
		t.Errorf("failures reported for a pass Stop cancelled: %v", failures)
	}
}

// failingPublisher fails every render.
type failingPublisher struct{}

var errRender = errors.New("disk full")

func (failingPublisher) Rebuild(context.Context) error { return errRender }

// Start runs the schedule of the settings in force; a pass that fails
// reaches onError.
func TestSchedulerStartRunsTheSchedule(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t)
	c := &clock{t: t0}
	srcs := sources(srv, "ok")
	p, _ := newPoller(t, c, Settings{Sources: srcs, Schedule: "@every 1s", Publisher: failingPublisher{}}, Options{})
	failed := make(chan struct{}, 4)
	var mu sync.Mutex
	var got error
	s := NewScheduler(p, func(err error) {
		mu.Lock()
		got = err
		mu.Unlock()
		failed <- struct{}{}
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, failed, "scheduled pass")
	s.Stop(time.Second)
	if n := srv.requests("/ok"); n < 1 {
		t.Errorf("the schedule fetched /ok %d times", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(got, errRender) {
		t.Errorf("onError got %v, want the render's error", got)
	}
}

// A schedule that does not parse is refused, and the one in force runs on.
func TestSchedulerStartRefusesABadSpec(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t)
	c := &clock{t: t0}
	p, _ := newPoller(t, c, Settings{Sources: sources(srv, "ok"), Schedule: "@every 1h"}, Options{})
	s := NewScheduler(p, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(time.Second)
	if err := p.Configure(context.Background(), Settings{Sources: sources(srv, "ok"), Schedule: "every hour", Client: testClient(c)}); err == nil {
		t.Fatal("Configure took a schedule that does not parse")
	}
	if err := s.Start(); err != nil {
		t.Errorf("Start after a refused Configure: %v", err)
	}
}

// The schedules Start replaces are kept for Stop only while their jobs
// run: a daemon reloaded a thousand times keeps none of the finished.
func TestSchedulerStartForgetsFinishedSchedules(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t)
	c := &clock{t: t0}
	p, _ := newPoller(t, c, Settings{Sources: sources(srv, "ok"), Schedule: "@every 1h"}, Options{})
	s := NewScheduler(p, nil)
	defer s.Stop(time.Second)
	for range 1000 {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		var last context.Context
		if n := len(s.stopped); n > 0 {
			last = s.stopped[n-1]
		}
		s.mu.Unlock()
		if last != nil {
			<-last.Done() // no job of it runs: it is done at once
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.stopped); n > 1 {
		t.Errorf("after 1000 Starts the scheduler keeps %d stopped schedules, want at most the last", n)
	}
}
