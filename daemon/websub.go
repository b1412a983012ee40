package daemon

import (
	"context"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/websub"
)

// WebSub are the settings the daemon's WebSub is built from: Apply starts
// it anew when they change. The hubs to ping and the sources are put in
// force without.
type WebSub struct {
	Hub       bool // run our own hub at websub.HubPath
	Subscribe bool // subscribe to the hubs the sources name
	BaseURL   string
	UserAgent string
	MaxBytes  int64 // of a pushed body
	// Our hub's callbacks: plain http ones, and ones on private
	// addresses, refused unless allowed.
	AllowHTTPCallbacks, AllowPrivateCallbacks bool
	// The leases our hub grants, and the one the subscriber asks for
	// (LeaseMax).
	LeaseMin, LeaseMax time.Duration
}

// startWebSub stops the daemon's WebSub, if one runs, and starts s's in
// its place: subscriptions, ours and our hub's, are in the store, and the
// new one takes them up.
func (d *Daemon) startWebSub(s *Setup) error {
	d.stopWebSub()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := d.newWebSub(ctx, s.WebSub)
	if err != nil {
		cancel()
		return err
	}
	svc.Configure(s.Poll.Sources, s.PingHubs)
	on := s.WebSub
	d.pushOn, d.pushStop = &on, func() { cancel(); svc.Wait() }
	d.push.Store(svc)
	return nil
}

// stopWebSub stops the daemon's WebSub and waits for its goroutines;
// until another starts, the daemon has none (a nil *websub.Service).
func (d *Daemon) stopWebSub() {
	if d.pushStop != nil {
		d.push.Store(nil)
		d.pushStop()
		d.pushOn, d.pushStop = nil, nil
	}
}

// wakeUnsubscribed puts back on their schedule the sources that were
// subscribed to in was, the WebSub Apply stopped, and are not in the one
// in force: they were polled only as a safety net.
func (d *Daemon) wakeUnsubscribed(ctx context.Context, was *websub.Service, sources []aggregator.Source) {
	now := d.push.Load()
	for _, src := range sources {
		if was.Subscribed(src.Name) && !now.Subscribed(src.Name) {
			d.reschedule(src, d.poller.Wake(ctx, src))
		}
	}
}

// reschedule logs err, the failure to put src back on its schedule.
func (d *Daemon) reschedule(src aggregator.Source, err error) {
	if err != nil {
		d.logger.Error("reschedule source", "source", src.Name, "err", err)
	}
}

// newWebSub starts the WebSub ws asks for (our own hub, subscriptions to
// the sources' hubs, pings to hubs) until ctx ends.
func (d *Daemon) newWebSub(ctx context.Context, ws WebSub) (*websub.Service, error) {
	opts := websub.ServiceOptions{UserAgent: ws.UserAgent, Logger: d.logger}
	guarded := websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: ws.AllowPrivateCallbacks})
	if ws.Hub {
		opts.Hub = &websub.HubOptions{
			IsTopic:   func(u string) bool { return d.Setup().Site.IsFeed(u) },
			LeaseMin:  ws.LeaseMin,
			LeaseMax:  ws.LeaseMax,
			AllowHTTP: ws.AllowHTTPCallbacks,
			Client:    guarded,
			UserAgent: ws.UserAgent,
			Logger:    d.logger,
		}
	}
	if ws.Subscribe {
		opts.Ingest = func(ctx context.Context, src aggregator.Source, body []byte, contentType string) error {
			_, err := d.poller.Ingest(ctx, src, body, contentType)
			return err
		}
		opts.Subscriber = &websub.SubscriberOptions{
			BaseURL:   ws.BaseURL,
			Client:    guarded,
			UserAgent: ws.UserAgent,
			MaxBytes:  ws.MaxBytes,
			Lease:     ws.LeaseMax,
			Lapsed:    func(src aggregator.Source) { d.reschedule(src, d.poller.Wake(ctx, src)) },
			Overflowed: func(src aggregator.Source) {
				if err := d.poller.PollSoon(ctx, src); ctx.Err() == nil {
					d.reschedule(src, err)
				}
			},
			Logger: d.logger,
		}
	}
	return websub.NewService(ctx, d.store, opts)
}
