package main

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/websub"
	"github.com/prometheus/client_golang/prometheus"
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

// push is the daemon's WebSub: the pinger of websub.hubs, which a reload
// replaces, and our own hub, which lives as long as the process. Its
// goroutines run until stop.
type push struct {
	ctx    context.Context
	logger *slog.Logger
	hub    *websub.Hub        // nil unless websub.hub
	sub    *websub.Subscriber // nil unless websub.subscribe
	wg     sync.WaitGroup

	mu         sync.Mutex
	pinger     *websub.Pinger // nil without websub.hubs
	pingHubs   []string
	stopPinger context.CancelFunc
}

// newPush starts the WebSub of cfg until ctx ends; isTopic tells our
// feeds' URLs.
func newPush(ctx context.Context, d *server, cfg *config.Config) (*push, error) {
	p := &push{ctx: ctx, logger: d.logger}
	if cfg.WebSub.Hub {
		hub, err := websub.NewHub(ctx, d.store, websub.HubOptions{
			IsTopic:   func(u string) bool { return d.current().site.IsFeed(u) },
			LeaseMin:  cfg.WebSub.LeaseMin,
			LeaseMax:  cfg.WebSub.LeaseMax,
			AllowHTTP: cfg.WebSub.AllowHTTPCallbacks,
			Client:    websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: cfg.WebSub.AllowPrivateCallbacks}),
			UserAgent: cfg.Fetch.UserAgent,
			Logger:    d.logger,
		})
		if err != nil {
			return nil, err
		}
		p.hub = hub
		p.wg.Go(func() { hub.Run(ctx) })
	}
	if cfg.WebSub.Subscribe {
		poller := d.eng.poller
		sub, err := websub.NewSubscriber(ctx, d.store, func(ctx context.Context, src aggregator.Source, body []byte, contentType string) error {
			_, err := poller.Ingest(ctx, src, body, contentType)
			return err
		}, websub.SubscriberOptions{
			BaseURL:   cfg.BaseURL,
			Client:    websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: cfg.WebSub.AllowPrivateCallbacks}),
			UserAgent: cfg.Fetch.UserAgent,
			MaxBytes:  cfg.Fetch.MaxBytes,
			Lease:     cfg.WebSub.LeaseMax,
			Lapsed: func(src aggregator.Source) {
				if err := poller.Wake(ctx, src); err != nil {
					d.logger.Error("reschedule source", "source", src.Name, "err", err)
				}
			},
			Logger: d.logger,
		})
		if err != nil {
			return nil, err
		}
		p.sub = sub
		p.wg.Go(func() { sub.Run(ctx) })
	}
	p.configure(cfg)
	return p, nil
}

// subscribed reports whether source has a live WebSub subscription.
func (p *push) subscribed(source string) bool {
	return p != nil && p.sub != nil && p.sub.Subscribed(source)
}

// discovered hands the subscriber the hubs a fetch found.
func (p *push) discovered(o poll.Outcome) {
	if p == nil || p.sub == nil || o.Err != nil || len(o.Hubs) == 0 {
		return
	}
	p.sub.Discovered(o.Source, o.Hubs, o.Self, aggregator.RedactURL(poll.FetchURL(o.Source, o.State)))
}

// serveCallback serves the subscriber's callbacks; false without one.
func (p *push) serveCallback(w http.ResponseWriter, r *http.Request) bool {
	if p == nil || p.sub == nil {
		return false
	}
	p.sub.ServeHTTP(w, r)
	return true
}

// sourceStatus is source's subscription in words; "" without one.
func (p *push) sourceStatus(source string) string {
	if p == nil || p.sub == nil {
		return ""
	}
	return p.sub.Status(source)
}

// configure puts cfg's websub.hubs in force: a new pinger when they
// changed. The hub's settings take effect at restart.
func (p *push) configure(cfg *config.Config) {
	if p == nil {
		return
	}
	if p.sub != nil {
		p.sub.Configure(cfg.Sources)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Equal(p.pingHubs, cfg.WebSub.Hubs) {
		return
	}
	if p.stopPinger != nil {
		p.stopPinger()
	}
	p.pinger, p.pingHubs, p.stopPinger = nil, cfg.WebSub.Hubs, nil
	if len(cfg.WebSub.Hubs) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	pinger := websub.NewPinger(cfg.WebSub.Hubs, websub.PingerOptions{UserAgent: cfg.Fetch.UserAgent, Logger: p.logger})
	p.pinger, p.stopPinger = pinger, cancel
	p.wg.Go(func() { pinger.Run(ctx) })
}

// changed tells the hubs of the feeds a render changed; it never blocks.
func (p *push) changed(changes []publish.FeedChange) {
	if p == nil {
		return
	}
	p.mu.Lock()
	pinger := p.pinger
	p.mu.Unlock()
	if pinger != nil {
		urls := make([]string, 0, len(changes))
		for _, c := range changes {
			urls = append(urls, c.URL)
		}
		pinger.Publish(urls)
	}
	if p.hub != nil {
		contents := make([]websub.Content, 0, len(changes))
		for _, c := range changes {
			contents = append(contents, websub.Content{Topic: c.URL, ContentType: c.ContentType, Body: c.Body, Link: c.Link})
		}
		p.hub.Publish(contents)
	}
}

// wait waits for the goroutines, once the context given to newPush ended.
func (p *push) wait() {
	if p != nil {
		p.wg.Wait()
	}
}

// serveHub serves our hub's route; without a hub, the site's 404.
func (p *push) serveHub(w http.ResponseWriter, r *http.Request) bool {
	if p == nil || p.hub == nil {
		return false
	}
	p.hub.ServeHTTP(w, r)
	return true
}

// pushStatus is the websub part of /status.json.
type pushStatus struct {
	Hubs []websub.HubStatus `json:"hubs,omitempty"` // websub.hubs, as pinged
	Hub  *websub.HubStats   `json:"hub,omitempty"`  // our own
	// Subscriber counts the pushes from the hubs of sources.
	Subscriber *websub.SubscriberStats `json:"subscriber,omitempty"`
}

// status returns what /status.json shows of WebSub; nil when none is on.
func (p *push) status() *pushStatus {
	if p == nil {
		return nil
	}
	var st pushStatus
	p.mu.Lock()
	if p.pinger != nil {
		st.Hubs = p.pinger.Status()
	}
	p.mu.Unlock()
	if p.hub != nil {
		hs := p.hub.Stats()
		st.Hub = &hs
	}
	if p.sub != nil {
		ss := p.sub.Stats()
		st.Subscriber = &ss
	}
	if st.Hubs == nil && st.Hub == nil && st.Subscriber == nil {
		return nil
	}
	return &st
}

// pushCollector exports the status of WebSub at each scrape.
type pushCollector struct{ p *push }

var (
	pingsDesc = prometheus.NewDesc("aggregator_websub_pings_total",
		"Pings sent to each hub of websub.hubs, by result: ok or error.", []string{"hub", "result"}, nil)
	pingPendingDesc = prometheus.NewDesc("aggregator_websub_pings_pending",
		"Feeds waiting to be pinged to each hub of websub.hubs (retries included).", []string{"hub"}, nil)
	hubSubsDesc = prometheus.NewDesc("aggregator_websub_hub_subscriptions",
		"Subscriptions to our own hub.", nil, nil)
	hubDeliveriesDesc = prometheus.NewDesc("aggregator_websub_hub_deliveries_total",
		"Content our hub sent to subscribers, by result: ok or error.", []string{"result"}, nil)
	hubDroppedDesc = prometheus.NewDesc("aggregator_websub_hub_dropped_total",
		"Subscriptions our hub dropped after failed deliveries or a 410.", nil, nil)
	hubRequestsDesc = prometheus.NewDesc("aggregator_websub_hub_requests_total",
		"Subscription requests to our hub, by result: accepted or refused.", []string{"result"}, nil)
	subLiveDesc = prometheus.NewDesc("aggregator_websub_subscriptions",
		"Live subscriptions of ours to the hubs of sources.", nil, nil)
	subPushesDesc = prometheus.NewDesc("aggregator_websub_pushes_total",
		"Bodies the hubs of sources pushed to us, by result: taken (signed, stored or coalesced) or rejected.", []string{"result"}, nil)
)

func (c pushCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pingsDesc, pingPendingDesc, hubSubsDesc, hubDeliveriesDesc, hubDroppedDesc, hubRequestsDesc, subLiveDesc, subPushesDesc} {
		ch <- d
	}
}

func (c pushCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.status()
	if st == nil {
		return
	}
	for _, h := range st.Hubs {
		ch <- prometheus.MustNewConstMetric(pingsDesc, prometheus.CounterValue, float64(h.Pings-h.Failures), h.URL, "ok")
		ch <- prometheus.MustNewConstMetric(pingsDesc, prometheus.CounterValue, float64(h.Failures), h.URL, "error")
		ch <- prometheus.MustNewConstMetric(pingPendingDesc, prometheus.GaugeValue, float64(h.Pending), h.URL)
	}
	if h := st.Hub; h != nil {
		ch <- prometheus.MustNewConstMetric(hubSubsDesc, prometheus.GaugeValue, float64(h.Subscriptions))
		ch <- prometheus.MustNewConstMetric(hubDeliveriesDesc, prometheus.CounterValue, float64(h.Deliveries), "ok")
		ch <- prometheus.MustNewConstMetric(hubDeliveriesDesc, prometheus.CounterValue, float64(h.Failures), "error")
		ch <- prometheus.MustNewConstMetric(hubDroppedDesc, prometheus.CounterValue, float64(h.Dropped))
		ch <- prometheus.MustNewConstMetric(hubRequestsDesc, prometheus.CounterValue, float64(h.Requests-h.Refused), "accepted")
		ch <- prometheus.MustNewConstMetric(hubRequestsDesc, prometheus.CounterValue, float64(h.Refused), "refused")
	}
	if s := st.Subscriber; s != nil {
		ch <- prometheus.MustNewConstMetric(subLiveDesc, prometheus.GaugeValue, float64(s.Subscriptions))
		ch <- prometheus.MustNewConstMetric(subPushesDesc, prometheus.CounterValue, float64(s.Pushes), "taken")
		ch <- prometheus.MustNewConstMetric(subPushesDesc, prometheus.CounterValue, float64(s.Rejected), "rejected")
	}
}
