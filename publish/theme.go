package publish

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// builtinFS holds the built-in theme: its templates, each a file named
// after the template it defines.
//
//go:embed theme/*.html
var builtinFS embed.FS

// pageTemplateName is the template a page is rendered from: the document.
const pageTemplateName = "page.html"

// The limits of a theme, so that a mistaken theme: (a home directory, a
// tree of photos) fails check rather than fill the memory.
const (
	maxTemplateSize = 1 << 20  // one template file
	maxTemplates    = 100      // template files
	maxStaticFiles  = 1000     // files under static/
	maxStaticBytes  = 32 << 20 // their total size
)

// Theme is a parsed set of page templates and the static files served
// beside them at /static/. A Theme is checked when it is loaded: every
// template parses and the page executes against sample data. It is
// immutable, and safe to share between Sites.
type Theme struct {
	dir    string            // "" for the built-in theme
	files  map[string]string // template file name → its text
	tmpl   *template.Template
	styles []string              // CSP hashes of the literal <style> elements
	static map[string]staticFile // path below static/ (slash-separated) → file
}

// staticFile is one file of a theme's static/ directory, read when the
// theme is loaded.
type staticFile struct {
	body     []byte
	modified time.Time
}

// ThemeError is one mistake in a theme: a template that does not parse, or
// fails on the sample data, or a static file that cannot be served.
type ThemeError struct {
	File string // the file's path, as the theme's directory was given
	Line int    // 1-based; 0 when the mistake is about the file as a whole
	Msg  string
}

// Error returns "FILE:LINE: msg", or "FILE: msg" when Line is 0.
func (e *ThemeError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// BuiltinTheme returns the theme embedded in the program: what
// ExportTheme writes out.
func BuiltinTheme() *Theme {
	t, err := newTheme("", builtinFiles(), nil)
	if err != nil {
		panic("publish: the built-in theme is broken: " + err.Error()) // a test catches it
	}
	return t
}

// builtinFiles returns the built-in theme's template files by name.
func builtinFiles() map[string]string {
	files := make(map[string]string)
	entries, _ := builtinFS.ReadDir("theme") // embedded: cannot fail
	for _, e := range entries {
		b, _ := builtinFS.ReadFile("theme/" + e.Name())
		files[e.Name()] = string(b)
	}
	return files
}

// ExportTheme writes the built-in theme into dir, which it creates, as a
// starting point for a theme of one's own: used as theme: it renders the
// same pages, byte for byte. It refuses to overwrite a file that exists.
func ExportTheme(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		return err
	}
	files := builtinFiles()
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, files[name])
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
	}
	return nil
}

// LoadTheme reads the theme in dir: its *.html files replace the built-in
// templates of the same name (or add templates of their own), and the
// files below dir/static are read to be served at /static/. It then
// executes the page against sample data of every kind of page, so that a
// template mistake, an unknown field included, is found here rather than
// by a visitor. Every mistake is a *ThemeError, joined with errors.Join;
// an unreadable directory is the os package's error. No dir ("") is the
// built-in theme: a nil *Theme.
func LoadTheme(dir string) (*Theme, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := builtinFiles()
	var errs []error
	count := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		count++
		file := filepath.Join(dir, e.Name())
		if count > maxTemplates {
			errs = append(errs, &ThemeError{File: file, Msg: fmt.Sprintf("more than %d templates in the theme", maxTemplates)})
			break
		}
		text, err := readTemplate(dir, e.Name())
		if err != nil {
			errs = append(errs, &ThemeError{File: file, Msg: err.Error()})
			continue
		}
		files[e.Name()] = text
	}
	static, staticErrs := readStatic(dir)
	errs = append(errs, staticErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newTheme(dir, files, static)
}

// readTemplate reads the template file name in dir, refusing a symbolic
// link out of dir, a file too large and text that is not UTF-8.
func readTemplate(dir, name string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateSize+1))
	switch {
	case err != nil:
		return "", err
	case len(b) > maxTemplateSize:
		return "", fmt.Errorf("larger than %d KiB; a template is a few KiB", maxTemplateSize>>10)
	case bytes.IndexByte(b, 0) >= 0:
		return "", errors.New("contains a NUL byte: not a text template")
	case !utf8.Valid(b):
		return "", errors.New("is not UTF-8 text; save it as UTF-8")
	}
	return string(b), nil
}

// readStatic reads every regular file below dir/static. A symbolic link is
// read when it leads to a file inside static/, and skipped otherwise (out
// of it, to a directory, to nothing). No static directory is no error.
func readStatic(dir string) (map[string]staticFile, []error) {
	staticDir := filepath.Join(dir, "static")
	root, err := os.OpenRoot(staticDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{&ThemeError{File: staticDir, Msg: err.Error()}}
	}
	defer root.Close()
	static := make(map[string]staticFile)
	var errs []error
	total := 0
	fsys := root.FS()
	walkErr := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		file := filepath.Join(staticDir, filepath.FromSlash(name))
		if err != nil {
			errs = append(errs, &ThemeError{File: file, Msg: err.Error()})
			return nil
		}
		if d.IsDir() {
			return nil
		}
		// A symbolic link is read through the root, which refuses one
		// that leads out of static/; other special files are skipped.
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		info, err := fs.Stat(fsys, name)
		if err != nil && d.Type()&fs.ModeSymlink != 0 {
			return nil // a link out of static/, or to nothing: never served
		}
		if err != nil {
			errs = append(errs, &ThemeError{File: file, Msg: err.Error()})
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil // a link to a directory: its files are not walked
		}
		if len(static) == maxStaticFiles {
			errs = append(errs, &ThemeError{File: staticDir, Msg: fmt.Sprintf("more than %d files; static/ holds a theme's stylesheets and images", maxStaticFiles)})
			return fs.SkipAll
		}
		if total += int(info.Size()); total > maxStaticBytes {
			errs = append(errs, &ThemeError{File: staticDir, Msg: fmt.Sprintf("files larger than %d MiB in all", maxStaticBytes>>20)})
			return fs.SkipAll
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, &ThemeError{File: file, Msg: err.Error()})
			return nil
		}
		static[name] = staticFile{body: b, modified: info.ModTime().UTC().Truncate(time.Second)}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, &ThemeError{File: staticDir, Msg: walkErr.Error()})
	}
	return static, errs
}

// newTheme parses files and checks the page against the sample pages.
func newTheme(dir string, files map[string]string, static map[string]staticFile) (*Theme, error) {
	t := &Theme{dir: dir, files: files, static: static}
	names := slices.Sorted(maps.Keys(files))
	// Each file alone first, so that every file's syntax errors are
	// reported, not only the first file's.
	var errs []error
	for _, name := range names {
		if _, err := template.New(name).Funcs(themeFuncs(time.UTC)).Parse(files[name]); err != nil {
			errs = append(errs, t.templateError(name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// The root's name is none of the files': html/template's New would
	// replace it, functions and all, by an empty template.
	t.tmpl = template.New("").Funcs(themeFuncs(time.UTC))
	for _, name := range names {
		// Cannot fail: each parsed alone above.
		template.Must(t.tmpl.New(name).Parse(files[name]))
	}
	if t.tmpl.Lookup(pageTemplateName) == nil {
		return nil, &ThemeError{File: t.path(pageTemplateName), Msg: "no template " + pageTemplateName}
	}
	for _, name := range names {
		hashes, actions := styleHashes(files[name])
		t.styles = append(t.styles, hashes...)
		for _, line := range actions {
			errs = append(errs, &ThemeError{File: t.path(name), Line: line,
				Msg: "<style> with {{…}}: the pages' Content-Security-Policy admits a <style> by the hash of its text, which an action changes, so browsers would ignore it; put this CSS in static/ and link it"})
		}
	}
	errs = append(errs, t.check()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// path is the path of the template file name, for messages: in the
// theme's directory, or "(built-in)/name".
func (t *Theme) path(name string) string {
	if t.dir == "" || !t.isOwn(name) {
		return "(built-in theme)/" + name
	}
	return filepath.Join(t.dir, name)
}

// isOwn reports whether the theme's directory has the file name.
func (t *Theme) isOwn(name string) bool {
	_, err := os.Lstat(filepath.Join(t.dir, name))
	return err == nil
}

// check executes the page against every sample page; the first error of
// each is reported, once.
func (t *Theme) check() []error {
	var errs []error
	seen := make(map[string]bool)
	// One clone for every page: html/template escapes a set at its first
	// execution, and t.tmpl stays unexecuted for forZone's clones.
	tmpl := template.Must(t.tmpl.Clone()).Funcs(themeFuncs(time.UTC))
	for _, p := range samplePages() {
		err := tmpl.ExecuteTemplate(io.Discard, pageTemplateName, p)
		if err == nil {
			continue
		}
		e := t.templateError(pageTemplateName, err)
		if !seen[e.Error()] {
			seen[e.Error()] = true
			errs = append(errs, e)
		}
	}
	return errs
}

// templateErrorRE matches the location text/template and html/template
// put in their errors: "template: NAME:LINE:COL: MSG" or
// "html/template:NAME:LINE:COL: MSG".
var templateErrorRE = regexp.MustCompile(`(?s)^(?:html/)?template: ?([^:]+):(\d+)(?::\d+)?: (.*)$`)

// templateError turns a template package error into a ThemeError naming
// the file and line it is about; name is the file the error came from
// when it names none.
func (t *Theme) templateError(name string, err error) *ThemeError {
	m := templateErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "html/template: "), "template: ")
		return &ThemeError{File: t.path(name), Msg: msg}
	}
	line, _ := strconv.Atoi(m[2])
	msg := m[3]
	// "executing "page.html" at <.Nmae>: can't evaluate field Nmae in
	// type publish.ItemData" is clear, but for the package's name.
	msg = strings.ReplaceAll(msg, "publish.", "")
	if strings.HasSuffix(msg, "unexpected EOF") {
		msg += " (an {{if}}, {{range}}, {{with}}, {{block}} or {{define}} lacks its {{end}})"
	}
	return &ThemeError{File: t.path(m[1]), Line: line, Msg: msg}
}

// styleRE finds the <style> elements of a template's text.
var styleRE = regexp.MustCompile(`(?is)<style[^>]*>(.*?)</style>`)

// styleHashes returns the CSP hash source of each <style> element of text
// whose content is literal: the page's policy allows those and no other
// inline style. It returns the line of each <style> with an action in
// it apart, whose hash cannot be known before it is rendered.
func styleHashes(text string) (hashes []string, actions []int) {
	for _, m := range styleRE.FindAllStringSubmatchIndex(text, -1) {
		content := text[m[2]:m[3]]
		if strings.Contains(content, "{{") {
			actions = append(actions, 1+strings.Count(text[:m[0]], "\n"))
			continue
		}
		sum := sha256.Sum256([]byte(content))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return hashes, actions
}

// csp is the Content-Security-Policy of the pages rendered with t: no
// script, frame, plugin or form at all, images and media from anywhere,
// stylesheets and fonts from the site (a theme's static/) and the literal
// <style> elements of its templates. Content is sanitized already; this is
// the second lock.
func (t *Theme) csp() string {
	styles := slices.Compact(slices.Sorted(slices.Values(t.styles)))
	return "default-src 'none'; img-src * data:; media-src *; style-src 'self'" + prefixEach(" ", styles) +
		"; font-src 'self'; base-uri 'none'; form-action 'none'"
}

func prefixEach(prefix string, list []string) string {
	var b strings.Builder
	for _, s := range list {
		b.WriteString(prefix)
		b.WriteString(s)
	}
	return b.String()
}

// forZone returns t's templates with the date function of zone, ready to
// execute.
func (t *Theme) forZone(zone *time.Location) *template.Template {
	return template.Must(t.tmpl.Clone()).Funcs(themeFuncs(zone))
}

// themeFuncs are the functions templates may call besides the standard
// ones: date LAYOUT TIME formats a time in the page's zone ("" for a zero
// time).
func themeFuncs(zone *time.Location) template.FuncMap {
	return template.FuncMap{
		"date": func(layout string, t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(zone).Format(layout)
		},
	}
}

// staticPath is the path prefix of a theme's static files.
const staticPath = "/static/"

// staticRoute is the route a static file at name (below static/) is
// served at.
func staticRoute(name string) string { return staticPath + path.Clean(name) }

// builtinTheme is BuiltinTheme, parsed and checked once.
var builtinTheme = sync.OnceValue(BuiltinTheme)

// staticOutputs are the outputs of t's static files by route, each with
// the pages' policy csp (an SVG or HTML file runs no script either).
func staticOutputs(t *Theme, csp string) map[string]*output {
	outs := make(map[string]*output, len(t.static))
	for name, f := range t.static {
		ct, stored := staticType(name, f.body)
		out := newOutput(renderedBody{body: f.body}, f.modified)
		out.contentType, out.stored, out.csp = ct, stored, csp
		outs[staticRoute(name)] = out
	}
	return outs
}

// staticTypes are the Content-Type of a theme's files by extension, and
// whether the format is compressed already. A fixed list, so that the
// answer does not depend on the host's /etc/mime.types.
var staticTypes = map[string]struct {
	contentType string
	stored      bool
}{
	".css":   {"text/css; charset=utf-8", false},
	".js":    {"text/javascript; charset=utf-8", false},
	".html":  {"text/html; charset=utf-8", false},
	".txt":   {"text/plain; charset=utf-8", false},
	".xml":   {"application/xml", false},
	".json":  {"application/json", false},
	".svg":   {"image/svg+xml", false},
	".ico":   {"image/vnd.microsoft.icon", false},
	".png":   {"image/png", true},
	".jpg":   {"image/jpeg", true},
	".jpeg":  {"image/jpeg", true},
	".gif":   {"image/gif", true},
	".webp":  {"image/webp", true},
	".avif":  {"image/avif", true},
	".woff":  {"font/woff", true},
	".woff2": {"font/woff2", true},
	".ttf":   {"font/ttf", false},
	".otf":   {"font/otf", false},
	".pdf":   {"application/pdf", true},
}

// staticType is the Content-Type of the static file name, and whether it
// is stored without gzip: by its extension, else sniffed from its bytes.
func staticType(name string, body []byte) (string, bool) {
	if t, ok := staticTypes[strings.ToLower(path.Ext(name))]; ok {
		return t.contentType, t.stored
	}
	ct := http.DetectContentType(body)
	return ct, !strings.HasPrefix(ct, "text/")
}
