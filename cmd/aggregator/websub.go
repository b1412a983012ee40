package main

import (
	"context"

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
