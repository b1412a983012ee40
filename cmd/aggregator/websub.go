package main

import (
	"context"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/websub"
)

// hubPath is the route of our own WebSub hub.
const hubPath = "/websub"

// feedHubs are the hubs cfg's feeds name: our own first, so that a
// subscriber that takes the first takes ours, then websub.hubs.
func feedHubs(cfg *config.Config) []string {
	var hubs []string
	if cfg.WebSub.Hub {
		hubs = append(hubs, cfg.BaseURL+hubPath)
	}
	return append(hubs, cfg.WebSub.Hubs...)
}

// webSubSettings are what the daemon's WebSub is built from: a reload
// that changes them starts it anew. The hubs to ping, the sources and
// websub.poll_interval are put in force without.
type webSubSettings struct {
	baseURL, userAgent                                        string
	maxBytes                                                  int64
	hub, subscribe, allowHTTPCallbacks, allowPrivateCallbacks bool
	leaseMin, leaseMax                                        time.Duration
}

func webSubSettingsOf(cfg *config.Config) webSubSettings {
	ws := cfg.WebSub
	return webSubSettings{cfg.BaseURL, cfg.Fetch.UserAgent, cfg.Fetch.MaxBytes,
		ws.Hub, ws.Subscribe, ws.AllowHTTPCallbacks, ws.AllowPrivateCallbacks, ws.LeaseMin, ws.LeaseMax}
}

// startWebSub stops the daemon's WebSub, if one runs, and starts cfg's in
// its place: subscriptions, ours and our hub's, are in the store, and
// the new one takes them up.
func (d *server) startWebSub(cfg *config.Config) error {
	d.stopWebSub()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newWebSub(ctx, d, cfg)
	if err != nil {
		cancel()
		return err
	}
	settings := webSubSettingsOf(cfg)
	d.push, d.pushStop = &settings, func() { cancel(); s.Wait() }
	d.eng.push.Store(s)
	return nil
}

// stopWebSub stops the daemon's WebSub and waits for its goroutines;
// until another starts, the daemon has none (a nil *websub.Service).
func (d *server) stopWebSub() {
	if d.pushStop != nil {
		d.eng.push.Store(nil)
		d.pushStop()
		d.push, d.pushStop = nil, nil
	}
}

// wakeUnsubscribed puts back on their schedule the sources that were
// subscribed to in was, the WebSub a reload stopped, and are not in the
// one in force: they were polled only as a safety net.
func (d *server) wakeUnsubscribed(ctx context.Context, was *websub.Service, sources []aggregator.Source) {
	now := d.eng.push.Load()
	for _, src := range sources {
		if was.Subscribed(src.Name) && !now.Subscribed(src.Name) {
			if err := d.eng.poller.Wake(ctx, src); err != nil {
				d.logger.Error("reschedule source", "source", src.Name, "err", err)
			}
		}
	}
}

// newWebSub starts the WebSub of cfg (our own hub, subscriptions to the
// sources' hubs, pings to websub.hubs) until ctx ends.
func newWebSub(ctx context.Context, d *server, cfg *config.Config) (*websub.Service, error) {
	ws := cfg.WebSub
	opts := websub.ServiceOptions{UserAgent: cfg.Fetch.UserAgent, Logger: d.logger}
	guarded := websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: ws.AllowPrivateCallbacks})
	if ws.Hub {
		opts.Hub = &websub.HubOptions{
			IsTopic:   func(u string) bool { return d.current().site.IsFeed(u) },
			LeaseMin:  ws.LeaseMin,
			LeaseMax:  ws.LeaseMax,
			AllowHTTP: ws.AllowHTTPCallbacks,
			Client:    guarded,
			UserAgent: cfg.Fetch.UserAgent,
			Logger:    d.logger,
		}
	}
	if ws.Subscribe {
		poller := d.eng.poller
		opts.Ingest = func(ctx context.Context, src aggregator.Source, body []byte, contentType string) error {
			_, err := poller.Ingest(ctx, src, body, contentType)
			return err
		}
		opts.Subscriber = &websub.SubscriberOptions{
			BaseURL:   cfg.BaseURL,
			Client:    guarded,
			UserAgent: cfg.Fetch.UserAgent,
			MaxBytes:  cfg.Fetch.MaxBytes,
			Lease:     ws.LeaseMax,
			Lapsed: func(src aggregator.Source) {
				if err := poller.Wake(ctx, src); err != nil {
					d.logger.Error("reschedule source", "source", src.Name, "err", err)
				}
			},
			Overflowed: func(src aggregator.Source) {
				if err := poller.PollSoon(ctx, src); err != nil && ctx.Err() == nil {
					d.logger.Error("reschedule source", "source", src.Name, "err", err)
				}
			},
			Logger: d.logger,
		}
	}
	s, err := websub.NewService(ctx, d.store, opts)
	if err != nil {
		return nil, err
	}
	s.Configure(cfg.Sources, ws.Hubs)
	return s, nil
}

// discovered hands the WebSub subscriber the hubs a fetch found.
func discovered(s *websub.Service, o poll.Outcome) {
	if o.Err == nil {
		s.Discovered(o.Source, o.Hubs, o.Self, aggregator.RedactURL(poll.FetchURL(o.Source, o.State)))
	}
}

// feedContents are the feeds a render changed, as WebSub hands them on.
func feedContents(changes []publish.FeedChange) []websub.Content {
	contents := make([]websub.Content, 0, len(changes))
	for _, c := range changes {
		contents = append(contents, websub.Content{Topic: c.URL, ContentType: c.ContentType, Body: c.Body, Link: c.Link})
	}
	return contents
}
