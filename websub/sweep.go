package websub

import (
	"context"
	"net/url"
	"sync"
	"time"
)

// sweepEvery is how often Run ends the subscriptions whose lease ran out
// or whose topic is no longer ours.
const sweepEvery = time.Minute

// maxDenying bounds the denials sent at once.
const maxDenying = 4

// denyReason is the hub.reason of a subscription whose topic went away.
const denyReason = "the topic is no longer a feed of this hub"

// sweep ends, once every sweepEvery, the subscriptions whose lease ran
// out, and those whose topic has not been one of our feeds for
// TopicGrace: WebSub 5.2 lets a hub deny a subscription at any point,
// and has it tell the subscriber (hub.mode=denied), which it does in the
// background. It deletes them from the store and forgets the callback
// sites that have no subscription left and nothing in flight. It returns
// when the next sweep is due.
func (h *Hub) sweep(ctx context.Context) time.Time {
	h.sweeping.Lock()
	defer h.sweeping.Unlock()
	h.mu.Lock()
	now := h.opts.Now()
	if now.Before(h.nextSweep) {
		defer h.mu.Unlock()
		return h.nextSweep
	}
	h.nextSweep = now.Add(sweepEvery)
	topics := make(map[string]bool)
	for _, s := range h.subs {
		topics[s.Topic] = false
	}
	h.mu.Unlock()
	for t := range topics {
		topics[t] = h.opts.IsTopic(t) // outside h.mu: it is the daemon's
	}

	h.mu.Lock()
	ended := make(map[string]*subscription)
	var denied []denial
	inUse := make(map[string]bool)
	for k, s := range h.subs {
		ours, known := topics[s.Topic]
		switch {
		case !s.Expires.After(now):
			h.stats.Expired++
		case !known || ours:
			s.topicGone = time.Time{}
			inUse[s.site] = true
			continue
		case s.topicGone.IsZero():
			s.topicGone = now
			inUse[s.site] = true
			continue
		case now.Sub(s.topicGone) < h.opts.TopicGrace:
			inUse[s.site] = true
			continue
		default:
			h.stats.Denied++
			denied = append(denied, denial{s.Topic, s.Callback})
		}
		delete(h.subs, k)
		ended[k] = nil
	}
	for name, p := range h.sites {
		if p.inFlight == 0 && !inUse[name] {
			delete(h.sites, name)
		}
	}
	next := h.nextSweep
	h.persistUnlock(ended)
	if len(denied) > 0 {
		h.opts.Logger.Info("websub subscriptions denied: their topic is no longer a feed of this hub", "subscriptions", len(denied), "grace", h.opts.TopicGrace)
		h.work.Go(func() { h.deny(ctx, denied) })
	}
	return next
}

// denial is a subscription the hub denies.
type denial struct{ topic, callback string }

// deny tells the subscribers of subs that the hub denies them (WebSub
// 5.2), maxDenying at a time. It is said once: a subscriber that does not
// hear it finds out when its lease runs out.
func (h *Hub) deny(ctx context.Context, subs []denial) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxDenying)
	for _, s := range subs {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			err := h.sendDenial(ctx, s)
			h.opts.Logger.Debug("websub subscription denied", "topic", s.topic, "callback", logURL(s.callback), "told", err == nil, "err", err)
		})
	}
	wg.Wait()
}

// sendDenial sends s's callback hub.mode=denied; any answer will do.
func (h *Hub) sendDenial(ctx context.Context, s denial) error {
	u, err := url.Parse(s.callback)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("hub.mode", "denied")
	q.Set("hub.topic", s.topic)
	q.Set("hub.reason", denyReason)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, h.opts.VerifyTimeout)
	defer cancel()
	resp, err := h.getCallback(ctx, u.String())
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
