package fetch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
)

func parseTestdata(t *testing.T, name, feedURL, contentType string) Feed {
	t.Helper()
	f, err := NewParser().Parse(t.Context(), readTestdata(t, name), feedURL, contentType, aggregator.Source{Name: "src"})
	if err != nil {
		t.Fatalf("Parse(%s) = %v", name, err)
	}
	return f
}

func TestRelativeLinksResolved(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "atom-relative-links.xml", "https://relative.example/blog/feed.atom", "application/atom+xml")
	if f.Title != "Relative Links" {
		t.Errorf("title with markup = %q, want plain text", f.Title)
	}
	if f.SiteLink != "https://relative.example/" {
		t.Errorf("SiteLink = %q", f.SiteLink)
	}
	it := f.Items[0]
	if it.Link != "https://relative.example/posts/one.html" {
		t.Errorf("Link = %q, want it resolved against the feed's own link", it.Link)
	}
	if it.Author != "Feed Author" {
		t.Errorf("Author = %q, want the feed's author when the entry has none", it.Author)
	}
	if want := time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC); !it.Published.Equal(want) || it.Published.Location() != time.UTC {
		t.Errorf("Published = %v, want %v in UTC", it.Published, want)
	}
	if it.Content == "" || it.Summary != "" {
		t.Errorf("Content = %q, Summary = %q", it.Content, it.Summary)
	}
}

func TestIdentityFallbacks(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "rss-missing-guids.xml", "http://missing.example/feed", "")
	if len(f.Items) != 3 {
		t.Fatalf("%d items, want 3", len(f.Items))
	}
	if got := f.Items[0].ID; got != "http://missing.example/link-only" {
		t.Errorf("no guid: ID = %q, want the link", got)
	}
	if got := f.Items[1].ID; !strings.HasPrefix(got, "hash:") {
		t.Errorf("no guid nor link: ID = %q, want a content hash", got)
	}
	again := parseTestdata(t, "rss-missing-guids.xml", "http://missing.example/feed", "")
	if again.Items[1].ID != f.Items[1].ID {
		t.Errorf("hash identity not stable: %q then %q", f.Items[1].ID, again.Items[1].ID)
	}
	if it := f.Items[2]; it.ID != "http://missing.example/permalink" || it.Link != "http://missing.example/permalink" {
		t.Errorf("permalink guid: ID %q Link %q, want both the guid", it.ID, it.Link)
	}
}

func TestRepeatedGUIDsFallBackToLinks(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "rss-repeated-guids.xml", "http://repeated.example/feed", "")
	seen := map[string]bool{}
	for _, it := range f.Items {
		if seen[it.ID] {
			t.Errorf("ID %q repeated: items would merge", it.ID)
		}
		seen[it.ID] = true
		if it.ID != it.Link {
			t.Errorf("ID = %q, want the link %q", it.ID, it.Link)
		}
	}
}

// TestCopiedGUID: a post that takes another's GUID changes the ids of the
// two items that share it, not of the feed's others, which readers would
// get again as new posts (before, every item fell back to its link).
func TestCopiedGUID(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "rss-copied-guid.xml", "http://copied.example/feed", "")
	var ids []string
	for _, it := range f.Items {
		ids = append(ids, it.ID)
	}
	want := []string{"http://copied.example/3", "http://copied.example/2", "post-1"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("ids %q, want %q: One keeps its guid, Two and Three, which share one, their links", ids, want)
	}
}

// TestGUIDLinks: an RSS guid that is a URL stands for a missing link unless
// isPermaLink="false", and only when it is a well-formed URL, escaped as a
// URL; an Atom id is never a link.
func TestGUIDLinks(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "rss-guid-links.xml", "http://guids.example/feed", "")
	want := []string{
		"http://guids.example/posts/1",
		"http://guids.example/posts/2",
		"",
		"",
		"http://guids.example/a%20b?x=%22q%22",
		"",
		"http://guids.example/posts/7",
	}
	if len(f.Items) != len(want) {
		t.Fatalf("%d items, want %d", len(f.Items), len(want))
	}
	for i, it := range f.Items {
		if it.Link != want[i] {
			t.Errorf("%s: link %q, want %q", it.Title, it.Link, want[i])
		}
	}
	a := parseTestdata(t, "atom-url-ids.xml", "https://atom.example/feed", "application/atom+xml")
	if len(a.Items) != 1 || a.Items[0].Link != "" || a.Items[0].ID != "https://atom.example/id/1" {
		t.Errorf("Atom entry with a URL id: %+v, want no link", a.Items)
	}
}

// TestHashIdentityStable: an item identified by a hash keeps the id it
// had before plain-text content was escaped into HTML (the id below is
// what the code of 3975b6f gave this entry).
func TestHashIdentityStable(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "atom-text-hash.xml", "https://text.example/feed", "application/atom+xml")
	if len(f.Items) != 1 || f.Items[0].ID != "hash:a91b646db914d06e69c80eaa24970990" {
		t.Errorf("items %+v, want one with id hash:a91b646db914d06e69c80eaa24970990", f.Items)
	}
	if !strings.Contains(f.Items[0].Summary, "&lt;stop&gt;") {
		t.Errorf("summary %q, want the text escaped", f.Items[0].Summary)
	}
}

func TestUndeclaredCharset(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, contentType string }{
		{"header says latin-1", "application/rss+xml; charset=iso-8859-1"},
		{"nothing says anything", "application/rss+xml"},
		{"header lies utf-8", "application/rss+xml; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := parseTestdata(t, "rss-latin1-undeclared.xml", "http://latin1.example/feed", tt.contentType)
			if f.Title != "Café crème" || f.Items[0].Title != "Déjà vu" {
				t.Errorf("titles = %q, %q, want Café crème, Déjà vu", f.Title, f.Items[0].Title)
			}
		})
	}
}

func TestJSONFeed(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "jsonfeed.json", "https://json.example/feed.json", "application/feed+json")
	if len(f.Items) != 2 {
		t.Fatalf("%d items, want 2", len(f.Items))
	}
	if it := f.Items[1]; it.Link != "https://json.example/1" || it.ID != "j1" || it.Author != "Jay Son" {
		t.Errorf("item = %+v", it)
	}
}

// TestJSONFeedNulls: nulls among a JSON Feed's items and authors, on which
// gofeed's translator panics (taking the daemon down), are skipped.
func TestJSONFeedNulls(t *testing.T) {
	t.Parallel()
	f := parseTestdata(t, "jsonfeed-nulls.json", "https://nulls.example/feed.json", "application/feed+json")
	if len(f.Items) != 1 {
		t.Fatalf("%d items, want 1", len(f.Items))
	}
	if it := f.Items[0]; it.ID != "n1" || it.Author != "Ann" || it.Content != "<p>one</p>" {
		t.Errorf("item = %+v, want n1 by Ann", it)
	}
	// With no author left in authors, the feed's JSON Feed 1.0 author is
	// the items' author.
	body := bytes.Replace(readTestdata(t, "jsonfeed-nulls.json"), []byte(`{"name": "Ann"}`), []byte("null"), 1)
	g, err := NewParser().Parse(t.Context(), body, "https://nulls.example/feed.json", "application/feed+json", aggregator.Source{Name: "src"})
	if err != nil || len(g.Items) != 1 || g.Items[0].Author != "One Oh" {
		t.Errorf("Parse = %+v, %v; want one item by One Oh", g.Items, err)
	}
}

// corpusDir is the shared corpus of real-world feeds, beside the project.
const corpusDir = "../../shared/corpus"

func corpusFiles(t *testing.T, group string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, group, "*"))
	if err != nil || len(files) == 0 {
		t.Skipf("no corpus at %s (it lives in ../shared beside the project, which a plain clone lacks)", corpusDir)
	}
	return files
}

// TestCorpusItemCounts parses every well-formed and real-world corpus feed
// and checks that nothing is lost: every feed gofeed itself reads is read,
// with the same number of items, each with an ID and valid text.
func TestCorpusItemCounts(t *testing.T) {
	t.Parallel()
	p := NewParser()
	raw := gofeed.NewParser()
	files := append(corpusFiles(t, "wellformed"), corpusFiles(t, "realworld")...)
	var parsed, rescued int
	for _, path := range files {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		want, rawErr := raw.Parse(bytes.NewReader(body))
		got, err := p.Parse(t.Context(), body, "http://corpus.example/"+name, "", aggregator.Source{Name: "corpus"})
		if rawErr != nil {
			if err == nil {
				rescued++
			}
			continue
		}
		parsed++
		if err != nil {
			t.Errorf("%s: gofeed reads it, Parse = %v", name, err)
			continue
		}
		if len(got.Items) != len(want.Items) {
			t.Errorf("%s: %d items, gofeed reports %d", name, len(got.Items), len(want.Items))
		}
		for i, it := range got.Items {
			if it.ID == "" {
				t.Errorf("%s: item %d has no ID", name, i)
			}
			if !it.Published.IsZero() && it.Published.Location() != time.UTC {
				t.Errorf("%s: item %d Published not in UTC", name, i)
			}
		}
	}
	t.Logf("%d corpus feeds parsed as gofeed does; %d more that gofeed alone rejects", parsed, rescued)
	if parsed < 600 {
		t.Errorf("only %d corpus feeds parsed, want most of the %d", parsed, len(files))
	}
}

// TestCorpusIllformed feeds every ill-formed corpus file through Parse: each
// is read or rejected with an error, never a panic.
func TestCorpusIllformed(t *testing.T) {
	t.Parallel()
	p := NewParser()
	for _, path := range corpusFiles(t, "illformed") {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(t.Context(), body, "http://corpus.example/", "", aggregator.Source{Name: "corpus"}); err != nil && Kind(err) == "other" {
			t.Errorf("%s: unclassified error %v", filepath.Base(path), err)
		}
	}
}

// FuzzParse checks that no input makes Parse panic and that every item it
// returns has an ID.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*"))
	// The corpus's small cases too, where it is at hand.
	for _, group := range []string{"wellformed", "illformed"} {
		corpus, _ := filepath.Glob(filepath.Join(corpusDir, group, "*"))
		seeds = append(seeds, corpus...)
	}
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, body []byte) {
		feed, err := p.Parse(t.Context(), body, "http://fuzz.example/feed", "", aggregator.Source{Name: "fuzz"})
		if err != nil {
			return
		}
		for i, it := range feed.Items {
			if it.ID == "" {
				t.Errorf("item %d has no ID", i)
			}
		}
	})
}

func TestIdentityOverride(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, identity string
		want                 func(aggregator.Item) string
	}{
		{"default uses guids", "rss-basic.xml", "", func(it aggregator.Item) string { return "basic-" + it.Link[len(it.Link)-1:] }},
		{"link", "rss-basic.xml", aggregator.IdentityLink, func(it aggregator.Item) string { return it.Link }},
		{"guid even when repeated", "rss-repeated-guids.xml", aggregator.IdentityGUID, func(aggregator.Item) string { return "same" }},
		{"link without links falls back to hash", "rss-missing-guids.xml", aggregator.IdentityLink, func(it aggregator.Item) string {
			if it.Link == "" {
				return "hash"
			}
			return it.Link
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := NewParser().Parse(t.Context(), readTestdata(t, tt.file), "http://x.example/feed", "", aggregator.Source{Name: "s", Identity: tt.identity})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range f.Items {
				want := tt.want(it)
				if want == "hash" && strings.HasPrefix(it.ID, "hash:") {
					continue
				}
				if it.ID != want {
					t.Errorf("item %q: ID = %q, want %q", it.Title, it.ID, want)
				}
			}
		})
	}
	// Hash identity: ids differ from guids and links, and are stable.
	h1, _ := NewParser().Parse(t.Context(), readTestdata(t, "rss-basic.xml"), "http://x.example/feed", "", aggregator.Source{Identity: aggregator.IdentityHash})
	h2, _ := NewParser().Parse(t.Context(), readTestdata(t, "rss-basic.xml"), "http://x.example/feed", "", aggregator.Source{Identity: aggregator.IdentityHash})
	for i, it := range h1.Items {
		if !strings.HasPrefix(it.ID, "hash:") || it.ID != h2.Items[i].ID {
			t.Errorf("hash identity: %q then %q", it.ID, h2.Items[i].ID)
		}
	}
}
