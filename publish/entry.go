package publish

import (
	"crypto/sha1"
	"io"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/feeds"
	"github.com/planetgo/aggregator"
)

// unknownMediaType is the type of an enclosure whose type is unknown.
const unknownMediaType = "application/octet-stream"

// mergedPath is the path, without extension, of the feed of all sources.
const mergedPath = "/feed"

// opmlPath is the path of the subscription list of every source.
const opmlPath = "/sources.opml"

// sectionPath is the path, without extension, of the outputs of section
// name.
func sectionPath(name string) string { return "/sections/" + name }

// format is one kind of rendered output.
type format int

const (
	atomFormat format = iota
	rssFormat
	jsonFormat
	htmlFormat
	opmlFormat
)

// feedFormats lists the formats every feed is rendered in, in the order
// they are linked.
func feedFormats() []format { return []format{atomFormat, rssFormat, jsonFormat} }

// ext is the extension of a feed's path in format f, with its dot.
func (f format) ext() string {
	switch f {
	case atomFormat:
		return ".atom"
	case rssFormat:
		return ".rss"
	case jsonFormat:
		return ".json"
	case opmlFormat:
		return ".opml"
	}
	return ".html"
}

// label names format f for people.
func (f format) label() string {
	switch f {
	case atomFormat:
		return "Atom"
	case rssFormat:
		return "RSS"
	case jsonFormat:
		return "JSON Feed"
	case opmlFormat:
		return "OPML"
	}
	return "HTML"
}

// mediaType is the media type of format f, without parameters.
func (f format) mediaType() string {
	switch f {
	case atomFormat:
		return "application/atom+xml"
	case rssFormat:
		return "application/rss+xml"
	case jsonFormat:
		return "application/feed+json"
	case opmlFormat:
		return "text/x-opml"
	}
	return "text/html"
}

// contentType is the Content-Type header of format f.
func (f format) contentType() string { return f.mediaType() + "; charset=utf-8" }

// render writes doc in feed format f.
func (f format) render(doc *feedDoc) ([]byte, error) {
	switch f {
	case atomFormat:
		return renderAtom(doc)
	case rssFormat:
		return renderRSS(doc)
	}
	return renderJSON(doc)
}

// feedDoc is one feed, independent of its format. Every string in it is
// cleaned; times are UTC.
type feedDoc struct {
	baseURL     string
	section     string   // the section's name; "" for the merged feed
	path        string   // mergedPath or sectionPath(name)
	hubs        []string // WebSub hubs, in order; the Site's, so not part of the fingerprint
	ttl         int      // RSS <ttl>, minutes: the Site's Cache-Control max-age, rounded up
	ID          string   // the Atom id: BaseURL + "/" or BaseURL + "/sections/NAME"
	Title       string
	Description string    // may be empty
	Updated     time.Time // the newest entry's Updated; zero without entries
	Entries     []entry   // newest first

	// river is what its pages show, newest first: Entries, and more
	// when the pages hold more than the feed.
	river []entry
}

// homeURL is the URL of the page that shows the feed's items: / or
// /sections/NAME.html.
func (d *feedDoc) homeURL() string {
	if d.section == "" {
		return d.baseURL + "/"
	}
	return d.url(htmlFormat)
}

// url is the public URL of the feed in format f.
func (d *feedDoc) url(f format) string { return absURL(d.baseURL, d.path+f.ext()) }

// absURL is the public URL of path. Its segments are escaped, since section
// names come from the config.
func absURL(baseURL, path string) string {
	return baseURL + (&url.URL{Path: path}).EscapedPath()
}

// entry is one item as every format publishes it.
type entry struct {
	ID         string // urn:uuid, see itemID
	Title      string // plain text; may be empty
	Link       string // http(s) only; may be empty
	Content    string // HTML; may be empty
	Summary    string // HTML; may be empty
	Author     string // the item's author, else the source's display title
	Categories []string
	Enclosures []aggregator.Enclosure // each with an http(s) URL and a media type
	Published  time.Time              // Item.Date(); zero when it has none that can be written
	Updated    time.Time              // Item.Updated, else Published
	Source     sourceRef
	AlsoIn     []sourceRef // the other configured sources whose copies were collapsed into this one

	sourceName  string   // the name of its source
	alsoInNames []string // the names of the sources of AlsoIn
}

// sourceRef is the source an entry came from.
type sourceRef struct {
	ID       string    // the source feed's own id, else its feed URL, else a urn:uuid of its name
	Title    string    // aggregator.DisplayTitle
	SiteLink string    // http(s) only; may be empty
	FeedURL  string    // http(s) only; empty for a local file
	Image    string    // the source's face (Site.imageURL): http(s); may be empty
	Updated  time.Time // when the source feed last changed; zero when unknown

	// publishedAs is the name its items' ids are made from
	// (SourceState.PublishedAs, else its name).
	publishedAs string
}

// newEntry converts it, from the source src.
func newEntry(it aggregator.Item, src sourceRef) entry {
	e := entry{
		ID:        ItemID(src.publishedAs, it.ID),
		Title:     clean(it.Title),
		Link:      publicURL(it.Link),
		Content:   clean(it.Content),
		Summary:   clean(it.Summary),
		Author:    clean(it.Author),
		Published: writableTime(it.Date()),
		Updated:   writableTime(it.Updated),
		Source:    src,

		sourceName: it.SourceID,
	}
	if e.Author == "" {
		e.Author = src.Title
	}
	if e.Updated.IsZero() {
		e.Updated = e.Published
	}
	for _, c := range it.Categories {
		if c = clean(c); strings.TrimSpace(c) != "" {
			e.Categories = append(e.Categories, c)
		}
	}
	for _, enc := range it.Enclosures {
		enc.URL, enc.Type = publicURL(enc.URL), cleanMediaType(enc.Type)
		if enc.URL == "" {
			continue
		}
		if enc.Type == "" {
			enc.Type = unknownMediaType // RSS and JSON Feed require one
		}
		enc.Length = max(enc.Length, 0)
		e.Enclosures = append(e.Enclosures, enc)
	}
	return e
}

// ItemID is the public id of item id of the source published as sourceID
// (its name, or the name a rename kept: SourceState.PublishedAs): a
// name-based UUID (version 5 layout) of SHA-1(sourceID + "\x00" + id), so
// it is the same in every format, on every render and across restarts,
// and two sources cannot collide on the same GUID. Readers' subscriptions
// depend on it: it never changes.
func ItemID(sourceID, id string) string {
	h := sha1.New()
	io.WriteString(h, sourceID)
	io.WriteString(h, "\x00")
	io.WriteString(h, id)
	var u feeds.UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // variant RFC 9562
	return "urn:uuid:" + u.String()
}

// clean drops the characters XML 1.0 forbids (C0 controls other than tab,
// newline and carriage return; U+FFFE and U+FFFF) and replaces invalid
// UTF-8 with U+FFFD. gorilla/feeds and encoding/xml copy controls into
// CDATA, which makes RSS ill-formed, so every string is cleaned once, for
// every format.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, s)
}

// cleanMediaType returns t normalised if it is a valid media type, else "":
// Atom's schema requires "type/subtype" of a link's type.
func cleanMediaType(t string) string {
	mt, params, err := mime.ParseMediaType(clean(t))
	if err != nil || !strings.Contains(mt, "/") {
		return ""
	}
	return mime.FormatMediaType(mt, params)
}

// publicURL returns s cleaned if it is an absolute http(s) URL, else "".
// Every URL we publish outside content goes through it: a source read from
// a local file has no public feed URL, and a relative or javascript: link
// from a feed must not reach a reader.
func publicURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return clean(s)
}

// rfc3339 formats t in UTC as Atom and JSON Feed require.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// writableTime is t in UTC, or zero when its year does not have the four
// digits RFC 3339 and RFC 822 dates allow.
func writableTime(t time.Time) time.Time {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}
	}
	return t.UTC()
}

// dateOrEpoch is t, or the Unix epoch when t is zero: Atom requires a date,
// and a fixed one keeps the bytes, and so the ETag, stable across renders.
func dateOrEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// RouteLabel names the route of path among the site's, for counting
// requests with few labels: the path itself for a fixed route (the page,
// the merged feeds, the subscription list, the health feed), "/sections/"
// for any section's output (its older pages included), "/page/" for an
// older page of the planet's, "/static/" for a theme's file, and "" for a
// path that is none of the site's.
func RouteLabel(path string) string {
	switch path {
	case "/", opmlPath, healthPath:
		return path
	}
	for _, f := range feedFormats() {
		if path == mergedPath+f.ext() {
			return path
		}
	}
	switch {
	case strings.HasPrefix(path, sectionPath("")):
		return sectionPath("")
	case isPageRoute(path):
		return "/page/"
	case strings.HasPrefix(path, staticPath):
		return staticPath
	}
	return ""
}
