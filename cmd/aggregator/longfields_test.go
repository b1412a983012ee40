package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLongFieldsBounded: one long field does not multiply in the outputs.
// The feed's title, a megabyte, was copied into every entry of every
// published feed; with items of long titles, names, categories and links,
// every output stays within a bound per item (issue 13, finding 4).
func TestLongFieldsBounded(t *testing.T) {
	t.Parallel()
	const items = 20
	long := func(s string, n int) string { return strings.Repeat(s, n/len(s)) }
	var feed strings.Builder
	fmt.Fprintf(&feed, `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>%s</title><link>https://long.example/</link><description>d</description>`,
		long("Long title ", 1<<20))
	for i := range items {
		fmt.Fprintf(&feed, `<item><title>%d %s</title><link>https://long.example/%d</link><guid>g%d</guid><dc:creator>%s</dc:creator><category>%s</category><description>Short.</description></item>`,
			i, long("Item title ", 100<<10), i, i, long("Name ", 50<<10), long("category ", 100<<10))
	}
	feed.WriteString(`</channel></rss>`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write([]byte(feed.String()))
	}))
	t.Cleanup(srv.Close)
	a := ingestSections(t, []testSource{{"long", srv.URL + "/feed"}})

	// A generous bound per item for the fields capped at fetch (titles,
	// the source's title, a name, categories, links), and one for the page.
	const perItem, perOutput = 16 << 10, 64 << 10
	for _, path := range []string{"/", "/feed.atom", "/feed.rss", "/feed.json", "/sources.opml",
		"/sections/long.atom", "/sections/long.rss", "/sections/long.json", "/sections/long.html"} {
		body := serveGet(t, a, path)
		t.Logf("GET %s: %d bytes", path, len(body))
		if len(body) > perOutput+items*perItem {
			t.Errorf("GET %s: %d bytes, want at most %d for %d items", path, len(body), perOutput+items*perItem, items)
		}
	}
}
