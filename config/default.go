package config

import "go.yaml.in/yaml/v3"

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
