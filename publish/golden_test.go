package publish

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/feeds"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestGolden(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), testOptions())
	tests := []struct{ name, path, golden string }{
		{"merged atom", "/feed.atom", "merged.atom.golden"},
		{"merged rss", "/feed.rss", "merged.rss.golden"},
		{"merged json", "/feed.json", "merged.json.golden"},
		{"section atom", "/sections/go.atom", "section.atom.golden"},
		{"section rss", "/sections/go.rss", "section.rss.golden"},
		{"section json", "/sections/go.json", "section.json.golden"},
		{"index page", "/", "index.html.golden"},
		{"section page", "/sections/go.html", "section.html.golden"},
		{"sources opml", "/sources.opml", "sources.opml.golden"},
		{"section opml", "/sections/news.opml", "section.opml.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := body(t, request(t, s, "GET", tt.path, nil))
			file := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./publish -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("GET %s differs from %s at %s\nrun go test ./publish -update and review the diff", tt.path, file, firstDiff(got, want))
			}
		})
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "no line"
}

// allOutputs returns the body of every feed route of the test site and of
// a site with no items and no states, keyed by a file name.
func allOutputs(t *testing.T) map[string][]byte {
	t.Helper()
	full := mustSite(t, newTestStore(), testOptions())
	empty := mustSite(t, &fakeStore{sources: testSources()}, testOptions())
	out := make(map[string][]byte)
	for _, p := range feedPaths() {
		name := strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "-")
		out["full-"+name] = body(t, request(t, full, "GET", p, nil))
		out["empty-"+name] = body(t, request(t, empty, "GET", p, nil))
	}
	return out
}

// outputsWithExt returns the outputs whose name ends in ext.
func outputsWithExt(all map[string][]byte, ext string) map[string][]byte {
	out := make(map[string][]byte)
	for name, b := range all {
		if strings.HasSuffix(name, ext) {
			out[name] = b
		}
	}
	return out
}

func TestAtomValidatesAgainstSchema(t *testing.T) {
	t.Parallel()
	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Skip("jing is not installed (apt-get install jing): Atom output not validated")
	}
	schema := filepath.Join("..", "..", "shared", "schemas", "atom.rnc")
	if _, err := os.Stat(schema); err != nil {
		t.Skipf("Atom schema not found at %s (the shared/ checkout beside the project): %v", schema, err)
	}
	docs := outputsWithExt(allOutputs(t), ".atom")
	if len(docs) != 6 {
		t.Fatalf("%d Atom documents, want 6", len(docs))
	}
	if out, err := runJing(t, jing, schema, docs); err != nil {
		t.Errorf("jing: %v\n%s", err, out)
	}

	// The validator must not be vacuous: gorilla/feeds' own Atom of a feed
	// without dates has an empty <updated>, which the schema rejects.
	bad, err := (&feeds.Feed{Title: "no dates", Link: &feeds.Link{Href: "https://x.example/"}}).ToAtom()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runJing(t, jing, schema, map[string][]byte{"gorilla.atom": []byte(bad)}); err == nil {
		t.Errorf("jing accepted an Atom feed with an empty <updated>")
	}
}

// TestAtomEntryRules checks the two Schematron rules of RFC 4287 that jing
// does not: each entry has an author, and an alternate link or content.
func TestAtomEntryRules(t *testing.T) {
	t.Parallel()
	type link struct {
		Rel string `xml:"rel,attr"`
	}
	for name, b := range outputsWithExt(allOutputs(t), ".atom") {
		var doc struct {
			Entries []struct {
				ID      string `xml:"id"`
				Authors []struct {
					Name string `xml:"name"`
				} `xml:"author"`
				Links   []link    `xml:"link"`
				Content *struct{} `xml:"content"`
			} `xml:"entry"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: xml.Unmarshal() = %v", name, err)
		}
		for _, e := range doc.Entries {
			if len(e.Authors) != 1 || e.Authors[0].Name == "" {
				t.Errorf("%s: entry %s: authors %+v, want one with a name", name, e.ID, e.Authors)
			}
			if !slices.Contains(e.Links, link{Rel: "alternate"}) && e.Content == nil {
				t.Errorf("%s: entry %s has neither an alternate link nor content", name, e.ID)
			}
		}
	}
}

// runJing validates every document against schema in one jing run and
// returns its output without the Debian wrapper's warnings.
func runJing(t *testing.T, jing, schema string, docs map[string][]byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-c", schema}
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, docs[name], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, file)
	}
	out, err := exec.CommandContext(t.Context(), jing, args...).CombinedOutput()
	var kept []string
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.Contains(line, "[warning]") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n"), err
}

// rssDocCheck is what a reader decodes from our RSS, namespaces resolved.
type rssDocCheck struct {
	Version string `xml:"version,attr"`
	Channel struct {
		// Self comes first: a field without a namespace matches any.
		Self struct {
			Href string `xml:"href,attr"`
			Rel  string `xml:"rel,attr"`
		} `xml:"http://www.w3.org/2005/Atom link"`
		Title       string `xml:"title"`
		Link        string `xml:"link"`
		Description string `xml:"description"`
		Items       []struct {
			Title       string `xml:"title"`
			Description string `xml:"description"`
			Encoded     string `xml:"http://purl.org/rss/1.0/modules/content/ encoded"`
			Creator     string `xml:"http://purl.org/dc/elements/1.1/ creator"`
			GUID        struct {
				ID          string `xml:",chardata"`
				IsPermaLink string `xml:"isPermaLink,attr"`
			} `xml:"guid"`
			PubDate   string `xml:"pubDate"`
			Enclosure []struct {
				URL    string `xml:"url,attr"`
				Type   string `xml:"type,attr"`
				Length string `xml:"length,attr"`
			} `xml:"enclosure"`
		} `xml:"item"`
	} `xml:"channel"`
}

func TestRSSIsWellFormedAndComplete(t *testing.T) {
	t.Parallel()
	for name, b := range outputsWithExt(allOutputs(t), ".rss") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var doc rssDocCheck
			if err := xml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("xml.Unmarshal() = %v", err)
			}
			ch := doc.Channel
			if doc.Version != "2.0" || ch.Title == "" || ch.Link == "" || ch.Description == "" {
				t.Errorf("version %q, channel title %q, link %q, description %q: want all set", doc.Version, ch.Title, ch.Link, ch.Description)
			}
			if ch.Self.Rel != "self" || !strings.HasSuffix(ch.Self.Href, ".rss") {
				t.Errorf("atom:link = %+v, want rel=self to the .rss", ch.Self)
			}
			for i, it := range ch.Items {
				if !strings.HasPrefix(it.GUID.ID, "urn:uuid:") || it.GUID.IsPermaLink != "false" {
					t.Errorf("item %d: guid %+v, want a urn:uuid with isPermaLink=false", i, it.GUID)
				}
				if strings.TrimSpace(it.Title) == "" && strings.TrimSpace(it.Description) == "" {
					t.Errorf("item %d has neither title nor description", i)
				}
				if it.Creator == "" {
					t.Errorf("item %d has no dc:creator", i)
				}
				if _, err := time.Parse(time.RFC1123Z, it.PubDate); err != nil {
					t.Errorf("item %d: pubDate: %v", i, err)
				}
				for _, enc := range it.Enclosure {
					if _, err := strconv.ParseInt(enc.Length, 10, 64); enc.URL == "" || enc.Type == "" || err != nil {
						t.Errorf("item %d: enclosure %+v, want url, type and a numeric length", i, enc)
					}
				}
			}
		})
	}
}

func TestJSONFeedIsValidAndComplete(t *testing.T) {
	t.Parallel()
	for name, b := range outputsWithExt(allOutputs(t), ".json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var doc map[string]any
			decodeJSON(t, b, &doc)
			if doc["version"] != jsonFeedVersion || doc["title"] == "" || doc["feed_url"] == "" {
				t.Errorf("version %v, title %v, feed_url %v", doc["version"], doc["title"], doc["feed_url"])
			}
			items, ok := doc["items"].([]any)
			if !ok {
				t.Fatalf("items = %#v, want an array, even when empty", doc["items"])
			}
			for i, v := range items {
				it := v.(map[string]any)
				if id, _ := it["id"].(string); !strings.HasPrefix(id, "urn:uuid:") {
					t.Errorf("item %d: id %q, want a urn:uuid", i, id)
				}
				if _, ok := it["content_html"].(string); !ok {
					t.Errorf("item %d has no content_html", i)
				}
				if title, _ := it["title"].(string); strings.TrimSpace(title) == "" && strings.TrimSpace(it["content_html"].(string)) == "" {
					t.Errorf("item %d has neither title nor content", i)
				}
				if authors, _ := it["authors"].([]any); len(authors) != 1 {
					t.Errorf("item %d: authors %v, want one", i, it["authors"])
				}
				if _, err := time.Parse(time.RFC3339, it["date_published"].(string)); err != nil {
					t.Errorf("item %d: date_published: %v", i, err)
				}
				atts, _ := it["attachments"].([]any)
				for _, a := range atts {
					a := a.(map[string]any)
					if a["url"] == "" || a["mime_type"] == "" || a["mime_type"] == nil {
						t.Errorf("item %d: attachment %v, want url and mime_type", i, a)
					}
				}
			}
		})
	}
}

// decodeJSON decodes b into v or fails the test.
func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("json.Unmarshal() = %v", err)
	}
}
