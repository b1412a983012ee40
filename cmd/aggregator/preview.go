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
	"net/url"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
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
	src, ok := previewSource(cfg, flags.Arg(0))
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
		printPreview(stdout, report)
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

// previewSource returns the source arg names: a configured source by its
// name or its URL, else a source of its own for an http(s) or file URL.
func previewSource(cfg *config.Config, arg string) (aggregator.Source, bool) {
	if src, ok := cfg.Source(arg); ok {
		return src, true
	}
	for _, src := range cfg.Sources {
		if src.URL == arg {
			return src, true
		}
	}
	u, err := url.Parse(arg)
	if err != nil || !strings.Contains(arg, "://") {
		return aggregator.Source{}, false
	}
	switch {
	case (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "":
	case u.Scheme == "file" && u.Path != "":
	default:
		return aggregator.Source{}, false
	}
	return aggregator.Source{URL: arg}, true
}

// newFetchClient returns a fetch client with cfg's settings, its clock
// fixed at now.
func newFetchClient(cfg *config.Config, now time.Time) *fetch.Client {
	opts := fetchOptions(cfg)
	opts.Now = func() time.Time { return now }
	return fetch.NewClient(nil, opts)
}

// printPreview prints r for a person.
func printPreview(w io.Writer, r poll.Report) {
	name := r.URL
	if r.Source != "" {
		name = fmt.Sprintf("source %s (%s)", r.Source, r.URL)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: %s\n", name, r.Error)
		if r.ErrorKind == "not a feed" {
			if len(r.FeedsNamed) == 0 {
				fmt.Fprintf(w, "It is not a feed and names none; `aggregator discover %s` looks further.\n", r.URL)
			} else {
				fmt.Fprintln(w, "It is not a feed; it names these feeds:")
				for _, f := range r.FeedsNamed {
					fmt.Fprintf(w, "  %s\n", f)
				}
			}
		}
		return
	}
	f := r.Feed
	fmt.Fprintf(w, "%s\n", name)
	if r.FetchedFrom != r.URL {
		fmt.Fprintf(w, "fetched from %s\n", r.FetchedFrom)
	}
	if r.MovedTo != "" {
		fmt.Fprintf(w, "moved permanently to %s: configure that URL\n", r.MovedTo)
	}
	fmt.Fprintf(w, "feed %q (%s)", f.Title, f.Format)
	if f.SiteLink != "" {
		fmt.Fprintf(w, ", site %s", f.SiteLink)
	}
	fmt.Fprintln(w)
	if len(r.Items) == 0 {
		fmt.Fprintln(w, "The feed has no items: nothing would be published.")
		return
	}
	shown := 0
	for i, it := range r.Items {
		fmt.Fprintf(w, "\n%d. %s\n", i+1, cmp.Or(it.Title, "(no title)"))
		if it.Link != "" {
			fmt.Fprintf(w, "   link       %s\n", it.Link)
		}
		if it.Canonical != "" && it.Canonical != it.Link {
			fmt.Fprintf(w, "   canonical  %s\n", it.Canonical)
		}
		id := fmt.Sprintf("%s %s", it.IdentityFrom, it.ID)
		if it.IdentityFrom == aggregator.IdentityLink {
			id = "link"
		}
		if it.IdentityWhy != "" {
			id += " (" + it.IdentityWhy + ")"
		}
		fmt.Fprintf(w, "   identity   %s\n", id)
		date := it.Date.Format(time.RFC3339)
		switch {
		case it.DateWhy != "":
			date += " (" + it.DateWhy + ")"
		case it.UnreadDate != "":
			date += fmt.Sprintf(" (%s; its published date %q cannot be read)", it.DateFrom, it.UnreadDate)
		case it.DateFrom == "updated":
			date += " (updated: it has no published date)"
		default:
			date += " (" + it.DateFrom + ")"
		}
		fmt.Fprintf(w, "   date       %s\n", date)
		for _, h := range it.Hidden {
			fmt.Fprintf(w, "   hidden     from %s: %s\n", h.From, h.Why)
		}
		if len(it.Hidden) == 0 {
			shown++
		}
	}
	fmt.Fprintf(w, "\n%s: %d published, %d hidden from some feeds; dates as if first seen now (%s)\n",
		count(len(r.Items), "item"), shown, len(r.Items)-shown, r.At.Format(time.RFC3339))
}
