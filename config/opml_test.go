package config

import (
	"bytes"
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
</body></opml>`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.URL+" "+s.Title)
	}
	if want := []string{"https://a.example/feed A", `http://b.example/rss B: "b"`}; !slices.Equal(got, want) {
		t.Errorf("subscriptions = %q, want %q", got, want)
	}
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
