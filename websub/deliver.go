package websub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
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
	h.mu.Unlock()
	for _, k := range expired {
		h.persist(k, nil)
	}
	h.poke()
}

// poke wakes Run.
func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run delivers content and verifies intents until ctx ends, then waits
// for the requests in flight to end. Requests the hub takes before Run,
// or after it returned, are refused with 503.
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
		if !sleepUntil(ctx, h.wake, h.startDue(ctx), h.opts.Now) {
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

// startDue starts the deliveries that are due and within the bounds, and
// returns when the next waiting one is due (zero for none, or for one
// waiting only for a slot, which a finishing request wakes Run for).
func (h *Hub) startDue(ctx context.Context) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	var next time.Time
	for k, s := range h.subs {
		if s.pending == nil || s.inFlight {
			continue
		}
		if s.due.After(now) {
			if next.IsZero() || s.due.Before(next) {
				next = s.due
			}
			continue
		}
		host := hostOf(s.Callback)
		if h.running >= h.opts.Concurrency || h.inHost[host] >= h.opts.PerHost {
			continue
		}
		h.running++
		h.inHost[host]++
		s.inFlight = true
		c, version, sub := *s.pending, s.version, *s
		h.work.Go(func() {
			err, gone := h.deliver(ctx, sub, c)
			h.delivered(k, version, err, gone)
		})
	}
	return next
}

// deliver POSTs c to sub's callback (WebSub 7), signed when sub has a
// secret; gone reports a 410, which ends the subscription.
func (h *Hub) deliver(ctx context.Context, sub subscription, c Content) (err error, gone bool) {
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
		return err, false
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

// delivered records the outcome of delivering version to the subscription
// of k.
func (h *Hub) delivered(k string, version int, err error, gone bool) {
	h.mu.Lock()
	s := h.subs[k]
	if s != nil {
		h.running--
		h.inHost[hostOf(s.Callback)]--
		s.inFlight = false
	} else {
		// Unsubscribed meanwhile: the slot was its callback host's all
		// the same.
		_, callback, _ := strings.Cut(k, "\x00")
		h.running--
		h.inHost[hostOf(callback)]--
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
		topic, callback = s.Topic, aggregator.RedactURL(s.Callback)
	}
	h.mu.Unlock()
	switch {
	case drop:
		h.persist(k, nil)
		h.opts.Logger.Info("websub subscription dropped", "topic", topic, "callback", callback, "gone", gone, "err", err)
	case err != nil && s != nil:
		h.opts.Logger.Debug("websub delivery failed", "topic", topic, "callback", callback, "err", err)
	}
	h.poke()
}
