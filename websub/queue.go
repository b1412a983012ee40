package websub

import (
	"bytes"
	"context"
	"time"

	"github.com/planetgo/aggregator"
)

// The bounds of the pushes waiting to be stored for one source. A hub
// that pushes only new entries (WebSub 7) loses them if a body is
// dropped, so bodies wait rather than replace each other; a flood beyond
// these bounds drops the oldest and has the source polled. Sixteen covers
// the bursts of a publisher (a post and its edits, a few posts at once)
// that come during one ingest and the IngestInterval after it; four bodies of the largest
// size a fetch takes (MaxBytes), beside the one being stored, keep a
// source's flood to about five times what one fetch of it may hold.
const (
	queueBodies   = 16
	queueMaxBytes = 4 // × MaxBytes
)

// pushQueue is what waits to be ingested for one source, oldest first.
type pushQueue struct {
	running  bool // a worker drains it
	waiting  []pushedBody
	bytes    int64 // of the bodies waiting
	flooded  bool  // a body was dropped since the worker started: logged once
	pollSoon bool  // a body was dropped since Overflowed was last called
}

// pushedBody is one push waiting to be stored.
type pushedBody struct {
	body        []byte
	contentType string
}

// enqueue queues body to be stored after the pushes of the source that
// wait, and starts the source's ingest worker if none runs. A body
// byte-identical to one waiting is dropped: storing it again brings
// nothing. When the queue is full (queueBodies, or queueMaxBytes times
// MaxBytes), the oldest bodies are dropped until it fits, and the worker
// asks for the source to be polled (Overflowed), since a hub that pushes
// only new entries will not send those again.
func (s *Subscriber) enqueue(name string, body []byte, contentType string) {
	s.mu.Lock()
	s.stats.Pushes++
	src, configured := s.sources[name]
	if !configured || s.ctx == nil {
		s.mu.Unlock()
		return
	}
	q := s.queues[name]
	if q == nil {
		q = &pushQueue{}
		s.queues[name] = q
	}
	for _, w := range q.waiting {
		if bytes.Equal(w.body, body) {
			s.stats.Coalesced++
			s.mu.Unlock()
			return
		}
	}
	limit, flood := queueMaxBytes*s.opts.MaxBytes, false
	for len(q.waiting) > 0 && (len(q.waiting) >= queueBodies || q.bytes+int64(len(body)) > limit) {
		q.bytes -= int64(len(q.waiting[0].body))
		q.waiting[0] = pushedBody{}
		q.waiting = q.waiting[1:]
		s.stats.Overflowed++
		q.pollSoon = true
		flood = flood || !q.flooded
		q.flooded = true
	}
	q.waiting = append(q.waiting, pushedBody{body, contentType})
	q.bytes += int64(len(body))
	start := !q.running
	q.running = true
	ctx := s.ctx
	if start {
		s.work.Go(func() { s.drain(ctx, src, q) })
	}
	s.mu.Unlock()
	if flood {
		s.opts.Logger.Warn("websub pushes come faster than they are stored; the oldest waiting are dropped and the source will be polled",
			"source", name, "max_waiting", queueBodies)
	}
}

// drain ingests the bodies of q one at a time, oldest first, so that the
// newest version of an item is the one stored, until none waits, the
// starts of two ingests at least IngestInterval apart (and ingestShare
// times the first one's duration): a hub pushing
// faster has its pushes wait (coalesced when byte-identical, the oldest
// dropped beyond the queue's bounds) rather than parsed, stored and
// rendered back to back. It waits out the interval after its last
// ingest too, so that a push coming then waits as well; then it forgets
// q. Before each ingest, and when it ends, it asks for the source to be
// polled if bodies were dropped since it last did.
func (s *Subscriber) drain(ctx context.Context, src aggregator.Source, q *pushQueue) {
	for {
		s.mu.Lock()
		poll := q.pollSoon && ctx.Err() == nil
		q.pollSoon = false
		more := len(q.waiting) > 0 && ctx.Err() == nil
		var next pushedBody
		if more {
			next = q.waiting[0]
			q.waiting[0] = pushedBody{}
			q.waiting = q.waiting[1:]
			q.bytes -= int64(len(next.body))
		} else {
			q.running, q.flooded = false, false
			q.waiting, q.bytes = nil, 0
			if s.queues[src.Name] == q {
				delete(s.queues, src.Name)
			}
		}
		s.mu.Unlock()
		if poll && s.opts.Overflowed != nil {
			s.opts.Overflowed(src)
		}
		if !more {
			return
		}
		start := time.Now() // the interval is real time, whatever opts.Now says
		if err := s.ingest(ctx, src, next.body, next.contentType); err != nil {
			s.mu.Lock()
			s.stats.Failed++
			s.mu.Unlock()
			s.opts.Logger.Warn("websub push not stored", "source", src.Name, "err", err)
		}
		took := time.Since(start)
		pause(ctx, max(s.opts.IngestInterval, ingestShare*took)-took)
	}
}

// pause waits for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
