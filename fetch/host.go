package fetch

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Host is the key of per-host limits: the URL's host name without the
// port, lower-cased.
func Host(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// Blocks remembers the hosts that asked for no requests before a time, by
// the Retry-After of a 429 or 503 answer. Its zero value is empty, and it is
// safe for concurrent use. Clients may share one (Options.Blocks): the
// Client a config reload builds is given the old one's, so that an answer
// the old Client gets in a pass still running holds for the new one too.
// A time past is forgotten: when its host is next asked about, or, for
// hosts no longer fetched, by the sweep of block once the hosts recorded
// have doubled since the last.
type Blocks struct {
	mu    sync.Mutex
	until map[string]time.Time // lower-cased host name → no request before
	sweep int                  // block sweeps when until has this many hosts
}

// minBlocksSweep is the fewest hosts block sweeps.
const minBlocksSweep = 64

// block records that host asked for no requests before until. An earlier
// time than one already recorded changes nothing.
func (b *Blocks) block(host string, until, now time.Time) {
	host = strings.ToLower(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !until.After(b.until[host]) {
		return
	}
	if b.until == nil {
		b.until = make(map[string]time.Time)
	}
	b.until[host] = until
	if len(b.until) >= max(b.sweep, minBlocksSweep) {
		for h, t := range b.until {
			if !now.Before(t) {
				delete(b.until, h)
			}
		}
		b.sweep = 2 * len(b.until)
	}
}

// get returns the time before which host asked for no requests, or the
// zero time when there is none after now.
func (b *Blocks) get(host string, now time.Time) time.Time {
	host = strings.ToLower(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.until[host]
	if ok && !now.Before(until) {
		delete(b.until, host)
		return time.Time{}
	}
	return until
}

// hostGate keeps the per-host rules: at most limit requests in flight to a
// host, starts at least gap apart, and none before a Retry-After the host
// sent (kept in blocks, which may outlive the gate).
type hostGate struct {
	limit  int
	gap    time.Duration
	now    func() time.Time
	blocks *Blocks

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	slots     chan struct{}
	nextStart time.Time // no request starts before this (gap)
}

func (g *hostGate) get(host string) *hostState {
	if g.hosts == nil {
		g.hosts = make(map[string]*hostState)
	}
	h, ok := g.hosts[host]
	if !ok {
		h = &hostState{slots: make(chan struct{}, g.limit)}
		g.hosts[host] = h
	}
	return h
}

// acquire waits for a slot of host and for its gap since the last request,
// and returns the function that gives the slot back. Unless ignoreBlock, it
// returns a *HostBlockedError at once if the host asked for no requests
// until later, whether it said so before or while this one waited.
func (g *hostGate) acquire(ctx context.Context, host string, ignoreBlock bool) (release func(), err error) {
	host = strings.ToLower(host)
	g.mu.Lock()
	h := g.get(host)
	g.mu.Unlock()
	if err := g.check(host, ignoreBlock); err != nil {
		return nil, err
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	release = func() { <-h.slots }
	if err := g.check(host, ignoreBlock); err != nil {
		release()
		return nil, err
	}
	if g.gap > 0 {
		// Reserve the next start time under the lock, so that requests
		// waiting together leave with gap between each.
		g.mu.Lock()
		start := g.now()
		if h.nextStart.After(start) {
			start = h.nextStart
		}
		h.nextStart = start.Add(g.gap)
		wait := start.Sub(g.now())
		g.mu.Unlock()
		if err := sleep(ctx, wait); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

func (g *hostGate) check(host string, ignoreBlock bool) error {
	if ignoreBlock {
		return nil
	}
	if until := g.blocks.get(host, g.now()); !until.IsZero() {
		return &HostBlockedError{Host: strings.ToLower(host), Until: until}
	}
	return nil
}

// block records that host asked for no requests before until.
func (g *hostGate) block(host string, until time.Time) {
	g.blocks.block(host, until, g.now())
}

func (g *hostGate) blockedUntil(host string) time.Time {
	return g.blocks.get(host, g.now())
}

// sleep waits for d, or returns the cause of ctx ending first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
