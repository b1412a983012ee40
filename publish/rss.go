package publish

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/feeds"
)

// rssDoc is an RSS 2.0 document. gorilla/feeds' RssItem has no category
// list, no dc:creator and one enclosure dropped without Type and Length, so
// the envelope is ours; content, enclosure and guid reuse its types.
type rssDoc struct {
	XMLName   xml.Name   `xml:"rss"`
	Version   string     `xml:"version,attr"`
	ContentNS string     `xml:"xmlns:content,attr"`
	DCNS      string     `xml:"xmlns:dc,attr"`
	AtomNS    string     `xml:"xmlns:atom,attr"`
	Channel   rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string        `xml:"title"`
	Link          string        `xml:"link"`
	Description   string        `xml:"description"`
	AtomLinks     []rssAtomLink `xml:"atom:link"`
	LastBuildDate string        `xml:"lastBuildDate,omitempty"`
	Generator     string        `xml:"generator"`
	TTL           int           `xml:"ttl,omitempty"` // minutes a reader may keep the channel: outputs change only after a pass
	Items         []rssItem     `xml:"item"`
}

// rssAtomLink is one of the channel's atom:link elements: rel="self", as
// the RSS Advisory Board recommends, and rel="hub" for each WebSub hub.
type rssAtomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
}

type rssItem struct {
	Title       string `xml:"title,omitempty"`
	Link        string `xml:"link,omitempty"`
	Description string `xml:"description"`
	Content     *feeds.RssContent
	Creator     string   `xml:"dc:creator,omitempty"`
	Categories  []string `xml:"category"`
	Enclosure   *feeds.RssEnclosure
	GUID        feeds.RssGuid
	PubDate     string     `xml:"pubDate,omitempty"`
	Source      *rssSource `xml:"source"`
}

type rssSource struct {
	URL   string `xml:"url,attr"`
	Title string `xml:",chardata"`
}

// renderRSS writes doc as RSS 2.0.
func renderRSS(doc *feedDoc) ([]byte, error) {
	ch := rssChannel{
		Title:       doc.Title,
		Link:        doc.homeURL(),
		Description: doc.Description,
		AtomLinks:   []rssAtomLink{{Href: doc.url(rssFormat), Rel: "self", Type: rssFormat.mediaType()}},
		Generator:   generatorName,
		TTL:         doc.ttl,
	}
	for _, h := range doc.hubs {
		ch.AtomLinks = append(ch.AtomLinks, rssAtomLink{Href: h, Rel: "hub"})
	}
	if ch.Description == "" {
		ch.Description = doc.Title // required
	}
	// The newest item's date rather than the render time, so that an
	// unchanged feed renders the same bytes and keeps its ETag.
	if !doc.Updated.IsZero() {
		ch.LastBuildDate = rssDate(doc.Updated)
	}
	for _, e := range doc.Entries {
		ch.Items = append(ch.Items, newRSSItem(e))
	}
	return marshalXML(rssDoc{
		Version:   "2.0",
		ContentNS: "http://purl.org/rss/1.0/modules/content/",
		DCNS:      "http://purl.org/dc/elements/1.1/",
		AtomNS:    "http://www.w3.org/2005/Atom",
		Channel:   ch,
	})
}

func newRSSItem(e entry) rssItem {
	it := rssItem{
		Title:       e.Title,
		Link:        e.Link,
		Description: e.Summary,
		Creator:     e.Author,
		Categories:  e.Categories,
		GUID:        feeds.RssGuid{Id: e.ID, IsPermaLink: "false"},
	}
	if it.Description == "" {
		it.Description = e.Content
	}
	if it.Title == "" && strings.TrimSpace(it.Description) == "" {
		it.Title = untitled
	}
	if e.Content != "" {
		it.Content = &feeds.RssContent{Content: e.Content}
	}
	// Readers disagree on several enclosures per item; the RSS profile
	// advises one.
	if len(e.Enclosures) > 0 {
		enc := e.Enclosures[0]
		it.Enclosure = &feeds.RssEnclosure{
			Url:    enc.URL,
			Type:   enc.Type,
			Length: strconv.FormatInt(enc.Length, 10),
		}
	}
	if !e.Published.IsZero() {
		it.PubDate = rssDate(e.Published)
	}
	if e.Source.FeedURL != "" {
		it.Source = &rssSource{URL: e.Source.FeedURL, Title: e.Source.Title}
	}
	return it
}

// rssDate formats t as an RFC 822 date, as RSS 2.0 requires.
func rssDate(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }
