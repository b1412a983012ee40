package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ReadOPML takes each http(s) subscription once, from folders too, and
// WriteSources prints YAML that loads as those sources.
func TestOPMLSubscriptionsLoad(t *testing.T) {
	t.Parallel()
	subs, err := ReadOPML([]byte(`<?xml version="1.0"?>
<opml version="2.0"><head/><body>
  <outline text="Folder"><outline text="A" xmlUrl="https://a.example/feed"/><outline title="B: &quot;b&quot;" text="b" xmlURL="http://b.example/rss"/></outline>
  <outline text="A again" xmlurl="https://a.example/feed"/>
  <outline text="file" xmlUrl="file:///etc/passwd"/>
  <outline text="site only" htmlUrl="https://c.example/"/>
  <outline text="site as feed" xmlUrl="https://d.example/" htmlUrl="https://d.example/"/>
  <outline text="link" type="link" url="https://e.example/blog/"/>
  <outline text="include" type="include" url="https://f.example/list.opml"/>
  <outline text="A's site" xmlUrl="https://a.example/feed" htmlUrl="https://a.example/"/>
</body></opml>`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var feeds []Imported
	for _, s := range subs {
		got = append(got, fmt.Sprintf("%s %s %v", s.URL, s.Title, s.Site))
		if !s.Site {
			feeds = append(feeds, s)
		}
	}
	want := []string{"https://a.example/feed A false", `http://b.example/rss B: "b" false`,
		"https://c.example/ site only true", "https://d.example/ site as feed true", "https://e.example/blog/ link true"}
	if !slices.Equal(got, want) {
		t.Errorf("subscriptions = %q, want %q", got, want)
	}
	subs = feeds
	var buf bytes.Buffer
	if err := WriteSources(&buf, "from a test", subs, "imported"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("the YAML written does not load: %v\n%s", err, buf.String())
	}
	if len(cfg.Sources) != 2 || cfg.Sources[1].Title != `B: "b"` || !slices.Equal(cfg.Sources[0].Sections, []string{"imported"}) {
		t.Errorf("loaded %+v\n%s", cfg.Sources, buf.String())
	}
	if !strings.HasPrefix(buf.String(), "# from a test\n") {
		t.Errorf("no comment line first:\n%s", buf.String())
	}
}

func TestReadOPMLRefusesOtherDocuments(t *testing.T) {
	t.Parallel()
	if _, err := ReadOPML([]byte("<html><body><p>not opml")); err == nil {
		t.Error("ReadOPML took an HTML page")
	}
}
