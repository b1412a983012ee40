package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
	"golang.org/x/net/html"
)

// What one field of a feed may cost. Options.MaxBytes bounds a feed, but
// one field is copied into many outputs (the feed's title into every entry
// of every published feed and into the page), so each is capped when the
// feed is normalised; README.md lists the caps. Longer text is cut at a
// rune boundary and ends in "…"; a longer URL or MIME type is dropped,
// since a cut one would be broken, and a longer GUID is replaced by its
// hash. Content and summary are bounded by Options.MaxBytes alone.
const (
	maxTitle      = 1024 // bytes of a feed's or an item's title
	maxName       = 256  // bytes of an author's name
	maxCategory   = 128  // bytes of one category
	maxCategories = 64   // categories per item; the rest are dropped
	maxEnclosures = 16   // enclosures per item; the rest are dropped
	maxURL        = 2048 // bytes of a link, the site link or an enclosure URL
	maxMIMEType   = 255  // bytes of an enclosure's MIME type
	maxID         = 2048 // bytes of a GUID used as an item's ID
)

// ellipsis ends a cut text.
const ellipsis = "…"

// clip returns s cut to at most limit bytes, at a rune boundary, ending in
// an ellipsis when it was cut.
func clip(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// capURL returns u, or "" when it is longer than maxURL.
func capURL(u string) string {
	if len(u) > maxURL {
		return ""
	}
	return u
}

// capID returns id, or a stable hash of it when it is longer than maxID.
func capID(id string) string {
	if len(id) <= maxID {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "hash:" + hex.EncodeToString(h[:16])
}

// fieldText reduces a title, name or category to plain text of at most
// limit bytes. gofeed has decoded the XML; what it hands over is HTML for
// some fields (RSS and JSON Feed titles, which often carry markup and
// entities, and Atom type="html" and "xhtml" ones), whose markup is then
// dropped and entities decoded, and plain text for others (Atom type="text"
// titles, names and categories), taken as it is: decoding it again would
// turn a title about "&lt;img&gt;" into one about "<img>". Whitespace is
// collapsed.
func fieldText(s string, isHTML bool, limit int) string {
	s = valid(s)
	if isHTML && strings.ContainsAny(s, "<&") {
		var b strings.Builder
		z := html.NewTokenizer(strings.NewReader(s))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt == html.TextToken {
				b.Write(z.Text())
			}
		}
		s = b.String()
	}
	return clip(strings.Join(strings.Fields(s), " "), limit)
}

// personName returns the first name (else email) among people, as plain
// text of at most maxName bytes.
func personName(people []*gofeed.Person, isHTML bool) string {
	for _, p := range people {
		if p == nil {
			continue
		}
		if name := fieldText(p.Name, isHTML, maxName); name != "" {
			return name
		}
		if email := fieldText(p.Email, isHTML, maxName); email != "" {
			return email
		}
	}
	return ""
}

// categories returns the distinct categories of in, as plain text, at most
// maxCategories of them, each at most maxCategory bytes.
func categories(in []string, isHTML bool) []string {
	var out []string
	seen := make(map[string]bool)
	for _, c := range in {
		if len(out) == maxCategories {
			break
		}
		c = fieldText(c, isHTML, maxCategory)
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// enclosures returns at most maxEnclosures of in that have a URL, resolved
// against base.
func enclosures(in []*gofeed.Enclosure, base *url.URL) []aggregator.Enclosure {
	var out []aggregator.Enclosure
	for _, e := range in {
		if len(out) == maxEnclosures {
			break
		}
		if e == nil {
			continue
		}
		u := capURL(resolve(base, strings.TrimSpace(e.URL)))
		if u == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(e.Length), 10, 64)
		if err != nil || n < 0 {
			n = 0
		}
		typ := valid(strings.TrimSpace(e.Type))
		if len(typ) > maxMIMEType {
			typ = ""
		}
		out = append(out, aggregator.Enclosure{URL: u, Type: typ, Length: n})
	}
	return out
}
