package fetch

import (
	"bytes"
	"strings"

	"github.com/mmcdole/gofeed"
)

// markup says which text fields of a feed gofeed hands over as HTML, to be
// reduced to plain text by fieldText, rather than as plain text already.
// RSS and JSON Feed titles, names and categories are taken as HTML, as
// their writers mean them (entities such as "&#8217;" are common). Atom
// says: a title's type attribute (text, html or xhtml), and names and
// categories are text. gofeed keeps no title's type, so it is read from the
// body.
type markup struct {
	feedTitle  bool
	itemTitles []bool // per item of the gofeed feed; nil when all are HTML
	people     bool   // names and categories
}

func (m markup) itemTitle(i int) bool {
	return m.itemTitles == nil || m.itemTitles[i]
}

// markupOf returns the markup of f, parsed from body (as xmlView returns
// it).
func markupOf(f *gofeed.Feed, body []byte) markup {
	if f.FeedType != "atom" {
		return markup{feedTitle: true, people: true}
	}
	m := markup{}
	m.feedTitle, m.itemTitles = atomTitles(body)
	if len(m.itemTitles) != len(f.Items) {
		// Read otherwise than gofeed read it: as before titles had types.
		m.itemTitles = nil
	}
	return m
}

// atomTitles reads an Atom feed's body as gofeed does and reports whether
// the feed's title and each entry's title, in order, is HTML.
func atomTitles(body []byte) (feed bool, entries []bool) {
	s := newXMLScanner(body)
	var isNative func(string) bool
	inEntry := false
	for {
		switch s.next() {
		case xmlEOF:
			return feed, entries
		case xmlEnd:
			if s.depth() < 2 {
				inEntry = false
			}
		case xmlStart:
			if s.depth() == 1 {
				isNative = nativeSpaces(s.name, s.space)
				continue
			}
			if !isNative(s.space) {
				continue
			}
			_, local := splitName(s.name)
			switch {
			case s.depth() == 2 && bytes.EqualFold(local, []byte("entry")):
				entries = append(entries, true)
				inEntry = !s.selfClosing
			case s.depth() == 2 && bytes.EqualFold(local, []byte("title")):
				feed = isHTMLTitle(s.attrs)
			case s.depth() == 3 && inEntry && bytes.EqualFold(local, []byte("title")):
				entries[len(entries)-1] = isHTMLTitle(s.attrs)
			}
		}
	}
}

// isHTMLTitle reports whether gofeed hands over the text of an Atom title
// with these attributes as HTML. It decodes the entities of a text title
// (type "text", "text/…" or none), leaving plain text; an html title is
// HTML once decoded, an xhtml one is XHTML, and one of another type or mode
// is left as it is written.
func isHTMLTitle(attrs []xmlAttr) bool {
	var typ, mode string
	for _, a := range attrs {
		// encoding/xml matches an attribute by its local name, the last one
		// winning.
		switch _, local := splitName(a.name); string(local) {
		case "type":
			typ = strings.ToLower(string(a.value))
		case "mode":
			mode = strings.ToLower(string(a.value))
		}
	}
	isText := typ == "text" || typ == "" && mode == "" ||
		strings.HasPrefix(typ, "text/") && typ != "text/html"
	return !isText
}
