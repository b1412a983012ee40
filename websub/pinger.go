package websub

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
)

// PingerOptions are the optional settings of a Pinger. The zero value works.
type PingerOptions struct {
	Client    *http.Client     // nil → one with a 30s timeout
	UserAgent string           // nil → aggregator.DefaultUserAgent
	Now       func() time.Time // nil → time.Now
	Logger    *slog.Logger     // nil → discard
	// RetryBase and RetryMax shape the backoff of a failed ping: RetryBase
	// doubled at each failure, at most RetryMax. 0 → 30s and 1h.
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how many times one ping is tried before it is given
	// up (the next change of the feed pings again); 0 → 10.
	MaxAttempts int
	// DownAfter is how many failures in a row, whatever the feeds, take a
	// hub for down (0 → 5): it is logged once, at Warn, and then tried
	// only once every ProbeEvery (0 → 1h), with one of the pings waiting;
	// the others wait, and go at once when it answers again.
	DownAfter  int
	ProbeEvery time.Duration
}

// HubStatus is what an admin sees of a hub our feeds name: /status.json.
type HubStatus struct {
	URL                 string    `json:"url"`
	LastPing            time.Time `json:"last_ping,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	Error               string    `json:"error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Pending             int       `json:"pending"` // feeds waiting to be pinged, or to be pinged again
	Pings               uint64    `json:"pings"`   // requests sent
	Failures            uint64    `json:"failures"`
	GivenUp             uint64    `json:"given_up"` // pings dropped after MaxAttempts
	Down                bool      `json:"down"`     // failed DownAfter times in a row: probed every ProbeEvery
}

// Pinger tells hubs (hub.mode=publish) of each feed that changed, in the
// background: a slow or failing hub never delays the caller, and is
// retried with capped backoff. Each hub has its own worker, so one does
// not hold up another. It is safe for concurrent use.
type Pinger struct {
	client *http.Client
	opts   PingerOptions
	wake   map[string]chan struct{}

	mu      sync.Mutex
	hubs    []string
	pending map[string]map[string]*ping // hub → feed URL → ping
	status  map[string]*HubStatus
	probe   map[string]time.Time       // hub → when a hub that is down is tried next
	warned  map[string]map[string]bool // hub → feed URLs whose giving up was logged at Warn
}

// ping is one feed URL to tell a hub of.
type ping struct {
	attempts int
	due      time.Time
}

// NewPinger returns a Pinger of hubs; Run sends its pings.
func NewPinger(hubs []string, opts PingerOptions) *Pinger {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = aggregator.DefaultUserAgent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 30 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = 5
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = time.Hour
	}
	p := &Pinger{
		client:  opts.Client,
		opts:    opts,
		hubs:    slices.Clone(hubs),
		wake:    make(map[string]chan struct{}, len(hubs)),
		pending: make(map[string]map[string]*ping, len(hubs)),
		status:  make(map[string]*HubStatus, len(hubs)),
		probe:   make(map[string]time.Time, len(hubs)),
		warned:  make(map[string]map[string]bool, len(hubs)),
	}
	for _, h := range hubs {
		p.wake[h] = make(chan struct{}, 1)
		p.pending[h] = make(map[string]*ping)
		p.status[h] = &HubStatus{URL: h}
		p.warned[h] = make(map[string]bool)
	}
	return p
}

// Publish asks every hub to be told of each feed URL, at once: a URL
// already waiting for a hub is told once. It never blocks.
func (p *Pinger) Publish(feedURLs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	for _, h := range p.hubs {
		for _, u := range feedURLs {
			if _, ok := p.pending[h][u]; !ok {
				p.pending[h][u] = &ping{due: now}
			}
		}
		select {
		case p.wake[h] <- struct{}{}:
		default:
		}
	}
}

// Run sends the pings until ctx ends, one worker per hub.
func (p *Pinger) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range p.hubs {
		wg.Go(func() { p.work(ctx, h) })
	}
	wg.Wait()
}

// Status returns the status of every hub, in the order of the config.
func (p *Pinger) Status() []HubStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]HubStatus, 0, len(p.hubs))
	for _, h := range p.hubs {
		st := *p.status[h]
		st.Pending = len(p.pending[h])
		out = append(out, st)
	}
	return out
}

// work pings hub with the feeds due, then sleeps until the next is due or
// Publish wakes it.
func (p *Pinger) work(ctx context.Context, hub string) {
	for {
		urls, next := p.due(hub)
		for _, u := range urls {
			err := p.send(ctx, hub, u)
			if ctx.Err() != nil {
				return
			}
			if down := p.record(hub, u, err); down {
				break
			}
		}
		if len(urls) > 0 {
			continue // more may have come while sending
		}
		if !sleepUntil(ctx, p.wake[hub], next, p.opts.Now) {
			return
		}
	}
}

// due returns the feed URLs due to be pinged at hub now, sorted, and when
// the next of the others is due (zero for none). Of a hub that is down,
// it returns one of those waiting once its probe is due.
func (p *Pinger) due(hub string) (urls []string, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if p.status[hub].Down {
		if len(p.pending[hub]) == 0 {
			return nil, time.Time{}
		}
		if probe := p.probe[hub]; probe.After(now) {
			return nil, probe
		}
		for u := range p.pending[hub] {
			if urls == nil || u < urls[0] {
				urls = []string{u}
			}
		}
		return urls, time.Time{}
	}
	for u, pg := range p.pending[hub] {
		switch {
		case !pg.due.After(now):
			urls = append(urls, u)
		case next.IsZero() || pg.due.Before(next):
			next = pg.due
		}
	}
	slices.Sort(urls)
	return urls, next
}

// send asks hub to fetch feedURL: hub.mode=publish with hub.url (the
// name PubSubHubbub 0.4 hubs, Superfeedr and websub.rocks read) and
// hub.topic (Switchboard's and others'). Any 2xx is success.
func (p *Pinger) send(ctx context.Context, hub, feedURL string) error {
	form := url.Values{"hub.mode": {"publish"}, "hub.url": {feedURL}, "hub.topic": {feedURL}}
	return postForm(ctx, p.client, hub, p.opts.UserAgent, form)
}

// record notes the outcome of pinging hub with feedURL: done, or due
// again after a backoff, or given up; and reports whether hub is down.
// A hub's failures are logged at Debug but for its going down, at Warn
// once until it answers again, and a ping given up, at Warn once per feed
// until it goes through.
func (p *Pinger) record(hub, feedURL string, err error) (down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	st := p.status[hub]
	st.LastPing = now
	st.Pings++
	pg := p.pending[hub][feedURL]
	if err == nil {
		st.LastSuccess, st.Error, st.ConsecutiveFailures = now, "", 0
		delete(p.pending[hub], feedURL)
		delete(p.warned[hub], feedURL)
		p.opts.Logger.Debug("hub pinged", "hub", hub, "feed", feedURL)
		if st.Down {
			st.Down = false
			for _, other := range p.pending[hub] {
				other.due, other.attempts = now, 0
			}
			p.opts.Logger.Info("hub answers again", "hub", hub, "pending", len(p.pending[hub]))
		}
		return false
	}
	st.Failures++
	st.ConsecutiveFailures++
	st.Error = err.Error()
	switch {
	case st.Down:
		p.probe[hub] = now.Add(p.opts.ProbeEvery)
		p.opts.Logger.Debug("hub still down", "hub", hub, "feed", feedURL, "next_probe", p.probe[hub], "err", err)
		return true
	case st.ConsecutiveFailures >= p.opts.DownAfter:
		st.Down = true
		p.probe[hub] = now.Add(p.opts.ProbeEvery)
		p.opts.Logger.Warn("hub down: pinging it again once it answers a probe", "hub", hub,
			"failures", st.ConsecutiveFailures, "probe_every", p.opts.ProbeEvery, "err", err)
		return true
	}
	pg.attempts++
	if pg.attempts >= p.opts.MaxAttempts {
		st.GivenUp++
		delete(p.pending[hub], feedURL)
		level := slog.LevelWarn
		if p.warned[hub][feedURL] {
			level = slog.LevelDebug
		}
		p.warned[hub][feedURL] = true
		p.opts.Logger.Log(context.Background(), level, "hub ping given up", "hub", hub, "feed", feedURL, "attempts", pg.attempts, "err", err)
		return false
	}
	pg.due = now.Add(backoff(pg.attempts, p.opts.RetryBase, p.opts.RetryMax))
	p.opts.Logger.Debug("hub ping failed", "hub", hub, "feed", feedURL, "next_attempt", pg.due, "err", err)
	return false
}
