// Package publish renders the newest stored items as Atom, RSS and JSON
// feeds (one merged feed and one per section), an HTML planet page for all
// sources and for each section, and OPML subscription lists, and serves them
// from memory over HTTP. It imports the root package, gorilla/feeds and the
// standard library only: it never sees fetch, storage or config, just the
// Store it declares.
package publish

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"
)

// defaultCacheMaxAge is the Cache-Control max-age when
// Options.CacheMaxAge is 0.
const defaultCacheMaxAge = 5 * time.Minute

// Store is all publish needs from storage.
type Store interface {
	// RecentItems returns the newest limit items of a section ("" = all
	// sources), newest first by Item.Date(), as the feeds gave them:
	// Options.Sanitize makes their HTML safe.
	RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error)
	// States returns the stored state of every source, keyed by source name.
	States(ctx context.Context) (map[string]aggregator.SourceState, error)
}

// HiddenCounter is what a Store may offer besides: how many of each
// source's stored items the admin's filters hide, which each page shows
// beside the source (of the items hidden from that page's feeds).
type HiddenCounter interface {
	Hidden(ctx context.Context) (map[string]aggregator.HiddenCount, error)
}

// Section is a named group of sources, published under /sections/NAME.
type Section struct {
	Name        string // as in Source.Sections; part of the URL
	Title       string // may be empty: the site title and Name are shown
	Description string // may be empty
}

// Options are the settings of a Site. The zero value works.
type Options struct {
	Title, Description string
	BaseURL            string // public URL without trailing slash, e.g. http://localhost:8080
	Items              int    // items per feed; 0 → 50
	Sections           []Section
	Sources            []aggregator.Source
	// CacheMaxAge is how long clients and proxies may reuse an output
	// without asking again (Cache-Control: max-age); 0 → 5 minutes.
	// Outputs change at most once per fetch pass, so a fraction of the
	// schedule's interval suits it.
	CacheMaxAge time.Duration
	Now         func() time.Time // nil → time.Now
	Logger      *slog.Logger     // nil → discard

	// Sanitize returns an item's HTML (content or summary) made safe to
	// embed in a page, its relative URLs resolved against base (the
	// item's link, else its source's URL). It is applied once to each
	// version of an item while it is shown, on several items at once;
	// nil publishes the HTML as the store gives it.
	Sanitize func(html, base string) string
	// Prepared keeps what Sanitize made; share one between the Sites
	// that follow each other in a process. nil → the Site's own.
	Prepared *Prepared

	// Theme renders the pages and serves /static/; nil → BuiltinTheme.
	Theme *Theme
	// PageItems is the number of items on a page; 0 → Items.
	PageItems int
	// Pages is the number of pages of a river: the first (/ or
	// /sections/NAME.html) and the older ones (/page/N.html,
	// /sections/NAME/page/N.html); 0 → 10.
	Pages int
	// TimeZone is the zone of the pages' dates and day groups; nil → UTC.
	TimeZone *time.Location
	// CSP replaces the pages' Content-Security-Policy, which otherwise
	// allows no script and only the theme's own styles; "" keeps it.
	CSP string

	// Hubs are the WebSub hubs every feed names, in this order (a
	// subscriber that takes the first takes the first here), in the
	// document and in the Link header of each response; nil names none.
	Hubs []string
	// Changed, if set, is called after each Rebuild that changed the
	// bytes of feeds, with those feeds, before Rebuild returns: WebSub
	// publishes them. It must not block.
	Changed func([]FeedChange)
}

// FeedChange is one feed whose bytes a Rebuild changed.
type FeedChange struct {
	URL         string // its public URL, the WebSub topic
	ContentType string
	Body        []byte
	Link        string // the Link header it is served with: its hubs and itself
}

// defaultPages is the number of pages of a river when Options.Pages is 0.
const defaultPages = 10

// Site renders every feed, page and subscription list on Rebuild, and
// serves the rendered bytes from memory. It is safe for concurrent use.
type Site struct {
	store        Store
	opts         Options
	cacheControl string
	csp          string // of every page
	sections     []Section
	headings     map[string]string // section name → what pages call it
	sources      map[string]aggregator.Source
	routes       map[string]bool   // every path that exists but older pages
	feedURLs     map[string]string // path of each feed (in each format) → its public URL
	links        map[string]string // path of each feed → its Link header; none without hubs
	topics       map[string]string // public URL of each feed → its path
	page         *template.Template
	static       map[string]*output // the theme's static files by route
	// builtinPage are the built-in theme's templates, for the pages the
	// theme fails on, made at the first; builtinCSP is their policy.
	builtinPage func() *template.Template
	builtinCSP  string
	failing     atomic.Int64 // pages the theme failed on at the last Rebuild

	mu sync.Mutex // serializes Rebuild and guards rendered
	// rendered maps a feed's path (without extension) to the fingerprint
	// of the feedDoc its current outputs were rendered from.
	rendered map[string]string
	prepared *Prepared // Options.Prepared, else the Site's own
	outputs  atomic.Pointer[map[string]*output]
}

// output is one rendered route: its bytes, their gzip, and the validators.
type output struct {
	contentType string
	csp         string // Content-Security-Policy; pages and static files only
	// stored marks a body gzip would not shrink (an image, a font): it
	// is sent as it is to every client.
	stored bool
	// builtin marks a page rendered with the built-in theme, the theme
	// having failed on it: it is no last good version to keep.
	builtin      bool
	body         []byte
	etag         string // strong ETag of body
	gzipETag     string // strong ETag of the gzip of body
	lastModified time.Time

	// The gzip of body, and the response headers of each variant, made at
	// the first request that needs them, once: a pass re-renders outputs
	// that no client may ask for before the next, and compressing them all
	// was half the time of a pass in which no source changed.
	gzipOnce             sync.Once
	gzipped              []byte
	plainOnce, gzOnce    sync.Once
	plainHeaders, gzHead http.Header
}

// gzipBody returns the gzip of out's body, compressing it at the first call.
func (out *output) gzipBody() []byte {
	out.gzipOnce.Do(func() {
		var gz bytes.Buffer
		// Neither fails: the level is valid, and the writer is memory.
		zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
		zw.Write(out.body)
		zw.Close()
		out.gzipped = gz.Bytes()
	})
	return out.gzipped
}

// headers returns the response headers of a 200 of out's plain or gzip
// variant, each built at its first request. cacheControl and link (the
// Link header; "" for none) must be the same at every call.
func (out *output) headers(gzipped bool, cacheControl, link string) http.Header {
	build := func(etag string, body []byte, encoding string) http.Header {
		h := http.Header{
			"Etag":                   {etag},
			"Last-Modified":          {out.lastModified.Format(http.TimeFormat)},
			"Cache-Control":          {cacheControl},
			"Vary":                   {"Accept-Encoding"},
			"X-Content-Type-Options": {"nosniff"},
			"Content-Type":           {out.contentType},
			"Content-Length":         {strconv.Itoa(len(body))},
		}
		if out.csp != "" {
			h["Content-Security-Policy"] = []string{out.csp}
		}
		if encoding != "" {
			h["Content-Encoding"] = []string{encoding}
		}
		if link != "" {
			h["Link"] = []string{link}
		}
		return h
	}
	if gzipped {
		out.gzOnce.Do(func() { out.gzHead = build(out.gzipETag, out.gzipBody(), "gzip") })
		return out.gzHead
	}
	out.plainOnce.Do(func() { out.plainHeaders = build(out.etag, out.body, "") })
	return out.plainHeaders
}

// notModifiedHeaders are the headers a 304 carries (RFC 9110 15.4.5: those
// a 200 would have that describe the representation's validators and
// caching).
var notModifiedHeaders = []string{"Etag", "Last-Modified", "Cache-Control", "Vary", "X-Content-Type-Options"}

// NewSite returns a Site that reads store. It serves 503 until the first
// successful Rebuild.
func NewSite(store Store, opts Options) *Site {
	if opts.Items <= 0 {
		opts.Items = aggregator.DefaultItems
	}
	if opts.CacheMaxAge <= 0 {
		opts.CacheMaxAge = defaultCacheMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PageItems <= 0 {
		opts.PageItems = opts.Items
	}
	if opts.Pages <= 0 {
		opts.Pages = defaultPages
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	if opts.Theme == nil {
		opts.Theme = builtinTheme()
	}
	if opts.Title == "" {
		opts.Title = aggregator.DefaultTitle
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")

	s := &Site{
		store:        store,
		opts:         opts,
		cacheControl: "public, max-age=" + strconv.Itoa(max(1, int(opts.CacheMaxAge.Seconds()))),
		sources:      make(map[string]aggregator.Source, len(opts.Sources)),
		headings:     make(map[string]string, len(opts.Sections)),
		routes:       map[string]bool{"/": true, opmlPath: true, healthPath: true},
		feedURLs:     make(map[string]string),
		links:        make(map[string]string),
		topics:       make(map[string]string),
		csp:          cmp.Or(opts.CSP, opts.Theme.csp()),
		page:         opts.Theme.forZone(opts.TimeZone),
		builtinCSP:   cmp.Or(opts.CSP, builtinTheme().csp()),
		builtinPage:  sync.OnceValue(func() *template.Template { return builtinTheme().forZone(opts.TimeZone) }),
	}
	s.static = staticOutputs(opts.Theme, s.csp)
	s.prepared = opts.Prepared
	if s.prepared == nil {
		s.prepared = &Prepared{}
	}
	for _, src := range opts.Sources {
		s.sources[src.Name] = src
	}
	s.addFeedRoutes(mergedPath)
	for _, sec := range opts.Sections {
		path := sectionPath(sec.Name)
		if sec.Name == "" || s.routes[path+atomFormat.ext()] {
			continue // unnamed or a duplicate
		}
		s.sections = append(s.sections, sec)
		s.headings[sec.Name] = sectionHeading(sec)
		s.addFeedRoutes(path)
		s.routes[path+htmlFormat.ext()] = true
		s.routes[path+opmlFormat.ext()] = true
	}
	return s
}

// addFeedRoutes adds the route of every feed format of the feed at path.
func (s *Site) addFeedRoutes(path string) {
	for _, f := range feedFormats() {
		s.routes[path+f.ext()] = true
		u := absURL(s.opts.BaseURL, path+f.ext())
		s.feedURLs[path+f.ext()] = u
		s.topics[u] = path + f.ext()
		if link := LinkHeader(s.opts.Hubs, u); len(s.opts.Hubs) > 0 {
			s.links[path+f.ext()] = link
		}
	}
}

// LinkHeader is the value of the Link header that names hubs and self
// (WebSub 4): <HUB>; rel="hub", …, <SELF>; rel="self".
func LinkHeader(hubs []string, self string) string {
	var b strings.Builder
	for _, h := range hubs {
		b.WriteString("<" + h + `>; rel="hub", `)
	}
	b.WriteString("<" + self + `>; rel="self"`)
	return b.String()
}

// IsFeed reports whether url is the public URL of one of the site's feeds
// (the merged feed and each section's, in each format).
func (s *Site) IsFeed(url string) bool {
	_, ok := s.topics[url]
	return ok
}

// Feed returns the current bytes of the feed whose public URL is url, as
// the Changed callback would describe them, and false when there is none
// (not a feed, or nothing rendered yet).
func (s *Site) Feed(url string) (FeedChange, bool) {
	path, ok := s.topics[url]
	outputs := s.outputs.Load()
	if !ok || outputs == nil || (*outputs)[path] == nil {
		return FeedChange{}, false
	}
	out := (*outputs)[path]
	return FeedChange{URL: url, ContentType: out.contentType, Body: out.body, Link: s.links[path]}, true
}

// Rebuild reads the store, renders every feed whose items changed since the
// last Rebuild, every page and every subscription list, and swaps them in
// at once. An output whose bytes did not change keeps its Last-Modified. On
// error the previous outputs stay in place; the error wraps the store's.
// A page the theme's templates fail on is no error: it keeps its last
// good version, else is rendered with the built-in theme, and the
// theme's mistake is logged (FailingPages counts those pages).
func (s *Site) Rebuild(ctx context.Context) error {
	_, err := s.rebuild(ctx)
	return err
}

// rebuildStats counts what a rebuild did with the feeds.
type rebuildStats struct {
	rendered, reused int // feeds rendered anew, and kept for unchanged items
	changed          int // outputs whose bytes changed
	// failed are the pages the theme failed on, which kept their last
	// good version or were rendered with the built-in theme.
	failed []pageFailure
}

func (s *Site) rebuild(ctx context.Context) (rebuildStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var prev map[string]*output
	if p := s.outputs.Load(); p != nil {
		prev = *p
	}
	var stats rebuildStats
	s.prepared.begin()
	bodies, fingerprints, err := s.render(ctx, prev, &stats)
	if err != nil {
		s.prepared.abort()
		return stats, err
	}
	s.prepared.done()
	// HTTP dates have whole seconds; truncating keeps If-Modified-Since exact.
	now := s.opts.Now().UTC().Truncate(time.Second)
	next := make(map[string]*output, len(bodies))
	var changes []FeedChange
	paths := slices.Collect(maps.Keys(s.routes))
	for path := range bodies {
		if !s.routes[path] {
			paths = append(paths, path) // an older page
		}
	}
	for _, path := range paths {
		r, ok := bodies[path]
		if !ok {
			next[path] = prev[path] // a feed whose items did not change
			continue
		}
		if old := prev[path]; old != nil && bytes.Equal(old.body, r.body) {
			next[path] = old
			continue
		}
		out := newOutput(r, now)
		if r.format == htmlFormat {
			out.csp, out.builtin = s.csp, r.builtin
			if r.builtin {
				out.csp = s.builtinCSP
			}
		}
		next[path] = out
		stats.changed++
		if u, ok := s.feedURLs[path]; ok && prev != nil {
			changes = append(changes, FeedChange{URL: u, ContentType: out.contentType, Body: out.body, Link: s.links[path]})
		}
	}
	s.outputs.Store(&next)
	if len(changes) > 0 && s.opts.Changed != nil {
		slices.SortFunc(changes, func(a, b FeedChange) int { return strings.Compare(a.URL, b.URL) })
		s.opts.Changed(changes)
	}
	s.rendered = fingerprints
	s.failing.Store(int64(len(stats.failed)))
	s.logFailedPages(stats.failed)
	s.opts.Logger.Debug("rebuilt outputs", "outputs", len(next), "changed", stats.changed,
		"feeds_rendered", stats.rendered, "feeds_unchanged", stats.reused)
	return stats, nil
}

// newOutput computes r's validators.
func newOutput(r renderedBody, modified time.Time) *output {
	sum := sha256.Sum256(r.body)
	tag := hex.EncodeToString(sum[:16])
	return &output{
		contentType:  r.format.contentType(),
		body:         r.body,
		etag:         `"` + tag + `"`,
		gzipETag:     `"` + tag + `-gz"`,
		lastModified: modified,
	}
}

// FailingPages returns how many pages the theme failed on at the last
// Rebuild: each kept its last good version, or was rendered with the
// built-in theme.
func (s *Site) FailingPages() int { return int(s.failing.Load()) }

// logFailedPages logs each of the theme's errors on the pages once, as
// FILE:LINE: message, with how many pages it failed and the first.
func (s *Site) logFailedPages(failed []pageFailure) {
	type failure struct {
		first pageFailure
		pages int
	}
	var order []string
	byMsg := make(map[string]*failure)
	for _, f := range failed {
		msg := f.err.Error()
		if byMsg[msg] == nil {
			byMsg[msg] = &failure{first: f}
			order = append(order, msg)
		}
		byMsg[msg].pages++
	}
	for _, msg := range order {
		f := byMsg[msg]
		err := s.opts.Theme.templateError(pageTemplateName, f.first.err)
		s.opts.Logger.Error("theme failed on pages; they keep their last good version, else the built-in theme's",
			"err", err.Error(), "pages", f.pages, "path", f.first.job.path)
	}
}
