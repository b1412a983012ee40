package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
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
	names := pasteNames(cfg, d.Site, found)
	paste := make([]config.Imported, len(found))
	for i, f := range found {
		paste[i] = config.Imported{Name: names[i], URL: f.URL}
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

// pasteNames returns a name for each of the feeds found at site, none a
// name cfg has already: the first is the site's (example-com-blog), the
// others their own URL's (example-com-blog-comments-feed), or else a
// number is added.
func pasteNames(cfg *config.Config, site string, feeds []fetch.FoundFeed) []string {
	taken := make(map[string]bool)
	for _, src := range cfg.Sources {
		taken[src.Name] = true
	}
	var names []string
	for i, f := range feeds {
		base := siteName(site)
		if i > 0 {
			base = siteName(f.URL)
		}
		name := base
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		taken[name] = true
		names = append(names, name)
	}
	return names
}

// siteName is the name of a site's source: its host (without "www.") and
// path, as config makes a name of a URL; "site" when nothing is left.
func siteName(site string) string {
	u, err := url.Parse(site)
	if err != nil {
		return "site"
	}
	u.Host = strings.TrimPrefix(strings.ToLower(u.Host), "www.")
	u.RawQuery, u.Fragment = "", ""
	if name := config.NameFromURL(u.String()); name != "" {
		return name
	}
	return "site"
}
