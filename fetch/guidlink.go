package fetch

import (
	"bytes"
	"strings"

	"github.com/mmcdole/gofeed"
)

// guidLinks says, per item of an RSS feed's gofeed items, whether its GUID
// may stand for its missing link: an RSS 2.0 guid that is an http(s) URL is
// a permalink unless its isPermaLink attribute is "false" (RSS 2.0, guid).
// gofeed's universal items keep no isPermaLink, so it is read from the
// body, and only when some item needs it; Atom ids and JSON Feed ids are
// never links (RFC 4287 4.2.6: an id need not be dereferenceable).
func guidLinks(f *gofeed.Feed, body []byte) func(i int) bool {
	if f.FeedType != "rss" {
		return func(int) bool { return false }
	}
	needed := false
	for _, it := range f.Items {
		if it != nil && strings.TrimSpace(it.Link) == "" && isHTTP(it.GUID) {
			needed = true
			break
		}
	}
	if !needed {
		return func(int) bool { return true }
	}
	permalinks := rssPermalinks(body)
	if len(permalinks) != len(f.Items) {
		// Read otherwise than gofeed read it: the RSS default.
		return func(int) bool { return true }
	}
	return func(i int) bool { return permalinks[i] }
}

// rssPermalinks reads an RSS 2.0 body as gofeed does and reports, for each
// item in order, whether its guid is a permalink: false only for
// isPermaLink="false" (any case, as readers take it).
func rssPermalinks(body []byte) []bool {
	s := newXMLScanner(body)
	var items []bool
	inItem := false
	for {
		switch s.next() {
		case xmlEOF:
			return items
		case xmlEnd:
			if s.depth() < 3 {
				inItem = false
			}
		case xmlStart:
			prefix, local := splitName(s.name)
			switch {
			case s.depth() == 3 && bytes.EqualFold(local, []byte("item")):
				items = append(items, true)
				inItem = !s.selfClosing
			case s.depth() == 4 && inItem && len(prefix) == 0 && bytes.EqualFold(local, []byte("guid")):
				for _, a := range s.attrs {
					if _, name := splitName(a.name); bytes.EqualFold(name, []byte("isPermaLink")) {
						items[len(items)-1] = !strings.EqualFold(strings.TrimSpace(string(a.value)), "false")
					}
				}
			}
		}
	}
}
