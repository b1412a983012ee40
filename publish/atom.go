package publish

import (
	"bytes"
	"encoding/xml"
	"strconv"

	"github.com/gorilla/feeds"
)

// generatorName and generatorURI identify this program in every feed.
const (
	generatorName = "planetgo aggregator"
	generatorURI  = "https://github.com/planetgo/aggregator"
)

// untitled is the title of an item without one: in Atom always, since
// atom:title is required; in RSS and JSON Feed when the item has no text
// either, since RSS 2.0 requires a title or a description and an item
// with neither would show as nothing. An item with text keeps no title
// there, so that readers make one from the text, as they do for
// microblog posts. The page says "(untitled)" too.
const untitled = "(untitled)"

// atomFeed is an Atom 1.0 feed document (RFC 4287). gorilla/feeds' AtomFeed
// cannot carry an id of our own, two links, <published> or category terms,
// so the envelope is ours; links, authors and content reuse its types.
type atomFeed struct {
	XMLName   xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID        string   `xml:"id"`
	Title     string   `xml:"title"`
	Subtitle  string   `xml:"subtitle,omitempty"`
	Updated   string   `xml:"updated"`
	Links     []feeds.AtomLink
	Generator atomGenerator `xml:"generator"`
	Entries   []atomEntry   `xml:"entry"`
}

type atomGenerator struct {
	URI  string `xml:"uri,attr"`
	Name string `xml:",chardata"`
}

type atomEntry struct {
	ID         string `xml:"id"`
	Title      string `xml:"title"`
	Updated    string `xml:"updated"`
	Published  string `xml:"published,omitempty"`
	Author     *feeds.AtomAuthor
	Links      []feeds.AtomLink
	Categories []atomCategory `xml:"category"`
	Content    *feeds.AtomContent
	Summary    *feeds.AtomSummary
	Source     *atomSource `xml:"source"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

// atomSource keeps the metadata of the feed an entry came from (RFC 4287
// 4.2.11), so that readers can credit and deduplicate: its id (the feed's
// own atom:id, else its URL), title, self and alternate links, updated
// time, and its face as the icon.
type atomSource struct {
	ID      string `xml:"id"`
	Title   string `xml:"title"`
	Updated string `xml:"updated,omitempty"`
	Icon    string `xml:"icon,omitempty"`
	Links   []feeds.AtomLink
}

// renderAtom writes doc as Atom 1.0.
func renderAtom(doc *feedDoc) ([]byte, error) {
	f := atomFeed{
		ID:       doc.ID,
		Title:    doc.Title,
		Subtitle: doc.Description,
		Updated:  rfc3339(dateOrEpoch(doc.Updated)),
		Links: []feeds.AtomLink{
			{Rel: "self", Type: atomFormat.mediaType(), Href: doc.url(atomFormat)},
			{Rel: "alternate", Type: htmlFormat.mediaType(), Href: doc.homeURL()},
		},
		Generator: atomGenerator{URI: generatorURI, Name: generatorName},
	}
	for _, h := range doc.hubs {
		f.Links = append(f.Links, feeds.AtomLink{Rel: "hub", Href: h})
	}
	for _, e := range doc.Entries {
		f.Entries = append(f.Entries, newAtomEntry(e))
	}
	return marshalXML(f)
}

func newAtomEntry(e entry) atomEntry {
	a := atomEntry{
		ID:      e.ID,
		Title:   e.Title,
		Updated: rfc3339(dateOrEpoch(e.Updated)),
		Author:  &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: e.Author}},
		Source:  &atomSource{ID: e.Source.ID, Title: e.Source.Title, Icon: e.Source.Image},
	}
	if !e.Source.Updated.IsZero() {
		a.Source.Updated = rfc3339(e.Source.Updated)
	}
	if a.Title == "" {
		a.Title = untitled
	}
	if !e.Published.IsZero() {
		a.Published = rfc3339(e.Published)
	}
	if e.Link != "" {
		a.Links = append(a.Links, feeds.AtomLink{Rel: "alternate", Href: e.Link})
	}
	for _, enc := range e.Enclosures {
		l := feeds.AtomLink{Rel: "enclosure", Href: enc.URL, Type: enc.Type}
		if enc.Length > 0 {
			l.Length = strconv.FormatInt(enc.Length, 10)
		}
		a.Links = append(a.Links, l)
	}
	for _, c := range e.Categories {
		a.Categories = append(a.Categories, atomCategory{Term: c})
	}
	// RFC 4287 4.1.1.1: an entry without an alternate link must have
	// content, so the summary becomes the content when there is no link.
	switch {
	case e.Content != "":
		a.Content = &feeds.AtomContent{Type: "html", Content: e.Content}
	case e.Link == "":
		a.Content = &feeds.AtomContent{Type: "html", Content: e.Summary}
	case e.Summary != "":
		a.Summary = &feeds.AtomSummary{Type: "html", Content: e.Summary}
	}
	if e.Source.SiteLink != "" {
		a.Source.Links = append(a.Source.Links, feeds.AtomLink{Rel: "alternate", Href: e.Source.SiteLink})
	}
	if e.Source.FeedURL != "" {
		a.Source.Links = append(a.Source.Links, feeds.AtomLink{Rel: "self", Href: e.Source.FeedURL})
	}
	return a
}

// marshalXML writes v as an indented XML document with a declaration.
func marshalXML(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
