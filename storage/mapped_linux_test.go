package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// mappedRSS returns the resident kilobytes of the memory map starting at
// addr, from /proc/self/smaps.
func mappedRSS(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	start := fmt.Sprintf("%x-", addr)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, start) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no map at %x in /proc/self/smaps", addr)
	return 0
}

// The database pages a pass touches are handed back by the next write, and
// reading them again afterwards finds them intact.
func TestWritesReleaseMappedPages(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.mapRelease = -1
	src := aggregator.Source{Name: "big", URL: "http://big.example/feed", Sections: []string{"all"}}
	body := strings.Repeat("<p>paragraph of an article</p>", 150) // 4.5 KB
	for batch := range 10 {
		var items []aggregator.Item
		for i := range 200 {
			it := item(src, fmt.Sprintf("i%d-%d", batch, i), t0.Add(-time.Duration(1+batch*200+i)*time.Minute))
			it.Content = body
			items = append(items, it)
		}
		save(t, s, src, items...)
	}
	if err := s.Verify(ctx); err != nil { // reads every page
		t.Fatal(err)
	}
	addr := s.db.Info().Data
	before := mappedRSS(t, addr)
	if before < 8<<10 {
		t.Fatalf("only %d KB of the map resident after reading 9 MB of items: the test proves nothing", before)
	}

	s.mapRelease = time.Nanosecond
	save(t, s, src, item(src, "one more", t0))
	if addr != s.db.Info().Data {
		t.Fatal("the file was remapped: cannot compare")
	}
	after := mappedRSS(t, addr)
	t.Logf("resident map: %d KB before the write, %d KB after", before, after)
	if after > before/4 {
		t.Errorf("resident map %d KB after a releasing write, was %d KB", after, before)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify after release: %v", err)
	}
	if got := recentIDs(t, s, "", 2); len(got) != 2 || got[0] != "one more" || got[1] != "i0-0" {
		t.Errorf("newest two after release = %v", got)
	}
}
