package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/daemon"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/sanitize"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
)

// app wires the packages together for one config: the fetch client and the
// site of that config, around the store and the poller of the process,
// which outlive a reload.
type app struct {
	eng    *engine // what the app shares with the others of the process
	cfg    *config.Config
	store  *storage.Store
	poller *poll.Poller
	client *fetch.Client
	site   *publish.Site
	logger *slog.Logger
}

// appOptions are the optional settings of openAppWith; the zero value is
// what the commands use.
type appOptions struct {
	now              func() time.Time                                                  // nil → time.Now
	dial             func(ctx context.Context, network, addr string) (net.Conn, error) // nil → a net.Dialer
	ignoreRetryAfter bool                                                              // fetch -force
	isPrivate        func(netip.Addr) bool                                             // nil → fetch.IsPrivate
	batchDelay       time.Duration                                                     // storage.Options.BatchDelay
	// renderChangesOnly skips the rendering after a pass that stored and
	// pruned nothing: for the fetch command, whose outputs nobody reads.
	// A daemon renders after every pass: its pages show each source's
	// health.
	renderChangesOnly bool
	// noHiddenCounts leaves the pages without the count of each source's
	// items the filters hide: for the fetch command, whose pages nobody
	// reads, as counting reads every item stored.
	noHiddenCounts bool
}

// engine is what the apps of one process share: a reload builds a new
// app around them.
type engine struct {
	store  *storage.Store
	poller *poll.Poller
	// blocks are the hosts' Retry-After times, which every app's client
	// shares: a 503 that reaches a pass begun before a reload holds for
	// the passes after it.
	blocks *fetch.Blocks
	// prepared keeps the safe HTML of the items shown, for every app's
	// site: a reload sanitizes nothing already shown.
	prepared *publish.Prepared
	opts     appOptions
	// changed is told of each render's changes (daemon.Daemon.Changed);
	// nil for the commands but serve.
	changed func([]publish.FeedChange)
}

// newEngine returns the engine of store, its passes observed by observe
// (nil for none).
func newEngine(store *storage.Store, logger *slog.Logger, opts appOptions, observe func(poll.Outcome)) *engine {
	if opts.now == nil {
		opts.now = time.Now
	}
	poller := poll.New(store, poll.Options{Now: opts.now, Logger: logger, Observe: observe, RenderChangesOnly: opts.renderChangesOnly})
	return &engine{store: store, poller: poller, blocks: &fetch.Blocks{}, prepared: &publish.Prepared{}, opts: opts}
}

// openAppWith opens the database and builds the fetcher and the site for
// cfg, and puts them in force.
func openAppWith(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts appOptions) (*app, error) {
	store, err := openStore(cfg, logger, opts.batchDelay)
	if err != nil {
		return nil, err
	}
	a, err := newEngine(store, logger, opts, nil).app(cfg, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	if err := a.configure(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

// openStore opens cfg's database.
func openStore(cfg *config.Config, logger *slog.Logger, batchDelay time.Duration) (*storage.Store, error) {
	return storage.Open(cfg.Database, storage.Options{
		Logger:     logger,
		BatchDelay: batchDelay,
		MaxSize:    cfg.DatabaseMax,
	})
}

// app builds the fetch client and the site of cfg, loading its theme (the
// theme's mistakes are *publish.ThemeError values, joined). It writes
// nothing: configure puts the app's settings in force.
func (p *engine) app(cfg *config.Config, logger *slog.Logger) (*app, error) {
	theme, err := publish.LoadTheme(cfg.Theme)
	if err != nil {
		return nil, err
	}
	fopts := fetchOptions(cfg)
	fopts.Now, fopts.IgnoreRetryAfter = p.opts.now, p.opts.ignoreRetryAfter
	fopts.Blocks, fopts.Dial, fopts.IsPrivate = p.blocks, p.opts.dial, p.opts.isPrivate
	sopts := siteOptions(cfg, logger)
	sopts.Prepared = p.prepared
	sopts.Theme = theme
	if p.opts.renderChangesOnly {
		// Nobody reads this command's outputs: the feeds and the first
		// pages tell a broken render, and the older pages would only
		// make it sanitize ten times the items.
		sopts.Pages = 1
	}
	sopts.Changed = p.changed
	return &app{
		eng:    p,
		cfg:    cfg,
		store:  p.store,
		poller: p.poller,
		client: fetch.NewClient(nil, fopts),
		site:   publish.NewSite(p.feedStore(cfg), sopts),
		logger: logger,
	}, nil
}

// feedStore is what the site of cfg reads: without the counts of hidden
// items (the Hidden method) for noHiddenCounts.
func (p *engine) feedStore(cfg *config.Config) publish.Store {
	f := feedsOf(p.store, cfg)
	if p.opts.noHiddenCounts {
		return struct{ publish.Store }{f}
	}
	return f
}

// settings are the poller's settings of a's config.
func (a *app) settings() poll.Settings {
	return poll.Settings{
		Sources:     a.cfg.Sources,
		Schedule:    a.cfg.Schedule,
		MaxInterval: a.cfg.Fetch.MaxInterval,
		Jitter:      a.cfg.Fetch.Jitter,
		Concurrency: a.cfg.Fetch.Concurrency,
		Retention:   storage.Retention{MaxItems: a.cfg.Retention.MaxItems, MaxAge: a.cfg.Retention.MaxAge, RemovedAfter: a.cfg.Retention.RemovedAfter},
		Client:      a.client,
		Publisher:   a.site,

		PushPollInterval: a.cfg.WebSub.PollInterval,
	}
}

// setup is what the daemon serves and fetches with for a's config.
func (a *app) setup() *daemon.Setup {
	ws := a.cfg.WebSub
	return &daemon.Setup{
		Site:       a.site,
		Poll:       a.settings(),
		Rules:      a.cfg.Rules,
		AllowAdmin: a.cfg.Admin.Allows,
		PingHubs:   ws.Hubs,
		WebSub: daemon.WebSub{
			Hub: ws.Hub, Subscribe: ws.Subscribe,
			BaseURL: a.cfg.BaseURL, UserAgent: a.cfg.Fetch.UserAgent, MaxBytes: a.cfg.Fetch.MaxBytes,
			AllowHTTPCallbacks: ws.AllowHTTPCallbacks, AllowPrivateCallbacks: ws.AllowPrivateCallbacks,
			LeaseMin: ws.LeaseMin, LeaseMax: ws.LeaseMax,
		},
	}
}

// configure puts a's settings in force in the poller: the store's sources
// follow the config, and passes fetch with a's client and publish to its
// site.
func (a *app) configure(ctx context.Context) error {
	return a.poller.Configure(ctx, a.settings())
}

// feedsOf is what cfg's site reads of store.
func feedsOf(store *storage.Store, cfg *config.Config) *poll.Feeds {
	return poll.NewFeeds(store, poll.FeedOptions{Sources: cfg.Sources, PerSource: cfg.Publish.PerSource, MaxAge: cfg.Publish.MaxAge, Rules: cfg.Rules})
}

func fetchOptions(cfg *config.Config) fetch.Options {
	return fetch.Options{
		UserAgent:     cfg.Fetch.UserAgent,
		Timeout:       cfg.Fetch.Timeout,
		HeaderTimeout: cfg.Fetch.HeaderTimeout,
		MaxBytes:      cfg.Fetch.MaxBytes,
		PerHost:       cfg.Fetch.PerHost,
		Concurrency:   cfg.Fetch.Concurrency,
		HostInterval:  cfg.Fetch.HostInterval,
		MaxRetryAfter: cfg.Fetch.MaxInterval,

		AllowPrivateRedirects: cfg.Fetch.AllowPrivateRedirects,
	}
}

func siteOptions(cfg *config.Config, logger *slog.Logger) publish.Options {
	sections := make([]publish.Section, 0, len(cfg.Sections))
	for _, s := range cfg.Sections {
		sections = append(sections, publish.Section{Name: s.Name, Title: s.Title, Description: s.Description})
	}
	return publish.Options{
		Title:       cfg.Title,
		Description: cfg.Description,
		BaseURL:     cfg.BaseURL,
		Items:       cfg.Publish.Items,
		PageItems:   cfg.Page.Items,
		Pages:       cfg.Page.Pages,
		TimeZone:    cfg.Page.TimeZone,
		CSP:         cfg.Page.CSP,
		Sections:    sections,
		Sources:     poll.PublicSources(cfg.Sources),
		CacheMaxAge: poll.CacheMaxAge(cfg.Schedule, cfg.Sources, time.Now()),
		Logger:      logger,
		// Each version of an item is made safe once, when it is first
		// shown, and kept in memory while it is: a pass stores thousands
		// of items, a render shows a few hundred, and sanitizing costs as
		// much as parsing.
		Sanitize: sanitize.New().HTML,
		Hubs:     feedHubs(cfg),
	}
}

// feedHubs are the hubs cfg's feeds name: our own first, so that a
// subscriber that takes the first takes ours, then websub.hubs.
func feedHubs(cfg *config.Config) []string {
	var hubs []string
	if cfg.WebSub.Hub {
		hubs = append(hubs, cfg.BaseURL+websub.HubPath)
	}
	return append(hubs, cfg.WebSub.Hubs...)
}

func (a *app) close() error {
	return a.store.Close()
}
