package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/sanitize"
	"github.com/planetgo/aggregator/storage"
)

// app wires the packages together for one config.
type app struct {
	cfg     *config.Config
	store   *storage.Store
	client  *fetch.Client
	site    *publish.Site
	logger  *slog.Logger
	now     func() time.Time
	policy  *policy
	metrics *metrics // nil outside serve
	shared  *shared

	renderChangesOnly bool // appOptions.renderChangesOnly
}

// shared is what every app of one daemon shares: a reload builds a new app
// for the new config while passes of the old one may still run.
type shared struct {
	// current is the app of the config in force; nil outside serve.
	current atomic.Pointer[app]

	// publishMu serialises pruning and re-rendering, which passes on
	// different schedules may both ask for.
	publishMu sync.Mutex

	// inFlight holds the sources being fetched, so that two passes that
	// overlap never fetch the same source twice at once.
	inFlightMu sync.Mutex
	inFlight   map[string]bool

	// hostBlocks are the hosts' Retry-After times, which every app's
	// client shares: a 503 that reaches a pass begun before a reload
	// holds for the passes after it.
	hostBlocks fetch.Blocks
}

// appOptions are the optional settings of openAppWith; the zero value is
// what the commands use.
type appOptions struct {
	now              func() time.Time                                                  // nil → time.Now
	dial             func(ctx context.Context, network, addr string) (net.Conn, error) // nil → a net.Dialer
	ignoreRetryAfter bool                                                              // fetch -force
	isPrivate        func(netip.Addr) bool                                             // nil → fetch.IsPrivate
	metrics          *metrics                                                          // nil → none
	batchDelay       time.Duration                                                     // storage.Options.BatchDelay
	// renderChangesOnly skips the rendering after a pass that stored and
	// pruned nothing: for the fetch command, whose outputs nobody reads.
	// A daemon renders after every pass: its pages show each source's
	// health.
	renderChangesOnly bool
}

// openApp opens the database and builds the fetcher and the site for cfg.
func openApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*app, error) {
	return openAppWith(ctx, cfg, logger, appOptions{})
}

func openAppWith(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts appOptions) (*app, error) {
	sh := &shared{}
	store, err := openStore(cfg, logger, opts.batchDelay)
	if err != nil {
		return nil, err
	}
	a, err := newApp(ctx, cfg, store, logger, opts, sh)
	if err != nil {
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

// newApp builds the fetcher, the policy and the site of cfg around an open
// store, and brings the store's indexes in step with cfg's sources. It
// leaves the store open on error.
func newApp(ctx context.Context, cfg *config.Config, store *storage.Store, logger *slog.Logger, opts appOptions, sh *shared) (*app, error) {
	if opts.now == nil {
		opts.now = time.Now
	}
	pol, err := newPolicy(cfg)
	if err != nil {
		return nil, err
	}
	if err := store.SyncSources(ctx, cfg.Sources); err != nil {
		return nil, err
	}
	fopts := fetchOptions(cfg)
	fopts.Now, fopts.IgnoreRetryAfter = opts.now, opts.ignoreRetryAfter
	fopts.Blocks = &sh.hostBlocks
	hc, dialer := newHTTPClient(cfg, opts.dial)
	fopts.Dialer, fopts.IsPrivate = dialer, opts.isPrivate
	a := &app{
		cfg:     cfg,
		store:   store,
		client:  fetch.NewClient(hc, fopts),
		logger:  logger,
		now:     opts.now,
		policy:  pol,
		metrics: opts.metrics,
		shared:  sh,

		renderChangesOnly: opts.renderChangesOnly,
	}
	a.site = publish.NewSite(newFeedStore(store, cfg, time.Now), siteOptions(cfg, logger))
	if err := a.restoreHostBlocks(ctx); err != nil {
		return nil, err
	}
	return a, nil
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

// restoreHostBlocks tells the client of the Retry-After times earlier runs
// recorded, so that a restart does not ask a host before it said.
func (a *app) restoreHostBlocks(ctx context.Context) error {
	states, err := a.store.States(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	for _, st := range states {
		if st.RetryAfterHost != "" && st.RetryAfter.After(now) {
			a.client.BlockHost(st.RetryAfterHost, st.RetryAfter)
		}
	}
	return nil
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
		Sections:    sections,
		Sources:     publicSources(cfg.Sources),
		CacheMaxAge: cacheMaxAge(cfg, time.Now()),
		Logger:      logger,
		// Each version of an item is made safe once, when it is first
		// shown, and kept in memory while it is: a pass stores thousands
		// of items, a render shows a few hundred, and sanitizing costs as
		// much as parsing.
		Sanitize: sanitize.New().HTML,
	}
}

// newHTTPClient returns the client fetch sends requests with, and the
// dialer of its connections; dial, if not nil, replaces the network (for
// tests), and the dialer is nil.
func newHTTPClient(cfg *config.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*http.Client, *net.Dialer) {
	proxy := http.ProxyFromEnvironment
	var dialer *net.Dialer
	if dial == nil {
		dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		dial = dialer.DialContext
	} else {
		proxy = nil
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             proxy,
			DialContext:       dial,
			ForceAttemptHTTP2: true,
			MaxIdleConns:      100,
			// fetch keeps per_host requests in flight; this keeps the
			// connections to as many, even while one goes back to the pool.
			MaxConnsPerHost:       cfg.Fetch.PerHost,
			MaxIdleConnsPerHost:   cfg.Fetch.PerHost,
			IdleConnTimeout:       30 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.Fetch.HeaderTimeout,
		},
	}, dialer
}

func (a *app) close() error {
	return a.store.Close()
}

// outcome is what fetching one source came to.
type outcome struct {
	source aggregator.Source
	state  aggregator.SourceState
	err    error
	saved  storage.SaveResult
	took   time.Duration
	bytes  int64 // of the body fetched; 0 when not modified

	notModified bool // the source answered 304, or the same body again

	// waiting is set, and nothing else, when no request was sent because
	// the source's host asked us to wait.
	waiting *fetch.HostBlockedError
}

// changed reports whether the outcome changed what the outputs show.
func (o outcome) changed() bool {
	return o.saved.New > 0 || o.saved.Updated > 0
}

// refresh fetches sources now, whatever their schedule and backoff (but not
// before a host's Retry-After, unless the client ignores it), stores what
// they bring, prunes, and re-renders the outputs, calling report (if not
// nil) as each source finishes. A failing source is recorded and reported,
// never fatal: refresh returns an error only when ctx ends or the database
// fails.
func (a *app) refresh(ctx context.Context, sources []aggregator.Source, report func(outcome)) error {
	return a.runPass(ctx, sources, a.now(), false, report)
}

// scheduledPass is what a cron tick runs: it fetches those of sources that
// are due, each at its own offset in the jitter window if spread, and
// leaves the others alone.
func (a *app) scheduledPass(ctx context.Context, sources []aggregator.Source, spread bool) error {
	tick := a.now()
	due, err := a.dueSources(ctx, sources, tick)
	if err != nil {
		return err
	}
	if len(due) == 0 {
		a.logger.Debug("nothing due", "sources", len(sources))
		return nil
	}
	return a.runPass(ctx, due, tick, spread, nil)
}

// dueSources returns the sources a pass at tick fetches: those whose next
// attempt has come, that are not gone, and whose host has not asked us to
// wait.
func (a *app) dueSources(ctx context.Context, sources []aggregator.Source, tick time.Time) ([]aggregator.Source, error) {
	states, err := a.store.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("read source states: %w", err)
	}
	var due []aggregator.Source
	for _, src := range sources {
		st := states[src.Name]
		if !isDue(src, st, tick) || !a.client.BlockedUntil(fetch.Host(fetchURL(src, st))).IsZero() {
			continue
		}
		due = append(due, src)
	}
	return due, nil
}

// runPass fetches sources as of tick, spread over the jitter window if
// spread, then prunes and re-renders.
func (a *app) runPass(ctx context.Context, sources []aggregator.Source, tick time.Time, spread bool, report func(outcome)) error {
	var mu sync.Mutex
	var changed, failed, waiting int
	var dbErr error
	a.fetchAll(ctx, sources, tick, spread, func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		if o.changed() {
			changed++
		}
		if o.waiting != nil {
			waiting++
		}
		if o.err != nil {
			failed++
			var storeErr *storeError
			if errors.As(o.err, &storeErr) {
				dbErr = errors.Join(dbErr, storeErr.err)
			}
		}
		a.metrics.fetched(o)
		if report != nil {
			report(o)
		}
	})
	// The states of sources that brought nothing new, in one commit.
	if err := a.store.FlushStates(context.WithoutCancel(ctx)); err != nil {
		dbErr = errors.Join(dbErr, err)
	}
	a.logger.Info("fetch pass done", "sources", len(sources), "changed", changed, "failed", failed,
		"waiting", waiting, "took", a.now().Sub(tick).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.republish(ctx, changed > 0); err != nil {
		return errors.Join(dbErr, err)
	}
	return dbErr
}

// republish prunes old items and renders the outputs again; changed says
// whether the pass stored anything. A pass that began before a reload
// publishes with the config now in force.
func (a *app) republish(ctx context.Context, changed bool) error {
	renderChangesOnly := a.renderChangesOnly
	a = a.latest()
	a.shared.publishMu.Lock()
	defer a.shared.publishMu.Unlock()
	n, err := a.store.Prune(ctx, storage.Retention{MaxItems: a.cfg.Retention.MaxItems, MaxAge: a.cfg.Retention.MaxAge})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	if n > 0 {
		a.logger.Info("pruned", "items", n)
	}
	if renderChangesOnly && !changed && n == 0 {
		return nil
	}
	if err := a.site.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	return nil
}

// fetchAll fetches sources with at most cfg.Fetch.Concurrency in flight,
// interleaving hosts so that workers do not all wait on one busy host. If
// spread, each source starts at its offset in its schedule's jitter window
// after tick, rather than all in the same second.
func (a *app) fetchAll(ctx context.Context, sources []aggregator.Source, tick time.Time, spread bool, report func(outcome)) {
	order := interleaveHosts(sources)
	starts := make(map[string]time.Time, len(order))
	for _, src := range order {
		starts[src.Name] = tick
		if spread {
			starts[src.Name] = tick.Add(offset(src.Name, a.policy.spread(src, tick)))
		}
	}
	slices.SortStableFunc(order, func(x, y aggregator.Source) int { return starts[x.Name].Compare(starts[y.Name]) })

	jobs := make(chan aggregator.Source)
	var wg sync.WaitGroup
	// More workers than fetches in flight (the client bounds those), so
	// that while some wait for their feed's commit others fetch and parse.
	workers := min(4*a.cfg.Fetch.Concurrency, len(sources))
	for range workers {
		wg.Go(func() {
			for src := range jobs {
				if !a.claim(src.Name) {
					continue
				}
				o := a.fetchOne(ctx, src, tick)
				a.release(src.Name)
				report(o)
			}
		})
	}
	for _, src := range order {
		if wait(ctx, starts[src.Name].Sub(a.now())) != nil {
			break
		}
		jobs <- src
	}
	close(jobs)
	wg.Wait()
}

// wait waits for d, or returns ctx's error if it ends first.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// latest is the app of the config in force: a itself, unless a reload
// replaced it.
func (a *app) latest() *app {
	if cur := a.shared.current.Load(); cur != nil {
		return cur
	}
	return a
}

func (a *app) claim(name string) bool {
	sh := a.shared
	sh.inFlightMu.Lock()
	defer sh.inFlightMu.Unlock()
	if sh.inFlight[name] {
		return false
	}
	if sh.inFlight == nil {
		sh.inFlight = make(map[string]bool)
	}
	sh.inFlight[name] = true
	return true
}

func (a *app) release(name string) {
	sh := a.shared
	sh.inFlightMu.Lock()
	defer sh.inFlightMu.Unlock()
	delete(sh.inFlight, name)
}

// interleaveHosts orders sources round-robin by host, keeping their order
// within each host.
func interleaveHosts(sources []aggregator.Source) []aggregator.Source {
	var hosts []string
	byHost := make(map[string][]aggregator.Source)
	for _, src := range sources {
		h := fetch.Host(src.URL)
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], src)
	}
	out := make([]aggregator.Source, 0, len(sources))
	for len(out) < len(sources) {
		for _, h := range hosts {
			if q := byHost[h]; len(q) > 0 {
				out = append(out, q[0])
				byHost[h] = q[1:]
			}
		}
	}
	return out
}

// storeError marks a failure of our own database, as opposed to the source.
type storeError struct{ err error }

func (e *storeError) Error() string { return "database: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// fetchOne fetches one source in a pass at tick and records the result in
// the store.
func (a *app) fetchOne(ctx context.Context, src aggregator.Source, tick time.Time) outcome {
	start := a.now()
	o := outcome{source: src}
	prev, err := a.store.State(ctx, src.Name)
	if err != nil && !errors.Is(err, aggregator.ErrNotFound) {
		o.err = &storeError{err}
		return o
	}
	prev.Name = src.Name
	prev = forOwnURL(prev, src.URL)
	target := src
	target.URL = withCredentials(fetchURL(src, prev), src.URL)

	res, err := a.client.Fetch(ctx, target, prev)
	o.took = a.now().Sub(start)
	var blocked *fetch.HostBlockedError
	switch {
	case errors.As(err, &blocked):
		// No request was sent: nothing happened to record.
		o.waiting, o.state = blocked, prev
		a.logger.Info("waiting for host", "source", src.Name, "host", blocked.Host, "until", blocked.Until)
		return o
	case err != nil && ctx.Err() != nil:
		// Shutting down: the source did nothing wrong, record nothing.
		o.err = err
		return o
	case err != nil:
		st := a.policy.failed(src, prev, err, start, tick)
		o.err, o.state = err, st
		if st.Gone {
			a.logger.Warn("source gone", "source", src.Name, "url", aggregator.RedactURL(target.URL), "err", err)
		} else {
			a.logger.Warn("fetch failed", "source", src.Name, "url", aggregator.RedactURL(target.URL), "kind", st.ErrorKind, "err", err,
				"took", o.took.Round(time.Millisecond), "failures", st.ConsecutiveFailures, "next_attempt", st.NextAttempt)
		}
		if serr := a.store.SaveState(ctx, src, st); serr != nil {
			o.err = &storeError{serr}
		}
		return o
	}

	st := a.policy.succeeded(src, prev, res, start, tick)
	if st.MovedTo != prev.MovedTo {
		a.logger.Warn("source moved", "source", src.Name, "url", aggregator.RedactURL(src.URL), "moved_to", aggregator.RedactURL(st.MovedTo),
			"hint", "update its url in the config")
	}
	o.notModified, o.bytes = res.NotModified, res.Bytes
	if res.NotModified {
		st.LastOutcome = aggregator.OutcomeNotModified
		if err := a.store.SaveState(ctx, src, st); err != nil {
			o.err = &storeError{err}
		}
		o.state = st
		a.logger.Info("not modified", "source", src.Name, "took", o.took.Round(time.Millisecond), "next_attempt", st.NextAttempt)
		return o
	}
	st.FeedTitle, st.SiteLink = res.Feed.Title, res.Feed.SiteLink
	st.FeedID, st.FeedUpdated = res.Feed.ID, res.Feed.Updated
	st.LastOutcome = aggregator.OutcomeStored
	saved, err := a.store.Save(ctx, src, res.Feed.Items, st)
	if err != nil {
		a.logger.Error("store failed", "source", src.Name, "err", err)
		o.err = &storeError{err}
		// Shown by the status; the validators stay those of the last fetch
		// stored, so that the next pass fetches the feed again in full, and
		// no backoff: the source did nothing wrong.
		failed := prev
		failed.LastAttempt = start.UTC()
		failed.LastOutcome = aggregator.OutcomeFailed
		failed.LastError, failed.ErrorKind = o.err.Error(), aggregator.ErrorKindDatabase
		if serr := a.store.SaveState(ctx, src, failed); serr == nil {
			o.state = failed
		}
		return o
	}
	st.LastNew, st.LastUpdated = saved.New, saved.Updated
	o.saved, o.state = saved, st
	a.logger.Info("fetched", "source", src.Name, "items", len(res.Feed.Items), "new_items", saved.New,
		"updated_items", saved.Updated, "bytes", res.Bytes, "took", o.took.Round(time.Millisecond), "next_attempt", st.NextAttempt)
	return o
}

// selectSources returns the configured sources with the given names, all of
// them when names is empty.
func selectSources(cfg *config.Config, names []string) ([]aggregator.Source, error) {
	if len(names) == 0 {
		return cfg.Sources, nil
	}
	var out []aggregator.Source
	var unknown []string
	for _, name := range names {
		src, ok := cfg.Source(name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		out = append(out, src)
	}
	if len(unknown) > 0 {
		return nil, &usageError{fmt.Sprintf("no source named %s in %s", strings.Join(unknown, ", "), cfg.File)}
	}
	return out, nil
}
