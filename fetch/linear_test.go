package fetch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/internal/alloctest"
)

// hostileGrowth builds, for a size n, feeds whose cost grows faster than
// their size in a parser that is not linear throughout. 180,000 distinct
// categories took over a minute (issue 13).
var hostileGrowth = []struct {
	name string
	n    int // the smaller size measured
	feed func(n int) []byte
}{
	{"distinct categories", 15_000, func(n int) []byte {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "<category>tag %d</category>", i)
		}
		return hostileRSS(b.String())
	}},
	{"entities", 10_000, func(n int) []byte {
		e := strings.Repeat("&amp;amp;&lt;b&gt;", n)
		return hostileRSS("<title>" + e + "</title><description>" + e + "</description>")
	}},
	{"text fragments behind a NUL", 45_000, func(n int) []byte {
		return append([]byte{0}, hostileRSS("<x:e>"+strings.Repeat("aaaaaaaa<x:c/>", n)+"</x:e>")...)
	}},
	{"blank fragments", 45_000, func(n int) []byte {
		return hostileRSS("<x:e>" + strings.Repeat(" <x:c/>", n) + "</x:e>")
	}},
	{"relative links against a long site link", 10_000, func(n int) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, `<rss version="2.0"><channel><title>t</title><link>https://long.example/%s/</link>`, strings.Repeat("a", 8*n))
		for i := range n {
			fmt.Fprintf(&b, "<item><link>p%d</link></item>", i)
		}
		b.WriteString("</channel></rss>")
		return []byte(b.String())
	}},
	{"atom entries", 5_000, func(n int) []byte {
		var b strings.Builder
		b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">t</title>`)
		for i := range n {
			fmt.Fprintf(&b, `<entry><title type="text">%d &amp;lt;</title><id>%d</id><category term="c%d"/></entry>`, i, i, i)
		}
		b.WriteString("</feed>")
		return []byte(b.String())
	}},
}

// TestParseWorkLinear: four times the hostile input costs about four times
// the work, not sixteen, from the bytes to the normalised items. The work
// is counted, not timed, so that a busy machine cannot fail it: the bytes
// and the number of allocations of one Parse, per input byte, at n and 4n.
// The superlinear paths these shapes found allocated as they went (gofeed
// joining text, links resolved against a long site link), all but one:
// de-duplicating categories against a list compares each with those kept,
// so those are counted: at most maxCategories an item. The time ratios
// are BenchmarkParseHostile's.
func TestParseWorkLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("parses megabytes of hostile feeds")
	}
	p := NewParser()
	for _, tt := range hostileGrowth {
		t.Run(tt.name, func(t *testing.T) {
			small, big := tt.feed(tt.n), tt.feed(4*tt.n)
			var feed Feed
			parse := func(body []byte) func() {
				return func() {
					feed, _ = p.Parse(context.Background(), body, "https://x.example/feed", "", aggregator.Source{Name: "s"})
				}
			}
			smallBytes, smallCount := alloctest.Of(parse(small))
			bigBytes, bigCount := alloctest.Of(parse(big))
			perByte := func(x uint64, body []byte) float64 { return float64(x) / float64(len(body)) }
			bytesRatio := perByte(bigBytes, big) / perByte(smallBytes, small)
			countRatio := perByte(bigCount, big) / perByte(smallCount, small)
			t.Logf("%d bytes: %d B in %d allocations; %d bytes: %d B in %d; per byte at 4n / at n: bytes %.2f, allocations %.2f",
				len(small), smallBytes, smallCount, len(big), bigBytes, bigCount, bytesRatio, countRatio)
			if bytesRatio > 1.5 {
				t.Errorf("4× the input allocated %.1f× the bytes, want about 4×", 4*bytesRatio)
			}
			if countRatio > 1.5 {
				t.Errorf("4× the input made %.1f× the allocations, want about 4×", 4*countRatio)
			}
			for _, item := range feed.Items {
				if len(item.Categories) > maxCategories {
					t.Errorf("an item keeps %d categories, more than %d: de-duplicating them costs as many comparisons per category", len(item.Categories), maxCategories)
				}
			}
		})
	}
}

// BenchmarkParseHostile reports, per shape of hostileGrowth, how much longer
// a Parse of 4n takes than one of n (ratio, about 4 when linear). Each
// iteration parses both, so that a busy spell of the machine slows both:
// go test -run '^$' -bench ParseHostile ./fetch
func BenchmarkParseHostile(b *testing.B) {
	p := NewParser()
	parse := func(body []byte) time.Duration {
		start := time.Now()
		p.Parse(context.Background(), body, "https://x.example/feed", "", aggregator.Source{Name: "s"})
		return time.Since(start)
	}
	for _, tt := range hostileGrowth {
		b.Run(tt.name, func(b *testing.B) {
			small, big := tt.feed(tt.n), tt.feed(4*tt.n)
			var smallTime, bigTime time.Duration
			for b.Loop() {
				smallTime += parse(small)
				bigTime += parse(big)
			}
			b.ReportMetric(float64(bigTime)/float64(smallTime), "ratio")
		})
	}
}

// BenchmarkParse measures the whole of Parse (shape check, gofeed,
// normalising) on the largest real feed of the corpus:
// go test -run '^$' -bench Parse ./fetch
func BenchmarkParse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join(corpusDir, "realworld", "rssparser__giantbomb-podcast.rss"))
	if err != nil {
		b.Skip("no corpus")
	}
	p := NewParser()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := p.Parse(context.Background(), body, "https://x.example/feed", "", aggregator.Source{Name: "s"}); err != nil {
			b.Fatal(err)
		}
	}
}
