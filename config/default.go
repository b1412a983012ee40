package config

import (
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Default returns the Config of a file that sets nothing and has no
// sources: every default, for the commands that need only the fetcher's
// settings and may run without a config file (discover, preview of a URL).
func Default() *Config {
	ck := &checker{doc: &yaml.Node{Kind: yaml.MappingNode}}
	c := ck.build(&raw{})
	c.Sources, c.Sections = nil, nil
	return c
}

// NameFromURL returns the name Load gives a source of url that has none:
// its host and path, lower-cased, with each run of characters other than
// a-z and 0-9 made one "-" (https://go.dev/blog/feed.atom is
// go-dev-blog-feed-atom); "" when nothing is left.
func NameFromURL(url string) string {
	return deriveName(url)
}

// NewSourceNames returns a name for each of the feeds found at site, for
// sources to add to c: the first is the site's (example-com-blog: its host
// without "www." and path), the others their own URL's
// (example-com-blog-comments-feed); a number is added to a name c has
// already or an earlier feed took (example-com-blog-2), and "site" stands
// for a URL with no name in it.
func (c *Config) NewSourceNames(site string, feeds []string) []string {
	taken := make(map[string]bool, len(c.Sources))
	for _, src := range c.Sources {
		taken[src.Name] = true
	}
	names := make([]string, 0, len(feeds))
	for i, feed := range feeds {
		base := siteName(site)
		if i > 0 {
			base = siteName(feed)
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
// path, as Load makes a name of a URL; "site" when nothing is left.
func siteName(site string) string {
	u, err := url.Parse(site)
	if err != nil {
		return "site"
	}
	u.Host = strings.TrimPrefix(strings.ToLower(u.Host), "www.")
	u.RawQuery, u.Fragment = "", ""
	if name := deriveName(u.String()); name != "" {
		return name
	}
	return "site"
}
