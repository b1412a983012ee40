package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// hostileFeed is a feed made to exhaust a fetcher's memory, the result
// `aggregator fetch` must print for it, and the bound on the peak RSS of
// that process, as cmd/aggregator/exhaust_test.go holds them.
type hostileFeed struct {
	name, path, want string
	boundMiB         int64
}

var hostileFeeds = []hostileFeed{
	{"gzip bomb (256 MiB of zeros)", "/gzip-bomb", "error: response too large", 300},
	{"endless body", "/endless", "error: response too large", 300},
	{"100,000-item feed", "/items", "new 100000", 400},
}

// hostileServer serves the feeds of hostileFeeds, as
// cmd/aggregator/exhaust_test.go does.
func hostileServer() (*http.Server, string, error) {
	var items strings.Builder
	items.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://a.example/</link><description>d</description>`)
	for i := range 100_000 {
		fmt.Fprintf(&items, "<item><title>%d</title><guid>%d</guid></item>", i, i)
	}
	items.WriteString("</channel></rss>")
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 256 {
		zw.Write(zeros)
	}
	zw.Close()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		switch r.URL.Path {
		case "/gzip-bomb":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		case "/endless":
			w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`))
			chunk := bytes.Repeat([]byte("<item><title>more</title></item>"), 1024)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/items":
			w.Write([]byte(items.String()))
		default:
			http.NotFound(w, r)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

// hostile fetches each hostile feed with `aggregator fetch`, in a process
// of its own with the default limits, and returns each one's peak RSS.
func hostile(bin, dir string) ([]int64, error) {
	srv, base, err := hostileServer()
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	var peaks []int64
	for i, h := range hostileFeeds {
		d := filepath.Join(dir, fmt.Sprintf("hostile%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		config := filepath.Join(d, "config.yaml")
		yaml := fmt.Sprintf("database: %s\nsources:\n  - {name: hostile, url: %q}\n", filepath.Join(d, "h.db"), base+h.path)
		if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
			return nil, err
		}
		u, err := runChild(bin, "fetch", "-config", config)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(u.stdout, h.want) {
			return nil, fmt.Errorf("%s: fetch printed %q, want %q", h.name, u.stdout, h.want)
		}
		peaks = append(peaks, u.maxRSS)
	}
	return peaks, nil
}
