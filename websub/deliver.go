package websub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Publish hands the hub new versions of our feeds: each subscriber of
// each topic gets the newest version, in the background (a version not
// yet delivered is replaced by a newer one). It never blocks on the
// network.
func (h *Hub) Publish(contents []Content) {
	h.mu.Lock()
	now := h.opts.Now()
	var expired []string
	for _, c := range contents {
		for k, s := range h.subs {
			if s.Topic != c.Topic {
				continue
			}
			if !s.Expires.After(now) {
				delete(h.subs, k)
				h.stats.Expired++
				expired = append(expired, k)
				continue
			}
			s.pending = &c
			s.version++
			s.attempts = 0
			s.due = now
		}
	}
	gone := make(map[string]*subscription, len(expired))
	for _, k := range expired {
		gone[k] = nil
	}
	h.persistUnlock(gone)
	h.poke()
}

// poke wakes Run.
func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run delivers content, verifies intents and ends the subscriptions
// whose lease ran out or whose topic is no longer ours (sweep) until ctx
// ends, then waits for the requests in flight to end. Requests the hub
// takes before Run, or after it returned, are refused with 503.
func (h *Hub) Run(ctx context.Context) {
	h.mu.Lock()
	h.ctx = ctx
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.ctx = nil
		h.mu.Unlock()
		h.work.Wait()
	}()
	for {
		next := h.sweep(ctx)
		if due := h.startDue(ctx); !due.IsZero() && due.Before(next) {
			next = due
		}
		if !sleepUntil(ctx, h.wake, next, h.opts.Now) {
			return
		}
	}
}

// sleepUntil waits until next (forever when zero), or a wake, and reports
// false if ctx ended first.
func sleepUntil(ctx context.Context, wake <-chan struct{}, next time.Time, now func() time.Time) bool {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(max(next.Sub(now()), time.Millisecond))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer:
	}
	return true
}

// site is the state of the deliveries to one callback site.
type site struct {
	inFlight  int
	failing   bool      // its last delivery failed
	lastStart time.Time // of its last delivery
}

// ready is a subscription whose content is due.
type ready struct {
	key string
	sub *subscription
}

// startDue starts the deliveries that are due and within the bounds, and
// returns when the next waiting one is due (zero for none, or for one
// waiting only for a slot, which a finishing request wakes Run for).
//
// The slots go round the callback sites waiting: first one to each, then
// a second to each (up to PerHost); in each round, sites in good standing
// before those whose last delivery failed, then the one served longest
// ago first. A site whose callbacks hold their requests gets a slot only
// when no other site waits for one.
func (h *Hub) startDue(ctx context.Context) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	var next time.Time
	var due []ready
	for k, s := range h.subs {
		if s.pending == nil || s.inFlight || !s.Expires.After(now) {
			continue
		}
		if s.due.After(now) {
			if next.IsZero() || s.due.Before(next) {
				next = s.due
			}
			continue
		}
		due = append(due, ready{k, s})
	}
	for h.running < h.opts.Concurrency {
		i := h.best(due)
		if i < 0 {
			break
		}
		r := due[i]
		due[i] = due[len(due)-1]
		due = due[:len(due)-1]
		h.start(ctx, r.key, r.sub, h.site(r.sub.site), now)
	}
	return next
}

// best returns the index in due of the subscription whose delivery goes
// first, or -1 when every one's site has PerHost in flight: the one on
// the site with the fewest in flight, then in good standing, then served
// longest ago, then due first. It costs a pass over due, and startDue
// makes one per slot it fills. It holds h.mu.
func (h *Hub) best(due []ready) int {
	var none site
	state := func(name string) *site {
		if p := h.sites[name]; p != nil {
			return p
		}
		return &none
	}
	less := func(a, b ready) bool {
		sa, sb := state(a.sub.site), state(b.sub.site)
		switch {
		case sa.inFlight != sb.inFlight:
			return sa.inFlight < sb.inFlight
		case sa.failing != sb.failing:
			return sb.failing
		case !sa.lastStart.Equal(sb.lastStart):
			return sa.lastStart.Before(sb.lastStart)
		case !a.sub.due.Equal(b.sub.due):
			return a.sub.due.Before(b.sub.due)
		}
		return a.key < b.key
	}
	best := -1
	for i, r := range due {
		if state(r.sub.site).inFlight >= h.opts.PerHost {
			continue
		}
		if best < 0 || less(r, due[best]) {
			best = i
		}
	}
	return best
}

// site returns the state of the site name, made when there is none. It
// holds h.mu.
func (h *Hub) site(name string) *site {
	p := h.sites[name]
	if p == nil {
		p = &site{}
		h.sites[name] = p
	}
	return p
}

// start delivers the content pending for s, of key k, in the background.
// It holds h.mu.
func (h *Hub) start(ctx context.Context, k string, s *subscription, p *site, now time.Time) {
	h.running++
	p.inFlight++
	p.lastStart = now
	s.inFlight = true
	c, version, sub := *s.pending, s.version, *s
	h.work.Go(func() {
		err, gone := h.deliver(ctx, sub, c)
		h.delivered(k, sub.site, version, err, gone)
	})
}

// deliver POSTs c to sub's callback (WebSub 7), signed when sub has a
// secret; gone reports a 410, which ends the subscription.
func (h *Hub) deliver(ctx context.Context, sub subscription, c Content) (err error, gone bool) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.DeliverTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Callback, bytes.NewReader(c.Body))
	if err != nil {
		return err, false
	}
	req.Header.Set("Content-Type", c.ContentType)
	req.Header.Set("User-Agent", h.opts.UserAgent)
	if c.Link != "" {
		req.Header.Set("Link", c.Link)
	}
	if sub.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(sub.Secret, c.Body))
	}
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return withoutURL(err), false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusGone:
		return fmt.Errorf("callback answered %s", resp.Status), true
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("callback answered %s", resp.Status), false
	}
	return nil, false
}

// delivered records the outcome of delivering version to the
// subscription of k, whose callback is on site.
func (h *Hub) delivered(k, site string, version int, err error, gone bool) {
	h.mu.Lock()
	h.running--
	if p := h.sites[site]; p != nil {
		p.inFlight--
		p.failing = err != nil
	}
	s := h.subs[k] // nil when unsubscribed meanwhile
	if s != nil {
		s.inFlight = false
	}
	drop := false
	switch {
	case s == nil:
	case err == nil:
		h.stats.Deliveries++
		if s.version == version {
			s.pending, s.attempts = nil, 0
		}
	default:
		h.stats.Failures++
		s.attempts++
		if gone || s.attempts >= h.opts.MaxAttempts {
			delete(h.subs, k)
			h.stats.Dropped++
			drop = true
		} else {
			s.due = h.opts.Now().Add(backoff(s.attempts, h.opts.RetryBase, h.opts.RetryMax))
		}
	}
	var topic, callback string
	if s != nil {
		topic, callback = s.Topic, logURL(s.Callback)
	}
	if drop {
		h.persistUnlock(map[string]*subscription{k: nil})
	} else {
		h.mu.Unlock()
	}
	switch {
	case drop:
		h.opts.Logger.Info("websub subscription dropped", "topic", topic, "callback", callback, "gone", gone, "err", err)
	case err != nil && s != nil:
		h.opts.Logger.Debug("websub delivery failed", "topic", topic, "callback", callback, "err", err)
	}
	h.poke()
}
