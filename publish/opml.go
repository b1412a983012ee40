package publish

import (
	"encoding/xml"

	"github.com/planetgo/aggregator"
)

// opmlDoc is an OPML 2.0 subscription list (http://opml.org/spec2.opml).
type opmlDoc struct {
	XMLName xml.Name      `xml:"opml"`
	Version string        `xml:"version,attr"`
	Title   string        `xml:"head>title"`
	Docs    string        `xml:"head>docs"`
	Body    []opmlOutline `xml:"body>outline"`
}

// opmlOutline is a section, holding its sources, or a source: text is
// required of both, type="rss" and xmlUrl of a subscription.
type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Title    string        `xml:"title,attr,omitempty"`
	Type     string        `xml:"type,attr,omitempty"`
	XMLURL   string        `xml:"xmlUrl,attr,omitempty"`
	HTMLURL  string        `xml:"htmlUrl,attr,omitempty"`
	Outlines []opmlOutline `xml:"outline"`
}

// opmlURL is the URL of the subscription list of doc's sources.
func (s *Site) opmlURL(doc *feedDoc) string {
	if doc.section == "" {
		return absURL(s.opts.BaseURL, opmlPath)
	}
	return doc.url(opmlFormat)
}

// renderOPML renders the subscription list of docs[i]'s sources. At
// /sources.opml (i = 0) every source is listed in a group per section it
// belongs to, and those in no section at the top level; a section's list is
// flat. A source read from a local file has no URL a reader could
// subscribe to, so it is left out.
func (s *Site) renderOPML(docs []*feedDoc, i int, states map[string]aggregator.SourceState) ([]byte, error) {
	doc := docs[i]
	if i == 0 {
		return s.OPML(states)
	}
	d := opmlDoc{Version: "2.0", Title: doc.Title + " — sources", Docs: "http://opml.org/spec2.opml"}
	d.Body = s.opmlSources(doc.section, states)
	return marshalXML(d)
}

// OPML is the subscription list of every source that /sources.opml
// serves, its titles those the feeds gave in states: what `aggregator
// opml export` prints, with no render.
func (s *Site) OPML(states map[string]aggregator.SourceState) ([]byte, error) {
	d := opmlDoc{Version: "2.0", Title: clean(s.opts.Title) + " — sources", Docs: "http://opml.org/spec2.opml"}
	for _, sec := range s.sections {
		if group := s.opmlSources(sec.Name, states); len(group) > 0 {
			title := s.headings[sec.Name]
			d.Body = append(d.Body, opmlOutline{Text: title, Title: title, Outlines: group})
		}
	}
	for _, src := range s.opts.Sources {
		if len(src.Sections) == 0 {
			if o, ok := opmlSource(src, states[src.Name]); ok {
				d.Body = append(d.Body, o)
			}
		}
	}
	return marshalXML(d)
}

// opmlSources lists the sources of section name, in config order.
func (s *Site) opmlSources(name string, states map[string]aggregator.SourceState) []opmlOutline {
	var out []opmlOutline
	for _, src := range s.sectionSources(name) {
		if o, ok := opmlSource(src, states[src.Name]); ok {
			out = append(out, o)
		}
	}
	return out
}

// opmlSource is the subscription to src; false when src has no public URL.
func opmlSource(src aggregator.Source, st aggregator.SourceState) (opmlOutline, bool) {
	feed := publicURL(src.URL)
	if feed == "" {
		return opmlOutline{}, false
	}
	title := clean(aggregator.DisplayTitle(src, st))
	return opmlOutline{Text: title, Title: title, Type: "rss", XMLURL: feed, HTMLURL: publicURL(st.SiteLink)}, true
}
