package fetch

import "bytes"

// xmlToken is what xmlScanner.next found.
type xmlToken int

const (
	xmlEOF   xmlToken = iota
	xmlStart          // a start tag: name, attrs, space, selfClosing
	xmlEnd            // an end tag: name, closes
	xmlText           // a run of character data or a CDATA section: text
)

type xmlAttr struct{ name, value []byte }

// xmlScanner reads XML the way gofeed's parser, encoding/xml's Decoder with
// Strict false, does, at a small fraction of its cost: it decodes nothing,
// and finds the elements, their attributes and namespaces, and the text
// runs the Decoder would. Where the two could differ, on input the Decoder
// rejects (and gofeed stops at), the scanner reads on, so that it never
// sees less than the parser does.
//
// Its input is the body as the parser reads it: see xmlView.
type xmlScanner struct {
	b    []byte
	i    int
	open [][]byte            // names of the open elements, outermost first
	decl [][]string          // per open element, the prefixes it declares
	ns   map[string][]string // namespace URIs in scope per prefix ("" for the default), innermost last

	// The token next found.
	name        []byte    // start, end: the qualified name as written
	attrs       []xmlAttr // start; reused from tag to tag
	space       string    // start: the element's namespace, as the Decoder resolves it
	selfClosing bool      // start: the tag ends in "/>"
	closes      int       // end: how many open elements it closes (0 when it matches none)
	text        []byte    // text
}

func newXMLScanner(b []byte) *xmlScanner {
	return &xmlScanner{b: b, ns: make(map[string][]string)}
}

// depth is the number of open elements, the one just started included.
func (s *xmlScanner) depth() int { return len(s.open) }

// next finds the next token. Comments, processing instructions and
// directives are skipped, as gofeed skips them.
func (s *xmlScanner) next() xmlToken {
	if s.selfClosing {
		// Its end, which the Decoder reports at once.
		s.selfClosing = false
		s.pop()
	}
	for s.i < len(s.b) {
		b := s.b[s.i:]
		if b[0] != '<' {
			n := bytes.IndexByte(b, '<')
			if n < 0 {
				n = len(b)
			}
			s.text = b[:n]
			s.i += n
			return xmlText
		}
		if len(b) == 1 {
			break
		}
		switch b[1] {
		case '/':
			if tok, ok := s.endTag(b); ok {
				return tok
			}
		case '?':
			s.i += 2 + skipPast(b[2:], "?>")
			continue
		case '!':
			if tok, ok := s.bang(b); ok {
				return tok
			}
			continue
		default:
			if tok, ok := s.startTag(b); ok {
				return tok
			}
		}
		// The Decoder fails here; read on as if the '<' were text.
		s.text = b[:1]
		s.i++
		return xmlText
	}
	s.i = len(s.b)
	return xmlEOF
}

// endTag reads "</name>" at the start of b. It closes the innermost open
// element of that name and those inside it, as the non-strict Decoder
// does; an end tag that matches no open element closes none (the Decoder
// then fails).
func (s *xmlScanner) endTag(b []byte) (xmlToken, bool) {
	name := xmlName(b[2:])
	j := skipSpace(b, 2+len(name))
	if len(name) == 0 || j >= len(b) || b[j] != '>' {
		return 0, false
	}
	s.i += j + 1
	s.name = name
	s.closes = 0
	for k := len(s.open) - 1; k >= 0; k-- {
		if bytes.Equal(s.open[k], name) {
			s.closes = len(s.open) - k
			for range s.closes {
				s.pop()
			}
			break
		}
	}
	return xmlEnd, true
}

// bang reads what starts with "<!" at the start of b: a comment, skipped;
// a CDATA section, returned as text; or a directive, skipped.
func (s *xmlScanner) bang(b []byte) (xmlToken, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("<!--")):
		s.i += 4 + skipPast(b[4:], "-->")
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		n := bytes.Index(b[9:], []byte("]]>"))
		if n < 0 {
			n = len(b) - 9
		}
		s.text = b[9 : 9+n]
		s.i += min(len(b), 9+n+3)
		return xmlText, true
	case len(b) > 2 && (b[2] == '-' || b[2] == '['):
		// "<!-" or "<![" not followed as the Decoder requires: it fails.
		s.text = b[:1]
		s.i++
		return xmlText, true
	default:
		s.i += directiveLen(b)
	}
	return 0, false
}

// directiveLen returns the length of the directive ("<!DOCTYPE …>") that b
// begins with, read as the Decoder reads it: '<' and '>' nest, except in
// quotes and in comments, and the byte after "<!" is taken as it is.
func directiveLen(b []byte) int {
	var quote byte
	depth := 0
	i := 3
	for i < len(b) {
		c := b[i]
		i++
		if quote == 0 && c == '>' && depth == 0 {
			return i
		}
	handle:
		switch {
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			k := 0
			for k < 3 && i < len(b) && b[i] == "!--"[k] {
				i++
				k++
			}
			if k == 3 {
				i += skipPast(b[i:], "-->")
				continue
			}
			if i >= len(b) {
				return len(b)
			}
			depth++
			c = b[i]
			i++
			goto handle
		}
	}
	return len(b)
}

// startTag reads a start tag at the start of b, attributes and all.
func (s *xmlScanner) startTag(b []byte) (xmlToken, bool) {
	name := xmlName(b[1:])
	if len(name) == 0 {
		return 0, false
	}
	s.attrs = s.attrs[:0]
	s.selfClosing = false
	j := 1 + len(name)
	for {
		j = skipSpace(b, j)
		if j >= len(b) {
			// Unterminated: the Decoder fails at the end.
			s.i = len(s.b)
			return xmlEOF, true
		}
		if b[j] == '>' {
			j++
			break
		}
		if b[j] == '/' {
			if j+1 < len(b) && b[j+1] == '>' {
				s.selfClosing = true
				j += 2
				break
			}
			return s.failAt(j)
		}
		attr := xmlName(b[j:])
		if len(attr) == 0 {
			return s.failAt(j)
		}
		j = skipSpace(b, j+len(attr))
		var value []byte
		switch {
		case j < len(b) && b[j] == '=':
			j = skipSpace(b, j+1)
			if j >= len(b) {
				s.i = len(s.b)
				return xmlEOF, true
			}
			if q := b[j]; q == '"' || q == '\'' {
				end := j + 1
				for end < len(b) && b[end] != q && b[end] != '<' {
					end++
				}
				if end >= len(b) {
					s.i = len(s.b)
					return xmlEOF, true
				}
				if b[end] == '<' {
					// "unescaped < inside quoted string": the Decoder fails.
					return s.failAt(end)
				}
				value = b[j+1 : end]
				j = end + 1
			} else {
				end := j
				for end < len(b) && isUnquotedValueByte(b[end]) {
					end++
				}
				value = b[j:end]
				j = end
			}
		default:
			// Non-strict: an attribute without a value has its name as value.
			_, value = splitName(attr)
		}
		s.attrs = append(s.attrs, xmlAttr{name: attr, value: value})
	}
	s.i += j
	s.name = name
	s.push(name)
	return xmlStart, true
}

// failAt reads on from b[j] of the tag being read, where the Decoder fails,
// as text: the scanner sees at least what the parser sees.
func (s *xmlScanner) failAt(j int) (xmlToken, bool) {
	s.text = s.b[s.i : s.i+j]
	s.i += j
	s.selfClosing = false
	return xmlText, true
}

// push opens the element name just read, with the namespaces its
// attributes declare, and resolves its namespace.
func (s *xmlScanner) push(name []byte) {
	var declared []string
	for _, a := range s.attrs {
		prefix, local := splitName(a.name)
		switch {
		case string(prefix) == "xmlns":
			declared = append(declared, string(local))
		case len(prefix) == 0 && string(local) == "xmlns":
			declared = append(declared, "")
		default:
			continue
		}
		p := declared[len(declared)-1]
		s.ns[p] = append(s.ns[p], string(a.value))
	}
	s.open = append(s.open, name)
	s.decl = append(s.decl, declared)

	prefix, local := splitName(name)
	switch {
	case string(prefix) == "xmlns", len(prefix) == 0 && string(local) == "xmlns":
		s.space = string(prefix)
	case string(prefix) == "xml":
		s.space = "http://www.w3.org/XML/1998/namespace"
	default:
		if uris := s.ns[string(prefix)]; len(uris) > 0 {
			s.space = uris[len(uris)-1]
		} else {
			s.space = string(prefix)
		}
	}
}

// pop closes the innermost open element.
func (s *xmlScanner) pop() {
	n := len(s.open) - 1
	for _, p := range s.decl[n] {
		s.ns[p] = s.ns[p][:len(s.ns[p])-1]
	}
	s.open, s.decl = s.open[:n], s.decl[:n]
}

// xmlName returns the name b begins with: the bytes the Decoder takes for
// one, ASCII name bytes and any byte of a multi-byte character.
func xmlName(b []byte) []byte {
	for i, c := range b {
		if c < 0x80 && !isNameByte(c) {
			return b[:i]
		}
	}
	return b
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

// isUnquotedValueByte reports whether c continues an unquoted attribute
// value, which the non-strict Decoder accepts.
func isUnquotedValueByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '-'
}

// splitName splits a qualified name as the Decoder does: a name with no
// colon, or with nothing on one side of it, has no prefix.
func splitName(name []byte) (prefix, local []byte) {
	p, l, ok := bytes.Cut(name, []byte(":"))
	if !ok || len(p) == 0 || len(l) == 0 {
		return nil, name
	}
	return p, l
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipPast returns the length of b up to and including the first end, or
// len(b) when there is none.
func skipPast(b []byte, end string) int {
	if j := bytes.Index(b, []byte(end)); j >= 0 {
		return j + len(end)
	}
	return len(b)
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}
