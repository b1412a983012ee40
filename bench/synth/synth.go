// Package synth makes the synthetic source feeds the benchmarks fetch: many
// blogs, half RSS 2.0 and half Atom, each item about 1.5 KB of realistic
// HTML, and an http.Handler that serves them with ETags and 304s. It is
// deterministic: the same source and version always give the same bytes.
package synth

import (
	"bytes"
	"fmt"
	"html"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// epoch is the date of every source's first item; each later item is six
// hours newer.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// poolSize is the number of distinct item bodies. Items draw from the pool
// so that 10,000 feeds need not be held in memory, and each also carries a
// sentence of its own, so no two items are alike.
const poolSize = 4096

// Feeds is a set of synthetic sources, each at a version: version v of a
// source lists items v to v+Items-1, newest first, so bumping a source's
// version adds one item and drops the oldest.
type Feeds struct {
	Sources, Items int

	pool     []string // XML-escaped HTML item bodies
	titles   []string
	versions []atomic.Int32
	bufs     sync.Pool
	served   atomic.Int64 // bodies served (200)
	notMod   atomic.Int64 // 304s served
}

// New returns sources feeds of items items each, all at version 0.
func New(sources, items int) *Feeds {
	r := rand.New(rand.NewPCG(1, 2))
	f := &Feeds{Sources: sources, Items: items, versions: make([]atomic.Int32, sources)}
	f.pool = make([]string, poolSize)
	for i := range f.pool {
		f.pool[i] = html.EscapeString(article(r))
	}
	f.titles = make([]string, 512)
	for i := range f.titles {
		f.titles[i] = title(r)
	}
	return f
}

// Path is the URL path of source i.
func (f *Feeds) Path(i int) string { return "/feeds/" + strconv.Itoa(i) + ".xml" }

// Reset puts every source back at version 0.
func (f *Feeds) Reset() {
	for i := range f.versions {
		f.versions[i].Store(0)
	}
}

// Bump adds one item to every tenth source (those whose index is a multiple
// of every) and returns how many it changed.
func (f *Feeds) Bump(every int) int {
	n := 0
	for i := 0; i < f.Sources; i += every {
		f.versions[i].Add(1)
		n++
	}
	return n
}

// Counts returns the number of feed bodies and of 304s served so far.
func (f *Feeds) Counts() (bodies, notModified int64) { return f.served.Load(), f.notMod.Load() }

// ServeHTTP serves source i at Path(i), with a strong ETag naming its
// version, and 304 to a matching If-None-Match.
func (f *Feeds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/feeds/")
	name, ok2 := strings.CutSuffix(name, ".xml")
	i, err := strconv.Atoi(name)
	if !ok || !ok2 || err != nil || i < 0 || i >= f.Sources {
		http.NotFound(w, r)
		return
	}
	v := int(f.versions[i].Load())
	etag := `"` + strconv.Itoa(i) + "-" + strconv.Itoa(v) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		f.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	buf, _ := f.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	ct := f.write(buf, i, v)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
	f.bufs.Put(buf)
	f.served.Add(1)
}

// Feed returns the bytes of source i at version v.
func (f *Feeds) Feed(i, v int) []byte {
	var buf bytes.Buffer
	f.write(&buf, i, v)
	return buf.Bytes()
}

// write writes source i at version v to buf and returns its Content-Type:
// even sources are RSS 2.0, odd ones Atom.
func (f *Feeds) write(buf *bytes.Buffer, i, v int) string {
	site := "https://blog" + strconv.Itoa(i) + ".example"
	author := authors[i%len(authors)]
	newest := v + f.Items - 1
	if i%2 == 0 {
		fmt.Fprintf(buf, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>Blog %d</title>
<link>%s/</link>
<description>Notes and essays from blog number %d.</description>
<language>en</language>
<lastBuildDate>%s</lastBuildDate>
`, i, site, i, f.date(i, newest).Format(time.RFC1123Z))
		for n := newest; n >= v; n-- {
			fmt.Fprintf(buf, `<item>
<title>%s</title>
<link>%s/posts/%d</link>
<guid isPermaLink="false">tag:blog%d.example,2025:post-%d</guid>
<pubDate>%s</pubDate>
<dc:creator>%s</dc:creator>
<category>%s</category>
<description>`, f.itemTitle(i, n), site, n, i, n, f.date(i, n).Format(time.RFC1123Z), author, categories[(i+n)%len(categories)])
			f.body(buf, i, n)
			buf.WriteString("</description>\n</item>\n")
		}
		buf.WriteString("</channel>\n</rss>\n")
		return "application/rss+xml; charset=utf-8"
	}
	fmt.Fprintf(buf, `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Blog %d</title>
<link href="%s/"/>
<id>%s/</id>
<updated>%s</updated>
<author><name>%s</name></author>
`, i, site, site, f.date(i, newest).Format(time.RFC3339), author)
	for n := newest; n >= v; n-- {
		d := f.date(i, n).Format(time.RFC3339)
		fmt.Fprintf(buf, `<entry>
<title>%s</title>
<link rel="alternate" href="%s/posts/%d"/>
<id>tag:blog%d.example,2025:post-%d</id>
<published>%s</published>
<updated>%s</updated>
<category term="%s"/>
<content type="html">`, f.itemTitle(i, n), site, n, i, n, d, d, categories[(i+n)%len(categories)])
		f.body(buf, i, n)
		buf.WriteString("</content>\n</entry>\n")
	}
	buf.WriteString("</feed>\n")
	return "application/atom+xml; charset=utf-8"
}

func (f *Feeds) date(i, n int) time.Time {
	return epoch.Add(time.Duration(n)*6*time.Hour + time.Duration(i)*time.Second)
}

func (f *Feeds) itemTitle(i, n int) string {
	return html.EscapeString(f.titles[(i*31+n)%len(f.titles)]) + " (" + strconv.Itoa(n) + ")"
}

// body writes the escaped HTML of item n of source i: a sentence of its own,
// then a body from the pool.
func (f *Feeds) body(buf *bytes.Buffer, i, n int) {
	fmt.Fprintf(buf, "&lt;p&gt;Post %d of blog %d, &lt;a href=&quot;/posts/%d&quot;&gt;permalink&lt;/a&gt;.&lt;/p&gt;", n, i, n)
	buf.WriteString(f.pool[(i*7919+n*104729)%len(f.pool)])
}

var authors = []string{"Ada Lovelace", "Grace Hopper", "Ken Thompson", "Barbara Liskov", "Rob Pike", "Frances Allen", "Dennis Ritchie", "Radia Perlman"}

var categories = []string{"go", "linux", "networking", "databases", "security", "web", "hardware", "essays"}

var words = strings.Fields(`the a of to and in is that for it as with was on be by this are or from at
an which but not have has had were can all their there been one more will would about so if into
than other some could them these its only new time also any may after first most over such through
where much before those must well should because each between under while many being same both
system server network packet kernel memory cache latency throughput request response client feed
parser compiler runtime garbage collector goroutine channel mutex database index query transaction
page disk file buffer socket protocol header body stream byte string slice map struct interface
function method type value pointer error test benchmark profile build release version module package
library design simple fast small large slow careful reliable robust portable readable measured
observed fixed broken changed improved reduced increased tuned rewrote deployed shipped explained
learned found noticed wondered argued showed proved tried`)

func sentence(r *rand.Rand) string {
	n := 8 + r.IntN(14)
	var b strings.Builder
	for j := range n {
		w := words[r.IntN(len(words))]
		if j == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		} else {
			b.WriteByte(' ')
		}
		switch r.IntN(30) {
		case 0:
			fmt.Fprintf(&b, "<em>%s</em>", w)
		case 1:
			fmt.Fprintf(&b, "<code>%s()</code>", w)
		case 2:
			fmt.Fprintf(&b, `<a href="https://example.org/%s/%d">%s</a>`, w, r.IntN(1000), w)
		case 3:
			fmt.Fprintf(&b, "<strong>%s</strong>", w)
		default:
			b.WriteString(w)
		}
	}
	b.WriteByte('.')
	return b.String()
}

// article is about 1.5 KB of HTML: paragraphs, now and then a list, a code
// block or an image with a relative URL.
func article(r *rand.Rand) string {
	var b strings.Builder
	for b.Len() < 1200 {
		switch r.IntN(8) {
		case 0:
			b.WriteString("<ul>")
			for range 2 + r.IntN(3) {
				fmt.Fprintf(&b, "<li>%s</li>", sentence(r))
			}
			b.WriteString("</ul>")
		case 1:
			fmt.Fprintf(&b, "<pre><code>for i := range n {\n\tsum += f(%d, i) &amp; mask\n}</code></pre>", r.IntN(100))
		case 2:
			fmt.Fprintf(&b, `<p><img src="/images/%d.png" alt="figure %d" width="600" height="400"></p>`, r.IntN(10000), r.IntN(10))
		default:
			b.WriteString("<p>")
			for range 2 + r.IntN(3) {
				b.WriteString(sentence(r))
				b.WriteByte(' ')
			}
			b.WriteString("</p>")
		}
	}
	return b.String()
}

func title(r *rand.Rand) string {
	n := 3 + r.IntN(6)
	t := make([]string, n)
	for j := range t {
		t[j] = words[r.IntN(len(words))]
	}
	t[0] = strings.ToUpper(t[0][:1]) + t[0][1:]
	if r.IntN(10) == 0 {
		t[n-1] += " & more"
	}
	return strings.Join(t, " ")
}
