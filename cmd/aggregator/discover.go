package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
)

// runDiscover runs `aggregator discover`.
func runDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("aggregator discover", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.yaml", "config `file`, for the fetcher's settings (without it, the defaults)")
	if err := flags.Parse(args); err != nil {
		return exitConfig
	}
	if flags.NArg() != 1 {
		fmt.Fprintf(stderr, "aggregator discover: want one site address\n%s", usage)
		return exitConfig
	}
	cfg, code := optionalConfig(flags, *configPath, stderr)
	if cfg == nil {
		return code
	}
	d, err := newFetchClient(cfg, time.Now()).Discover(ctx, flags.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "aggregator discover: %s: %v\n", flags.Arg(0), err)
		if errors.Is(err, fetch.ErrBadAddress) {
			return exitConfig
		}
		return exitFail
	}
	found := d.Found()
	printDiscovery(stdout, d)
	if len(found) == 0 {
		return exitFail
	}
	urls := make([]string, len(found))
	for i, f := range found {
		urls[i] = f.URL
	}
	paste := make([]config.Imported, len(found))
	for i, name := range cfg.NewSourceNames(d.Site, urls) {
		paste[i] = config.Imported{Name: name, URL: urls[i]}
	}
	fmt.Fprintln(stdout)
	if err := config.WriteSources(stdout, "to paste into the config", paste, ""); err != nil {
		fmt.Fprintf(stderr, "aggregator discover: %v\n", err)
		return exitFail
	}
	return exitOK
}

// printDiscovery prints what d found for a person.
func printDiscovery(w io.Writer, d fetch.Discovery) {
	found := d.Found()
	if len(found) == 0 {
		fmt.Fprintf(w, "%s: no feed found\n", d.Site)
	} else {
		fmt.Fprintf(w, "%s: %s\n", d.Site, count(len(found), "feed"))
	}
	for _, f := range d.Feeds {
		if f.Err != nil {
			fmt.Fprintf(w, "\n%s (named by the page): %v\n", f.URL, f.Err)
			continue
		}
		fmt.Fprintf(w, "\n%s\n", f.Title)
		fmt.Fprintf(w, "  url       %s\n", f.URL)
		newest := "no item dated"
		if !f.Newest.IsZero() {
			newest = "newest " + f.Newest.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  format    %s, %s, %s\n", f.Format, count(f.Items, "item"), newest)
		fmt.Fprintf(w, "  found as  %s\n", f.Via)
	}
	if d.Unchecked > 0 {
		fmt.Fprintf(w, "\nThe page names %d more feeds, not fetched.\n", d.Unchecked)
	}
	if len(found) == 0 && len(d.Tried) > 0 {
		fmt.Fprintf(w, "The page names no feed, and none of these is one:\n")
		for _, u := range d.Tried {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
}

// count is "1 item", "2 items".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
