package fetch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/planetgo/aggregator"
)

// TestTitlesDecodedOnce: a title's entities are decoded once, whatever the
// feed's format and the title's type.
func TestTitlesDecodedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		feedTitle  string
		itemTitles []string
	}{
		{"atom-title-text.xml", "Escaping &lt;img&gt; &amp; friends", []string{
			"&lt;img src=x onerror=alert(1)&gt; is not markup",
			"A <b> tag &amp; an entity, of no type",
			"CDATA keeps &amp; and <b> as they are",
		}},
		{"atom-title-html.xml", "Café crème", []string{
			"Fish & chips, and &lt;img&gt;",
			"Atom 0.3 escaped & more",
		}},
		{"atom-title-xhtml.xml", "The XHTML &amp; co.", []string{
			"Fish &amp; chips <3",
		}},
		{"rss-title-entities.xml", "Café & crème", []string{
			"Bold move ’26",
			"AT&T news",
			"&lt;img&gt; stays text",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := parseTestdata(t, tt.file, "https://x.example/feed", "")
			if f.Title != tt.feedTitle {
				t.Errorf("feed title = %q, want %q", f.Title, tt.feedTitle)
			}
			var got []string
			for _, it := range f.Items {
				got = append(got, it.Title)
			}
			if !slices.Equal(got, tt.itemTitles) {
				t.Errorf("item titles = %q, want %q", got, tt.itemTitles)
			}
		})
	}
	// Atom names and categories are plain text too.
	f := parseTestdata(t, "atom-title-text.xml", "https://x.example/feed", "")
	if it := f.Items[0]; it.Author != "Tom &amp; Jerry" || !slices.Equal(it.Categories, []string{"a&amp;b"}) {
		t.Errorf("author %q, categories %q, want Tom &amp; Jerry and a&amp;b", it.Author, it.Categories)
	}
}

// TestTextContentStaysText: a content or summary written as plain text
// (Atom type="text", a text/* type but text/html, a summary of no type;
// JSON Feed content_text and summary) becomes HTML showing that text, line
// breaks included; one written as HTML (Atom html, text/html and xhtml,
// JSON Feed content_html, RSS) stays as it is, and out-of-line Atom
// content (src) stays empty.
func TestTextContentStaysText(t *testing.T) {
	t.Parallel()
	type body struct{ content, summary string }
	tests := []struct {
		file  string
		items []body
	}{
		{"atom-content-text.xml", []body{
			{"plain &lt;not a tag&gt; &amp; text<br>\nsecond line", ""},
			{"&lt;b&gt;not bold&lt;/b&gt; &amp; &#34;quoted&#34;", ""},
			{"<p>an <b>html</b> body &amp; more</p>", ""},
			{"<p>a text/html body</p>", ""},
			{"<p>an <b>xhtml</b> body</p>", ""},
			{"", "a summary &lt;beside&gt; it"},
		}},
		{"atom-summary-text.xml", []body{
			{"", "text summary with &lt;b&gt; and &amp;"},
			{"", "if a &lt; b &amp;&amp; c &gt; d then &lt;stop&gt;"},
			{"", "<p>an <i>html</i> summary</p>"},
			{"<p>the <i>body</i></p>", "&lt;i&gt;not italic&lt;/i&gt;"},
		}},
		{"jsonfeed-content-text.json", []body{
			{"plain text only &lt;not html&gt; &amp; stuff<br>\nline2", ""},
			{"<p>an <b>html</b> body</p>", "a summary of &lt;p&gt; &amp; co."},
			{"<p>html wins</p>", ""},
			{"windows<br>\nlines", ""},
		}},
		{"rss-basic.xml", []body{
			{"", "<p>Third <b>body</b></p>"},
			{"", "Second body"},
			{"", "First body"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := parseTestdata(t, tt.file, "https://x.example/feed", "")
			var got []body
			for _, it := range f.Items {
				got = append(got, body{it.Content, it.Summary})
			}
			if !slices.Equal(got, tt.items) {
				t.Errorf("content and summary of the items:\n got %q\nwant %q", got, tt.items)
			}
		})
	}
}

// TestTextHTML: plain text becomes HTML that shows it as it is.
func TestTextHTML(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`<b>"a" & 'b'</b>`, "&lt;b&gt;&#34;a&#34; &amp; &#39;b&#39;&lt;/b&gt;"},
		{"  one\n\ntwo\n", "one<br>\n<br>\ntwo"},
		{"dos\r\nmac\rend", "dos<br>\nmac<br>\nend"},
	}
	for _, tt := range tests {
		if got := textHTML(tt.in); got != tt.want {
			t.Errorf("textHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"at the limit", "abcde", 5, "abcde"},
		{"cut", "abcdefgh", 6, "abc…"},
		{"cut before a rune", "ééééé", 9, "ééé…"},
		{"cut inside a rune", "ééééé", 8, "éé…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := clip(tt.in, tt.limit)
			if got != tt.want || len(got) > tt.limit || !utf8.ValidString(got) {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

// longFieldsRSS is a feed with a megabyte in each field that is copied
// into outputs, and too many categories and enclosures, in items items.
func longFieldsRSS(items int) []byte {
	mb := func(s string) string { return strings.Repeat(s, (1<<20)/len(s)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>`+
		`<title>%s</title><link>https://long.example/%s</link><description>d</description>`, mb("Tïtle "), mb("p"))
	for i := range items {
		fmt.Fprintf(&b, `<item><title>%s</title><link>https://long.example/%d/%s</link><guid>%d%s</guid><dc:creator>%s</dc:creator><category>%s</category>`,
			mb("Ïtem title "), i, mb("l"), i, mb("g"), mb("Näme "), mb("c"))
		fmt.Fprintf(&b, `<enclosure url="https://long.example/%s" type="audio/mpeg"/><enclosure url="https://long.example/x.mp3" type="%s"/>`, mb("e"), mb("t"))
		for j := range 200 {
			fmt.Fprintf(&b, `<category>tag %d</category><enclosure url="https://long.example/%d.mp3" type="audio/mpeg" length="1"/>`, j, j)
		}
		b.WriteString(`<description>short</description></item>`)
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

// TestLongFieldsCapped fetches a feed with a 1 MB title, link, name,
// category, GUID and enclosure URL: each is capped as README.md says.
func TestLongFieldsCapped(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, staticFeed(longFieldsRSS(1), "application/rss+xml", "", ""))
	// Generous limits: this tests the caps, and parsing the feed takes
	// seconds under the race detector.
	res, err := newClient(Options{MaxBytes: 32 << 20, Timeout: 10 * time.Minute}).Fetch(context.Background(), source(srv.URL+"/feed"), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Feed
	checkCut := func(what, got string, limit int, prefix string) {
		t.Helper()
		if len(got) > limit || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, prefix) {
			t.Errorf("%s = %q… (%d bytes), want at most %d, cut with an ellipsis", what, got[:min(len(got), 40)], len(got), limit)
		}
	}
	checkCut("feed title", f.Title, maxTitle, "Tïtle Tïtle")
	if f.SiteLink != srv.URL+"/" {
		t.Errorf("site link = %q… (%d bytes), want the long one dropped for the feed's site", f.SiteLink[:min(len(f.SiteLink), 40)], len(f.SiteLink))
	}
	if len(f.Items) != 1 {
		t.Fatalf("%d items, want 1", len(f.Items))
	}
	it := f.Items[0]
	checkCut("item title", it.Title, maxTitle, "Ïtem title")
	checkCut("author", it.Author, maxName, "Näme Näme")
	if it.Link != "" {
		t.Errorf("link of %d bytes kept, want it dropped", len(it.Link))
	}
	if len(it.ID) > maxID || !strings.HasPrefix(it.ID, "hash:") {
		t.Errorf("ID = %q… (%d bytes), want a hash of the long GUID", it.ID[:min(len(it.ID), 40)], len(it.ID))
	}
	if len(it.Categories) != maxCategories {
		t.Errorf("%d categories, want %d", len(it.Categories), maxCategories)
	}
	checkCut("first category", it.Categories[0], maxCategory, "ccc")
	if len(it.Enclosures) != maxEnclosures {
		t.Errorf("%d enclosures, want %d", len(it.Enclosures), maxEnclosures)
	}
	for _, e := range it.Enclosures {
		if len(e.URL) > maxURL || len(e.Type) > maxMIMEType {
			t.Errorf("enclosure with a %d-byte URL and %d-byte type", len(e.URL), len(e.Type))
		}
	}
	if e := it.Enclosures[0]; e.URL != "https://long.example/x.mp3" || e.Type != "" {
		t.Errorf("first enclosure = %+v, want the one with the long URL dropped, and the long type dropped", e)
	}
}
