package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exportTheme writes the built-in theme into dir/theme with the command.
func exportTheme(t *testing.T, dir string) string {
	t.Helper()
	theme := filepath.Join(dir, "theme")
	if code, out, errOut := runCode("theme", "export", theme); code != exitOK {
		t.Fatalf("theme export exited %d:\n%s%s", code, out, errOut)
	}
	return theme
}

// editFile replaces old by new in the file at path.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the line of the first occurrence of s in the file at path.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(s))
	if i < 0 {
		t.Fatalf("%s lacks %q", path, s)
	}
	return bytes.Count(b[:i], []byte("\n")) + 1
}

// TestThemeExportAndCheck: `theme export` writes the built-in theme, and
// `check` accepts it as theme:, then reports a broken template and an
// unknown field with their file and line, exit 2.
func TestThemeExportAndCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	theme := exportTheme(t, dir)
	for _, name := range []string{"page.html", "item.html", "source.html", "static"} {
		if _, err := os.Stat(filepath.Join(theme, name)); err != nil {
			t.Errorf("export wrote no %s: %v", name, err)
		}
	}
	if code, _, errOut := runCode("theme", "export", theme); code != exitFail || !strings.Contains(errOut, "exists") {
		t.Errorf("a second export exited %d (%q), want 1 and no file overwritten", code, errOut)
	}
	if code, _, _ := runCode("theme"); code != exitConfig {
		t.Errorf("theme with no subcommand exited %d, want 2", code)
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte("theme: theme\nsources:\n  - url: https://go.dev/blog/feed.atom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCode("check", "-config", configPath)
	if code != exitOK || !strings.Contains(out, "theme "+theme) {
		t.Fatalf("check of the exported theme exited %d:\n%s%s", code, out, errOut)
	}

	page, item := filepath.Join(theme, "page.html"), filepath.Join(theme, "item.html")
	editFile(t, page, "<main>", "<main>{{if .Items}}")
	code, _, errOut = runCode("check", "-config", configPath)
	// An {{if}} without its {{end}} is found where the file ends.
	if !strings.HasPrefix(errOut, page+":") || !strings.Contains(errOut, "unexpected EOF") || code != exitConfig {
		t.Errorf("check of a broken template exited %d:\n%s\nwant %s:LINE: unexpected EOF...", code, errOut, page)
	}
	editFile(t, page, "<main>{{if .Items}}", "<main>")
	editFile(t, item, "<h3>", "<h3>{{.Headline}}")
	code, _, errOut = runCode("check", "-config", configPath)
	want := fmt.Sprintf("%s:%d: ", item, lineOf(t, item, "{{.Headline}}"))
	if code != exitConfig || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "can't evaluate field Headline in type ItemData") {
		t.Errorf("check of an unknown field exited %d:\n%s\nwant %s... can't evaluate field Headline", code, errOut, want)
	}
	// A <style> with an action, which the pages' policy would block.
	editFile(t, item, "<h3>{{.Headline}}", "<h3>")
	editFile(t, page, "</head>", "<style>\nh1 { color: {{.Planet.Title}}; }\n</style>\n</head>")
	code, _, errOut = runCode("check", "-config", configPath)
	want = fmt.Sprintf("%s:%d: <style> with {{…}}: ", page, lineOf(t, page, "<style>\nh1 { color: {{"))
	if code != exitConfig || !strings.HasPrefix(errOut, want) {
		t.Errorf("check of a <style> with an action exited %d:\n%s\nwant %s...", code, errOut, want)
	}
}

// themeConfig is a config with a theme, two sources of srv and a third
// whose face is in the theme's static/.
const themeConfig = `title: Themed
base_url: http://%[1]s
listen: %[1]s
database: test.db
schedule: "@every 1h"
theme: theme
fetch: {timeout: 60s}
page: {items: 2, timezone: Europe/Berlin}
sections:
  go: {title: Go}
sources:
  - {name: blog, url: %[2]s/blog.atom, sections: [go], image: "https://faces.example/blog.png"}
  - {name: news, url: %[2]s/news.rss, image: faces/news.png}
  - {name: own, url: %[2]s/own.rss}
`

// ownFaceRSS is a feed with an image of its own.
const ownFaceRSS = `<?xml version="1.0"?>
<rss version="2.0"><channel><title>Own face</title><link>https://own.example/</link><description>x</description>
<image><url>https://own.example/me.jpg</url><title>Own face</title><link>https://own.example/</link></image>
<item><title>Own item</title><link>https://own.example/1</link><guid>https://own.example/1</guid><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>`

// TestThemeReloadAndFaces runs `aggregator serve` with a theme exported
// and edited: the faces from the config and from the feeds are on the
// page and in the feeds; the static files are served, and nothing beside
// them; older pages exist; a SIGHUP with a valid edit takes effect, one
// with a broken theme is refused with its line and the old pages stay.
func TestThemeReloadAndFaces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	src := newSourceServer(t)
	src.set("/own.rss", []byte(ownFaceRSS))
	dir := t.TempDir()
	theme := exportTheme(t, dir)
	if err := os.MkdirAll(filepath.Join(theme, "static", "faces"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"static/faces/news.png": "\x89PNG\r\n\x1a\nnot really", "static/site.css": "h1 { color: teal; }\n"} {
		if err := os.WriteFile(filepath.Join(theme, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, fmt.Appendf(nil, themeConfig, addr, src.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, nil, "serve", "-config", configPath)
	p.eventually(t, "every source's items", func() bool {
		page := getOK(base + "/page/2.html")
		return bytes.Contains(getOK(base+"/"), []byte("Own item")) || bytes.Contains(page, []byte("Own item")) || bytes.Contains(getOK(base+"/page/3.html"), []byte("Own item"))
	})

	var pages []byte
	for _, path := range []string{"/", "/page/2.html", "/page/3.html"} {
		pages = append(pages, getOK(base+path)...)
	}
	for _, w := range []string{
		`<img class="face" src="https://faces.example/blog.png" alt="`,
		`<img class="face" src="` + base + `/static/faces/news.png" alt="`,
		`<img class="face" src="https://own.example/me.jpg" alt="Own face" width="48" height="48" loading="lazy">`,
		`<img class="face" src="https://own.example/me.jpg" alt="Own face" width="24" height="24" loading="lazy">`,
		`CET</time>`, // page.timezone
	} {
		if !bytes.Contains(pages, []byte(w)) {
			t.Errorf("the pages lack %q", w)
		}
	}
	atom := getOK(base + "/feed.atom")
	validateAtom(t, atom)
	for _, w := range []string{"<icon>https://own.example/me.jpg</icon>", "<icon>https://faces.example/blog.png</icon>", "<icon>" + base + "/static/faces/news.png</icon>"} {
		if !bytes.Contains(atom, []byte(w)) {
			t.Errorf("/feed.atom lacks %q", w)
		}
	}
	var jf struct {
		Items []struct {
			Authors []struct{ Avatar string }
			Source  struct{ Icon string } `json:"_source"`
		}
	}
	if err := json.Unmarshal(getOK(base+"/feed.json"), &jf); err != nil {
		t.Fatal(err)
	}
	avatars := map[string]bool{}
	for _, it := range jf.Items {
		if len(it.Authors) == 1 && it.Authors[0].Avatar == it.Source.Icon {
			avatars[it.Source.Icon] = true
		}
	}
	if !avatars["https://own.example/me.jpg"] || !avatars["https://faces.example/blog.png"] {
		t.Errorf("JSON Feed avatars and source icons = %v", avatars)
	}
	if css := getOK(base + "/static/site.css"); string(css) != "h1 { color: teal; }\n" {
		t.Errorf("GET /static/site.css = %q", css)
	}
	for _, path := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/../config.yaml", "/static/../theme/page.html"} {
		if code := rawGet(t, addr, path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}

	// A valid edit takes effect with the reload.
	page := filepath.Join(theme, "page.html")
	editFile(t, page, "<footer>", "<footer>Edited theme. ")
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "the edited theme", func() bool { return bytes.Contains(getOK(base+"/"), []byte("Edited theme.")) })

	// A broken one is refused, with its line, and the pages stay.
	editFile(t, page, "<footer>Edited theme. ", "<footer>{{.Footer}}")
	line := lineOf(t, page, "{{.Footer}}")
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "the broken theme logged", func() bool {
		return strings.Contains(p.stderr.String(), fmt.Sprintf("page.html:%d: ", line))
	})
	if !bytes.Contains(getOK(base+"/"), []byte("Edited theme.")) {
		t.Errorf("after a broken theme, / no longer shows the theme in force")
	}
	if m := scrape(t, base); m != nil {
		if v, ok := m.Value("aggregator_config_last_reload_successful"); !ok || v != 0 {
			t.Errorf("aggregator_config_last_reload_successful = %v, want 0", v)
		}
	}
	p.signal(t, syscall.SIGTERM)
	p.waitExit(t, 10*time.Second)
}

// failingPageConfig is a config with a theme and two sources of srv,
// each in a section.
const failingPageConfig = `title: Failing page
base_url: http://%[1]s
listen: %[1]s
database: test.db
schedule: "@every 1h"
theme: theme
fetch: {timeout: 60s}
sections:
  go: {title: Go}
  news: {title: News}
sources:
  - {name: blog, url: %[2]s/blog.atom, sections: [go]}
  - {name: news, url: %[2]s/news.rss, sections: [news]}
`

// TestThemeFailingPage runs `aggregator serve` with a theme whose page
// fails on one item alone, by its title, which check cannot find: check
// passes it; serve starts although its first render of / fails (the item
// was fetched before), serves the feeds with every entry, the pages the
// theme fails on with the built-in theme and the others with the theme;
// the log names the template's file and line, and /metrics counts the
// pages. A SIGHUP with the theme fixed restores its pages.
func TestThemeFailingPage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	theme := exportTheme(t, dir)
	page := filepath.Join(theme, "page.html")
	const failing = `{{range .Items}}{{if eq .Title "Generics, revisited"}}{{.Nope}}{{end}}{{end}}`
	editFile(t, page, "<footer>", "<footer>Own theme. ")
	editFile(t, page, "<main>", "<main>"+failing)
	where := fmt.Sprintf("%s:%d: ", page, lineOf(t, page, failing))
	addr := freeAddr(t)
	base := "http://" + addr
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, fmt.Appendf(nil, failingPageConfig, addr, src.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCode("check", "-config", configPath); code != exitOK {
		t.Fatalf("check exited %d, want 0 (no sample item has that title):\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCode("fetch", "-config", configPath); code != exitOK || !strings.Contains(errOut, where) {
		t.Fatalf("fetch exited %d, want 0 and the page's error logged at %s:\n%s%s", code, where, out, errOut)
	}

	p := startProcess(t, nil, "serve", "-config", configPath)
	p.eventually(t, "the feeds", func() bool { return bytes.Contains(getOK(base+"/feed.atom"), []byte("Generics, revisited")) })
	atom := getOK(base + "/feed.atom")
	validateAtom(t, atom)
	if n := bytes.Count(atom, []byte("<entry>")); n != 3 {
		t.Errorf("/feed.atom has %d entries, want 3", n)
	}
	for path, want := range map[string]string{
		"/":                   "Generics, revisited", // the built-in theme's
		"/sections/go.html":   "Generics, revisited",
		"/sections/news.html": "Own theme. ",
	} {
		b := getOK(base + path)
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("GET %s lacks %q", path, want)
		}
		if path != "/sections/news.html" && (bytes.Contains(b, []byte("Own theme. ")) || bytes.Contains(b, []byte(theme))) {
			t.Errorf("GET %s is the theme's page, or shows its path", path)
		}
	}
	if !strings.Contains(p.stderr.String(), where) {
		t.Errorf("the log lacks %s...:\n%s", where, p.stderr)
	}
	if v, ok := scrape(t, base).Value("aggregator_pages_failing"); !ok || v != 2 {
		t.Errorf("aggregator_pages_failing = %v (present %v), want 2", v, ok)
	}

	editFile(t, page, failing, "")
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "the fixed theme", func() bool { return bytes.Contains(getOK(base+"/"), []byte("Own theme. ")) })
	m := scrape(t, base)
	if v, ok := m.Value("aggregator_pages_failing"); !ok || v != 0 {
		t.Errorf("after the fix, aggregator_pages_failing = %v, want 0", v)
	}
	if v, ok := m.Value("aggregator_config_last_reload_successful"); !ok || v != 1 {
		t.Errorf("aggregator_config_last_reload_successful = %v, want 1", v)
	}
	p.signal(t, syscall.SIGTERM)
	p.waitExit(t, 10*time.Second)
}

// rawGet sends GET target to addr as written, unnormalised, and returns
// the status code.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target // sent as the request target, as it is
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPageAtPhoneAndDesktopWidths loads the planet page in headless
// Chromium in frames a phone and a desktop wide, from a harness page of
// the same origin whose script measures them: nothing is wider than the
// frame (no sideways scrolling), the faces keep their size, and the day
// headings and older-page link are there.
func TestPageAtPhoneAndDesktopWidths(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	a := facesApp(t)
	const harness = `<!DOCTYPE html><html><head><title>harness</title></head><body>
<iframe id="phone" src="/" style="width:360px;height:740px;border:0"></iframe>
<iframe id="desktop" src="/" style="width:1280px;height:900px;border:0"></iframe>
<iframe id="plain" src="/" style="width:800px;height:900px;border:0"></iframe>
<pre id="out"></pre>
<script>
function measure(id) {
  var doc = document.getElementById(id).contentDocument, root = doc.documentElement;
  var widest = 0;
  doc.querySelectorAll('body *').forEach(function (e) { widest = Math.max(widest, e.getBoundingClientRect().right); });
  var faces = [];
  doc.querySelectorAll('img.face').forEach(function (e) { faces.push(e.getBoundingClientRect().width + 'x' + e.getBoundingClientRect().height); });
  return id + ': scroll=' + root.scrollWidth + ' client=' + root.clientWidth + ' widest=' + Math.ceil(widest) +
    ' days=' + doc.querySelectorAll('section.day > h2').length + ' faces=' + faces.join(',') + ' fontsize=' + getComputedStyle(doc.body).fontSize;
}
// plain reads the page as a reader without CSS does: its styles
// removed, the order of its text, the sizes of its faces, the links and
// images of its own markup with nothing to say and the levels of its
// headings.
function plain(id) {
  var doc = document.getElementById(id).contentDocument;
  doc.querySelectorAll('style, link[rel=stylesheet]').forEach(function (e) { e.remove(); });
  var text = doc.body.innerText;
  var first = function (sel) { var e = doc.querySelector(sel); return e ? text.indexOf(e.innerText.trim().slice(0, 40)) : -1; };
  var r = {
    sheets: doc.styleSheets.length,
    order: [first('h1'), first('ul.feeds'), first('section.day > h2'), first('article h3'), first('article .content'), first('section.sources > h2'), first('footer')],
    faces: [], unnamed: 0, noalt: 0, headings: []
  };
  doc.querySelectorAll('img.face').forEach(function (e) { r.faces.push(e.getBoundingClientRect().width + 'x' + e.getBoundingClientRect().height); });
  // The page's own markup: what the feeds' content says is theirs.
  var ours = function (e) { return !e.closest('.content'); };
  doc.querySelectorAll('a').forEach(function (e) {
    if (!ours(e)) return;
    var alt = ''; e.querySelectorAll('img[alt]').forEach(function (i) { alt += i.alt; });
    if ((e.innerText + alt).trim() === '') r.unnamed++;
  });
  doc.querySelectorAll('img:not([alt])').forEach(function (e) { if (ours(e)) r.noalt++; });
  doc.querySelectorAll('h1, h2, h3, h4, h5, h6').forEach(function (e) { r.headings.push(+e.tagName[1]); });
  return id + ': ' + encodeURIComponent(JSON.stringify(r));
}
window.addEventListener('load', function () {
  document.getElementById('out').textContent = measure('phone') + '\n' + measure('desktop') + '\n' + plain('plain') + '\n';
});
</script></body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/harness.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(harness))
			return
		}
		a.site.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dom := dumpDOM(t, browser, srv.URL+"/harness.html")
	for _, frame := range []struct {
		id    string
		width int
	}{{"phone", 360}, {"desktop", 1280}} {
		var scroll, client, widest, days int
		var faces, fontSize string
		i := strings.Index(dom, frame.id+": ")
		if i < 0 {
			t.Fatalf("no measure of the %s frame in:\n%s", frame.id, dom)
		}
		if _, err := fmt.Sscanf(dom[i:], frame.id+": scroll=%d client=%d widest=%d days=%d faces=%s fontsize=%s",
			&scroll, &client, &widest, &days, &faces, &fontSize); err != nil {
			t.Fatalf("%s: %v in %q", frame.id, err, dom[i:min(len(dom), i+200)])
		}
		t.Logf("%s: scroll %d, client %d, widest %d, days %d, faces %s, font %s", frame.id, scroll, client, widest, days, faces, fontSize)
		if scroll > client || widest > frame.width {
			t.Errorf("%s (%dpx): the page is %dpx wide (widest element ends at %d): it scrolls sideways", frame.id, frame.width, scroll, widest)
		}
		if days == 0 {
			t.Errorf("%s: no day headings", frame.id)
		}
		if !strings.Contains(faces, "48x48") || !strings.Contains(faces, "24x24") || strings.Count(faces, "x") != strings.Count(faces, "48x48")+strings.Count(faces, "24x24") {
			t.Errorf("%s: faces %s, want each 48x48 beside an item, 24x24 in the list", frame.id, faces)
		}
		if fontSize != "16px" {
			t.Errorf("%s: body font size %s, want 16px", frame.id, fontSize)
		}
	}
	checkWithoutCSS(t, dom)
}

// checkWithoutCSS checks the page as the harness's plain frame read it
// with its styles removed: the title, the feeds, the first day, its first
// item's title and content, the sources and the footer in that order;
// faces at their sizes from the markup alone; every link and image of the
// page's own markup with something to say; headings that skip no level.
func checkWithoutCSS(t *testing.T, dom string) {
	t.Helper()
	i := strings.Index(dom, "plain: ")
	if i < 0 {
		t.Fatalf("no reading of the plain frame in:\n%s", dom)
	}
	field, _, _ := strings.Cut(dom[i+len("plain: "):], "\n")
	raw, err := url.QueryUnescape(field)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Sheets, Unnamed, NoAlt int
		Order, Headings        []int
		Faces                  []string
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	t.Logf("without CSS: %s", raw)
	if r.Sheets != 0 {
		t.Errorf("%d style sheets left after removing them", r.Sheets)
	}
	parts := []string{"the title", "the feeds", "the first day", "its first item's title", "that item's content", "the sources", "the footer"}
	for k, at := range r.Order {
		if at < 0 {
			t.Errorf("without CSS, %s is not in the page's text", parts[k])
		} else if k > 0 && at <= r.Order[k-1] {
			t.Errorf("without CSS, %s comes before %s in the text (%v)", parts[k], parts[k-1], r.Order)
		}
	}
	for _, f := range r.Faces {
		if f != "48x48" && f != "24x24" {
			t.Errorf("without CSS a face is %s, want 48x48 or 24x24 from its width and height", f)
		}
	}
	if len(r.Faces) == 0 {
		t.Error("no faces without CSS")
	}
	if r.Unnamed > 0 || r.NoAlt > 0 {
		t.Errorf("%d links say nothing, %d images have no alt", r.Unnamed, r.NoAlt)
	}
	for k := 1; k < len(r.Headings); k++ {
		if r.Headings[k] > r.Headings[k-1]+1 {
			t.Errorf("headings %v skip a level after h%d", r.Headings, r.Headings[k-1])
			break
		}
	}
	if len(r.Headings) == 0 || r.Headings[0] != 1 {
		t.Errorf("headings %v, want the page to start with its h1", r.Headings)
	}
}

// onePixelPNG is a valid PNG of one pixel.
const onePixelPNG = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"

// facesApp fetches testdata/hostile.rss (wide content, hostile markup),
// with a face from the config, and a feed with a face of its own, both
// images on a loopback server, and returns the app.
func facesApp(t *testing.T) *app {
	t.Helper()
	files := http.FileServer(http.Dir("testdata"))
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/face.png", "/own.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte(onePixelPNG))
		case "/own.rss":
			w.Write([]byte(strings.ReplaceAll(ownFaceRSS, "https://own.example/me.jpg", srvURL+"/own.png")))
		default:
			files.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	dir := t.TempDir()
	c := writeAndLoadConfig(t, dir, fmt.Sprintf(`base_url: http://planet.test
database: %s
sources:
  - {name: hostile, url: %q, image: %q}
  - {name: own, url: %q}
`, filepath.Join(dir, "test.db"), srv.URL+"/hostile.rss", srv.URL+"/face.png", srv.URL+"/own.rss"))
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
