package main

import (
	"context"
	"errors"
	"flag"
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

// opmlExport prints cfg's sources as OPML, grouped by section: the list the
// daemon serves at /sources.opml, but with the URLs as the config has
// them, and the titles the feeds gave when the database or the daemon
// knows them.
func opmlExport(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	list, _, err := poll.LoadStatus(ctx, statusPlace(cfg))
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
	_, err = stdout.Write(doc)
	return err
}

// exitError ends a command whose reason is printed already.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// runOPML runs `aggregator opml import|export`.
func runOPML(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export") {
		fmt.Fprint(stderr, "aggregator opml: want import or export\n"+usage)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("aggregator opml "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	section := fs.String("section", "", "put every source in section `NAME`")
	configPath := fs.String("config", "config.yaml", "config `file` (for import, only the fetcher's settings to find the feeds of sites: without it, the defaults)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	var err error
	switch {
	case sub == "import" && fs.NArg() != 1:
		fmt.Fprintf(stderr, "aggregator opml import: want one OPML file\n%s", usage)
		return exitConfig
	case sub == "import":
		load := func() (*config.Config, error) {
			cfg, code := optionalConfig(fs, *configPath, stderr)
			if cfg == nil {
				return nil, &exitError{code}
			}
			return cfg, nil
		}
		err = opmlImport(ctx, fs.Arg(0), *section, load, stdout, stderr)
	case fs.NArg() > 0 || *section != "":
		fmt.Fprintf(stderr, "aggregator opml export: unexpected arguments\n%s", usage)
		return exitConfig
	default:
		cfg, lerr := config.Load(*configPath)
		if lerr != nil {
			printConfigErrors(stderr, lerr)
			return exitConfig
		}
		cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
		err = opmlExport(ctx, cfg, stdout)
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	if err != nil {
		fmt.Fprintf(stderr, "aggregator opml %s: %v\n", sub, err)
		var usageErr *usageError
		if errors.As(err, &usageErr) {
			return exitConfig
		}
		return exitFail
	}
	return exitOK
}
