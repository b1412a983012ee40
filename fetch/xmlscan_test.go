package fetch

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

// Hostile bodies that gofeed would spend seconds to hours on, each with
// what it costs gofeed v1.4.2 when the shape check lets it through.
var (
	deepRSS      = hostileRSS(strings.Repeat("<x:a>", 100_000) + strings.Repeat("</x:a>", 100_000))
	fragmentsRSS = hostileRSS("<x:e>" + strings.Repeat("aaaaaaaa<x:c/>", 100_000) + "</x:e>")
)

// TestShapeBehindLeadingBytes: whatever gofeed skips before the root, or
// drops as it reads, the shape check sees past too. Junk it does not skip
// makes the body no feed at all, never a parsed one.
func TestShapeBehindLeadingBytes(t *testing.T) {
	t.Parallel()
	prefixes := []struct{ name, bytes string }{
		{"NUL", "\x00"},
		{"NULs", "\x00\x00\x00\x00"},
		{"UTF-8 BOM", "\xef\xbb\xbf"},
		{"UTF-16 BE BOM", "\xfe\xff"},
		{"UTF-16 LE BOM", "\xff\xfe"},
		{"whitespace", " \t\r\n"},
		{"control byte", "\x01"},
		{"control bytes", "\x0b\x0c\x1f"},
		{"mixed", "\x00\xef\xbb\xbf \x01\n"},
	}
	bodies := []struct {
		name string
		body []byte
	}{{"deep", deepRSS}, {"fragments", fragmentsRSS}}
	for _, pre := range prefixes {
		for _, b := range bodies {
			t.Run(pre.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				body := append([]byte(pre.bytes), b.body...)
				if err := checkShape(xmlView(body)); !errors.Is(err, ErrTooComplex) {
					t.Errorf("checkShape() = %v, want too complex", err)
				}
				_, err := NewParser().Parse(t.Context(), body, "http://a.example/feed", "", aggregator.Source{Name: "s"})
				if Kind(err) != "too complex" {
					t.Errorf("Parse() = %v (kind %q), want too complex", err, Kind(err))
				}
			})
		}
	}
	t.Run("junk", func(t *testing.T) {
		t.Parallel()
		_, err := NewParser().Parse(t.Context(), append([]byte("junk"), deepRSS...), "http://a.example/feed", "", aggregator.Source{Name: "s"})
		if !errors.Is(err, ErrNotFeed) {
			t.Errorf("Parse() = %v, want not a feed", err)
		}
	})
}

// TestShapeAsParserReadsIt: shapes hidden from a byte scan that does not
// read XML exactly as encoding/xml's non-strict Decoder does, each of which
// made gofeed v1.4.2 run for seconds or more past the old check.
func TestShapeAsParserReadsIt(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("<x:a>", 10_000) + strings.Repeat("</x:a>", 10_000)
	var manyElements, ws strings.Builder
	for range 40 {
		// Each element under the old per-element bound, 40 of them not.
		manyElements.WriteString("<x:e>" + strings.Repeat("aaaaaaaa<x:c/>", 8_000) + "</x:e>")
	}
	ws.WriteString("<x:e>")
	for range 200_000 {
		ws.WriteString(" <x:c/>")
	}
	ws.WriteString("</x:e>")
	tests := []struct {
		name string
		body []byte
	}{
		// The Decoder drops the NUL and ends the comment; a scan that keeps
		// it skips to the last "-->".
		{"NUL in a comment's end", hostileRSS("<!-- --\x00>" + deep + "<!-- -->")},
		{"NUL in a CDATA section's end", hostileRSS("<x:t><![CDATA[ ]]\x00></x:t>" + deep + "<x:t><![CDATA[ ]]></x:t>")},
		{"NUL in a processing instruction's end", hostileRSS("<?pi ?\x00>" + deep + "<?pi ?>")},
		// A quoted '>' ends no directive: a scan that ends it there takes
		// the quote that follows for an attribute's, and skips to its end.
		{"quotes in a doctype", []byte(`<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "> <z a='"> ]>` + string(hostileRSS(deep))[len(`<?xml version="1.0"?>`):] + `<!-- ' -->`)},
		// The Decoder opens <br> like any element: nested in an extension,
		// gofeed recurses once per <br>.
		{"unclosed void elements", hostileRSS("<x:e>" + strings.Repeat("<br>", 200_000) + "</x:e>")},
		{"text joined in many elements", hostileRSS(manyElements.String())},
		// gofeed joins blank text too.
		{"blank fragments in an extension", hostileRSS(ws.String())},
		// Entries in a namespace not Atom's are extensions to gofeed.
		{"Atom entries in a foreign namespace", []byte(`<feed xmlns="urn:x"><entry>` + strings.Repeat(" <c/>", 200_000) + `</entry></feed>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkShape(xmlView(tt.body)); !errors.Is(err, ErrTooComplex) {
				t.Fatalf("checkShape() = %v, want too complex", err)
			}
			_, err := NewParser().Parse(t.Context(), tt.body, "http://a.example/feed", "", aggregator.Source{Name: "s"})
			if Kind(err) != "too complex" {
				t.Errorf("Parse() = %v (kind %q), want too complex", err, Kind(err))
			}
		})
	}
}

// xmlEvents lists what a reader of XML found, as comparable strings: a
// start tag's namespace and local name, an end, a text.
type xmlEvents []string

// decoderEvents reads b with encoding/xml as gofeed does (Strict false),
// up to the end or the first error. The end tags of an error's last token
// are left out: a Decoder that fails on an end tag may first have closed
// some elements that the scanner need not close.
func decoderEvents(b []byte) (events xmlEvents) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF {
				for len(events) > 0 && events[len(events)-1] == "end" {
					events = events[:len(events)-1]
				}
			}
			return events
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			events = append(events, "start "+tok.Name.Space+" "+tok.Name.Local)
		case xml.EndElement:
			events = append(events, "end")
		case xml.CharData:
			events = append(events, "text")
		}
	}
}

// scannerEvents reads b with xmlScanner.
func scannerEvents(b []byte) (events xmlEvents) {
	s := newXMLScanner(b)
	for {
		switch s.next() {
		case xmlEOF:
			return events
		case xmlStart:
			_, local := splitName(s.name)
			events = append(events, "start "+s.space+" "+string(local))
			if s.selfClosing {
				events = append(events, "end")
			}
		case xmlEnd:
			for range s.closes {
				events = append(events, "end")
			}
		case xmlText:
			events = append(events, "text")
		}
	}
}

// checkScannerSeesAll fails when the scanner, reading b, does not find
// every element, end and text that the Decoder finds, in the same order and
// namespaces, up to where the Decoder fails.
func checkScannerSeesAll(t *testing.T, b []byte) {
	t.Helper()
	b = xmlView(b)
	want, got := decoderEvents(b), scannerEvents(b)
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("at event %d, scanner found %q, Decoder %q", i, got[i:min(len(got), i+3)], want[i:min(len(want), i+3)])
	}
}

var scannerCases = []string{
	`<a><b>t</b><c/>u<![CDATA[v]]><!-- w --><?x y?></a>`,
	`<a x:y="1" xmlns:x="urn:x"><x:b xmlns="urn:d"><c/></x:b><d/></a>`,
	`<a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c/></p:b><p:d/></a>`,
	`<xmlns:a/><xml:b/><xmlns/><a:b:c/>`,
	`<a b c=d e = 'f' g="h>i"><b/></a>`,
	`<a><b><c></a>t`,
	`<a><b></B></b></a>`,
	`<a><x:b></y:b></a>`,
	`<!DOCTYPE a [<!ENTITY e "<b>"> <!-- > --> <!x>]><a>&e;</a>`,
	`<!DOCTYPE a '<b>' "'" ><a/>`,
	`<!>><a/>`,
	`<a><!--->--></a>`,
	`<a><![CDATA[]]]]></a>`,
	`<a b="<c>"><d/></a>`,
	`<a/ ><b / ></b>`,
	`<a>]]></a>`,
	`< a><b/>`,
	`<a b="1" b="2" xmlns="urn:1" xmlns="urn:2"><c/></a>`,
	"<a>\x00<b\x01/>\x02</a>",
	"\xef\xbb\xbf<a>\xc3\xa9<b\xc3\xa9/></a>",
	`<é><ü:a xmlns:ü="urn:u"/></é>`,
	`<a xmlns:="urn:x" xmlns:b="" ><b:c/></a>`,
}

func TestScannerSeesWhatDecoderSees(t *testing.T) {
	t.Parallel()
	for _, c := range scannerCases {
		checkScannerSeesAll(t, []byte(c))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, group := range []string{"wellformed", "realworld", "illformed"} {
		corpus, _ := filepath.Glob(filepath.Join(corpusDir, group, "*"))
		files = append(files, corpus...)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(path), func(t *testing.T) { checkScannerSeesAll(t, b) })
	}
}

// FuzzScanner checks that the scanner finds all that the Decoder finds:
// go test -run '^$' -fuzz FuzzScanner ./fetch
func FuzzScanner(f *testing.F) {
	for _, c := range scannerCases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, path := range files {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkScannerSeesAll(t, b)
	})
}
