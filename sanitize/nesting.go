package sanitize

import (
	"errors"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The bounds of nesting, which keep balance linear. x/net/html refuses a
// fragment nested deeper than 512 elements, the ones it implies (tbody,
// tr) included, so content nested that deep would be dropped whole; and
// it reopens every formatting element closed out of order (b, i, a, font,
// …) at each later paragraph, as HTML says, so that a few hundred open
// ones made a 20 KB item render to 30 MB.
const (
	// maxDepth is how many elements may be open at once. Deeper ones lose
	// their tags and keep their text. With the elements the parser implies
	// (at most one per tag, tbody for a tr) and maxFormatting, the parser's
	// stack stays under its 512.
	maxDepth = 200

	// maxFormatting is how many formatting elements may be open at once:
	// the most the parser can reopen at a paragraph.
	maxFormatting = 16
)

// limitNesting returns fragment with every element closed in order, by an
// explicit end tag, and at most maxDepth elements and maxFormatting
// formatting elements open at once: the tags of deeper elements are
// dropped, their content kept. End tags that close nothing open are
// dropped. It closes the elements HTML closes implicitly (a p by the next
// block, an li by the next li, a td by the next td or tr, …) the same way,
// so that the parser is left nothing out of order to reopen.
//
// It also returns how many open elements its searches read (looking for
// the element an end tag closes, or a start tag closes implicitly): its
// work beyond reading the fragment once, which maxDepth bounds per tag and
// tests count.
func limitNesting(fragment string) (limited string, looked int) {
	var b strings.Builder
	b.Grow(len(fragment) + len(fragment)/4)
	var open []string          // the open elements, innermost last
	formatting := 0            // how many of them are formatting elements
	var dropped map[string]int // start tags dropped, by name: their end tags go too
	closeTo := func(i int) {
		for j := len(open) - 1; j >= i; j-- {
			b.WriteString("</")
			b.WriteString(open[j])
			b.WriteByte('>')
			if isFormatting(open[j]) {
				formatting--
			}
		}
		open = open[:i]
	}
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			closeTo(0)
			return b.String(), looked
		case html.StartTagToken, html.SelfClosingTagToken:
			name := tagName(z)
			if isVoid(name) {
				b.Write(z.Raw())
				continue
			}
			if i := impliedEnd(open, name, &looked); i >= 0 {
				closeTo(i)
			}
			// A raw text element is never dropped: its content would be
			// read as markup.
			if !isRawText(name) && (len(open) >= maxDepth || isFormatting(name) && formatting >= maxFormatting) {
				if dropped == nil {
					dropped = make(map[string]int)
				}
				dropped[name]++
				continue
			}
			b.Write(z.Raw())
			open = append(open, name)
			if isFormatting(name) {
				formatting++
			}
		case html.EndTagToken:
			name := tagName(z)
			if dropped[name] > 0 {
				dropped[name]--
				continue
			}
			if i := lastOpen(open, name, &looked); i >= 0 {
				closeTo(i + 1)
				b.Write(z.Raw())
				open = open[:i]
				if isFormatting(name) {
					formatting--
				}
			}
		default:
			b.Write(z.Raw())
		}
	}
}

// tagName is the current tag's lower-case name, without allocating for
// the names HTML knows.
func tagName(z *html.Tokenizer) string {
	name, _ := z.TagName()
	if a := atom.Lookup(name); a != 0 {
		return a.String()
	}
	return string(name)
}

// lastOpen returns the index in open of the innermost element named name,
// or -1, adding to *looked the elements it read.
func lastOpen(open []string, name string, looked *int) int {
	for i := len(open) - 1; i >= 0; i-- {
		*looked++
		if open[i] == name {
			return i
		}
	}
	return -1
}

// impliedEnd returns the index in open of the element that a start tag
// name closes implicitly, or -1: an open p for a block, li for li, dt or
// dd for either, td or th for a cell or row, tr for a row, option for an
// option, a for a. It looks no further than the element's scope, as HTML
// does. It adds to *looked the elements it read.
func impliedEnd(open []string, name string, looked *int) int {
	var closes func(string) bool
	boundary := isScopeBoundary
	switch {
	case name == "a":
		closes = isA
	case name == "li":
		closes, boundary = isLi, isListBoundary
	case name == "dt" || name == "dd":
		closes = isDefinition
	case name == "td" || name == "th":
		closes, boundary = isCell, isTable
	case name == "tr":
		closes, boundary = isRowOrCell, isTable
	case name == "option":
		closes, boundary = isOption, isSelect
	case closesP(name):
		closes = isP
	default:
		return -1
	}
	for i := len(open) - 1; i >= 0; i-- {
		*looked++
		switch {
		case closes(open[i]):
			// tr closes the row of an open cell, not just the cell.
			if name == "tr" && open[i] != "tr" {
				if j := lastOpen(open[:i], "tr", looked); j >= 0 && lastOpen(open[j:i], "table", looked) < 0 {
					return j
				}
			}
			return i
		case boundary(open[i]):
			return -1
		}
	}
	return -1
}

func isA(n string) bool          { return n == "a" }
func isLi(n string) bool         { return n == "li" }
func isP(n string) bool          { return n == "p" }
func isDefinition(n string) bool { return n == "dt" || n == "dd" }
func isCell(n string) bool       { return n == "td" || n == "th" }
func isRowOrCell(n string) bool  { return n == "tr" || isCell(n) }
func isOption(n string) bool     { return n == "option" }
func isTable(n string) bool      { return n == "table" }
func isSelect(n string) bool     { return n == "select" }

// isScopeBoundary is HTML's "button scope": an implied end stops there.
func isScopeBoundary(n string) bool {
	switch n {
	case "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "button":
		return true
	}
	return false
}

func isListBoundary(n string) bool {
	return n == "ol" || n == "ul" || isScopeBoundary(n)
}

// closesP reports whether a start tag closes an open p.
func closesP(n string) bool {
	switch n {
	case "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
		"fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu", "nav", "ol", "p",
		"search", "section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "listing", "form",
		"table", "xmp", "plaintext":
		return true
	}
	return false
}

func isFormatting(n string) bool {
	switch n {
	case "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u":
		return true
	}
	return false
}

func isVoid(n string) bool {
	switch n {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
		"source", "track", "wbr":
		return true
	}
	return false
}

// isRawText reports whether the tokenizer reads the content of n as text.
func isRawText(n string) bool {
	switch n {
	case "iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp":
		return true
	}
	return false
}

// textOf returns the text of fragment, escaped, without any element: what
// is kept of a fragment balance cannot render within its bounds.
func textOf(fragment string) string {
	var b strings.Builder
	b.Grow(len(fragment))
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			b.WriteString(html.EscapeString(string(z.Text())))
		}
	}
}

// errTooLong stops a render past its bound.
var errTooLong = errors.New("rendered fragment too long")

// boundedWriter is a strings.Builder that refuses to grow past max bytes.
type boundedWriter struct {
	strings.Builder
	max int
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) > w.max {
		return 0, errTooLong
	}
	return w.Builder.Write(p)
}

func (w *boundedWriter) WriteString(s string) (int, error) {
	if w.Len()+len(s) > w.max {
		return 0, errTooLong
	}
	return w.Builder.WriteString(s)
}

func (w *boundedWriter) WriteByte(c byte) error {
	if w.Len()+1 > w.max {
		return errTooLong
	}
	return w.Builder.WriteByte(c)
}
