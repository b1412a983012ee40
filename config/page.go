package config

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Page holds the settings of the HTML pages.
type Page struct {
	Items    int            // items on a page; default publish.items (itself 50 by default)
	Pages    int            // pages of a river, the first and the older ones; default 10
	TimeZone *time.Location // of the pages' dates and day groups; default UTC
	CSP      string         // replaces the pages' Content-Security-Policy; default "" (the built-in policy)
}

// defaultPages is the default of page.pages.
const defaultPages = 10

type rawPage struct {
	Items    *int   `yaml:"items"`
	Pages    *int   `yaml:"pages"`
	TimeZone string `yaml:"timezone"`
	CSP      string `yaml:"csp"`
}

// page returns the page settings of r; items is publish.items.
func (ck *checker) page(r rawPage, items int) Page {
	p := Page{
		Items:    ck.positive("page.items", r.Items, items, maxItems),
		Pages:    ck.positive("page.pages", r.Pages, defaultPages, maxPages),
		TimeZone: time.UTC,
		CSP:      r.CSP,
	}
	if r.TimeZone != "" {
		zone, err := loadZone(r.TimeZone)
		if err != nil {
			ck.errorf(ck.line("page.timezone"), "page.timezone %q is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)", r.TimeZone)
		} else {
			p.TimeZone = zone
		}
	}
	if strings.ContainsFunc(r.CSP, unicode.IsControl) {
		ck.errorf(ck.line("page.csp"), "page.csp must be one line of text")
	}
	return p
}

// loadZone loads the IANA zone name, refusing the names LoadLocation
// reads as something else: "" and "Local" (the host's zone, which would
// change with the host), and paths.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, errors.New("not an IANA name")
	}
	return time.LoadLocation(name)
}

// theme returns the absolute path of the theme directory s, relative to
// the config file; "" for the built-in theme.
func (ck *checker) theme(s string) string {
	if s == "" {
		return ""
	}
	p := s
	if !filepath.IsAbs(p) {
		p = filepath.Join(ck.dir, p)
	}
	p = filepath.Clean(p)
	info, err := os.Stat(p)
	switch {
	case err != nil:
		ck.errorf(ck.line("theme"), "theme %q: %v", s, unwrapPath(err))
	case !info.IsDir():
		ck.errorf(ck.line("theme"), "theme %q is not a directory (it holds the templates and static/)", s)
	}
	return p
}

// unwrapPath is the reason of a *fs.PathError, without the path the
// message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sourceImage checks a source's image: an http(s) URL, or a path below
// the theme's static/ directory that names a file there. It returns the
// value as the Source keeps it: the URL, or the slash-separated path.
func (ck *checker) sourceImage(item *yaml.Node, label, s, theme string) string {
	if s == "" {
		return ""
	}
	line := lineOf(item, "image")
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			ck.errorf(line, "%s: image %q is neither an http(s) URL nor a path below the theme's static/", label, s)
		}
		return s
	}
	clean := path.Clean(s)
	switch {
	case strings.HasPrefix(s, "/") || strings.Contains(s, `\`) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../"):
		ck.errorf(line, "%s: image %q must be a relative path below the theme's static/ (e.g. faces/ann.png), or an http(s) URL", label, s)
	case theme == "":
		ck.errorf(line, "%s: image %q is a path below the theme's static/, but no theme: is set (the built-in theme has no static files)", label, s)
	default:
		root, err := os.OpenRoot(filepath.Join(theme, "static"))
		if err == nil {
			var info fs.FileInfo
			info, err = root.Stat(clean)
			root.Close()
			if err == nil && !info.Mode().IsRegular() {
				err = errors.New("not a file")
			}
		}
		if err != nil {
			ck.errorf(line, "%s: image %q: not a file below the theme's static/ (%v)", label, s, unwrapPath(err))
		}
	}
	return clean
}
