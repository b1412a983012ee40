package publish

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP serves, from the bytes of the last successful Rebuild, the page
// of all sources at /, the merged feed at /feed.atom, /feed.rss and
// /feed.json, the subscription list at /sources.opml, the sources' health
// at /health.atom, and each section's
// page, feeds and list at /sections/NAME.html, .atom, .rss, .json and
// .opml; the older pages at /page/N.html and /sections/NAME/page/N.html;
// the theme's static files at /static/. It answers
// 404 to any other path, 405 to methods other than GET and HEAD, 503
// until the first Rebuild has succeeded, and 500 for a page that neither
// the theme nor the built-in theme could render.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, staticPath) {
		s.serveStatic(w, r)
		return
	}
	if !s.routes[r.URL.Path] && !isPageRoute(r.URL.Path) {
		msg := "not found"
		if strings.HasPrefix(r.URL.Path, "/sections/") {
			msg = "no such section"
		}
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	outputs := s.outputs.Load()
	if outputs == nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "feeds are not built yet", http.StatusServiceUnavailable)
		return
	}
	out := (*outputs)[r.URL.Path]
	if out == nil && s.routes[r.URL.Path] {
		// A page that neither the theme nor the built-in theme rendered.
		http.Error(w, "this page failed to render; the server's log says why", http.StatusInternalServerError)
		return
	}
	if out == nil {
		http.Error(w, "no such page", http.StatusNotFound) // past the last
		return
	}
	s.serve(w, r, out)
}

// serveStatic serves a file of the theme's static/ directory, read when
// the theme was loaded. Only the files found then exist: a path with ".."
// or any other spelling of a file outside static/ names none of them.
func (s *Site) serveStatic(w http.ResponseWriter, r *http.Request) {
	out := s.static[r.URL.Path]
	if out == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.serve(w, r, out)
}

// serve writes out, or its gzip, or 304 when the client's copy is current.
func (s *Site) serve(w http.ResponseWriter, r *http.Request, out *output) {
	body, etag := out.body, out.etag
	gzipped := !out.stored && acceptsGzip(r.Header.Values("Accept-Encoding"))
	if gzipped {
		body, etag = out.gzipBody(), out.gzipETag
	}
	h := w.Header()
	prepared := out.headers(gzipped, s.cacheControl, s.links[r.URL.Path])
	if isNotModified(r, etag, out.lastModified) {
		// RFC 9110 15.4.5: a 304 carries the ETag, Cache-Control and Vary a
		// 200 would have.
		for _, k := range notModifiedHeaders {
			h[k] = prepared[k]
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// The prepared values are shared by every request: copied by
	// reference, never appended to (their capacity is their length, so an
	// Add by anyone would copy).
	for k, v := range prepared {
		h[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(body); err != nil {
		s.opts.Logger.Debug("write response", "path", r.URL.Path, "err", err)
	}
}

// isNotModified reports whether r's preconditions say the client already
// has the representation with etag, last modified at modified.
func isNotModified(r *http.Request, etag string, modified time.Time) bool {
	// RFC 9110 13.1.3: when If-None-Match is present, If-Modified-Since is
	// ignored.
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return etagListMatches(strings.Join(inm, ","), etag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false // RFC 9110 13.1.3: an invalid date is ignored
	}
	return !modified.After(t)
}

// etagListMatches reports whether the If-None-Match value list matches etag,
// using the weak comparison RFC 9110 13.1.2 requires: W/"x" matches "x".
// "*" matches any current representation.
func etagListMatches(list, etag string) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		if list[0] == '*' {
			return true
		}
		list = strings.TrimPrefix(list, "W/")
		if len(list) < 2 || list[0] != '"' {
			return false // malformed: stop rather than guess
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		if list[:end+2] == want {
			return true
		}
		list = list[end+2:]
	}
}

// acceptsGzip reports whether the Accept-Encoding field lines allow gzip
// (RFC 9110 12.5.3): gzip or x-gzip with a non-zero weight, else "*" with a
// non-zero weight.
func acceptsGzip(fields []string) bool {
	gzipQ, anyQ := -1.0, -1.0
	for _, field := range fields {
		// Split by hand: this runs for every request, and strings.Split
		// allocates.
		for field != "" {
			var part string
			part, field, _ = strings.Cut(field, ",")
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				gzipQ = max(gzipQ, qvalue(params))
			case coding == "*":
				anyQ = max(anyQ, qvalue(params))
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return anyQ > 0
}

// qvalue is the weight in the parameters of one Accept-Encoding member: 1
// when absent, 0 when malformed.
func qvalue(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || q < 0 || q > 1 {
				return 0
			}
			return q
		}
	}
	return 1
}
