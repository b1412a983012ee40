package fetch

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/internal/pipenet"
)

// TestSlowParseTimesOut: a parse still running when the fetch's timeout
// ends fails the fetch as a timeout, at the timeout, counted from sending
// the request; the client goes on fetching other sources, and a cancelled
// fetch (shutdown) returns at once, while the abandoned parses end at
// their next read.
func TestSlowParseTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		feed := readTestdata(t, "rss-basic.xml")
		n := pipenet.New()
		n.Handle("slow.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Second)
			w.Write(feed)
		}))
		n.Handle("fast.test", staticFeed(feed, "application/rss+xml", "", ""))
		hc := n.Client()
		defer n.Close()
		defer hc.CloseIdleConnections()
		c := NewClient(hc, Options{Timeout: 30 * time.Second, Concurrency: 1})
		var stalls atomic.Int32
		c.parser.stall = func() {
			// The first two parses take an hour; the others no time.
			if stalls.Add(1) <= 2 {
				time.Sleep(time.Hour)
			}
		}

		start := time.Now()
		_, err := c.Fetch(t.Context(), source("http://slow.test/"), aggregator.SourceState{})
		if !errors.Is(err, ErrTimeout) || Kind(err) != "timeout" {
			t.Errorf("slow parse: error = %v (kind %q), want a timeout", err, Kind(err))
		}
		if took := time.Since(start); took != 30*time.Second {
			t.Errorf("slow parse failed after %v, want 30s: 20s reading and 10s parsing", took)
		}

		// Its parse still runs, but the fetch's slot is free.
		start = time.Now()
		if _, err := c.Fetch(t.Context(), source("http://fast.test/2"), aggregator.SourceState{}); err == nil {
			t.Errorf("second slow parse: no error")
		}
		if _, err := c.Fetch(t.Context(), source("http://fast.test/3"), aggregator.SourceState{}); err != nil {
			t.Errorf("next source: %v", err)
		}
		if took := time.Since(start); took != 30*time.Second {
			t.Errorf("two fetches took %v, want 30s: the slow parse's timeout only", took)
		}

		stalls.Store(0)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(5*time.Second, cancel)
		start = time.Now()
		_, err = c.Fetch(ctx, source("http://fast.test/4"), aggregator.SourceState{})
		if !errors.Is(err, context.Canceled) || Kind(err) != "canceled" {
			t.Errorf("cancelled: error = %v (kind %q), want canceled", err, Kind(err))
		}
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("cancelled fetch returned after %v, want 5s", took)
		}
		// The abandoned parses end once their hour is up: the bubble
		// checks that no goroutine is left.
		time.Sleep(2 * time.Hour)
	})
}

// TestAbandonedParseStops: the parse Parse stops waiting for fails at its
// first read of the body after its context has ended.
func TestAbandonedParseStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("stop")
	cancel(stop)
	body := longFieldsRSS(1)
	if _, err := NewParser().parse(ctx, body, "http://a.example/feed", "", aggregator.Source{Name: "s"}, nil); !errors.Is(err, stop) {
		t.Errorf("parse() = %v, want the context's cause", err)
	}
	if _, err := NewParser().Parse(ctx, body, "http://a.example/feed", "", aggregator.Source{Name: "s"}); !errors.Is(err, stop) {
		t.Errorf("Parse() = %v, want the context's cause", err)
	}
	r := readUntil(ctx, body)
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, stop) {
		t.Errorf("Read() = %d, %v after the context ended, want 0, the cause", n, err)
	}
}

// TestPushedTakesAFetchSlot: a pushed body is parsed in one of the slots
// of Options.Concurrency, as a fetched one is: while a fetch holds the
// only slot, a push waits for it.
func TestPushedTakesAFetchSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		feed := readTestdata(t, "rss-basic.xml")
		n := pipenet.New()
		n.Handle("slow.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Hour)
			w.Write(feed)
		}))
		hc := n.Client()
		defer n.Close()
		defer hc.CloseIdleConnections()
		c := NewClient(hc, Options{Timeout: 2 * time.Hour, Concurrency: 1})
		start := time.Now()
		fetched := make(chan error, 1)
		go func() {
			_, err := c.Fetch(t.Context(), source("http://slow.test/feed"), aggregator.SourceState{})
			fetched <- err
		}()
		synctest.Wait()
		pushed := make(chan time.Time, 1)
		go func() {
			res, err := c.Pushed(t.Context(), source("http://pushed.test/feed"), aggregator.SourceState{}, feed, "application/rss+xml")
			if err != nil || len(res.Feed.Items) == 0 {
				t.Errorf("pushed: %v, %d items", err, len(res.Feed.Items))
			}
			pushed <- time.Now()
		}()
		synctest.Wait()
		select {
		case <-pushed:
			t.Fatal("a push was parsed while a fetch held the only slot")
		default:
		}
		if err := <-fetched; err != nil {
			t.Fatal(err)
		}
		if took := (<-pushed).Sub(start); took < time.Hour {
			t.Errorf("push parsed after %v, want after the fetch's hour", took)
		}
	})
}
