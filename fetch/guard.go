package fetch

import (
	"fmt"
	"strings"
)

// Shapes of XML that cost gofeed v1.4.2 far more than their size, refused
// before it sees them. The byte limit alone does not bound them:
//   - gofeed joins the text of an extension element fragment by fragment
//     (`Value += text`, gofeed #356, fixed after v1.4.2), which is
//     quadratic: 20,000 fragments in a 200 KB feed allocate 836 MB, and a
//     10 MiB feed of them would run for hours;
//   - it parses extension elements recursively, about 130 bytes of memory
//     per byte of deeply nested input.
const (
	// maxDepth is far deeper than any real feed nests.
	maxDepth = 256
	// maxTextCost bounds the bytes gofeed copies joining text fragments,
	// summed over the whole document. 256 MiB is a fraction of a second;
	// the corpus's real feeds cost at most a few MiB each.
	maxTextCost = 256 << 20
)

// xmlView returns body as gofeed reads it when it reads it as XML: without
// the C0 control bytes (other than tab, LF and CR) that its XML readers drop
// (gofeed #284). A body it would not read as XML (JSON Feed) is returned as
// it is.
//
// gofeed finds a feed's type after skipping whitespace, NUL and the bytes
// of byte-order marks, then drops control bytes wherever they are: one
// NUL before the root, or in the middle of "<!--", must not hide from
// checkShape what the parser will read.
func xmlView(body []byte) []byte {
	if !isXML(body) {
		return body
	}
	i := 0
	for i < len(body) && !isDropped(body[i]) {
		i++
	}
	if i == len(body) {
		return body
	}
	out := make([]byte, i, len(body))
	copy(out, body)
	for _, c := range body[i:] {
		if !isDropped(c) {
			out = append(out, c)
		}
	}
	return out
}

// isXML reports whether gofeed would read b as XML: whether the first byte
// that is not whitespace, a control byte or a byte of a byte-order mark is
// '<'.
func isXML(b []byte) bool {
	for _, c := range b {
		switch {
		case c == '<':
			return true
		case c <= ' ', c == 0xEF, c == 0xBB, c == 0xBF, c == 0xFE, c == 0xFF:
		default:
			return false
		}
	}
	return false
}

// isDropped reports whether gofeed's XML readers drop c.
func isDropped(c byte) bool {
	return c < 0x20 && c != '\t' && c != '\n' && c != '\r'
}

// checkShape scans an XML body, as xmlView returns it, at a small fraction
// of the cost of parsing it, and returns an error wrapping ErrTooComplex for
// a document nested deeper than maxDepth or whose text would cost gofeed
// more than maxTextCost to join. It reads the document as the parser does
// (xmlScanner), so that no byte before the root or inside markup hides a
// shape from it; it does not check well-formedness, which is the parser's
// job, and it passes what is not XML (JSON Feed) untouched.
func checkShape(b []byte) error {
	if !isXML(b) {
		return nil
	}
	type open struct {
		joins bool // gofeed joins its text: an extension element, or inside one
		text  int  // bytes of its text so far (only non-blank text when !joins)
	}
	var stack []open
	var isNative func(space string) bool
	cost := 0
	s := newXMLScanner(b)
	for {
		switch s.next() {
		case xmlEOF:
			return nil
		case xmlStart:
			if s.depth() > maxDepth {
				return fmt.Errorf("%w: elements nested more than %d deep", ErrTooComplex, maxDepth)
			}
			var joins bool
			if len(stack) == 0 {
				isNative = nativeSpaces(s.name, s.space)
			} else {
				joins = stack[len(stack)-1].joins || !isNative(s.space)
			}
			stack = append(stack, open{joins: joins})
			if s.selfClosing {
				stack = stack[:len(stack)-1]
			}
		case xmlEnd:
			stack = stack[:len(stack)-s.closes]
		case xmlText:
			if len(stack) == 0 {
				continue
			}
			// The copy `Value += text` makes: what the element has so far,
			// and the fragment. gofeed joins only extension elements' text,
			// but every element's non-blank text is counted too, in case
			// one the scanner takes for native is not.
			top := &stack[len(stack)-1]
			if n := len(s.text); top.joins || !isBlank(s.text) {
				cost += top.text + n
				top.text += n
			}
			if cost > maxTextCost {
				return fmt.Errorf("%w: text in too many fragments", ErrTooComplex)
			}
		}
	}
}

// Namespaces whose elements gofeed parses as its own (rss/parser.go and
// atom/parser.go nativeNamespaces); any other element is an extension,
// whose text it joins.
var (
	rssSpaces = []string{"", "rss", "rdf",
		"http://www.w3.org/1999/02/22-rdf-syntax-ns#",
		"http://purl.org/rss/1.0/",
		"http://channel.netscape.com/rdf/simple/0.9/",
		"http://my.netscape.com/rdf/simple/0.9/",
	}
	atomSpaces = []string{"", "http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#"}
)

// nativeSpaces returns the test for an element's namespace being one gofeed
// parses as its own, in a document whose root has the given name and
// namespace. An RSS root's own namespace counts too, as gofeed takes it
// (it skips the root's children otherwise, which costs nothing).
func nativeSpaces(root []byte, rootSpace string) func(string) bool {
	_, local := splitName(root)
	spaces := atomSpaces
	if l := strings.ToLower(string(local)); l == "rss" || l == "rdf" {
		spaces = append([]string{strings.TrimSpace(rootSpace)}, rssSpaces...)
	}
	return func(space string) bool {
		space = strings.TrimSpace(space)
		for _, s := range spaces {
			if s == space {
				return true
			}
		}
		return false
	}
}
