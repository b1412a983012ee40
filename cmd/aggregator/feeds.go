package main

import (
	"context"
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
	keep  map[string]bool // sources exempt from deduplication
}

func newFeedStore(store *storage.Store, cfg *config.Config, now func() time.Time) feedStore {
	keep := make(map[string]bool)
	for _, src := range cfg.Sources {
		if src.KeepDuplicates {
			keep[src.Name] = true
		}
	}
	return feedStore{store: store, cfg: cfg, now: now, keep: keep}
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
	}
	if f.cfg.Publish.MaxAge > 0 {
		q.Since = f.now().Add(-f.cfg.Publish.MaxAge)
	}
	return f.store.Items(ctx, q)
}

// States returns every source's stored state.
func (f feedStore) States(ctx context.Context) (map[string]aggregator.SourceState, error) {
	return f.store.States(ctx)
}
