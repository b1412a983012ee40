package publish

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// mustLoadTheme loads the theme in dir or fails the test.
func mustLoadTheme(t *testing.T, dir string) *Theme {
	t.Helper()
	theme, err := LoadTheme(dir)
	if err != nil {
		t.Fatalf("LoadTheme(%s) = %v", dir, err)
	}
	return theme
}

// pagedOptions are testOptions with three items a page, so that the
// merged river fills four pages and each section's two.
func pagedOptions() Options {
	opts := testOptions()
	opts.PageItems = 3
	return opts
}

// TestThemeOfDocumentedNames renders the planet's page, a section's and
// an older page with testdata/theme-contract, a theme that uses every
// name the README documents and nothing else.
func TestThemeOfDocumentedNames(t *testing.T) {
	t.Parallel()
	opts := pagedOptions()
	opts.Theme = mustLoadTheme(t, "testdata/theme-contract")
	s := mustSite(t, newTestStore(), opts)
	tests := []struct {
		path string
		want []string
	}{{
		path: "/",
		want: []string{
			`<title>Planet Test</title>`,
			`<link rel="stylesheet" href="https://planet.example/static/style.css">`,
			`<h1><a href="https://planet.example/">Planet Test</a></h1>`,
			`<p id="description">Everything &amp; everyone</p>`,
			`<p id="section">the planet</p>`,
			`<p id="feeds">https://planet.example/feed.atom https://planet.example/feed.rss https://planet.example/feed.json https://planet.example/sources.opml</p>`,
			`<p id="page">page 1 newer=[] older=[https://planet.example/page/2.html]</p>`,
			`<h2>2026-02-28</h2>`, `<h2>2026-02-27</h2>`,
			`<p class="day-item">` + ItemID("alpha", "https://alpha.example/posts/1") + `</p>`,
			`<div class="item" id="` + ItemID("alpha", "https://alpha.example/posts/1") + `"><a href="https://alpha.example/posts/1">Go 1.26 &amp; more</a> by [Ann Author] at 2026-02-27 09:00 UTC`,
			`from alpha / Alpha Blog / https://alpha.example/ / https://alpha.example/feed.xml / [https://alpha.example/logo.png]`,
			`<div class="content"><p>Full <b>content</b></p></div>`, // sanitized HTML, as is
			`<li>alpha / Alpha Blog / https://alpha.example/ / https://alpha.example/feed.xml / [https://alpha.example/logo.png] ok=true error=[] failures=0 success=[2026-02-28]</li>`,
			`<li>beta / Beta &lt;News&gt; &amp; Views / https://beta.example/ / https://beta.example/rss / [https://planet.example/static/faces/beta.png] ok=true`,
			`<li>gamma / gamma /  /  / [] ok=false error=[parse /var/lib/planet/gamma.xml: unexpected EOF &lt;oops&gt;] failures=2 success=[2026-02-20]</li>`,
			`<li>delta / delta /  / https://delta.example/atom / [] ok=true error=[] failures=0 success=[]</li>`,
		},
	}, {
		path: "/sections/news.html",
		want: []string{
			`<p id="section">section news: news</p>`,
			`<p id="feeds">https://planet.example/sections/news.atom https://planet.example/sections/news.rss https://planet.example/sections/news.json https://planet.example/sections/news.opml</p>`,
			`<p id="page">page 1 newer=[] older=[https://planet.example/sections/news/page/2.html]</p>`,
			`<li>beta / `, `<li>gamma / `, `<li>delta / `,
		},
	}, {
		path: "/page/2.html",
		want: []string{
			`<p id="section">the planet</p>`,
			`<p id="page">page 2 newer=[https://planet.example/] older=[https://planet.example/page/3.html]</p>`,
			`<h2>2026-02-24</h2>`,
		},
	}, {
		path: "/sections/news/page/2.html",
		want: []string{
			`<p id="section">section news: news</p>`,
			`<p id="page">page 2 newer=[https://planet.example/sections/news.html] older=[]</p>`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp := request(t, s, "GET", tt.path, nil)
			page := string(body(t, resp))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", tt.path, resp.Status)
			}
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("GET %s lacks %q", tt.path, w)
				}
			}
			if strings.Contains(page, "<script") {
				t.Errorf("GET %s has a script", tt.path)
			}
		})
	}
	// The policy admits the theme's own stylesheet, and still no script.
	csp := request(t, s, "GET", "/", nil).Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'self'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

// routes lists every page and feed route of s's last rebuild.
func routes(s *Site) []string {
	var out []string
	for path := range *s.outputs.Load() {
		out = append(out, path)
	}
	slices.Sort(out)
	return out
}

// TestExportedThemeRendersTheSame: the theme `theme export` writes,
// used as the theme, renders every output byte for byte as the built-in
// theme does, with the same policy.
func TestExportedThemeRendersTheSame(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mytheme")
	if err := ExportTheme(dir); err != nil {
		t.Fatal(err)
	}
	if err := ExportTheme(dir); err == nil {
		t.Error("a second export into the same directory overwrote the first")
	}
	builtin := mustSite(t, newTestStore(), pagedOptions())
	opts := pagedOptions()
	opts.Theme = mustLoadTheme(t, dir)
	exported := mustSite(t, newTestStore(), opts)
	paths := routes(builtin)
	if !slices.Equal(paths, routes(exported)) {
		t.Fatalf("routes differ:\n%q\n%q", paths, routes(exported))
	}
	if !slices.Contains(paths, "/page/4.html") || !slices.Contains(paths, "/sections/go/page/2.html") {
		t.Fatalf("routes %q lack the older pages", paths)
	}
	for _, path := range paths {
		a, b := request(t, builtin, "GET", path, nil), request(t, exported, "GET", path, nil)
		if !bytes.Equal(body(t, a), body(t, b)) {
			t.Errorf("GET %s differs between the built-in and the exported theme", path)
		}
		if a.Header.Get("Content-Security-Policy") != b.Header.Get("Content-Security-Policy") {
			t.Errorf("GET %s: policies differ: %q, %q", path, a.Header.Get("Content-Security-Policy"), b.Header.Get("Content-Security-Policy"))
		}
	}
}

// writeTheme writes files (name → text) into a new theme directory.
func writeTheme(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// themeErrors returns the *ThemeError values joined in err.
func themeErrors(t *testing.T, err error) []*ThemeError {
	t.Helper()
	var out []*ThemeError
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var te *ThemeError
		if !errors.As(e, &te) {
			t.Fatalf("error %q is a %T, want a *ThemeError", e, e)
		}
		out = append(out, te)
	}
	return out
}

// TestThemeMistakes: each mistake is found when the theme is loaded, with
// the file and line it is on, before any page is rendered with it.
// No theme directory is the built-in theme; a missing one is an error.
func TestLoadThemeNone(t *testing.T) {
	t.Parallel()
	if theme, err := LoadTheme(""); theme != nil || err != nil {
		t.Errorf(`LoadTheme("") = %v, %v; want nil, nil: the built-in theme`, theme, err)
	}
	if _, err := LoadTheme(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadTheme of a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func TestThemeMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		file  string
		line  int
		msg   string
	}{{
		name:  "syntax",
		files: map[string]string{"page.html": "<html>\n{{range .Items}}{{end}}{{end}}\n"},
		file:  "page.html", line: 2, msg: `unexpected {{end}}`,
	}, {
		name:  "unknown field",
		files: map[string]string{"page.html": "<html>\n<title>{{.Planet.Title}}</title>\n{{range .Items}}<p>{{.Titel}}</p>{{end}}\n"},
		file:  "page.html", line: 3, msg: `can't evaluate field Titel in type ItemData`,
	}, {
		name:  "unknown field on a section's page only",
		files: map[string]string{"page.html": "<html>\n{{with .Section}}\n<h1>{{.Nmae}}</h1>{{end}}\n"},
		file:  "page.html", line: 3, msg: `can't evaluate field Nmae in type *SectionData`,
	}, {
		name:  "unknown field in a replaced partial",
		files: map[string]string{"item.html": "<article>\n<h3>{{.Title}}</h3>\n<p>{{.Source.Face}}</p>\n</article>"},
		file:  "item.html", line: 3, msg: `can't evaluate field Face in type SourceData`,
	}, {
		name:  "unknown function",
		files: map[string]string{"page.html": "<html>\n\n{{shout .Planet.Title}}\n"},
		file:  "page.html", line: 3, msg: `function "shout" not defined`,
	}, {
		name:  "date of something else",
		files: map[string]string{"page.html": "<html>{{date \"2006\" .Planet.Title}}\n"},
		file:  "page.html", line: 1, msg: `wrong type for value; expected time.Time; got string`,
	}, {
		name:  "unknown template",
		files: map[string]string{"page.html": "<html>\n{{template \"nav.html\" .}}\n"},
		file:  "page.html", line: 2, msg: `no such template "nav.html"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTheme(t, tt.files)
			theme, err := LoadTheme(dir)
			if err == nil {
				t.Fatalf("LoadTheme() = %v, nil; want an error", theme)
			}
			errs := themeErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("errors = %q, want one", err)
			}
			e := errs[0]
			if want := filepath.Join(dir, tt.file); e.File != want || e.Line != tt.line || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("error = %s\nwant %s:%d: ...%s...", e, want, tt.line, tt.msg)
			}
			if want := filepath.Join(dir, tt.file) + ":"; !strings.HasPrefix(e.Error(), want) {
				t.Errorf("Error() = %q, want it to start with %q", e.Error(), want)
			}
		})
	}
	// Every file's syntax errors at once.
	dir := writeTheme(t, map[string]string{"page.html": "{{if}}\n", "item.html": "\n{{.Title\n", "source.html": "ok"})
	_, err := LoadTheme(dir)
	if errs := themeErrors(t, err); len(errs) != 2 || errs[0].File != filepath.Join(dir, "item.html") || errs[1].File != filepath.Join(dir, "page.html") {
		t.Errorf("errors = %q, want one in item.html and one in page.html", err)
	}
	dir = writeTheme(t, map[string]string{"page.html": "caf\xe9", "item.html": "a\x00b"})
	if errs := themeErrors(t, loadThemeErr(dir)); len(errs) != 2 || !strings.Contains(errs[0].Msg, "NUL") || !strings.Contains(errs[1].Msg, "UTF-8") {
		t.Errorf("errors of binary templates = %q", errs)
	}
	if _, err := LoadTheme(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadTheme(missing) = %v, want fs.ErrNotExist", err)
	}
}

// TestThemeCannotTurnSanitizingOff: a theme that writes the content into
// every context it can still gets it sanitized, and escaped where it is
// not HTML; the policy stays without script.
func TestThemeCannotTurnSanitizingOff(t *testing.T) {
	t.Parallel()
	dir := writeTheme(t, map[string]string{"page.html": `<html><body>{{range .Items}}
<div>{{.Content}}</div><p title="{{.Content}}">{{.Title}}</p><a href="{{.Link}}">x</a>
{{end}}</body></html>`})
	store := newTestStore()
	store.items = append(store.items, aggregator.Item{
		ID: "evil", SourceID: "alpha", Title: `<script>alert(1)</script>`, Link: "javascript:alert(2)",
		Content: `<p>hi</p><script>alert(3)</script><img src=x onerror=alert(4)>`, Published: day(28, 23), FirstSeen: day(28, 23),
	})
	opts := testOptions()
	opts.Theme = mustLoadTheme(t, dir)
	opts.Sanitize = func(html, base string) string {
		return strings.NewReplacer("<script>alert(3)</script>", "", " onerror=alert(4)", "").Replace(html)
	}
	s := mustSite(t, store, opts)
	resp := request(t, s, "GET", "/", nil)
	page := string(body(t, resp))
	for _, bad := range []string{"<script", "onerror", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(page, "<div><p>hi</p><img src=x></div>") {
		t.Errorf("page lacks the sanitized content:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none';") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// Only the admin replaces the policy, in the config.
	opts.CSP = "default-src 'self'"
	s = mustSite(t, store, opts)
	if csp := request(t, s, "GET", "/", nil).Header.Get("Content-Security-Policy"); csp != "default-src 'self'" {
		t.Errorf("Content-Security-Policy with Options.CSP = %q", csp)
	}
}

// TestOlderPages: the pages a river fills, each linked from the one
// before and after, and a 404 past the last or for a number spelled
// otherwise.
func TestOlderPages(t *testing.T) {
	t.Parallel()
	s := mustSite(t, newTestStore(), pagedOptions())
	older := regexp.MustCompile(`<a href="([^"]*)" rel="next">Older`)
	newer := regexp.MustCompile(`<a href="([^"]*)" rel="prev">← Newer`)
	link := func(re *regexp.Regexp, page []byte) string {
		if m := re.FindSubmatch(page); m != nil {
			return string(m[1])
		}
		return ""
	}
	for _, river := range []struct{ pages []string }{
		{[]string{"/", "/page/2.html", "/page/3.html", "/page/4.html"}},
		{[]string{"/sections/news.html", "/sections/news/page/2.html"}},
	} {
		for i, path := range river.pages {
			page := body(t, request(t, s, "GET", path, nil))
			wantOlder, wantNewer := "", ""
			if i+1 < len(river.pages) {
				wantOlder = "https://planet.example" + river.pages[i+1]
			}
			if i > 0 {
				wantNewer = "https://planet.example" + river.pages[i-1]
			}
			if got := link(older, page); got != wantOlder {
				t.Errorf("GET %s: Older links %q, want %q", path, got, wantOlder)
			}
			if got := link(newer, page); got != wantNewer {
				t.Errorf("GET %s: Newer links %q, want %q", path, got, wantNewer)
			}
			if n := bytes.Count(page, []byte("<article>")); n == 0 || n > 3 {
				t.Errorf("GET %s: %d items, want 1 to 3", path, n)
			}
		}
	}
	for _, path := range []string{"/page/5.html", "/page/1.html", "/page/02.html", "/page/2", "/page/-1.html",
		"/sections/news/page/3.html", "/sections/nope/page/2.html", "/sections/news/page/2.atom"} {
		if resp := request(t, s, "GET", path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	// page.pages bounds the river.
	opts := pagedOptions()
	opts.Pages = 2
	s = mustSite(t, newTestStore(), opts)
	if resp := request(t, s, "GET", "/page/3.html", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /page/3.html with 2 pages: %s, want 404", resp.Status)
	}
	if link(older, body(t, request(t, s, "GET", "/page/2.html", nil))) != "" {
		t.Error("the last page links an older one")
	}
	// An older page is served as every output is: validators and 304.
	resp := request(t, s, "GET", "/page/2.html", nil)
	body(t, resp)
	if resp.Header.Get("Etag") == "" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("older page headers = %v", resp.Header)
	}
	if again := request(t, s, "GET", "/page/2.html", http.Header{"If-None-Match": {resp.Header.Get("Etag")}}); again.StatusCode != http.StatusNotModified {
		t.Errorf("GET /page/2.html with its ETag: %s, want 304", again.Status)
	}
}

// TestDayGroupsFollowTimeZone: items half an hour either side of
// midnight UTC are one day in Berlin (UTC+1) and two in UTC, and
// the dates on the page are Berlin's.
func TestDayGroupsFollowTimeZone(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	store := newTestStore()
	store.items = []aggregator.Item{
		{ID: "after", SourceID: "alpha", Title: "After midnight UTC", Published: time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), FirstSeen: fixedNow.Add(48 * time.Hour)},
		{ID: "before", SourceID: "alpha", Title: "Before midnight UTC", Published: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), FirstSeen: fixedNow.Add(48 * time.Hour)},
		{ID: "earlier", SourceID: "alpha", Title: "Before midnight in Berlin", Published: time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC), FirstSeen: fixedNow.Add(48 * time.Hour)},
	}
	for _, tt := range []struct {
		zone *time.Location
		want []string // the day headings, then the items' times
	}{
		{time.UTC, []string{
			`<h2><time datetime="2026-03-02">Monday 2 March 2026</time></h2>`,
			`<h2><time datetime="2026-03-01">Sunday 1 March 2026</time></h2>`,
			`<time datetime="2026-03-02T00:30:00Z">2 Mar 2026 00:30 UTC</time>`,
		}},
		{berlin, []string{
			`<h2><time datetime="2026-03-02">Monday 2 March 2026</time></h2>`,
			`<h2><time datetime="2026-03-01">Sunday 1 March 2026</time></h2>`,
			`<time datetime="2026-03-02T01:30:00&#43;01:00">2 Mar 2026 01:30 CET</time>`,
			`<time datetime="2026-03-02T00:30:00&#43;01:00">2 Mar 2026 00:30 CET</time>`,
		}},
	} {
		opts := testOptions()
		opts.TimeZone = tt.zone
		page := string(body(t, request(t, mustSite(t, store, opts), "GET", "/", nil)))
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: page lacks %q", tt.zone, w)
			}
		}
		days := strings.Split(page, `<section class="day">`)[1:]
		if len(days) != 2 {
			t.Fatalf("%s: %d days, want 2", tt.zone, len(days))
		}
		wantFirst := []string{"After midnight UTC"}
		if tt.zone == berlin {
			wantFirst = []string{"After midnight UTC", "Before midnight UTC"}
		}
		for _, title := range wantFirst {
			if !strings.Contains(days[0], title) {
				t.Errorf("%s: the first day lacks %q", tt.zone, title)
			}
		}
		if tt.zone == time.UTC && strings.Contains(days[0], "Before midnight UTC") {
			t.Errorf("UTC: 23:30 UTC is on the first day, with 00:30 of the next")
		}
	}
}

// TestStaticFiles: the theme's static/ is served with validators, gzip
// where it helps, its type and the cache policy of every output.
func TestStaticFiles(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Theme = mustLoadTheme(t, "testdata/theme-contract")
	s := mustSite(t, newTestStore(), opts)

	resp := request(t, s, "GET", "/static/style.css", nil)
	css := body(t, resp)
	if resp.StatusCode != http.StatusOK || string(css) != "body { font-family: serif; }\n" {
		t.Fatalf("GET /static/style.css: %s %q", resp.Status, css)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=300",
		"X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	etag := resp.Header.Get("Etag")
	if etag == "" || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("no validators: %v", resp.Header)
	}
	if r := request(t, s, "GET", "/static/style.css", http.Header{"If-None-Match": {etag}}); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %s, want 304", r.Status)
	}
	gz := request(t, s, "GET", "/static/style.css", http.Header{"Accept-Encoding": {"gzip"}})
	if gz.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, body(t, gz)), css) {
		t.Errorf("gzip: Content-Encoding %q", gz.Header.Get("Content-Encoding"))
	}
	png := request(t, s, "GET", "/static/faces/beta.png", http.Header{"Accept-Encoding": {"gzip"}})
	body(t, png)
	if png.Header.Get("Content-Type") != "image/png" || png.Header.Get("Content-Encoding") != "" {
		t.Errorf("png: Content-Type %q, Content-Encoding %q; want image/png as it is", png.Header.Get("Content-Type"), png.Header.Get("Content-Encoding"))
	}
	if r := request(t, s, "POST", "/static/style.css", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", r.Status)
	}
	// The built-in theme has no static files.
	if r := request(t, mustSite(t, newTestStore(), testOptions()), "GET", "/static/style.css", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("built-in theme: GET /static/style.css: %s, want 404", r.Status)
	}
}

// gunzip decompresses b or fails the test.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawGet sends a GET of target, written on the wire as it is, to the
// server at addr, and returns the response's status code.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: planet.example\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestStaticTraversal: nothing outside the theme's static/ is served,
// however the path is spelled, and a symbolic link out of it serves
// nothing; a link inside it serves its file. No directory is listed.
func TestStaticTraversal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "theme")
	for name, text := range map[string]string{
		"config.yaml":             "secret: config\n",
		"theme/static/style.css":  "body {}\n",
		"theme/static/img/a.svg":  "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
		"theme/notes.txt":         "theme notes\n",
		"theme/page.html.private": "not a template\n",
	} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"theme/static/config-link": "../../config.yaml",
		"theme/static/abs-link":    filepath.Join(root, "config.yaml"),
		"theme/static/dir-link":    "..",
		"theme/static/same.css":    "style.css",
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	opts := testOptions()
	opts.Theme = mustLoadTheme(t, dir)
	srv := httptest.NewServer(mustSite(t, newTestStore(), opts))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	for _, target := range []string{"/static/style.css", "/static/img/a.svg", "/static/same.css"} {
		if code := rawGet(t, addr, target); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", target, code)
		}
	}
	for _, target := range []string{
		"/static/../config.yaml", "/static/../../config.yaml", "/static/%2e%2e/config.yaml", "/static/%2E%2E/%2E%2E/config.yaml",
		"/static/..%2fconfig.yaml", "/static/%2e%2e%2fconfig.yaml", "/static/.%2e/config.yaml", "/static/./../config.yaml",
		"/static//../config.yaml", "/static/img/../../config.yaml", "/static/..%5cconfig.yaml", "/static/..\\config.yaml",
		"/static/%2fetc%2fpasswd", "/static//etc/passwd", "/static/../notes.txt", "/static/../page.html.private",
		"/static/config-link", "/static/abs-link", "/static/dir-link/config.yaml", "/static/dir-link/notes.txt",
		"/static/", "/static", "/static/img", "/static/img/", "/static/style.css/", "/static/style.css%00",
		"/static/./style.css", "/static//style.css", "/static/img/./a.svg",
	} {
		if code := rawGet(t, addr, target); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, code)
		}
	}
}

// loadThemeErr is LoadTheme's error alone.
func loadThemeErr(dir string) error {
	_, err := LoadTheme(dir)
	return err
}
