package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
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

// Each site of an import becomes the first feed found there, or is left
// out with the reason; a feed already imported is not imported twice; a
// failure of one site is reported and the others go on; cancelling stops.
func TestResolveSites(t *testing.T) {
	t.Parallel()
	sources := []Imported{
		{URL: "https://a.example/feed"},
		{URL: "https://b.example/", Site: true, Title: "B"},
		{URL: "https://c.example/", Site: true},
		{URL: "https://d.example/", Site: true},
		{URL: "https://a.example/", Site: true},
		{URL: "https://e.example/", Site: true},
	}
	sites := map[string]Found{
		"https://b.example/": {URL: "https://b.example/atom", Via: "the page itself", More: 2},
		"https://a.example/": {URL: "https://a.example/feed", Via: "the page itself"},
		"https://e.example/": {URL: "https://e.example/rss", Via: "a well-known path"},
	}
	find := func(ctx context.Context, site string) (Found, error) {
		if site == "https://c.example/" {
			return Found{}, errors.New("connection refused")
		}
		return sites[site], nil
	}
	var notes strings.Builder
	got, resolved, err := ResolveSites(context.Background(), sources, find, &notes)
	if err != nil {
		t.Fatal(err)
	}
	want := []Imported{
		{URL: "https://a.example/feed"},
		{URL: "https://b.example/atom", Title: "B"},
		{URL: "https://e.example/rss"},
	}
	if !reflect.DeepEqual(got, want) || resolved != 2 {
		t.Errorf("ResolveSites = %+v, %d resolved; want %+v, 2", got, resolved, want)
	}
	wantNotes := `https://b.example/: resolved to https://b.example/atom, found as the page itself (it has 2 more: aggregator discover https://b.example/)
https://c.example/: connection refused: left out
https://d.example/: no feed found: left out
https://a.example/: its feed https://a.example/feed is imported already
https://e.example/: resolved to https://e.example/rss, found as a well-known path
`
	if notes.String() != wantNotes {
		t.Errorf("notes:\n%s\nwant:\n%s", notes.String(), wantNotes)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, _, err = ResolveSites(ctx, sources, func(context.Context, string) (Found, error) {
		calls++
		cancel()
		return Found{}, context.Canceled
	}, io.Discard)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled: %v after %d sites, want context.Canceled after 1", err, calls)
	}
}
