package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/publish"
)

// BenchmarkRebuild renders the outputs of the database that the config
// named by $AGGREGATOR_BENCH_CONFIG points to, with a new Site each time, so
// that no output is reused from an earlier render (the safe HTML of the
// items shown is, as a reload's new Site finds it). bench/ runs it (-scale) on
// the databases of its 1,000- and 10,000-source planets: the cost of a
// render must follow the items published, not the items stored.
//
// "merged" renders the merged feed alone (in every format, with its page);
// "all" is the daemon's full Rebuild: every section, page and source list.
func BenchmarkRebuild(b *testing.B) {
	path := os.Getenv("AGGREGATOR_BENCH_CONFIG")
	if path == "" {
		b.Skip("AGGREGATOR_BENCH_CONFIG names no config")
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	// Sanitize what is published, once, as the pass that stored it did.
	if err := a.site.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	all := siteOptions(cfg, logger)
	all.Prepared = a.eng.prepared
	merged := all
	merged.Sections, merged.Sources = nil, nil
	for _, bm := range []struct {
		name string
		opts publish.Options
	}{
		{"merged", merged},
		{"all", all},
	} {
		// One feedStore, as a daemon's app keeps one across its renders.
		fs := feedsOf(a.store, cfg)
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				site := publish.NewSite(fs, bm.opts)
				if err := site.Rebuild(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
