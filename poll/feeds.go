package poll

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// FeedOptions say how the outputs select their items from the store.
type FeedOptions struct {
	Sources   []aggregator.Source // the configured ones: their KeepDuplicates and feed URLs
	PerSource int                 // at most this many items of one source in an output; 0 for no cap
	MaxAge    time.Duration       // items older than this are left out; 0 for no limit
	Now       func() time.Time    // nil → time.Now
	// Rules are the filters that hide items from the outputs (see
	// storage.Query.Rules); nil hides none.
	Rules *aggregator.Rules
}

// Feeds is what the publisher reads: the store, queried as the outputs
// need (per-source cap, maximum age, deduplication across sources with
// the origin's copy first, the filters), the sources' states as the public
// may see them (PublicState), and how many items the filters hide.
type Feeds struct {
	store *storage.Store
	opts  FeedOptions
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

// NewFeeds returns the Feeds of store under opts.
func NewFeeds(store *storage.Store, opts FeedOptions) *Feeds {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	keep := make(map[string]bool)
	urls := make(map[string]string, len(opts.Sources))
	for _, src := range opts.Sources {
		if src.KeepDuplicates {
			keep[src.Name] = true
		}
		urls[src.Name] = src.URL
	}
	return &Feeds{store: store, opts: opts, keep: keep, urls: urls, public: &publicStates{}}
}

// RecentItems returns the items of one output feed, newest first: section
// "" is the merged feed.
func (f *Feeds) RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error) {
	q := storage.Query{
		Section:        section,
		Limit:          limit,
		PerSource:      f.opts.PerSource,
		Dedup:          true,
		KeepDuplicates: f.keep,
		Origin:         f.origin(ctx),
		Rules:          f.opts.Rules,
	}
	if f.opts.MaxAge > 0 {
		q.Since = f.opts.Now().Add(-f.opts.MaxAge)
	}
	return f.store.Items(ctx, q)
}

// Hidden returns how many of each configured source's stored items the
// rules hide (see storage.Store.Hidden), for the pages.
func (f *Feeds) Hidden(ctx context.Context) (map[string]aggregator.HiddenCount, error) {
	return f.store.Hidden(ctx, f.opts.Rules, f.opts.Sources)
}

// States returns every source's stored state, as the public may see it
// (PublicState). The map is shared until a state changes: it must not be
// modified.
func (f *Feeds) States(ctx context.Context) (map[string]aggregator.SourceState, error) {
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
		public[name] = PublicState(st)
	}
	c.from, c.public = states, public
	return public, nil
}

// origin returns the Query.Origin of the sources as they stand: a link is
// on a source's own site when its host is that of the site the feed links
// to, or of the feed's own URL ("www." aside). It is asked only when two
// sources carry one article, so it reads the states then.
func (f *Feeds) origin(ctx context.Context) func(source, link string) bool {
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
