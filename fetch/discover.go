package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
	"golang.org/x/net/html"
)

// How Discover found a feed (FoundFeed.Via).
const (
	ViaPage      = "the page itself"        // the address given is a feed
	ViaLink      = `<link rel="alternate">` // the page names it
	ViaWellKnown = "a well-known path"      // the page names none; one of wellKnownPaths answered
)

// wellKnownPaths are where feeds are most often found, tried at a site's
// root when its page names none.
var wellKnownPaths = []string{"/feed", "/rss.xml", "/atom.xml", "/index.xml", "/feed.json"}

// feedTypes are the media types of <link rel="alternate"> that name a
// feed. application/json is not one of them: WordPress names its REST API
// with it on every page.
var feedTypes = map[string]bool{
	"application/rss+xml":   true,
	"application/atom+xml":  true,
	"application/feed+json": true,
	"application/rdf+xml":   true,
	"application/x-rss+xml": true,
}

// ErrBadAddress is returned by Discover for an address that is no http(s)
// address.
var ErrBadAddress = errors.New("bad address")

// maxLinks is the most feeds of one page Discover fetches; a page naming
// more is not a site's own list of feeds.
const maxLinks = 10

// Discovery is what Discover found at a site.
type Discovery struct {
	// Site is the page asked for, after redirects.
	Site string
	// Feeds are the feeds found, in the order found, followed by the ones
	// the page names that are no feeds (FoundFeed.Err).
	Feeds []FoundFeed
	// Unchecked counts the feeds the page names beyond the first maxLinks,
	// not fetched.
	Unchecked int
	// Tried are the well-known paths asked for, as absolute URLs, when the
	// page names no feed.
	Tried []string
}

// Found returns the feeds of d that are feeds (whose Err is nil).
func (d Discovery) Found() []FoundFeed {
	var out []FoundFeed
	for _, f := range d.Feeds {
		if f.Err == nil {
			out = append(out, f)
		}
	}
	return out
}

// WriteText writes d for a person: the text of `aggregator discover`.
func (d Discovery) WriteText(w io.Writer) {
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

// FoundFeed is one feed Discover found, or one a page names that turned
// out to be none.
type FoundFeed struct {
	// URL is the feed's address to configure: where it has permanently
	// moved (301, 308), else as found.
	URL    string
	Via    string    // ViaPage, ViaLink or ViaWellKnown
	Title  string    // the feed's own title, else the link's title attribute
	Format string    // "atom", "rss" or "json"
	Items  int       // items in the feed now
	Newest time.Time // the newest item's date; zero when none has one
	Err    error     // why it is no feed; nil for a feed
}

// Discover finds the feeds of the site at address, given as people give it
// ("example.com", "https://example.com/blog/"; without a scheme, https and,
// when that cannot connect, http). The page itself is a feed, or the feeds
// its HTML names with <link rel="alternate">, relative references resolved
// against the page, are fetched, at most maxLinks; when it names none (or
// answers 404 or 410), each of a few well-known paths at the site's root is
// asked for once. Every request is a Client's: its limits, User-Agent and
// timeouts; a site that is not internal (IsInternal: a private address
// written out, or localhost) is refused on a private address, and so are
// the feeds its page names, as redirects are
// (Options.AllowPrivateRedirects).
//
// It returns an error wrapping ErrBadAddress when address is no http(s)
// address, and Fetch's errors when the site's page cannot be fetched;
// finding no feed is no error.
func (c *Client) Discover(ctx context.Context, address string) (Discovery, error) {
	candidates, err := siteURLs(address)
	if err != nil {
		return Discovery{}, err
	}
	// One origin for every request: what the page names is judged as a
	// redirect of the page's request would be. The candidates share a host.
	ctx = withGuard(ctx, isInternal(aggregator.Source{URL: candidates[0]}, c.opts.IsPrivate))
	var d Discovery
	seen := make(map[string]bool) // feed URLs and body hashes
	var got response
	for i, u := range candidates {
		var res Result
		res, got, err = c.fetch(ctx, aggregator.Source{URL: u}, aggregator.SourceState{}, nil)
		if i+1 < len(candidates) && noHTTPS(err) {
			continue
		}
		if err == nil {
			d.Site = res.URL
			d.Feeds = append(d.Feeds, found(u, ViaPage, res, "", seen))
			return d, nil
		}
		break
	}
	var status *StatusError
	switch {
	case errors.Is(err, ErrNotFeed):
		d.Site = got.res.URL
		links := feedLinks(got.body, d.Site)
		if len(links) > maxLinks {
			d.Unchecked = len(links) - maxLinks
			links = links[:maxLinks]
		}
		var failed []FoundFeed
		for _, l := range links {
			res, _, err := c.fetch(ctx, aggregator.Source{URL: l.url}, aggregator.SourceState{}, nil)
			if err != nil {
				failed = append(failed, FoundFeed{URL: l.url, Via: ViaLink, Title: l.title, Err: err})
				continue
			}
			if f := found(l.url, ViaLink, res, l.title, seen); f.URL != "" {
				d.Feeds = append(d.Feeds, f)
			}
		}
		d.Feeds = append(d.Feeds, failed...)
		if len(links) > 0 {
			return d, nil
		}
	case errors.As(err, &status) && (status.Code == http.StatusNotFound || status.Code == http.StatusGone):
		d.Site = status.URL
	default:
		return Discovery{}, err
	}
	return c.probe(ctx, d, seen), nil
}

// probe asks for each of wellKnownPaths at the root of d.Site once, and
// adds the feeds that answer to d. It stops at a failure that says the
// host would fail the others too.
func (c *Client) probe(ctx context.Context, d Discovery, seen map[string]bool) Discovery {
	site, err := url.Parse(d.Site)
	if err != nil {
		return d
	}
	for _, p := range wellKnownPaths {
		u := (&url.URL{Scheme: site.Scheme, Host: site.Host, Path: p}).String()
		d.Tried = append(d.Tried, u)
		res, _, err := c.fetch(ctx, aggregator.Source{URL: u}, aggregator.SourceState{}, nil)
		var status *StatusError
		switch {
		case err == nil:
			if f := found(u, ViaWellKnown, res, "", seen); f.URL != "" {
				d.Feeds = append(d.Feeds, f)
			}
		case errors.As(err, &status) && status.Code != http.StatusTooManyRequests && status.Code < 500,
			errors.Is(err, ErrNotFeed), errors.Is(err, ErrTooLarge), errors.Is(err, ErrTooComplex):
			// This path is not a feed; the next may be.
		default:
			var parse *ParseError
			if !errors.As(err, &parse) {
				return d // the host is down, slow, or asks us to wait
			}
		}
	}
	return d
}

// found returns the feed res brought from u, or a FoundFeed with no URL
// when seen has it already (the same feed under another address: the
// URL it was fetched from after redirects, or the same body).
func found(u, via string, res Result, linkTitle string, seen map[string]bool) FoundFeed {
	if seen[res.URL] || seen[res.BodyHash] {
		return FoundFeed{}
	}
	seen[res.URL], seen[res.BodyHash] = true, true
	f := FoundFeed{URL: u, Via: via, Title: res.Feed.Title, Format: res.Feed.Format, Items: len(res.Feed.Items)}
	if res.PermanentRedirect != "" {
		f.URL = res.PermanentRedirect
	}
	if f.Title == "" {
		f.Title = linkTitle
	}
	for _, it := range res.Feed.Items {
		if it.Published.After(f.Newest) {
			f.Newest = it.Published
		}
	}
	return f
}

// noHTTPS reports whether err says that a host serves no https, or not
// well: its TLS handshake or connection failed, or it answered in plain
// HTTP ("server gave HTTP response to HTTPS client", an error of no type).
// A timeout or a DNS failure would only repeat with http.
func noHTTPS(err error) bool {
	switch Kind(err) {
	case "tls", "connect", "other":
		return true
	}
	return false
}

// siteURLs returns the URLs to ask for a site's page at address: address
// itself if it has an http(s) scheme, else https:// and http:// before it.
func siteURLs(address string) ([]string, error) {
	address = strings.TrimSpace(address)
	var candidates []string
	if strings.Contains(address, "://") {
		candidates = []string{address}
	} else {
		candidates = []string{"https://" + address, "http://" + address}
	}
	u, err := url.Parse(candidates[0])
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%w %q: %w", ErrBadAddress, aggregator.RedactURL(address), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w %q: want an http(s) address", ErrBadAddress, aggregator.RedactURL(address))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w %q: no host", ErrBadAddress, aggregator.RedactURL(address))
	}
	return candidates, nil
}

// feedLink is a feed an HTML page names.
type feedLink struct {
	url, title string
}

// feedLinks returns the feeds the HTML page body names with
// <link rel="alternate" type="…">, for a type of feedTypes: each http(s)
// href once, in page order, made absolute against the page's <base href>,
// else pageURL.
func feedLinks(body []byte, pageURL string) []feedLink {
	base, err := url.Parse(pageURL)
	if err != nil {
		return nil
	}
	var links []feedLink
	seen := make(map[string]bool)
	baseSet := false
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return links
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if !hasAttr || (string(name) != "link" && string(name) != "base") {
			continue
		}
		attrs := make(map[string]string)
		for more := true; more; {
			var k, v []byte
			k, v, more = z.TagAttr()
			if _, dup := attrs[string(k)]; !dup {
				attrs[string(k)] = string(v)
			}
		}
		if string(name) == "base" {
			if b, err := url.Parse(strings.TrimSpace(attrs["href"])); err == nil && !baseSet && attrs["href"] != "" {
				base, baseSet = base.ResolveReference(b), true
			}
			continue
		}
		mediaType, _, _ := strings.Cut(attrs["type"], ";")
		if !hasToken(attrs["rel"], "alternate") || !feedTypes[strings.ToLower(strings.TrimSpace(mediaType))] {
			continue
		}
		href := capURL(resolve(base, attrs["href"]))
		if !isHTTP(href) || seen[href] {
			continue
		}
		seen[href] = true
		links = append(links, feedLink{url: href, title: clip(strings.Join(strings.Fields(valid(attrs["title"])), " "), maxTitle)})
	}
}

// hasToken reports whether the space-separated list s holds token, in any
// case, as rel="alternate home" does "alternate".
func hasToken(s, token string) bool {
	for _, t := range strings.Fields(s) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}
