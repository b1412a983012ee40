package fetch

import (
	"bytes"
	"fmt"
)

// Shapes of XML that cost gofeed v1.4.2 far more than their size, refused
// before it sees them. The byte limit alone does not bound them:
//   - gofeed appends the text of an extension element fragment by fragment
//     (gofeed #356, fixed after v1.4.2), which is quadratic: 20,000
//     fragments in a 200 KB feed allocate 836 MB, and a 10 MiB feed of them
//     would run for hours;
//   - it parses extension elements recursively, about 130 bytes of memory
//     per byte of deeply nested input.
const (
	// maxDepth is far deeper than any real feed nests.
	maxDepth = 256
	// maxTextCost bounds, for one element, the number of its non-blank text
	// fragments times their total length: about the bytes gofeed copies to
	// join them. 1 GiB is a fraction of a second.
	maxTextCost = 1 << 30
)

// checkShape scans an XML body cheaply, without decoding it, and returns an
// error wrapping ErrTooComplex for a document nested deeper than maxDepth or
// with an element whose text would cost more than maxTextCost to join. It
// is a byte scan at a small fraction of the cost of parsing; it does not
// check well-formedness, which is the parser's job, and it passes what is
// not XML (JSON Feed) untouched.
func checkShape(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	if len(b) == 0 || b[0] != '<' {
		return nil
	}
	type open struct {
		name        []byte
		frags, text int
	}
	var stack []open
	closeTop := func() error {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if top.frags*top.text > maxTextCost {
			return fmt.Errorf("%w: an element's text comes in %d fragments", ErrTooComplex, top.frags)
		}
		return nil
	}
	addText := func(n int) {
		if len(stack) > 0 {
			stack[len(stack)-1].frags++
			stack[len(stack)-1].text += n
		}
	}
	for i := 0; i < len(b); {
		if b[i] != '<' {
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				j = len(b) - i
			}
			if !isBlank(b[i : i+j]) {
				addText(j)
			}
			i += j
			continue
		}
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			i += skipPast(rest, "-->")
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			n := skipPast(rest, "]]>")
			addText(n)
			i += n
		case bytes.HasPrefix(rest, []byte("<?")):
			i += skipPast(rest, "?>")
		case bytes.HasPrefix(rest, []byte("<!")):
			i += skipPast(rest, ">")
		case bytes.HasPrefix(rest, []byte("</")):
			n := skipPast(rest, ">")
			i += n
			// Close up to the element of that name, as a lenient parser
			// does with the unclosed HTML some feeds carry unescaped.
			name := tagName(rest[2:n])
			for j := len(stack) - 1; j >= 0; j-- {
				if bytes.EqualFold(stack[j].name, name) {
					for len(stack) > j {
						if err := closeTop(); err != nil {
							return err
						}
					}
					break
				}
			}
		default:
			n, selfClosing := startTag(rest)
			i += n
			name := tagName(rest[1:n])
			if selfClosing || isVoid(name) {
				continue
			}
			stack = append(stack, open{name: name})
			if len(stack) > maxDepth {
				return fmt.Errorf("%w: elements nested more than %d deep", ErrTooComplex, maxDepth)
			}
		}
	}
	for len(stack) > 0 {
		if err := closeTop(); err != nil {
			return err
		}
	}
	return nil
}

// skipPast returns the length of b up to and including the first end, or
// len(b) when there is none.
func skipPast(b []byte, end string) int {
	if j := bytes.Index(b, []byte(end)); j >= 0 {
		return j + len(end)
	}
	return len(b)
}

// startTag returns the length of the start tag b begins with, quoted
// attribute values included, and whether it closes itself.
func startTag(b []byte) (n int, selfClosing bool) {
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1, b[i-1] == '/'
		}
	}
	return len(b), false
}

// tagName returns the name a tag's text (after "<" or "</") begins with.
func tagName(b []byte) []byte {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n', '/', '>':
			return b[:i]
		}
	}
	return b
}

// isVoid reports whether name is an HTML element that has no end tag, as
// found unescaped in ill-formed feeds.
func isVoid(name []byte) bool {
	if len(name) < 2 || len(name) > 6 {
		return false
	}
	for _, v := range voidElements {
		if bytes.EqualFold(name, v) {
			return true
		}
	}
	return false
}

var voidElements = [][]byte{
	[]byte("br"), []byte("img"), []byte("hr"), []byte("meta"), []byte("link"), []byte("input"), []byte("area"),
	[]byte("base"), []byte("col"), []byte("embed"), []byte("param"), []byte("source"), []byte("track"), []byte("wbr"),
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}
