package fetch

import (
	"bytes"
	"strings"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
)

// markup says which text fields of a feed gofeed hands over as HTML and
// which as plain text. A title, name or category given as HTML is reduced
// to plain text by fieldText; a content or summary given as plain text is
// made HTML by textHTML, since aggregator.Item holds them as HTML.
//
// RSS and JSON Feed titles, names and categories are taken as HTML, as
// their writers mean them (entities such as "&#8217;" are common); so are
// RSS descriptions and content:encoded. Atom says: a title's, summary's or
// content's type attribute (text, html or xhtml, or a MIME type for
// content), and names and categories are text. gofeed keeps no title's or
// summary's type, and has decoded a text one's entities, so the types are
// read from the body. JSON Feed says: content_html is HTML, content_text
// and summary are plain text; gofeed takes content_text when content_html
// is empty, and jsonTranslator marks the items it did so for.
type markup struct {
	feedTitle bool
	items     []itemMarkup // per item of the gofeed feed; nil when every one is as an RSS item
	people    bool         // names and categories
}

// itemMarkup says how gofeed hands over one item's fields.
type itemMarkup struct {
	titleHTML   bool // the title is HTML, else plain text
	contentText bool // the content is plain text, else HTML
	summaryText bool // the summary is plain text, else HTML
}

// item returns the markup of the gofeed feed's item i.
func (m markup) item(i int) itemMarkup {
	if m.items == nil {
		return itemMarkup{titleHTML: true}
	}
	return m.items[i]
}

// markupOf returns the markup of f, parsed from body (as xmlView returns
// it).
func markupOf(f *gofeed.Feed, body []byte) markup {
	switch f.FeedType {
	case "atom":
		m := markup{}
		m.feedTitle, m.items = atomMarkup(body)
		if len(m.items) != len(f.Items) {
			// Read otherwise than gofeed read it: as before types were read.
			m.items = nil
		}
		return m
	case "json":
		m := markup{feedTitle: true, people: true, items: make([]itemMarkup, len(f.Items))}
		for i, it := range f.Items {
			m.items[i] = itemMarkup{
				titleHTML:   true,
				contentText: it != nil && it.Custom[contentTextKey] != "",
				summaryText: true,
			}
		}
		return m
	}
	return markup{feedTitle: true, people: true}
}

// atomMarkup reads an Atom feed's body as gofeed does and reports whether
// the feed's title is HTML, and how each entry's title, summary and
// content, in order, are written.
func atomMarkup(body []byte) (feed bool, entries []itemMarkup) {
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
				entries = append(entries, itemMarkup{})
				inEntry = !s.selfClosing
			case s.depth() == 2 && bytes.EqualFold(local, []byte("title")):
				feed = isHTMLText(s.attrs)
			case s.depth() == 3 && inEntry:
				// gofeed takes the last of each.
				e := &entries[len(entries)-1]
				switch {
				case bytes.EqualFold(local, []byte("title")):
					e.titleHTML = isHTMLText(s.attrs)
				case bytes.EqualFold(local, []byte("summary")):
					e.summaryText = !isHTMLText(s.attrs)
				case bytes.EqualFold(local, []byte("content")):
					e.contentText = !isHTMLText(s.attrs)
				}
			}
		}
	}
}

// isHTMLText reports whether gofeed hands over the text of an Atom text
// construct (a title or summary) or content with these attributes as
// HTML. It decodes the entities of a text one (type "text", "text/…" but
// "text/html", or none), leaving plain text; an html one is HTML once
// decoded, an xhtml one is XHTML, and one of another type or mode is left
// as it is written (content of another type with a src is out of line, and
// gofeed's text for it empty).
func isHTMLText(attrs []xmlAttr) bool {
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

// textHTML returns plain text s as HTML that shows the same text: escaped,
// and with each line break kept as a <br>, since HTML would run the lines
// of a note or a poem together. (A <pre> would keep them too, but in a
// fixed-width font and without wrapping long lines.) Space around the
// text is dropped.
func textHTML(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "\r") {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>\n")
}

// contentHTML returns an item's content or summary, which gofeed hands
// over as plain text when isText, as HTML.
func contentHTML(s string, isText bool) string {
	s = valid(s)
	if isText {
		return textHTML(s)
	}
	return s
}
