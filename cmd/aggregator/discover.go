package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
)

// runDiscover runs `aggregator discover`: the feeds of a site, and the
// sources: YAML to paste.
func runDiscover(c *cli) error {
	c.configFlag("config `file`, for the fetcher's settings (without it, the defaults)")
	if err := c.parse(1); err != nil {
		return err
	}
	cfg, err := c.optionalConfig()
	if err != nil {
		return err
	}
	site := c.fs.Arg(0)
	d, err := newFetchClient(cfg, time.Now()).Discover(c.ctx, site)
	if errors.Is(err, fetch.ErrBadAddress) {
		return &usageError{fmt.Sprintf("%s: %v", site, err)}
	} else if err != nil {
		return fmt.Errorf("%s: %w", site, err)
	}
	d.WriteText(c.stdout)
	found := d.Found()
	if len(found) == 0 {
		return &exitError{exitFail} // it says so
	}
	urls := make([]string, len(found))
	for i, f := range found {
		urls[i] = f.URL
	}
	paste := make([]config.Imported, len(found))
	for i, name := range cfg.NewSourceNames(d.Site, urls) {
		paste[i] = config.Imported{Name: name, URL: urls[i]}
	}
	fmt.Fprintln(c.stdout)
	return config.WriteSources(c.stdout, "to paste into the config", paste, "")
}
