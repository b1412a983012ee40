package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
)

// hostileRSS wraps inner in an RSS item with an extension namespace x:.
func hostileRSS(inner string) []byte {
	return []byte(`<?xml version="1.0"?><rss version="2.0" xmlns:x="http://x.example/"><channel><title>t</title><link>http://a.example/</link><description>d</description><item><title>i</title><guid>g</guid>` +
		inner + `</item></channel></rss>`)
}

func TestCheckShape(t *testing.T) {
	t.Parallel()
	var items strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&items, "</item><item><title>%d</title><guid>%d</guid>", i, i)
	}
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"nested 100,000 deep", hostileRSS(strings.Repeat("<x:a>", 100_000) + strings.Repeat("</x:a>", 100_000)), ErrTooComplex},
		{"nested, never closed", hostileRSS(strings.Repeat("<x:a>", 300)), ErrTooComplex},
		{"text in 100,000 fragments", hostileRSS("<x:e>" + strings.Repeat("aaaaaaaa<x:c/>", 100_000) + "</x:e>"), ErrTooComplex},
		{"fragments split by comments", hostileRSS("<x:e>" + strings.Repeat("aaaaaaaa<!---->", 100_000) + "</x:e>"), ErrTooComplex},
		{"a 5 MB title", hostileRSS("<x:t>" + strings.Repeat("t", 5<<20) + "</x:t>"), nil},
		{"a million tiny extension elements", hostileRSS(strings.Repeat("<x:e>a</x:e>", 1_000_000)), nil},
		{"100,000 items", hostileRSS(items.String()), nil},
		{"quoted > in attributes", hostileRSS(`<x:e a="1>2" b='<'>t</x:e>`), nil},
		{"nested 200 deep", hostileRSS(strings.Repeat("<x:a>", 200) + strings.Repeat("</x:a>", 200)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkShape(tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("checkShape() = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			// Parse refuses it too, classified.
			_, err = NewParser().Parse(t.Context(), tt.body, "http://a.example/feed", "", aggregator.Source{Name: "s"})
			if Kind(err) != "too complex" {
				t.Errorf("Parse() = %v (kind %q), want too complex", err, Kind(err))
			}
		})
	}
}

// TestCheckShapeCorpus: no feed gofeed reads is refused as too complex.
func TestCheckShapeCorpus(t *testing.T) {
	t.Parallel()
	files := append(corpusFiles(t, "wellformed"), corpusFiles(t, "realworld")...)
	files = append(files, corpusFiles(t, "illformed")...)
	for _, path := range files {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkShape(body); err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
		}
	}
}

// BenchmarkCheckShape compares the shape check with the parse it guards, on
// the largest real feed of the corpus: run with
// go test -run '^$' -bench CheckShape ./fetch
func BenchmarkCheckShape(b *testing.B) {
	body, err := os.ReadFile(filepath.Join(corpusDir, "realworld", "rssparser__giantbomb-podcast.rss"))
	if err != nil {
		b.Skip("no corpus")
	}
	b.Run("checkShape", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := checkShape(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gofeed", func(b *testing.B) {
		p := gofeed.NewParser()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := p.Parse(bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
