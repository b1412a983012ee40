package main

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/storage"
)

// feedStore is what publish reads: the store, queried as the config's
// publish settings say (per-source cap, maximum age, deduplication across
// sources).
type feedStore struct {
	store *storage.Store
	cfg   *config.Config
	now   func() time.Time
	keep  map[string]bool   // sources exempt from deduplication
	urls  map[string]string // configured feed URL by source name

	public *publicStates
}

// publicStates keeps the public form of the last states map the store
// returned. The store returns the same map until a state changes, and
// every render reads the states of every source: redacting thousands of
// them for each render cost more than the rest of a merged feed's render.
type publicStates struct {
	mu     sync.Mutex
	from   map[string]aggregator.SourceState // held, so that its address is not reused
	public map[string]aggregator.SourceState
}

func newFeedStore(store *storage.Store, cfg *config.Config, now func() time.Time) feedStore {
	keep := make(map[string]bool)
	urls := make(map[string]string, len(cfg.Sources))
	for _, src := range cfg.Sources {
		if src.KeepDuplicates {
			keep[src.Name] = true
		}
		urls[src.Name] = src.URL
	}
	return feedStore{store: store, cfg: cfg, now: now, keep: keep, urls: urls, public: &publicStates{}}
}

// RecentItems returns the items of one output feed: section "" is the
// merged feed.
func (f feedStore) RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error) {
	q := storage.Query{
		Section:        section,
		Limit:          limit,
		PerSource:      f.cfg.Publish.PerSource,
		Dedup:          true,
		KeepDuplicates: f.keep,
		Origin:         f.origin(ctx),
	}
	if f.cfg.Publish.MaxAge > 0 {
		q.Since = f.now().Add(-f.cfg.Publish.MaxAge)
	}
	return f.store.Items(ctx, q)
}

// States returns every source's stored state, as the public may see it
// (publicState). The map is shared until a state changes: it must not be
// modified.
func (f feedStore) States(ctx context.Context) (map[string]aggregator.SourceState, error) {
	states, err := f.store.States(ctx)
	if err != nil {
		return nil, err
	}
	c := f.public
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.from != nil && reflect.ValueOf(c.from).UnsafePointer() == reflect.ValueOf(states).UnsafePointer() {
		return c.public, nil
	}
	public := make(map[string]aggregator.SourceState, len(states))
	for name, st := range states {
		public[name] = publicState(st)
	}
	c.from, c.public = states, public
	return public, nil
}

// origin returns the Query.Origin of the sources as they stand: a link is
// on a source's own site when its host is that of the site the feed links
// to, or of the feed's own URL ("www." aside). It is asked only when two
// sources carry one article, so it reads the states then.
func (f feedStore) origin(ctx context.Context) func(source, link string) bool {
	var states map[string]aggregator.SourceState
	return func(source, link string) bool {
		host := siteHost(link)
		if host == "" {
			return false
		}
		if states == nil {
			states, _ = f.store.States(ctx)
		}
		return host == siteHost(states[source].SiteLink) || host == siteHost(f.urls[source])
	}
}

// siteHost is the host of URL s, lower case and without a "www." prefix;
// "" when s is no http(s) URL.
func siteHost(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}
