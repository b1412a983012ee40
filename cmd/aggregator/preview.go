package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
)

// runPreview runs `aggregator preview`.
func runPreview(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("aggregator preview", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.yaml", "config `file` (optional for a URL: without it, the defaults)")
	format := flags.String("format", "text", "output format: text or json")
	if err := flags.Parse(args); err != nil {
		return exitConfig
	}
	if flags.NArg() != 1 || (*format != "text" && *format != "json") {
		fmt.Fprintf(stderr, "aggregator preview: want -format text or json and one source NAME or URL\n%s", usage)
		return exitConfig
	}
	cfg, code := optionalConfig(flags, *configPath, stderr)
	if cfg == nil {
		return code
	}
	src, ok := cfg.SourceOrURL(flags.Arg(0))
	if !ok {
		fmt.Fprintf(stderr, "aggregator preview: %q is neither a source of %s nor an http(s) or file URL\n", flags.Arg(0), cmp.Or(cfg.File, "the config"))
		return exitConfig
	}
	now := time.Now().UTC()
	p, err := newFetchClient(cfg, now).Preview(ctx, src)
	report := poll.NewReport(src, p, err, now, poll.PreviewSettings{
		PublishMaxAge: cfg.Publish.MaxAge, RetentionMaxAge: cfg.Retention.MaxAge, Rules: cfg.Rules,
	})
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(report); werr != nil {
			fmt.Fprintf(stderr, "aggregator preview: %v\n", werr)
			return exitFail
		}
	} else {
		report.WriteText(stdout)
	}
	if err != nil {
		return exitFail
	}
	return exitOK
}

// optionalConfig loads the config at path; when path is the default one,
// not named on the command line, and there is no such file, it is the
// defaults. On failure it prints why and returns nil and the exit code.
func optionalConfig(flags *flag.FlagSet, path string, stderr io.Writer) (*config.Config, int) {
	named := false
	flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	cfg, err := config.Load(path)
	if !named && errors.Is(err, fs.ErrNotExist) {
		return config.Default(), exitOK
	}
	if err != nil {
		printConfigErrors(stderr, err)
		return nil, exitConfig
	}
	return cfg, exitOK
}

// newFetchClient returns a fetch client with cfg's settings, its clock
// fixed at now.
func newFetchClient(cfg *config.Config, now time.Time) *fetch.Client {
	opts := fetchOptions(cfg)
	opts.Now = func() time.Time { return now }
	return fetch.NewClient(nil, opts)
}
