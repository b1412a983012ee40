package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
)

// runOPMLExport runs `aggregator opml export`: the config's sources as
// OPML, grouped by section, as /sources.opml lists them but with the URLs
// as the config has them, and the titles the feeds gave when the database
// or the daemon knows them.
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

// runOPMLImport runs `aggregator opml import`: the sources: YAML of the
// subscriptions of an OPML file, to paste into a config, each in -section
// if given. An outline that names a site rather than a feed is replaced by
// the first feed discovery finds there, with the fetcher of the config
// (loaded only then); each is reported on stderr.
func runOPMLImport(c *cli) error {
	c.configFlag("config `file`, only the fetcher's settings to find the feeds of sites (without it, the defaults)")
	section := c.fs.String("section", "", "put every source in section `NAME`")
	if err := c.parse(1); err != nil {
		return err
	}
	path := c.fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sources, err := config.ReadOPML(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	resolved := 0
	if slices.ContainsFunc(sources, func(s config.Imported) bool { return s.Site }) {
		cfg, err := c.optionalConfig()
		if err != nil {
			return err
		}
		client := newFetchClient(cfg, time.Now())
		find := func(ctx context.Context, site string) (config.Found, error) {
			d, err := client.Discover(ctx, site)
			if found := d.Found(); err == nil && len(found) > 0 {
				return config.Found{URL: found[0].URL, Via: found[0].Via, More: len(found) - 1}, nil
			}
			return config.Found{}, err
		}
		if sources, resolved, err = config.ResolveSites(c.ctx, sources, find, c.stderr); err != nil {
			return err
		}
	}
	if len(sources) == 0 {
		return &usageError{fmt.Sprintf("%s: no subscriptions (outlines with an http(s) xmlUrl, or a site's htmlUrl with a feed)", path)}
	}
	comment := fmt.Sprintf("%d sources from %s", len(sources), path)
	if resolved > 0 {
		comment += fmt.Sprintf(", %d of them found at the site the outline names", resolved)
	}
	return config.WriteSources(c.stdout, comment, sources, *section)
}
