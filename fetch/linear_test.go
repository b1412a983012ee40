package fetch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

// hostileGrowth builds, for a size n, feeds whose cost grows faster than
// their size in a parser that is not linear throughout. 180,000 distinct
// categories took over a minute (issue 13).
var hostileGrowth = []struct {
	name string
	n    int // the smaller size measured
	feed func(n int) []byte
}{
	{"distinct categories", 45_000, func(n int) []byte {
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

// TestParseLinear: four times the hostile input costs about four times
// the work, not sixteen, from the bytes to the normalised items. Measured
// as the ratio of testing.Benchmark runs in this process, the least of three
// rounds, with generous slack.
func TestParseLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("measures parses for a few seconds")
	}
	p := NewParser()
	parse := func(body []byte) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				p.Parse(context.Background(), body, "https://x.example/feed", "", aggregator.Source{Name: "s"})
			}
		}
	}
	for _, tt := range hostileGrowth {
		t.Run(tt.name, func(t *testing.T) {
			small, big := tt.feed(tt.n), tt.feed(4*tt.n)
			var nsSmall, nsBig int64
			for round := range 3 {
				s, b := testing.Benchmark(parse(small)).NsPerOp(), testing.Benchmark(parse(big)).NsPerOp()
				if round == 0 || s < nsSmall {
					nsSmall = s
				}
				if round == 0 || b < nsBig {
					nsBig = b
				}
			}
			ratio := float64(nsBig) / float64(nsSmall)
			t.Logf("%d bytes: %.2f ms; %d bytes: %.2f ms; ratio %.1f", len(small), float64(nsSmall)/1e6, len(big), float64(nsBig)/1e6, ratio)
			if ratio > 8 {
				t.Errorf("4× the input took %.1f× the time, want about 4×", ratio)
			}
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
