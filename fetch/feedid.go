package fetch

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
)

// maxFeedID is the longest feed id kept; a longer one is dropped, and the
// feed URL stands for it.
const maxFeedID = 1024

// atomFeedID returns the atom:id of an Atom feed's body: the first <id> (or
// <atom:id>) before the first entry, its text decoded and trimmed; "" when
// there is none or it is longer than maxFeedID. gofeed's universal feed
// leaves the id out, and keeping its Atom feed would hold every item
// twice, so the head of the body is searched instead, as for rssTTL.
func atomFeedID(body []byte) string {
	head := body
	if i := bytes.Index(head, []byte("<entry")); i >= 0 {
		head = head[:i]
	} else if i := bytes.Index(head, []byte(":entry")); i >= 0 {
		head = head[:i]
	}
	for _, tag := range []string{"<id>", "<atom:id>"} {
		i := bytes.Index(head, []byte(tag))
		if i < 0 {
			continue
		}
		var id string
		d := xml.NewDecoder(bytes.NewReader(head[i:min(len(head), i+len(tag)+2*maxFeedID)]))
		d.Strict = false
		if err := d.DecodeElement(&id, nil); err != nil {
			return ""
		}
		id = strings.TrimSpace(valid(id))
		if len(id) > maxFeedID || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 }) {
			return ""
		}
		return id
	}
	return ""
}

// feedUpdated is when the feed says it last changed, else the newest date
// of its items; zero when it gives none.
func feedUpdated(f *gofeed.Feed, items []aggregator.Item) time.Time {
	if t := utc(f.UpdatedParsed); !t.IsZero() {
		return t
	}
	var newest time.Time
	for _, it := range items {
		for _, t := range []time.Time{it.Published, it.Updated} {
			if t.After(newest) {
				newest = t
			}
		}
	}
	return newest
}
