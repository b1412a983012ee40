package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/publish"
	"golang.org/x/net/html"
)

const (
	roundTripCorpus = "../../../shared/corpus"
	atomSchema      = "../../../shared/schemas/atom.rnc"
	allItems        = 100000
)

// testSource is one source of a generated config, in a section of its own.
type testSource struct{ name, url string }

// ingestSections writes a config with each source in a section named after it,
// every item kept and published, runs one fetch pass into a real database,
// and returns the app.
func ingestSections(t *testing.T, sources []testSource) *app {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "title: Round trip\nbase_url: http://planet.test\ndatabase: %s\n", filepath.Join(dir, "test.db"))
	fmt.Fprintf(&cfg, "fetch: {concurrency: 8, per_host: 8}\nretention: {max_items: %d}\npublish: {items: %d}\nsections:\n", allItems, allItems)
	for _, s := range sources {
		fmt.Fprintf(&cfg, "  %s: {title: %q}\n", s.name, s.name)
	}
	cfg.WriteString("sources:\n")
	for _, s := range sources {
		fmt.Fprintf(&cfg, "  - {name: %s, url: %q, sections: [%s]}\n", s.name, s.url, s.name)
	}
	c := writeAndLoadConfig(t, dir, cfg.String())
	a, err := openApp(t.Context(), c, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close() })
	if err := a.poller.Refresh(t.Context(), c.Sources, nil); err != nil {
		t.Fatal(err)
	}
	return a
}

// serveGet returns the body a's site serves at path, or fails the test.
func serveGet(t *testing.T, a *app, path string) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	a.site.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

// TestCorpusRoundTrip ingests every well-formed and real-world corpus feed,
// publishes each in its own section, and reads every output back. The
// corpus is split into batches of apps run in parallel: every page lists
// every section, so one app with 800 sections would render 800² links.
func TestCorpusRoundTrip(t *testing.T) {
	t.Parallel()
	var files []string
	for _, group := range []string{"wellformed", "realworld"} {
		g, _ := filepath.Glob(filepath.Join(roundTripCorpus, group, "*"))
		files = append(files, g...)
	}
	if len(files) == 0 {
		t.Skipf("no corpus at %s (it lives in ../shared beside the project, which a plain clone lacks)", roundTripCorpus)
	}
	srv := httptest.NewServer(http.StripPrefix("/corpus/", http.FileServer(http.Dir(roundTripCorpus))))
	t.Cleanup(srv.Close)

	const batch = 100
	var mu sync.Mutex
	atoms := map[string][]byte{}
	items := 0
	t.Run("batches", func(t *testing.T) {
		for first := 0; first < len(files); first += batch {
			t.Run(fmt.Sprintf("%03d", first), func(t *testing.T) {
				t.Parallel()
				var sources []testSource
				file := map[string]string{}
				for i, path := range files[first:min(first+batch, len(files))] {
					rel, _ := filepath.Rel(roundTripCorpus, path)
					name := fmt.Sprintf("c%03d", first+i)
					sources = append(sources, testSource{name, srv.URL + "/corpus/" + filepath.ToSlash(rel)})
					file[name] = rel
				}
				a := ingestSections(t, sources)
				for _, src := range sources {
					atom, n := roundTrip(t, a, src.name, file[src.name])
					mu.Lock()
					atoms[src.name+".atom"] = atom
					items += n
					mu.Unlock()
				}
			})
		}
	})
	validateAtomBatch(t, atoms)
	t.Logf("%d corpus feeds, %d items published in three formats and read back", len(files), items)
}

// roundTrip reads back the feeds and page of section name (the source of
// corpus file) and returns its Atom and how many items it has.
func roundTrip(t *testing.T, a *app, name, file string) ([]byte, int) {
	t.Helper()
	stored, err := a.store.RecentItems(t.Context(), name, allItems)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]aggregator.Item{}
	for _, it := range stored {
		want[publish.ItemID(it.SourceID, it.ID)] = it
	}
	path := "/sections/" + name
	ids := map[string]string{}
	var atom []byte
	for _, ext := range []string{".atom", ".rss", ".json"} {
		body := serveGet(t, a, path+ext)
		if ext == ".atom" {
			atom = body
		}
		ids[ext] = strings.Join(checkFeed(t, file+" "+ext, body, want), " ")
	}
	if ids[".atom"] != ids[".rss"] || ids[".atom"] != ids[".json"] {
		t.Errorf("%s: the formats publish different items", file)
	}
	// RFC 4287 4.2.11: every entry names its source completely enough to
	// credit and deduplicate it.
	for _, e := range decodeAtomSources(t, atom).Entries {
		if e.Source.ID == "" || e.Source.Title == "" || len(e.Source.Links) == 0 {
			t.Errorf("%s: entry %s: atom:source %+v lacks an id, title or link", file, e.ID, e.Source)
		}
	}
	if bad := unsafeHTML(serveGet(t, a, path+".html")); bad != "" {
		t.Errorf("%s: page %s.html: %s", file, path, bad)
	}
	return atom, len(strings.Fields(ids[".atom"]))
}

// xmlIllegal matches the characters XML 1.0 forbids.
var xmlIllegal = regexp.MustCompile(`[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]`)

// checkFeed parses body as gofeed would and checks every item against the
// stored one it was published from, the format's required parts, and that
// nothing in it is unsafe or relative. It returns the item ids in order.
func checkFeed(t *testing.T, name string, body []byte, want map[string]aggregator.Item) []string {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".json"):
		checkJSONFeed(t, name, body)
	default:
		if err := wellFormed(body); err != nil {
			t.Errorf("%s: not well-formed XML: %v", name, err)
			return nil
		}
	}
	f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: gofeed: %v", name, err)
		return nil
	}
	var ids []string
	for _, it := range f.Items {
		ids = append(ids, it.GUID)
		stored, ok := want[it.GUID]
		if !ok {
			t.Errorf("%s: item %q was not stored", name, it.GUID)
			continue
		}
		// Characters XML forbids are dropped in every format.
		if got, w := strings.TrimSpace(it.Title), strings.TrimSpace(xmlIllegal.ReplaceAllString(stored.Title, "")); got != w && !(w == "" && got == "(untitled)") {
			t.Errorf("%s: item %s: title %q, want %q", name, it.GUID, got, w)
		}
		// A link that is not absolute http(s), such as a tag: URI, is
		// left out rather than published.
		if wl := stored.Link; it.Link != wl && !(it.Link == "" && !isAbsHTTP(wl)) {
			t.Errorf("%s: item %s: link %q, want %q", name, it.GUID, it.Link, wl)
		}
		if wp := stored.Date().UTC().Truncate(time.Second); it.PublishedParsed == nil || !it.PublishedParsed.Equal(wp) {
			t.Errorf("%s: item %s: published %v, want %v", name, it.GUID, it.PublishedParsed, wp)
		}
		if wu := stored.Updated.UTC().Truncate(time.Second); !stored.Updated.IsZero() && !strings.HasSuffix(name, ".rss") &&
			(it.UpdatedParsed == nil || !it.UpdatedParsed.Equal(wu)) {
			t.Errorf("%s: item %s: updated %v, want %v", name, it.GUID, it.UpdatedParsed, wu)
		}
		for _, u := range append([]string{it.Link}, enclosureURLs(it)...) {
			if u != "" && !isAbsHTTP(u) {
				t.Errorf("%s: item %s: URL %q is not absolute http(s)", name, it.GUID, u)
			}
		}
		for _, h := range []string{it.Content, it.Description} {
			if bad := unsafeHTML([]byte(h)); bad != "" {
				t.Errorf("%s: item %s: %s", name, it.GUID, bad)
			}
		}
		if strings.Contains(strings.ToLower(it.Title), "<script") {
			t.Errorf("%s: item %s: title %q holds a script", name, it.GUID, it.Title)
		}
	}
	return ids
}

func enclosureURLs(it *gofeed.Item) []string {
	var out []string
	for _, e := range it.Enclosures {
		out = append(out, e.URL)
	}
	return out
}

// wellFormed decodes every token of an XML document strictly.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// checkJSONFeed checks the members JSON Feed 1.1 requires.
func checkJSONFeed(t *testing.T, name string, body []byte) {
	t.Helper()
	var f struct {
		Version string            `json:"version"`
		Title   string            `json:"title"`
		Items   []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if f.Version != "https://jsonfeed.org/version/1.1" || f.Title == "" || f.Items == nil {
		t.Errorf("%s: version %q, title %q, items %v: want all", name, f.Version, f.Title, f.Items != nil)
	}
	for i, raw := range f.Items {
		var it map[string]any
		json.Unmarshal(raw, &it)
		_, hasHTML := it["content_html"].(string)
		_, hasText := it["content_text"].(string)
		if id, _ := it["id"].(string); id == "" || !(hasHTML || hasText) {
			t.Errorf("%s: item %d lacks id or content: %s", name, i, raw)
		}
	}
}

func isAbsHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// unsafeHTML describes the first thing in an HTML document or fragment a
// browser would run, or a URL attribute that is relative, or "".
// Same-document references (#note) are allowed: they are not links to our
// host, and the sanitizer keeps them so footnotes work.
func unsafeHTML(b []byte) string {
	z := html.NewTokenizer(bytes.NewReader(b))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "frame", "frameset", "base", "form", "svg", "math":
				return "element <" + tok.Data + ">"
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(a.Key, "on"):
					return fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val)
				case a.Key == "href" || a.Key == "src" || a.Key == "cite" || a.Key == "poster" || a.Key == "action":
					if strings.HasPrefix(v, "mailto:") ||
						(tok.Data == "img" && strings.HasPrefix(v, "data:image/")) || isAbsHTTP(a.Val) {
						continue
					}
					return fmt.Sprintf("<%s %s=%q>: not an absolute http(s) URL", tok.Data, a.Key, a.Val)
				}
			}
		}
	}
}

// validateAtomBatch runs jing over every document in one run; it skips when jing
// or the schema is missing.
func validateAtomBatch(t *testing.T, docs map[string][]byte) {
	t.Helper()
	jing, err := exec.LookPath("jing")
	if err != nil {
		t.Log("jing is not installed (apt-get install jing): Atom output not validated")
		return
	}
	if _, err := os.Stat(atomSchema); err != nil {
		t.Logf("no Atom schema at %s: Atom output not validated", atomSchema)
		return
	}
	dir := t.TempDir()
	args := []string{"-c", atomSchema}
	for name, b := range docs {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, jing, args...).CombinedOutput()
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.Contains(line, "[warning]") {
			errs = append(errs, line)
		}
	}
	if err != nil || len(errs) > 0 {
		t.Errorf("jing rejects %d lines of our Atom (%v):\n%s", len(errs), err, strings.Join(errs[:min(len(errs), 40)], "\n"))
	}
}

// TestTextContentRoundTrip fetches feeds whose content and summaries are
// plain text (fetch/testdata: Atom type="text", text/plain and untyped
// summaries, JSON Feed content_text), publishes them, and reads every
// output back as a reader would: each shows the text as it was written,
// "<not a tag>" and "<stop>" included and the <b> of a summary about it as
// text, with its line breaks; HTML content stays HTML.
func TestTextContentRoundTrip(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.FileServer(http.Dir("../../fetch/testdata")))
	t.Cleanup(srv.Close)
	sources := []testSource{
		{"atomcontent", srv.URL + "/atom-content-text.xml"},
		{"atomsummary", srv.URL + "/atom-summary-text.xml"},
		{"jsontext", srv.URL + "/jsonfeed-content-text.json"},
	}
	type shown struct {
		text string
		bold bool // it holds a <b> element
	}
	want := map[string]map[string]shown{ // by source and item id
		"atomcontent": {
			"tag:content.example,2026:1": {"plain <not a tag> & text\nsecond line", false},
			"tag:content.example,2026:2": {`<b>not bold</b> & "quoted"`, false},
			"tag:content.example,2026:3": {"an html body & more", true},
			"tag:content.example,2026:5": {"an xhtml body", true},
			"tag:content.example,2026:6": {"a summary <beside> it", false},
		},
		"atomsummary": {
			"tag:summary.example,2026:1": {"text summary with <b> and &", false},
			"tag:summary.example,2026:2": {"if a < b && c > d then <stop>", false},
		},
		"jsontext": {
			"t1": {"plain text only <not html> & stuff\nline2", false},
			"t2": {"an html body", true},
			"t4": {"windows\nlines", false},
		},
	}
	a := ingestSections(t, sources)
	atoms := map[string][]byte{}
	for _, src := range sources {
		path := "/sections/" + src.name
		byGUID := map[string]string{}
		for id := range want[src.name] {
			byGUID[publish.ItemID(src.name, id)] = id
		}
		for _, ext := range []string{".atom", ".rss", ".json"} {
			body := serveGet(t, a, path+ext)
			if ext == ".atom" {
				atoms[src.name+ext] = body
			}
			f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s%s: %v", path, ext, err)
			}
			seen := 0
			for _, it := range f.Items {
				id, ok := byGUID[it.GUID]
				if !ok {
					continue
				}
				seen++
				w := want[src.name][id]
				text, bold := readerText(cmp.Or(it.Content, it.Description))
				if text != w.text || bold != w.bold {
					t.Errorf("%s%s: item %s shows %q (bold %v), want %q (bold %v)", path, ext, id, text, bold, w.text, w.bold)
				}
			}
			if seen != len(byGUID) {
				t.Errorf("%s%s: %d of the %d items", path, ext, seen, len(byGUID))
			}
		}
		page, _ := readerText(string(serveGet(t, a, path+".html")))
		for _, w := range want[src.name] {
			if !strings.Contains(page, w.text) {
				t.Errorf("%s.html does not show %q", path, w.text)
			}
		}
	}
	validateAtomBatch(t, atoms)
}

// readerText returns the text a browser shows for HTML h, each run of
// space one space and each <br> a line break, and whether h holds a <b>
// element.
func readerText(h string) (text string, bold bool) {
	z := html.NewTokenizer(strings.NewReader(h))
	var b strings.Builder
	for {
		switch z.Next() {
		case html.ErrorToken:
			lines := strings.Split(b.String(), "\n")
			for i, l := range lines {
				lines[i] = strings.Join(strings.Fields(l), " ")
			}
			return strings.Join(lines, "\n"), bold
		case html.TextToken:
			b.WriteString(strings.Map(func(r rune) rune {
				if r == '\n' || r == '\r' || r == '\t' {
					return ' '
				}
				return r
			}, string(z.Text())))
		case html.StartTagToken, html.SelfClosingTagToken:
			switch name, _ := z.TagName(); string(name) {
			case "br":
				b.WriteByte('\n')
			case "b":
				bold = true
			case "p", "div", "li":
				b.WriteByte(' ')
			}
		}
	}
}
