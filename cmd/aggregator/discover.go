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
	d.WriteText(stdout)
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
