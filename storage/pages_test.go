package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// BenchmarkOpenPageCheck measures what walking the pages costs Open: Open
// (which walks them) against the walk alone, on a database of about
// 100 MB (100 sources × 500 items of 2 KB).
func BenchmarkOpenPageCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.db")
	s, err := Open(path, Options{BatchDelay: -1})
	if err != nil {
		b.Fatal(err)
	}
	for n := range 100 {
		src := aggregator.Source{Name: fmt.Sprintf("src%03d", n), URL: fmt.Sprintf("http://s%d.example/feed", n), Sections: []string{"all"}}
		var items []aggregator.Item
		for i := range 500 {
			it := item(src, fmt.Sprintf("%s-%04d", src.Name, i), t0.Add(-time.Duration(i)*time.Minute))
			it.Content = strings.Repeat(fmt.Sprintf("<p>words %d</p>", i), 150)
			items = append(items, it)
		}
		if _, err := s.Save(context.Background(), src, items, aggregator.SourceState{Name: src.Name}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.Logf("database: %d MB", fi.Size()>>20)
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("checkPages", func(b *testing.B) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if err := checkPagesOf(f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
