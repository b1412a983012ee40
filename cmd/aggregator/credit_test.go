package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
)

// atomSources decodes the atom:source of every entry of an Atom document.
type atomSourceCheck struct {
	Entries []struct {
		ID     string `xml:"id"`
		Title  string `xml:"title"`
		Source struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Updated string `xml:"updated"`
			Links   []struct {
				Rel  string `xml:"rel,attr"`
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"source"`
	} `xml:"entry"`
}

func decodeAtomSources(t *testing.T, doc []byte) atomSourceCheck {
	t.Helper()
	var d atomSourceCheck
	if err := xml.Unmarshal(doc, &d); err != nil {
		t.Fatalf("Atom: %v", err)
	}
	return d
}

// TestSampleConfigPublishesEveryItem: the local sample of
// config.example.yaml, whose four entries link to fragments of one page,
// is published whole, in every format and on the page.
func TestSampleConfigPublishesEveryItem(t *testing.T) {
	t.Parallel()
	sample, err := filepath.Abs("../../testdata/local-sample.atom")
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := t.TempDir(), freeAddr(t)
	configPath := filepath.Join(dir, "config.yaml")
	os.WriteFile(configPath, []byte(fmt.Sprintf("base_url: http://%[1]s\nlisten: %[1]s\nsources:\n  - url: %[2]s\n    title: Local Sample\n", addr, sample)), 0o644)
	d := startServe(t, configPath)
	defer d.stop(t)
	f := waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	if len(f.Items) != 4 {
		t.Errorf("/feed.atom has %d items, want the sample's 4: %q", len(f.Items), titles(f))
	}
	_, atom := get(t, "http://"+addr+"/feed.atom")
	validateAtom(t, atom)
	for _, e := range decodeAtomSources(t, atom).Entries {
		if e.Source.ID == "" || e.Source.Title != "Local Sample" || e.Source.Updated == "" {
			t.Errorf("entry %s: source %+v, want id, title and updated", e.ID, e.Source)
		}
	}
	if f := parseFeed(t, "http://"+addr+"/feed.json"); len(f.Items) != 4 {
		t.Errorf("/feed.json has %d items, want 4", len(f.Items))
	}
	if _, page := get(t, "http://"+addr+"/"); strings.Count(string(page), "<article>") != 4 {
		t.Errorf("the page shows %d articles, want 4", strings.Count(string(page), "<article>"))
	}
}

// planetFeed is an Atom feed of site with the given entries (id, link,
// title), updated at updated.
func planetFeed(site, feedID, updated string, entries ...[3]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>%s</title><id>%s</id><updated>%s</updated><link href="%s"/>`, site, feedID, updated, site)
	for _, e := range entries {
		fmt.Fprintf(&b, `<entry><id>%s</id><link href="%s"/><title>%s</title><updated>%s</updated><content type="html">c</content></entry>`, e[0], e[1], e[2], updated)
	}
	b.WriteString("</feed>")
	return []byte(b.String())
}

// TestOriginWinsAndCredits: a fake source that lists the Go blog's post
// first does not hide it; once the blog's own copy is seen it is published,
// with the fake credited under "also in" on the page and in JSON, and the
// published id stays the blog's from then on. Fragments of one day page
// are articles of their own: a1, carried by the fake too, is the day
// page's (its origin); a2 stands apart.
func TestOriginWinsAndCredits(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	post := "http://go.example/blog/go1.27"
	src.set("/fake.atom", planetFeed("http://evil.example/", "tag:evil.example,2026:feed", "2026-12-06T10:00:00Z",
		[3]string{"fake-1", post + "?utm_source=x", "FAKE: Go 1.27 is cancelled"},
		[3]string{"fake-2", "http://day.example/2026/12/06#a1", "Day a1 (copied)"}))
	src.set("/go.atom", planetFeed("http://go.example/blog/", "tag:go.example,2026:blog", "2026-12-06T09:00:00Z",
		[3]string{"go-1", post, "Go 1.27 is released"}))
	src.set("/day.atom", planetFeed("http://day.example/", "tag:day.example,2026:feed", "2026-12-06T08:00:00Z",
		[3]string{"a1", "http://day.example/2026/12/06#a1", "Day a1"},
		[3]string{"a2", "http://day.example/2026/12/06#a2", "Day a2"}))
	dir, addr := t.TempDir(), freeAddr(t)
	configPath := filepath.Join(dir, "config.yaml")
	os.WriteFile(configPath, []byte(fmt.Sprintf(`base_url: http://%[1]s
listen: %[1]s
schedule: "@every 1h"
sources:
  - {name: fake, title: Fake News, url: %[2]s/fake.atom}
  - {name: goblog, title: The Go Blog, url: %[2]s/go.atom}
  - {name: day, title: Day Pages, url: %[2]s/day.atom}
`, addr, src.URL)), 0o644)

	wantLines(t, fetchCommand(t, configPath, "fake"), "fake: new 2")
	wantLines(t, fetchCommand(t, configPath, "goblog", "day"), "goblog: new 1", "day: new 2")
	d := startServe(t, configPath)
	f := waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	got := titles(f)
	slices.Sort(got)
	if want := []string{"Day a1", "Day a2", "Go 1.27 is released"}; !slices.Equal(got, want) {
		t.Errorf("merged feed: %q, want %q", got, want)
	}
	var realID string
	for _, it := range f.Items {
		if it.Title == "Go 1.27 is released" {
			realID = it.GUID
		}
	}
	_, atom := get(t, "http://"+addr+"/feed.atom")
	validateAtom(t, atom)
	for _, e := range decodeAtomSources(t, atom).Entries {
		var rels []string
		for _, l := range e.Source.Links {
			rels = append(rels, l.Rel+" "+l.Href)
		}
		if e.Title == "Go 1.27 is released" && (e.Source.ID != "tag:go.example,2026:blog" || e.Source.Updated != "2026-12-06T09:00:00Z" ||
			!slices.Contains(rels, "self "+src.URL+"/go.atom") || !slices.Contains(rels, "alternate http://go.example/blog/")) {
			t.Errorf("atom:source of the Go post = %+v, want the Go blog's id, updated, self and alternate links", e.Source)
		}
	}

	_, js := get(t, "http://"+addr+"/feed.json")
	var doc struct {
		Items []struct {
			Title  string `json:"title"`
			Source struct {
				ID     string `json:"id"`
				AlsoIn []struct {
					Title   string `json:"title"`
					FeedURL string `json:"feed_url"`
				} `json:"also_in"`
			} `json:"_source"`
		} `json:"items"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	for _, it := range doc.Items {
		switch it.Title {
		case "Go 1.27 is released":
			if len(it.Source.AlsoIn) != 1 || it.Source.AlsoIn[0].Title != "Fake News" || it.Source.AlsoIn[0].FeedURL != src.URL+"/fake.atom" {
				t.Errorf("JSON also_in of the Go post = %+v, want the fake source", it.Source.AlsoIn)
			}
		case "Day a1":
			if len(it.Source.AlsoIn) != 1 || it.Source.AlsoIn[0].Title != "Fake News" {
				t.Errorf("JSON also_in of a1 = %+v, want the fake source", it.Source.AlsoIn)
			}
		}
	}
	if _, page := get(t, "http://"+addr+"/"); !strings.Contains(string(page), `<p class="also-in">Also in <a href="http://evil.example/">Fake News</a></p>`) {
		t.Errorf("the page does not credit the fake source under the Go post:\n%s", page)
	}
	d.stop(t)

	// The fake source changes its copy's title and date: the Go blog's
	// copy, and its id, stay.
	src.set("/fake.atom", planetFeed("http://evil.example/", "tag:evil.example,2026:feed", "2026-12-06T11:00:00Z",
		[3]string{"fake-1", post + "?utm_source=y", "FAKE again"}))
	fetchCommand(t, configPath, "fake")
	d = startServe(t, configPath)
	defer d.stop(t)
	f = waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	for _, it := range f.Items {
		if strings.HasPrefix(it.Title, "FAKE") {
			t.Errorf("the fake copy is published: %q", it.Title)
		}
		if it.Title == "Go 1.27 is released" && it.GUID != realID {
			t.Errorf("the Go post's id changed from %s to %s", realID, it.GUID)
		}
	}
}

// TestRenameKeepsEveryID: renaming a source with renamed_from keeps the
// published id of every item, and republishes nothing.
func TestRenameKeepsEveryID(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	configPath := writeConfig(t, dir, addr, src.URL)
	wantLines(t, fetchCommand(t, configPath), "blog: new 2", "news: new 1")
	d := startServe(t, configPath)
	before := waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })
	d.stop(t)

	cfg, _ := os.ReadFile(configPath)
	renamed := strings.Replace(string(cfg), "    name: blog\n", "    name: go-blog\n    renamed_from: [blog]\n", 1)
	if renamed == string(cfg) {
		t.Fatal("config has no blog source to rename")
	}
	os.WriteFile(configPath, []byte(renamed), 0o644)
	if stdout, stderr := runCmd(t, "check", "-config", configPath); !strings.Contains(stdout+stderr, "ok") && stderr != "" {
		t.Fatalf("check of the renamed config: %s%s", stdout, stderr)
	}
	// The validators came along: the server says not modified.
	wantLines(t, fetchCommand(t, configPath), "go-blog: not modified")
	d = startServe(t, configPath)
	defer d.stop(t)
	after := waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	if !slices.Equal(guids(after), guids(before)) {
		t.Errorf("ids after the rename:\n%q\nwant\n%q", guids(after), guids(before))
	}
}
