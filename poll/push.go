package poll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/planetgo/aggregator"
)

// Ingest stores body, which src's WebSub hub pushed, through the path of a
// fetched body: the same parsing (in a slot of the client's concurrency,
// shared with fetches), limits, identity, deduplication and storage (one
// transaction), then renders the outputs, so that our own hub passes them
// on: at once, or, within Options.PushRenderInterval of the last render
// a push asked for, at its end, once for all the pushes stored meanwhile
// (see publishPushed). It waits while src is being fetched, and never
// fetches it. A push changes no part of src's schedule; a body that does
// not parse leaves src's state as it was (the push is not the source's
// own response). The error is the body's (a fetch error kind) or the
// store's (*StoreError) or ctx's.
func (p *Poller) Ingest(ctx context.Context, src aggregator.Source, body []byte, contentType string) (Outcome, error) {
	s := p.current.Load()
	for !p.claim(src.Name) {
		if err := wait(ctx, 10*time.Millisecond); err != nil {
			return Outcome{Source: src}, err
		}
	}
	o, err := p.ingestOne(ctx, s, src, body, contentType)
	p.release(src.Name)
	if err != nil {
		return o, err
	}
	if o.Class() != ClassChanged {
		return o, nil
	}
	return o, p.publishPushed(ctx)
}

// ingestOne parses and stores one pushed body.
func (p *Poller) ingestOne(ctx context.Context, s *snapshot, src aggregator.Source, body []byte, contentType string) (Outcome, error) {
	start := p.opts.Now()
	o := Outcome{Source: src}
	prev, err := p.store.State(ctx, src.Name)
	if err != nil && !errors.Is(err, aggregator.ErrNotFound) {
		o.Err = &StoreError{err}
		return o, o.Err
	}
	prev = StateFor(src, prev)
	target := src
	target.URL = FetchURL(src, prev)
	res, err := s.Client.Pushed(ctx, target, prev, body, contentType)
	o.Took, o.State = p.opts.Now().Sub(start), prev
	if err != nil {
		p.opts.Logger.Warn("pushed body refused", "source", src.Name, "err", err)
		return o, err
	}
	o.NotModified, o.Bytes = res.NotModified, res.Bytes
	if res.NotModified {
		return o, nil
	}
	st := prev
	st.BodyHash = res.BodyHash
	st.LastOutcome = aggregator.OutcomeStored
	st.FeedTitle, st.SiteLink = res.Feed.Title, res.Feed.SiteLink
	st.FeedID, st.FeedUpdated = res.Feed.ID, res.Feed.Updated
	saved, err := p.store.Save(ctx, src, res.Feed.Items, st)
	if err != nil {
		o.Err = &StoreError{err}
		return o, o.Err
	}
	st.LastNew, st.LastUpdated = saved.New, saved.Updated
	o.Saved, o.State = saved, st
	p.opts.Logger.Info("pushed", "source", src.Name, "items", len(res.Feed.Items), "new_items", saved.New,
		"updated_items", saved.Updated, "bytes", res.Bytes, "took", o.Took.Round(time.Millisecond))
	return o, nil
}

// publishPushed renders the outputs once for every push stored before the
// render starts, at most once every Options.PushRenderInterval (or
// pushRenderShare times the last render's duration; real time, whatever
// Options.Now says): pushes stored while a render waits or runs share
// the next one, so that hubs pushing without pause cost a bounded share
// of the renderer, and of our hub's deliveries.
func (p *Poller) publishPushed(ctx context.Context) error {
	p.renderMu.Lock()
	p.renderAsked++
	mine := p.renderAsked
	p.renderMu.Unlock()
	for {
		p.renderMu.Lock()
		next := p.nextPushRender
		p.renderMu.Unlock()
		if err := wait(ctx, time.Until(next)); err != nil {
			return err
		}
		s := p.current.Load()
		p.publishMu.Lock()
		p.renderMu.Lock()
		if p.renderCovering >= mine {
			p.renderMu.Unlock()
			p.publishMu.Unlock()
			return nil // a render that began after this push was stored did it
		}
		if time.Now().Before(p.nextPushRender) {
			// A render ran while this one waited: wait for its interval.
			p.renderMu.Unlock()
			p.publishMu.Unlock()
			continue
		}
		start := time.Now()
		p.renderCovering = p.renderAsked
		p.nextPushRender = start.Add(p.opts.PushRenderInterval)
		p.renderMu.Unlock()
		var err error
		if s.Publisher != nil {
			if err = s.Publisher.Rebuild(ctx); err != nil {
				err = fmt.Errorf("render feeds: %w", err)
			}
		}
		took := time.Since(start)
		p.renderMu.Lock()
		p.nextPushRender = start.Add(max(p.opts.PushRenderInterval, pushRenderShare*took))
		p.renderMu.Unlock()
		p.publishMu.Unlock()
		return err
	}
}

// Wake brings src's next attempt forward to what its schedule says from
// now, if that is sooner: for a source whose WebSub subscription lapsed,
// which was polled only as a safety net. A source being fetched is left
// to its fetch.
func (p *Poller) Wake(ctx context.Context, src aggregator.Source) error {
	if !p.claim(src.Name) {
		return nil
	}
	defer p.release(src.Name)
	return p.wake(ctx, src)
}

// PollSoon is Wake for a source whose pushed content was dropped before
// it was stored: the next fetch of its full feed brings back what the
// feed still lists, and its schedule's next tick is when a source without
// a hub would have been fetched anyway. Unlike Wake it waits for a fetch
// or an ingest of src in flight, since a fetch may have begun before the
// dropped content was published, and reschedules src after it. The error
// is the store's or ctx's.
func (p *Poller) PollSoon(ctx context.Context, src aggregator.Source) error {
	for !p.claim(src.Name) {
		if err := wait(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	defer p.release(src.Name)
	return p.wake(ctx, src)
}

// wake does Wake's work for a source claimed.
func (p *Poller) wake(ctx context.Context, src aggregator.Source) error {
	s := p.current.Load()
	st, err := p.store.State(ctx, src.Name)
	if err != nil {
		if errors.Is(err, aggregator.ErrNotFound) {
			return nil
		}
		return err
	}
	at := s.policy.NextAfterChange(src, st, p.opts.Now())
	if st.Gone || st.NextAttempt.IsZero() || !at.Before(st.NextAttempt) {
		return nil
	}
	st.NextAttempt = at
	return p.store.SaveState(ctx, src, st)
}
