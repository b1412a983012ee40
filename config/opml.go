package config

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Imported is a subscription of an OPML file, or a feed found otherwise,
// as the sources: list of a config spells it.
type Imported struct {
	Name     string   `yaml:"name,omitempty"`
	URL      string   `yaml:"url"`
	Title    string   `yaml:"title,omitempty"`
	Sections []string `yaml:"sections,omitempty,flow"`

	// Site is true for an outline that names a web site rather than a
	// feed: URL is the site's, whose feed is still to be found.
	Site bool `yaml:"-"`
}

// opmlOutline is an outline of an OPML file as feed readers write it: a
// subscription has an xmlUrl (some spell it xmlurl), a folder has outlines.
type opmlOutline struct {
	Attrs    []xml.Attr    `xml:",any,attr"`
	Outlines []opmlOutline `xml:"outline"`
}

func (o opmlOutline) attr(names ...string) string {
	for _, name := range names {
		for _, a := range o.Attrs {
			if a.Name.Local == name {
				return a.Value
			}
		}
	}
	return ""
}

// ReadOPML returns the subscriptions of an OPML document, a feed reader's
// export: each outline with an http(s) xmlUrl, once, in document order
// (an outline before the ones it holds), titled by its title or text.
// An outline whose address is a web site's is returned too, with Site
// set, for its feed to be found: one with an http(s) htmlUrl (or url, as
// an OPML 2.0 link has) and no xmlUrl, or whose xmlUrl is its htmlUrl.
func ReadOPML(data []byte) ([]Imported, error) {
	var doc struct {
		Outlines []opmlOutline `xml:"body>outline"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not OPML: %w", err)
	}
	var out []Imported
	seen := make(map[string]bool)
	var walk func([]opmlOutline)
	walk = func(outlines []opmlOutline) {
		for _, o := range outlines {
			walk(o.Outlines)
			feed := o.attr("xmlUrl", "xmlurl", "xmlURL")
			site := o.attr("htmlUrl", "htmlurl", "htmlURL")
			if site == "" && !strings.EqualFold(o.attr("type"), "include") {
				site = o.attr("url")
			}
			isSite := isHTTPURL(site) && (feed == "" || feed == site)
			if isSite {
				feed = site
			}
			if !isHTTPURL(feed) || seen[feed] {
				continue
			}
			seen[feed] = true
			out = append(out, Imported{URL: feed, Title: o.attr("title", "text"), Site: isSite})
		}
	}
	walk(doc.Outlines)
	return out, nil
}

// isHTTPURL reports whether s is an http(s) URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// WriteSources writes sources as the YAML to paste into a config, after a
// comment line, each put in section when it is not empty (with the
// sections: entry that defines it).
func WriteSources(w io.Writer, comment string, sources []Imported, section string) error {
	out := struct {
		Sections map[string]struct{} `yaml:"sections,omitempty"`
		Sources  []Imported          `yaml:"sources"`
	}{Sources: sources}
	if section != "" {
		out.Sections = map[string]struct{}{section: {}}
		for i := range out.Sources {
			out.Sources[i].Sections = []string{section}
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s\n", comment)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Found is the feed discovery found at a site: its URL, how it was found,
// and how many more feeds the site has.
type Found struct {
	URL, Via string
	More     int
}

// ResolveSites replaces each of sources that is a site (Imported.Site) by
// the first feed find finds there (a zero Found when there is none), or
// leaves it out, saying which on w; a feed found twice is kept once. It
// returns the sources and how many sites were resolved, and stops only
// when ctx ends.
func ResolveSites(ctx context.Context, sources []Imported, find func(context.Context, string) (Found, error), w io.Writer) ([]Imported, int, error) {
	seen := make(map[string]bool)
	for _, src := range sources {
		if !src.Site {
			seen[src.URL] = true
		}
	}
	var out []Imported
	resolved := 0
	for _, src := range sources {
		if !src.Site {
			out = append(out, src)
			continue
		}
		feed, err := find(ctx, src.URL)
		switch {
		case ctx.Err() != nil:
			return nil, 0, context.Cause(ctx)
		case err != nil:
			fmt.Fprintf(w, "%s: %v: left out\n", src.URL, err)
			continue
		case feed.URL == "":
			fmt.Fprintf(w, "%s: no feed found: left out\n", src.URL)
			continue
		case seen[feed.URL]:
			fmt.Fprintf(w, "%s: its feed %s is imported already\n", src.URL, feed.URL)
			continue
		}
		more := ""
		if feed.More > 0 {
			more = fmt.Sprintf(" (it has %d more: aggregator discover %s)", feed.More, src.URL)
		}
		seen[feed.URL] = true
		fmt.Fprintf(w, "%s: resolved to %s, found as %s%s\n", src.URL, feed.URL, feed.Via, more)
		src.URL, src.Site = feed.URL, false
		out = append(out, src)
		resolved++
	}
	return out, resolved, nil
}
