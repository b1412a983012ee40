package publish

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

// dataDependentPage is a theme's page that fails on one item alone, by
// its title: no sample data finds it.
const dataDependentPage = `<!DOCTYPE html>
<html><head><title>{{.Planet.Title}}</title></head><body>
<h1>Own theme</h1>
{{range .Items}}<p>{{.Title}}</p>{{if eq .Title "Sections group sources"}}{{.Nope}}{{end}}{{end}}
</body></html>
`

// trigger is the item dataDependentPage fails on; alpha is in section go.
var trigger = aggregator.Item{
	ID: "https://alpha.example/sections", SourceID: "alpha", Title: "Sections group sources",
	Link: "https://alpha.example/sections", Content: "<p>Sections.</p>", Published: day(28, 20), FirstSeen: day(28, 21),
}

// failingThemeSite is a Site with dataDependentPage as its theme, over
// store, not yet rebuilt, logging into logs.
func failingThemeSite(t *testing.T, store *fakeStore, logs *bytes.Buffer) (*Site, string) {
	t.Helper()
	dir := writeTheme(t, map[string]string{"page.html": dataDependentPage})
	opts := testOptions()
	opts.Theme = mustLoadTheme(t, dir)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return NewSite(store, opts), dir
}

// get GETs path from s and fails the test unless it answers 200.
func get(t *testing.T, s *Site, path string) *http.Response {
	t.Helper()
	resp := request(t, s, "GET", path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return resp
}

// TestThemeFailingPageKeepsLastGood: a page the theme fails on keeps
// the bytes and validators of its last good version, while the feeds
// render and are served with the item it failed on, and the other pages
// render; the error is logged once per render as FILE:LINE: message and
// counted; when the data changes back, the theme renders the page again.
func TestThemeFailingPageKeepsLastGood(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	var logs bytes.Buffer
	s, dir := failingThemeSite(t, store, &logs)
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := map[string]*http.Response{}
	goodBody := map[string][]byte{}
	for _, path := range []string{"/", "/sections/go.html"} {
		good[path] = get(t, s, path)
		goodBody[path] = body(t, good[path])
		if !bytes.Contains(goodBody[path], []byte("Own theme")) {
			t.Fatalf("GET %s is not the theme's page", path)
		}
	}
	if s.FailingPages() != 0 || strings.Contains(logs.String(), "theme failed") {
		t.Fatalf("FailingPages() = %d, log %q before any failure", s.FailingPages(), logs.String())
	}

	store.items = append(store.items, trigger)
	for render := 1; render <= 2; render++ {
		if err := s.Rebuild(t.Context()); err != nil {
			t.Fatalf("Rebuild() with a page failing = %v, want nil", err)
		}
		for _, path := range []string{"/feed.atom", "/feed.rss", "/feed.json", "/sections/go.atom"} {
			if b := body(t, get(t, s, path)); !bytes.Contains(b, []byte("Sections group sources")) {
				t.Errorf("GET %s lacks the new item", path)
			}
		}
		for path, old := range good {
			resp := get(t, s, path)
			if b := body(t, resp); !bytes.Equal(b, goodBody[path]) {
				t.Errorf("GET %s changed: it should keep its last good version", path)
			}
			for _, h := range []string{"Etag", "Last-Modified", "Content-Security-Policy"} {
				if resp.Header.Get(h) != old.Header.Get(h) {
					t.Errorf("GET %s: %s = %q, was %q", path, h, resp.Header.Get(h), old.Header.Get(h))
				}
			}
		}
		if b := body(t, get(t, s, "/sections/news.html")); !bytes.Contains(b, []byte("Own theme")) {
			t.Error("/sections/news.html, which the theme renders, is not the theme's")
		}
		if got := s.FailingPages(); got != 2 {
			t.Errorf("FailingPages() = %d, want 2 (/ and /sections/go.html)", got)
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != render {
			t.Fatalf("after %d renders the log has %d lines, want one a render:\n%s", render, len(lines), logs.String())
		}
		want := `err="` + filepath.Join(dir, "page.html") + `:4: executing \"page.html\" at <.Nope>: can't evaluate field Nope in type ItemData" pages=2 path=/`
		if !strings.Contains(lines[render-1], "level=ERROR") || !strings.Contains(lines[render-1], want) {
			t.Errorf("log line %q\nwant it to hold %q", lines[render-1], want)
		}
	}

	store.items = store.items[:len(store.items)-1]
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b := body(t, get(t, s, "/")); !bytes.Equal(b, goodBody["/"]) || s.FailingPages() != 0 {
		t.Errorf("with the item gone, / is not the theme's page again (FailingPages() = %d)", s.FailingPages())
	}
}

// TestThemeFailingFirstRender: a page the theme fails on at the first
// render, which has no last good version, is the built-in theme's, with
// the built-in theme's policy, rendered anew at each render; the pages
// the theme renders are its own.
func TestThemeFailingFirstRender(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	store.items = append(store.items, trigger)
	var logs bytes.Buffer
	s, dir := failingThemeSite(t, store, &logs)
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild() = %v, want nil: a page's error fails that page alone", err)
	}
	builtin := mustSite(t, newTestStore(), testOptions())
	want := request(t, builtin, "GET", "/", nil).Header.Get("Content-Security-Policy")
	resp := get(t, s, "/")
	page := body(t, resp)
	if bytes.Contains(page, []byte("Own theme")) || !bytes.Contains(page, []byte("<article>")) || !bytes.Contains(page, []byte("Sections group sources")) {
		t.Errorf("GET / is not the built-in theme's page with every item:\n%s", page)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("Content-Security-Policy = %q, want the built-in theme's %q", got, want)
	}
	if bytes.Contains(page, []byte(dir)) || bytes.Contains(page, []byte("Nope")) {
		t.Error("the page shows the theme's path or error to its readers")
	}
	own := get(t, s, "/sections/news.html")
	if !bytes.Contains(body(t, own), []byte("Own theme")) || own.Header.Get("Content-Security-Policy") == want {
		t.Error("/sections/news.html is not the theme's page with the theme's policy")
	}
	if b := body(t, get(t, s, "/feed.atom")); !bytes.Contains(b, []byte("Sections group sources")) {
		t.Error("/feed.atom lacks the item")
	}

	// Not kept as a last good version: the next render renders it anew.
	store.items = append(store.items, aggregator.Item{ID: "later", SourceID: "beta", Title: "Later news",
		Link: "https://beta.example/later", Published: day(28, 22), FirstSeen: day(28, 22)})
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b := body(t, get(t, s, "/")); !bytes.Contains(b, []byte("Later news")) || !bytes.Contains(b, []byte("<article>")) {
		t.Error("the built-in theme's / was not rendered again with the new item")
	}
	if !strings.Contains(logs.String(), filepath.Join(dir, "page.html")+`:4: `) {
		t.Errorf("log %q lacks the theme's FILE:LINE", logs.String())
	}
}

// TestThemeFailingPageWithNoFallback: a page that neither the theme nor
// the built-in theme renders, with no version before, answers 500 with
// no detail, and the rest of the site is served.
func TestThemeFailingPageWithNoFallback(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	store.items = append(store.items, trigger)
	var logs bytes.Buffer
	s, _ := failingThemeSite(t, store, &logs)
	s.builtinPage = func() *template.Template {
		return template.Must(template.New("").New(pageTemplateName).Parse("{{.Nope}}"))
	}
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if resp := request(t, s, "GET", "/", nil); resp.StatusCode != http.StatusInternalServerError || bytes.Contains(body(t, resp), []byte("Nope")) {
		t.Errorf("GET /: %s, want 500 without the theme's error", resp.Status)
	}
	get(t, s, "/feed.atom")
	get(t, s, "/sections/news.html")
}

// TestThemeCheckFindsShapeBranches: check runs the page against sample
// data of every shape, so an unknown field behind a condition on the
// shape of the data (not on one value) is found, with its line.
func TestThemeCheckFindsShapeBranches(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, branch string }{
		{"titled item without a link", `{{range .Items}}{{if and .Title (not .Link)}}{{.Nope}}{{end}}{{end}}`},
		{"linked item without a title", `{{range .Items}}{{if and .Link (not .Title)}}{{.Nope}}{{end}}{{end}}`},
		{"item updated after it was published", `{{range .Items}}{{if .Updated.After .Published}}{{if .Published.IsZero}}{{else}}{{.Nope}}{{end}}{{end}}{{end}}`},
		{"item in several other sources", `{{range .Items}}{{if gt (len .AlsoIn) 1}}{{.Nope}}{{end}}{{end}}`},
		{"working source with hidden items", `{{range .Sources}}{{if and .OK .Hidden}}{{.Nope}}{{end}}{{end}}`},
		{"source never fetched", `{{range .Sources}}{{if .LastAttempt.IsZero}}{{.Nope}}{{end}}{{end}}`},
		{"failing source with no face", `{{range .Sources}}{{if and (not .OK) (not .Image)}}{{.Nope}}{{end}}{{end}}`},
		{"item source without a site", `{{range .Items}}{{if not .Source.SiteURL}}{{.Nope}}{{end}}{{end}}`},
		{"day of undated items", `{{range .Days}}{{if .Date.IsZero}}{{.Nope}}{{end}}{{end}}`},
		{"planet's older page", `{{if and .Page.Newer (not .Section)}}{{.Nope}}{{end}}`},
		{"section's last page", `{{with .Section}}{{if and $.Page.Newer (not $.Page.Older)}}{{.Nope}}{{end}}{{end}}`},
		{"items without sections", `{{if and .Items (not .Nav)}}{{.Nope}}{{end}}`},
		{"planet without a description", `{{if and .Items (not .Planet.Description)}}{{.Nope}}{{end}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTheme(t, map[string]string{"page.html": "<!DOCTYPE html>\n<title>x</title>\n" + tt.branch + "\n"})
			errs := themeErrors(t, loadThemeErr(dir))
			if len(errs) != 1 || errs[0].File != filepath.Join(dir, "page.html") || errs[0].Line != 3 || !strings.Contains(errs[0].Msg, "can't evaluate field Nope") {
				t.Errorf("LoadTheme() errors = %q, want %s:3: ... can't evaluate field Nope", errs, filepath.Join(dir, "page.html"))
			}
		})
	}
	// A condition on one value is beyond any sample: the daemon finds it.
	dir := writeTheme(t, map[string]string{"page.html": dataDependentPage})
	if err := loadThemeErr(dir); err != nil {
		t.Errorf("LoadTheme() = %v; a sample item titled so would make it fail", err)
	}
}

// TestThemeStyleWithAction: a <style> with an action, whose hash the
// policy cannot hold, is a mistake at its line; a literal one is fine.
func TestThemeStyleWithAction(t *testing.T) {
	t.Parallel()
	dir := writeTheme(t, map[string]string{"page.html": "<!DOCTYPE html>\n<html><head><title>x</title>\n<style>h1 { color: teal; }</style>\n" +
		"<style media=\"screen\">\nh1 { font-size: {{len .Items}}em; }\n</style></head><body>\n{{.Nope}}</body></html>\n"})
	errs := themeErrors(t, loadThemeErr(dir))
	file := filepath.Join(dir, "page.html")
	if len(errs) != 2 || errs[0].File != file || errs[0].Line != 4 || !strings.HasPrefix(errs[0].Msg, "<style> with {{…}}: ") ||
		errs[1].File != file || errs[1].Line != 7 || !strings.Contains(errs[1].Msg, "can't evaluate field Nope") {
		t.Errorf("LoadTheme() errors = %q, want %s:4: <style> with {{…}}: ... and %[2]s:7: ... Nope", errs, file)
	}
	dir = writeTheme(t, map[string]string{"page.html": "<!DOCTYPE html>\n<html><head><title>x</title>\n<style>h1 { color: teal; }</style></head><body></body></html>\n"})
	mustLoadTheme(t, dir)
}
