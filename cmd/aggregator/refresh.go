package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
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
	cfg    *config.Config
	store  *storage.Store
	client *fetch.Client
	site   *publish.Site
	logger *slog.Logger
	now    func() time.Time

	// publishMu serialises pruning and re-rendering, which passes on
	// different schedules may both ask for.
	publishMu sync.Mutex

	// inFlight holds the sources being fetched, so that two passes that
	// overlap never fetch the same source twice at once.
	inFlightMu sync.Mutex
	inFlight   map[string]bool
}

// openApp opens the database and builds the fetcher and the site for cfg.
func openApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*app, error) {
	san := sanitize.New()
	store, err := storage.Open(cfg.Database, storage.Options{
		Logger: logger,
		// Each version of an item is sanitized once, when first stored.
		Prepare: func(src aggregator.Source, it *aggregator.Item) {
			base := it.Link
			if base == "" {
				base = src.URL
			}
			it.Content = san.HTML(it.Content, base)
			it.Summary = san.HTML(it.Summary, base)
		},
	})
	if err != nil {
		return nil, err
	}
	if err := store.SyncSources(ctx, cfg.Sources); err != nil {
		store.Close()
		return nil, err
	}
	a := &app{
		cfg:    cfg,
		store:  store,
		client: fetch.NewClient(newHTTPClient(cfg), fetchOptions(cfg)),
		logger: logger,
		now:    time.Now,
	}
	a.site = publish.NewSite(newFeedStore(store, cfg, time.Now), siteOptions(cfg, logger))
	return a, nil
}

func fetchOptions(cfg *config.Config) fetch.Options {
	return fetch.Options{
		UserAgent: cfg.Fetch.UserAgent,
		Timeout:   cfg.Fetch.Timeout,
		MaxBytes:  cfg.Fetch.MaxBytes,
		PerHost:   cfg.Fetch.PerHost,
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
		Sections:    sections,
		Sources:     cfg.Sources,
		CacheMaxAge: cacheMaxAge(cfg, time.Now()),
		Logger:      logger,
	}
}

func newHTTPClient(cfg *config.Config) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   cfg.Fetch.PerHost,
			IdleConnTimeout:       30 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.Fetch.Timeout,
		},
	}
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
}

// changed reports whether the outcome changed what the outputs show.
func (o outcome) changed() bool {
	return o.saved.New > 0 || o.saved.Updated > 0
}

// refresh fetches sources, stores what they bring, prunes, and re-renders
// the outputs, calling report (if not nil) as each source finishes. A
// failing source is recorded and reported, never fatal: refresh returns an
// error only when ctx ends or the database fails.
func (a *app) refresh(ctx context.Context, sources []aggregator.Source, report func(outcome)) error {
	start := a.now()
	var mu sync.Mutex
	var changed, failed int
	var dbErr error
	a.fetchAll(ctx, sources, func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		if o.changed() {
			changed++
		}
		if o.err != nil {
			failed++
			var storeErr *storeError
			if errors.As(o.err, &storeErr) {
				dbErr = errors.Join(dbErr, storeErr.err)
			}
		}
		if report != nil {
			report(o)
		}
	})
	a.logger.Info("fetch pass done", "sources", len(sources), "changed", changed, "failed", failed, "took", a.now().Sub(start).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.republish(ctx); err != nil {
		return errors.Join(dbErr, err)
	}
	return dbErr
}

// republish prunes old items and renders the outputs again.
func (a *app) republish(ctx context.Context) error {
	a.publishMu.Lock()
	defer a.publishMu.Unlock()
	n, err := a.store.Prune(ctx, storage.Retention{MaxItems: a.cfg.Retention.MaxItems, MaxAge: a.cfg.Retention.MaxAge})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	if n > 0 {
		a.logger.Info("pruned", "items", n)
	}
	if err := a.site.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	return nil
}

// fetchAll fetches sources with at most cfg.Fetch.Concurrency in flight,
// interleaving hosts so that workers do not all wait on one busy host.
func (a *app) fetchAll(ctx context.Context, sources []aggregator.Source, report func(outcome)) {
	jobs := make(chan aggregator.Source)
	var wg sync.WaitGroup
	workers := min(a.cfg.Fetch.Concurrency, len(sources))
	for range workers {
		wg.Go(func() {
			for src := range jobs {
				if !a.claim(src.Name) {
					continue
				}
				o := a.fetchOne(ctx, src)
				a.release(src.Name)
				report(o)
			}
		})
	}
	for _, src := range interleaveHosts(sources) {
		if ctx.Err() != nil {
			break
		}
		jobs <- src
	}
	close(jobs)
	wg.Wait()
}

func (a *app) claim(name string) bool {
	a.inFlightMu.Lock()
	defer a.inFlightMu.Unlock()
	if a.inFlight[name] {
		return false
	}
	if a.inFlight == nil {
		a.inFlight = make(map[string]bool)
	}
	a.inFlight[name] = true
	return true
}

func (a *app) release(name string) {
	a.inFlightMu.Lock()
	defer a.inFlightMu.Unlock()
	delete(a.inFlight, name)
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

// fetchOne fetches one source and records the result in the store.
func (a *app) fetchOne(ctx context.Context, src aggregator.Source) outcome {
	start := a.now()
	o := outcome{source: src}
	prev, err := a.store.State(ctx, src.Name)
	if err != nil && !errors.Is(err, aggregator.ErrNotFound) {
		o.err = &storeError{err}
		return o
	}
	prev.Name = src.Name
	st := prev
	st.LastAttempt = start.UTC()

	res, err := a.client.Fetch(ctx, src, prev)
	o.took = a.now().Sub(start)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the source did nothing wrong, record nothing.
		o.err = err
		return o
	case err != nil:
		st.LastError = err.Error()
		st.LastResult = "error: " + err.Error()
		st.ConsecutiveFailures++
		o.err = err
		a.logger.Warn("fetch failed", "source", src.Name, "url", src.URL, "kind", fetch.Kind(err), "err", err, "failures", st.ConsecutiveFailures)
		if serr := a.store.SaveState(ctx, src, st); serr != nil {
			o.err = &storeError{serr}
		}
		o.state = st
		return o
	}

	st.ETag, st.LastModified, st.BodyHash = res.ETag, res.LastModified, res.BodyHash
	st.LastSuccess = st.LastAttempt
	st.LastError = ""
	st.ConsecutiveFailures = 0
	if res.NotModified {
		st.LastResult = "not modified"
		if err := a.store.SaveState(ctx, src, st); err != nil {
			o.err = &storeError{err}
		}
		o.state = st
		a.logger.Debug("not modified", "source", src.Name, "took", o.took.Round(time.Millisecond))
		return o
	}
	st.FeedTitle, st.SiteLink = res.Feed.Title, res.Feed.SiteLink
	saved, err := a.store.Save(ctx, src, res.Feed.Items, func(r storage.SaveResult) aggregator.SourceState {
		st.LastResult = resultLine(r)
		return st
	})
	if err != nil {
		a.logger.Error("store failed", "source", src.Name, "err", err)
		o.err = &storeError{err}
		return o
	}
	o.saved, o.state = saved, st
	a.logger.Info("fetched", "source", src.Name, "items", len(res.Feed.Items), "new_items", saved.New,
		"updated_items", saved.Updated, "bytes", res.Bytes, "took", o.took.Round(time.Millisecond))
	return o
}

// resultLine is the short result of a fetch that stored items: "new N",
// "updated N", or both.
func resultLine(r storage.SaveResult) string {
	switch {
	case r.Updated == 0:
		return fmt.Sprintf("new %d", r.New)
	case r.New == 0:
		return fmt.Sprintf("updated %d", r.Updated)
	}
	return fmt.Sprintf("new %d, updated %d", r.New, r.Updated)
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
