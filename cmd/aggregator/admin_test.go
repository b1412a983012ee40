package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator/config"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("aggregator %q exited %d:\n%s%s", args, code, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// TestOPMLImport: the YAML printed for a feed reader's export loads as a
// config with every http(s) subscription once, in the section asked for.
func TestOPMLImport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opml := filepath.Join(dir, "export.opml")
	if err := os.WriteFile(opml, []byte(`<?xml version="1.0"?>
<opml version="1.0"><head><title>My feeds</title></head><body>
  <outline text="Tech" title="Tech">
    <outline type="rss" text="Go Blog" title="The Go Blog" xmlUrl="https://go.dev/blog/feed.atom" htmlUrl="https://go.dev/blog"/>
    <outline type="rss" text="LWN: &quot;weekly&quot;" xmlurl="https://lwn.net/headlines/rss"/>
  </outline>
  <outline type="rss" text="Go Blog again" xmlUrl="https://go.dev/blog/feed.atom"/>
  <outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>
</body></opml>`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := runCmd(t, "opml", "import", "-section", "tech", opml)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the printed YAML does not load: %v\n%s", err, out)
	}
	var got []string
	for _, src := range cfg.Sources {
		got = append(got, fmt.Sprintf("%s|%s|%s", src.URL, src.Title, strings.Join(src.Sections, ",")))
	}
	want := []string{
		"https://go.dev/blog/feed.atom|The Go Blog|tech",
		`https://lwn.net/headlines/rss|LWN: "weekly"|tech`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sources = %q, want %q\n%s", got, want, out)
	}
}

// TestOPMLExport: the sources of a config as OPML, grouped by section.
func TestOPMLExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The export is the admin's copy of the config's URLs: credentials
	// and all, unlike /sources.opml (README, "Security").
	configPath := writeConfig(t, dir, freeAddr(t), "https://reader:s3cret@feeds.example")
	out, _ := runCmd(t, "opml", "export", "-config", configPath)
	var doc struct {
		Groups []struct {
			Text  string `xml:"text,attr"`
			Feeds []struct {
				XMLURL string `xml:"xmlUrl,attr"`
			} `xml:"outline"`
		} `xml:"body>outline"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var got []string
	for _, g := range doc.Groups {
		for _, f := range g.Feeds {
			got = append(got, g.Text+" "+f.XMLURL)
		}
	}
	want := []string{"Go https://reader:s3cret@feeds.example/blog.atom", "Go https://reader:s3cret@feeds.example/news.rss", "News https://reader:s3cret@feeds.example/news.rss"}
	if !slices.Equal(got, want) {
		t.Errorf("export = %q, want %q\n%s", got, want, out)
	}
}

// TestSourcesCommand: fetch prints a summary; sources reads the database,
// or the running daemon's /status.json while it holds the database.
func TestSourcesCommand(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	configPath := writeConfig(t, dir, addr, src.URL)

	out, errOut := runCmd(t, "sources", "-config", configPath)
	if !strings.Contains(errOut, "no database yet") || !strings.Contains(out, "never fetched") {
		t.Errorf("sources before any fetch:\n%s%s", errOut, out)
	}
	out = fetchCommand(t, configPath)
	wantLines(t, out, "blog: new 2", "news: new 1")
	if !strings.Contains(out, "2 sources: 2 changed (3 new items, 0 updated), 0 unchanged, 0 not modified, 0 failed, 0 waiting in ") {
		t.Errorf("fetch printed no summary:\n%s", out)
	}

	out, errOut = runCmd(t, "sources", "-config", configPath)
	if !strings.Contains(errOut, "from the database") {
		t.Errorf("sources: %q, want it read from the database", errOut)
	}
	for _, want := range []string{"NAME", "blog", "news", "ok", "new 2", " ago  "} {
		if !strings.Contains(out, want) {
			t.Errorf("sources output lacks %q:\n%s", want, out)
		}
	}

	d := startServe(t, configPath)
	defer d.stop(t)
	waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })
	out, errOut = runCmd(t, "sources", "-config", configPath)
	if !strings.Contains(errOut, "from the running daemon, http://"+addr+"/status.json") || !strings.Contains(out, "new 2") {
		t.Errorf("sources while serving:\n%s%s", errOut, out)
	}
}

// TestProgressBar: on a terminal, each result line is printed above the
// bar, and the bar is erased at the end.
func TestProgressBar(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := &progress{w: &b, tty: true, total: 2}
	p.report("a: new 1\n")
	p.report("b: not modified\n")
	p.finish()
	want := "\r\033[Ka: new 1\n[###############...............] 1/2 sources" +
		"\r\033[Kb: not modified\n[##############################] 2/2 sources\r\033[K"
	if b.String() != want {
		t.Errorf("progress wrote %q, want %q", b.String(), want)
	}
}
