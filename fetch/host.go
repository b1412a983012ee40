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

// hostGate keeps the per-host rules: at most limit requests in flight to a
// host, starts at least gap apart, and none before a Retry-After the host
// sent.
type hostGate struct {
	limit int
	gap   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	slots     chan struct{}
	nextStart time.Time // no request starts before this (gap)
	blocked   time.Time // Retry-After: no request before this
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
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := g.get(host).blocked; g.now().Before(until) {
		return &HostBlockedError{Host: host, Until: until}
	}
	return nil
}

// block records that host asked for no requests before until. An earlier
// time than one already recorded changes nothing.
func (g *hostGate) block(host string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.get(strings.ToLower(host))
	if until.After(h.blocked) {
		h.blocked = until
	}
}

func (g *hostGate) blockedUntil(host string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h, ok := g.hosts[strings.ToLower(host)]; ok && g.now().Before(h.blocked) {
		return h.blocked
	}
	return time.Time{}
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
