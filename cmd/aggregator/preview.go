package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
)

// runPreview runs `aggregator preview`: what a source would publish, now.
func runPreview(c *cli) error {
	c.configFlag("config `file` (optional for a URL: without it, the defaults)")
	format := c.fs.String("format", "text", "output format: text or json")
	if err := c.parse(1); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return &usageError{fmt.Sprintf("-format %q: want text or json", *format)}
	}
	cfg, err := c.optionalConfig()
	if err != nil {
		return err
	}
	src, ok := cfg.SourceOrURL(c.fs.Arg(0))
	if !ok {
		return &usageError{fmt.Sprintf("%q is neither a source of %s nor an http(s) or file URL", c.fs.Arg(0), cmp.Or(cfg.File, "the config"))}
	}
	now := time.Now().UTC()
	p, err := newFetchClient(cfg, now).Preview(c.ctx, src)
	report := poll.NewReport(src, p, err, now, poll.PreviewSettings{
		PublishMaxAge: cfg.Publish.MaxAge, RetentionMaxAge: cfg.Retention.MaxAge, Rules: cfg.Rules,
	})
	if *format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(report); werr != nil {
			return werr
		}
	} else {
		report.WriteText(c.stdout)
	}
	if err != nil {
		return &exitError{exitFail} // the report says why
	}
	return nil
}

// newFetchClient returns a fetch client with cfg's settings, its clock
// fixed at now.
func newFetchClient(cfg *config.Config, now time.Time) *fetch.Client {
	opts := fetchOptions(cfg)
	opts.Now = func() time.Time { return now }
	return fetch.NewClient(nil, opts)
}
