package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
)

// opmlImport prints, for the subscriptions of the OPML file at path, the
// sources: YAML to paste into a config, each in section if it is not
// empty. An outline that names a site rather than a feed is replaced by
// the first feed discovery finds there, with the fetcher of the config
// load returns (called only then); each is reported on stderr.
func opmlImport(ctx context.Context, path, section string, load func() (*config.Config, error), stdout, stderr io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sources, err := config.ReadOPML(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sources, resolved, err := resolveSites(ctx, sources, load, stderr)
	if err != nil {
		return err
	}
	if len(sources) == 0 {
		return &usageError{fmt.Sprintf("%s: no subscriptions (outlines with an http(s) xmlUrl, or a site's htmlUrl with a feed)", path)}
	}
	comment := fmt.Sprintf("%d sources from %s", len(sources), path)
	if resolved > 0 {
		comment += fmt.Sprintf(", %d of them found at the site the outline names", resolved)
	}
	return config.WriteSources(stdout, comment, sources, section)
}

// resolveSites replaces each of sources that is a site by the first feed
// Discover finds there, or leaves it out when none is found, saying which
// on stderr; a feed found twice is kept once. It returns the sources and
// how many sites were resolved.
func resolveSites(ctx context.Context, sources []config.Imported, load func() (*config.Config, error), stderr io.Writer) ([]config.Imported, int, error) {
	var client *fetch.Client
	seen := make(map[string]bool)
	for _, src := range sources {
		if !src.Site {
			seen[src.URL] = true
		}
	}
	var out []config.Imported
	resolved := 0
	for _, src := range sources {
		if !src.Site {
			out = append(out, src)
			continue
		}
		if client == nil {
			cfg, err := load()
			if err != nil {
				return nil, 0, err
			}
			client = newFetchClient(cfg, time.Now())
		}
		d, err := client.Discover(ctx, src.URL)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, context.Cause(ctx)
			}
			fmt.Fprintf(stderr, "%s: %v: left out\n", src.URL, err)
			continue
		}
		found := d.Found()
		if len(found) == 0 {
			fmt.Fprintf(stderr, "%s: no feed found: left out\n", src.URL)
			continue
		}
		feed := found[0]
		more := ""
		if len(found) > 1 {
			more = fmt.Sprintf(" (it has %d more: aggregator discover %s)", len(found)-1, src.URL)
		}
		if seen[feed.URL] {
			fmt.Fprintf(stderr, "%s: its feed %s is imported already\n", src.URL, feed.URL)
			continue
		}
		seen[feed.URL] = true
		fmt.Fprintf(stderr, "%s: resolved to %s, found as %s%s\n", src.URL, feed.URL, feed.Via, more)
		src.URL, src.Site = feed.URL, false
		out = append(out, src)
		resolved++
	}
	return out, resolved, nil
}

// runOPMLExport runs `aggregator opml export`: it prints the config's's sources as OPML, grouped by section: the list the
// daemon serves at /sources.opml, but with the URLs as the config has
// them, and the titles the feeds gave when the database or the daemon
// knows them.
func runOPMLExport(c *cli) error {
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	list, _, err := poll.LoadStatus(c.ctx, statusPlace(cfg))
	if err != nil {
		return err
	}
	states := make(map[string]aggregator.SourceState, len(list))
	for _, s := range list {
		states[s.Name] = aggregator.SourceState{Name: s.Name, FeedTitle: s.Title}
	}
	// The config's URLs as they are, credentials included: the export is
	// the admin's copy, where /sources.opml is the public list.
	opts := siteOptions(cfg, nil)
	opts.Sources = cfg.Sources
	doc, err := publish.NewSite(nil, opts).OPML(states)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(doc)
	return err
}

// runOPMLImport runs `aggregator opml import`.
func runOPMLImport(c *cli) error {
	c.configFlag("config `file`, only the fetcher's settings to find the feeds of sites (without it, the defaults)")
	section := c.fs.String("section", "", "put every source in section `NAME`")
	if err := c.parse(1); err != nil {
		return err
	}
	return opmlImport(c.ctx, c.fs.Arg(0), *section, c.optionalConfig, c.stdout, c.stderr)
}
