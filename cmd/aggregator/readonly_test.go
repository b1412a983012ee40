package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
)

// TestServeLeavesDatabaseUntouched: starting serve when no source is due,
// reading every route and stopping writes nothing to the database, even
// after publish.items grew (the outputs are made from what is stored; a
// read never writes).
func TestServeLeavesDatabaseUntouched(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	configPath := writeConfig(t, dir, addr, src.URL)
	wantLines(t, fetchCommand(t, configPath), "blog: new 2", "news: new 1")
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	grown := strings.Replace(string(cfg), "publish: {items: 10}", "publish: {items: 40}", 1)
	if grown == string(cfg) {
		t.Fatal("config has no publish.items to grow")
	}
	os.WriteFile(configPath, []byte(grown), 0o644)
	db := filepath.Join(dir, "test.db")
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	d := startServe(t, configPath)
	base := "http://" + addr
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })
	for _, path := range []string{"/", "/feed.atom", "/feed.rss", "/feed.json", "/sources.opml", "/health.atom",
		"/sections/go.html", "/sections/go.atom", "/sections/go.rss", "/sections/go.json", "/sections/go.opml",
		"/sections/news.html", "/sections/news.atom", "/status.json", "/metrics", "/healthz"} {
		if resp, _ := get(t, base+path); resp.StatusCode != 200 {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	d.stop(t)
	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("serve with nothing due changed the database (%d bytes before, %d after):\n%s", len(before), len(after), d.stderr)
	}
}
