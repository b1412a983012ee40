package sanitize

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator/internal/alloctest"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// nested returns n levels of open, each with its level's text, closed by
// close (which may be empty: left open) in reverse.
func nested(n int, open, close string) string {
	var b strings.Builder
	b.WriteString("before ")
	for i := range n {
		fmt.Fprintf(&b, "%st%d ", open, i)
	}
	b.WriteString("deep text")
	b.WriteString(strings.Repeat(close, n))
	b.WriteString(" after")
	return b.String()
}

// Content nested deeper than x/net/html's 512 elements used to be dropped
// whole. Its text is kept, the structure up to maxDepth, and the output is
// well-formed and bounded.
func TestDeepNesting(t *testing.T) {
	t.Parallel()
	s := New()
	shapes := []struct {
		name, open, close string
		element           string // counted in the output; "" for no count
		wantElements      int
	}{
		{"closed divs", "<div>", "</div>", "div", maxDepth},
		{"open divs", "<div>", "", "div", maxDepth},
		{"blockquotes", "<blockquote>", "</blockquote>", "blockquote", maxDepth},
		{"spans", "<span>", "</span>", "span", maxDepth},
		{"formatting", "<b><i>", "</i></b>", "b", maxFormatting / 2},
		{"distinct formatting", `<b title="x"><i>`, "</i></b>", "i", maxFormatting / 2},
		{"tables", "<table><tr><td>", "</td></tr></table>", "table", (maxDepth + 2) / 3},
		{"tables, rows implied", "<table><td>", "</td></table>", "", 0},
		{"lists", "<ul><li>", "</li></ul>", "ul", maxDepth / 2},
	}
	for _, n := range []int{600, 5000} {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s %d", sh.name, n), func(t *testing.T) {
				t.Parallel()
				in := nested(n, sh.open, sh.close)
				out := s.HTML(in, "")
				if got, want := textOf(out), textOf(in); got != want {
					t.Errorf("text of the output differs from the input's:\n got %.200q…\nwant %.200q…", got, want)
				}
				checkWellFormed(t, out)
				if limit := maxGrowth*len(in) + 1024; len(out) > limit {
					t.Errorf("output is %d bytes for %d in, more than %d", len(out), len(in), limit)
				}
				if sh.element != "" {
					if got := strings.Count(out, "<"+sh.element+">") + strings.Count(out, "<"+sh.element+" "); got != sh.wantElements {
						t.Errorf("output keeps %d <%s>, want %d (the structure up to the limit)", got, sh.element, sh.wantElements)
					}
				}
			})
		}
	}
}

// Formatting elements closed out of order are reopened by the parser at
// every later paragraph: a few hundred of them made a 20 KB item render to
// 30 MB. Each paragraph keeps its text, and the output stays bounded.
func TestReopenedFormattingBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("<p>")
	for i := range 400 {
		fmt.Fprintf(&b, `<b title="%d">`, i)
	}
	b.WriteString(strings.Repeat("<p>x", 4000))
	in := b.String()
	out := New().HTML(in, "")
	if got := strings.Count(textOf(out), "x"); got != 4000 {
		t.Errorf("output keeps %d of the 4000 paragraphs' text", got)
	}
	checkWellFormed(t, out)
	if limit := maxGrowth*len(in) + 1024; len(out) > limit {
		t.Errorf("output is %d bytes for %d in, more than %d", len(out), len(in), limit)
	}
}

// The old sloppy HTML of mail and early blogs keeps its structure: items
// and paragraphs left open are closed where the next one starts, not
// nested, however many there are.
func TestImpliedEndsKeepStructure(t *testing.T) {
	t.Parallel()
	s := New()
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", strings.Repeat("<p>x", 300), strings.Repeat("<p>x</p>", 300)},
		{"list items", "<ul>" + strings.Repeat("<li>x", 300), "<ul>" + strings.Repeat("<li>x</li>", 300) + "</ul>"},
		{"rows", "<table>" + strings.Repeat("<tr><td>x<td>y", 300), "<table><tbody>" + strings.Repeat("<tr><td>x</td><td>y</td></tr>", 300) + "</tbody></table>"},
		{"definitions", "<dl>" + strings.Repeat("<dt>x<dd>y", 300), "<dl>" + strings.Repeat("<dt>x</dt><dd>y</dd>", 300) + "</dl>"},
		{"links", strings.Repeat(`<a href="http://a.example/">x`, 300), strings.Repeat(`<a href="http://a.example/" rel="nofollow noreferrer">x</a>`, 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := s.HTML(tt.in, ""); got != tt.want {
				t.Errorf("HTML(%.60q…)\n got %.300q…\nwant %.300q…", tt.in, got, tt.want)
			}
		})
	}
}

// checkWellFormed fails t unless every element of out is closed, in order,
// by its own end tag, and the parser takes out as it is.
func checkWellFormed(t *testing.T, out string) {
	t.Helper()
	var open []string
	z := html.NewTokenizer(strings.NewReader(out))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		name, _ := z.TagName()
		switch tt {
		case html.StartTagToken:
			if !isVoid(string(name)) {
				open = append(open, string(name))
			}
		case html.EndTagToken:
			if len(open) == 0 || open[len(open)-1] != string(name) {
				t.Fatalf("end tag </%s> closes %v", name, open[max(0, len(open)-3):])
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		t.Fatalf("%d elements left open", len(open))
	}
	div := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	if _, err := html.ParseFragment(strings.NewReader(out), div); err != nil {
		t.Fatalf("the output does not parse: %v", err)
	}
}

// hostileNestings are shapes whose cost would grow faster than their size
// without limitNesting and its bounds: the parser reopens every formatting
// element left open at each later paragraph unless each is closed in
// order, and scanning the stack of open elements at each tag (an implied
// end looks for an open p through every div, a stray end tag through every
// element open) is quadratic unless maxDepth bounds the stack. The
// formatting elements stay fewer than the parser's 512, which it would
// refuse instead of reopening them. Nested tables, where the parser implies
// a tbody and a tr per level, have no such path known: they are measured
// in case one appears.
var hostileNestings = []struct {
	name  string
	input func(n int) string
}{
	{"closed divs", func(n int) string { return nested(n, "<div>", "</div>") }},
	{"tables", func(n int) string { return nested(n, "<table><td>", "") }},
	{"stray end tags", func(n int) string { return nested(n, "<div>", "") + strings.Repeat("</span>", n) }},
	{"reopened formatting", func(n int) string {
		var b strings.Builder
		b.WriteString("<p>")
		for i := range n / 25 {
			fmt.Fprintf(&b, `<b title="%d">`, i)
		}
		b.WriteString(strings.Repeat("<p>x", n))
		return b.String()
	}},
}

// TestNestingWorkLinear doubles hostile nestings and checks the work per
// input byte stays about the same. The work is counted, not timed, so that
// a busy machine cannot fail it: the bytes and the number of allocations
// of HTML, and the open elements limitNesting's searches read (which do
// not allocate). The time ratios are BenchmarkNestingCost's.
func TestNestingWorkLinear(t *testing.T) {
	s := New()
	for _, sh := range hostileNestings {
		t.Run(sh.name, func(t *testing.T) {
			type work struct{ bytes, allocs, looked float64 } // per input byte
			measure := func(in string) work {
				bytes, allocs := alloctest.Of(func() { s.HTML(in, "") })
				_, looked := limitNesting(s.policy.Sanitize(in))
				n := float64(len(in))
				return work{float64(bytes) / n, float64(allocs) / n, float64(looked) / n}
			}
			small, large := measure(sh.input(5000)), measure(sh.input(10000))
			t.Logf("per byte at n: %.1f B, %.3f allocations, %.2f open elements read; at 2n / at n: %.2f, %.2f, %.2f",
				small.bytes, small.allocs, small.looked, large.bytes/small.bytes, large.allocs/small.allocs, large.looked/small.looked)
			if ratio := large.bytes / small.bytes; ratio > 1.3 {
				t.Errorf("bytes allocated per byte at 2n are %.2f times those at n: not linear", ratio)
			}
			if ratio := large.allocs / small.allocs; ratio > 1.3 {
				t.Errorf("allocations per byte at 2n are %.2f times those at n: not linear", ratio)
			}
			if ratio := large.looked / small.looked; ratio > 1.3 {
				t.Errorf("open elements read per byte at 2n are %.2f times those at n: not linear", ratio)
			}
		})
	}
}

// BenchmarkNestingCost reports, per shape of hostileNestings, how much
// longer HTML takes per byte at 2n than at n (ratio, about 1 when linear).
// Each iteration renders both, so that a busy spell of the machine slows
// both: go test -run '^$' -bench NestingCost ./sanitize
func BenchmarkNestingCost(b *testing.B) {
	s := New()
	render := func(in string) time.Duration {
		start := time.Now()
		s.HTML(in, "")
		return time.Since(start)
	}
	for _, sh := range hostileNestings {
		b.Run(sh.name, func(b *testing.B) {
			small, large := sh.input(5000), sh.input(10000)
			var smallTime, largeTime time.Duration
			for b.Loop() {
				smallTime += render(small)
				largeTime += render(large)
			}
			perByte := func(d time.Duration, in string) float64 { return float64(d) / float64(len(in)) }
			b.ReportMetric(perByte(largeTime, large)/perByte(smallTime, small), "ratio")
		})
	}
}
