package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildAggregator builds the command once per test run and returns the
// binary's path.
func buildAggregator(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aggregator-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "aggregator")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// exhaustingFeeds serves feeds made to exhaust a fetcher's memory or time.
func exhaustingFeeds(t *testing.T) *httptest.Server {
	t.Helper()
	rss := func(inner string) []byte {
		return []byte(`<?xml version="1.0"?><rss version="2.0" xmlns:x="http://x.example/"><channel><title>t</title><link>http://a.example/</link><description>d</description>` +
			inner + `</channel></rss>`)
	}
	var items strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&items, "<item><title>%d</title><guid>%d</guid></item>", i, i)
	}
	var cats strings.Builder
	for i := range 180_000 {
		fmt.Fprintf(&cats, "<category>tag %d</category>", i)
	}
	categories := cats.String()
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 256 { // 256 MiB of zeros in about 250 KiB
		zw.Write(zeros)
	}
	zw.Close()
	static := map[string][]byte{
		"/items":     rss(items.String()),
		"/title":     rss("<item><guid>g</guid><title>" + strings.Repeat("t", 5<<20) + "</title></item>"),
		"/deep":      rss("<item><guid>g</guid>" + strings.Repeat("<x:a>", 100_000) + strings.Repeat("</x:a>", 100_000) + "</item>"),
		"/tiny-ext":  rss("<item><guid>g</guid>" + strings.Repeat("<x:e>a</x:e>", (10<<20-300)/12) + "</item>"),
		"/fragments": rss("<item><guid>g</guid><x:e>" + strings.Repeat("aaaa<x:c/>", 1_000_000) + "</x:e></item>"),
		// gofeed skips a NUL before the root and drops it; the shape check
		// must see past it too (issue 13, finding 3).
		"/nul-fragments":   append([]byte{0}, rss("<item><guid>g</guid><x:e>"+strings.Repeat("aaaa<x:c/>", 1_000_000)+"</x:e></item>")...),
		"/blank-fragments": rss("<item><guid>g</guid><x:e>" + strings.Repeat(" <x:c/>", 1_000_000) + "</x:e></item>"),
		// Quadratic to de-duplicate in a loop (issue 13, finding 2).
		"/categories": rss("<item><guid>g</guid>" + categories + "</item>"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gzip-bomb":
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/rss+xml")
			w.Write(bomb.Bytes())
		case "/endless":
			w.Header().Set("Content-Type", "application/rss+xml")
			w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`))
			chunk := bytes.Repeat([]byte("<item><title>more</title></item>"), 1024)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		default:
			body, ok := static[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestExhaustingFeedsMemory fetches each exhausting feed in a process of its
// own, with the default limits, and checks the result and the process's
// peak resident memory against the bounds README.md documents.
func TestExhaustingFeedsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it once per feed")
	}
	t.Parallel()
	// GNU time reports the peak RSS of the command alone. The rusage Go
	// gets for a child it starts itself is no good: Go starts children
	// with vfork, and Linux counts the parent's peak (this whole test
	// process) into the child's when it execs.
	timeCmd, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Skip("no /usr/bin/time (Debian package time) to measure the peak RSS of a command")
	}
	bin := buildAggregator(t)
	srv := exhaustingFeeds(t)
	tests := []struct {
		path   string
		want   string // in the result line
		maxRSS int64  // MiB
	}{
		{"/gzip-bomb", "error: response too large", 300},
		{"/endless", "error: response too large", 300},
		{"/items", "new 100000", 400},
		{"/title", "new 1", 300},
		{"/deep", "error: feed too complex", 300},
		{"/fragments", "error: feed too complex", 300},
		{"/nul-fragments", "error: feed too complex", 300},
		{"/blank-fragments", "error: feed too complex", 300},
		{"/categories", "new 1", 400},
		{"/tiny-ext", "new 1", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			dir := t.TempDir()
			configPath := filepath.Join(dir, "config.yaml")
			cfg := fmt.Sprintf("database: %s\nsources:\n  - {name: hostile, url: %q}\n", filepath.Join(dir, "h.db"), srv.URL+tt.path)
			if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(timeCmd, "-f", "maxrss_kib=%M", bin, "fetch", "-config", configPath)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("fetch: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.want) {
				t.Errorf("fetch printed %q, want %q", stdout.String(), tt.want)
			}
			var rss int64
			if i := strings.LastIndex(stderr.String(), "maxrss_kib="); i < 0 {
				t.Fatalf("no peak RSS from time: %s", stderr.String())
			} else if _, err := fmt.Sscan(stderr.String()[i+len("maxrss_kib="):], &rss); err != nil {
				t.Fatal(err)
			}
			rss >>= 10
			t.Logf("%s: peak RSS %d MiB in %v", tt.path, rss, time.Since(start).Round(time.Millisecond))
			if rss > tt.maxRSS {
				t.Errorf("%s: peak RSS %d MiB, over the bound of %d MiB", tt.path, rss, tt.maxRSS)
			}
		})
	}
}
