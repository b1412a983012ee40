// Package publish renders the newest stored items as Atom, RSS and JSON
// feeds (one merged feed and one per section) and an HTML index page, and
// serves them from memory over HTTP. It imports the root package,
// gorilla/feeds and the standard library only: it never sees fetch, storage
// or config, just the Store it declares.
package publish

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"
)

// defaultItems is the number of items per feed when Options.Items is 0.
const defaultItems = 50

// Store is all publish needs from storage.
type Store interface {
	// RecentItems returns the newest limit items of a section ("" = all sources), newest first by Item.Date().
	RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error)
	// States returns the stored state of every source, keyed by source name.
	States(ctx context.Context) (map[string]aggregator.SourceState, error)
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
	Now                func() time.Time // nil → time.Now
	Logger             *slog.Logger     // nil → discard
}

// Site renders every feed and the index page on Rebuild, and serves the
// rendered bytes from memory. It is safe for concurrent use.
type Site struct {
	store    Store
	opts     Options
	sections []Section
	sources  map[string]aggregator.Source
	routes   map[string]bool // every path that exists
	index    *template.Template

	mu      sync.Mutex // serializes Rebuild
	outputs atomic.Pointer[map[string]*output]
}

// output is one rendered route: its bytes, their gzip, and the validators.
type output struct {
	contentType  string
	cacheControl string
	body         []byte
	gzipped      []byte
	etag         string // strong ETag of body
	gzipETag     string // strong ETag of gzipped
	lastModified time.Time
}

// NewSite returns a Site that reads store. It serves 503 until the first
// successful Rebuild.
func NewSite(store Store, opts Options) *Site {
	if opts.Items <= 0 {
		opts.Items = defaultItems
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Title == "" {
		opts.Title = "Planet"
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")

	s := &Site{
		store:   store,
		opts:    opts,
		sources: make(map[string]aggregator.Source, len(opts.Sources)),
		routes:  map[string]bool{"/": true},
		index:   template.Must(template.New("index").Parse(indexTemplate)),
	}
	for _, src := range opts.Sources {
		s.sources[src.Name] = src
	}
	s.addFeedRoutes(mergedPath)
	for _, sec := range opts.Sections {
		if sec.Name == "" || s.routes[sectionPath(sec.Name)+atomFormat.ext()] {
			continue // unnamed or a duplicate
		}
		s.sections = append(s.sections, sec)
		s.addFeedRoutes(sectionPath(sec.Name))
	}
	return s
}

// addFeedRoutes adds the route of every feed format of the feed at path.
func (s *Site) addFeedRoutes(path string) {
	for _, f := range feedFormats() {
		s.routes[path+f.ext()] = true
	}
}

// Rebuild reads the store, renders every feed and the index page, and swaps
// them in at once. An output whose bytes did not change keeps its
// Last-Modified. On error the previous outputs stay in place; the error
// wraps the store's.
func (s *Site) Rebuild(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	rendered, err := s.render(ctx)
	if err != nil {
		return err
	}
	var prev map[string]*output
	if p := s.outputs.Load(); p != nil {
		prev = *p
	}
	// HTTP dates have whole seconds; truncating keeps If-Modified-Since exact.
	now := s.opts.Now().UTC().Truncate(time.Second)
	next := make(map[string]*output, len(rendered))
	changed := 0
	for path, r := range rendered {
		if old := prev[path]; old != nil && bytes.Equal(old.body, r.body) {
			next[path] = old
			continue
		}
		out, err := newOutput(r, now)
		if err != nil {
			return fmt.Errorf("compress %s: %w", path, err)
		}
		next[path] = out
		changed++
	}
	s.outputs.Store(&next)
	s.opts.Logger.Debug("rebuilt feeds", "outputs", len(next), "changed", changed)
	return nil
}

// rendered is the body of one route and its format.
type rendered struct {
	format format
	body   []byte
}

// render reads the store once and renders every route.
func (s *Site) render(ctx context.Context) (map[string]rendered, error) {
	states, err := s.store.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("read source states: %w", err)
	}
	out := make(map[string]rendered, len(s.routes))
	var docs []*feedDoc // the merged feed, then each section's
	for _, sec := range append([]Section{{}}, s.sections...) {
		doc, err := s.feed(ctx, sec, states)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
		for _, f := range feedFormats() {
			body, err := f.render(doc)
			if err != nil {
				return nil, fmt.Errorf("render %s%s: %w", doc.path, f.ext(), err)
			}
			out[doc.path+f.ext()] = rendered{f, body}
		}
	}
	body, err := s.renderIndex(docs, states)
	if err != nil {
		return nil, fmt.Errorf("render index page: %w", err)
	}
	out["/"] = rendered{htmlFormat, body}
	return out, nil
}

// feed reads the newest items of sec ("" = merged) and describes its feed.
func (s *Site) feed(ctx context.Context, sec Section, states map[string]aggregator.SourceState) (*feedDoc, error) {
	items, err := s.store.RecentItems(ctx, sec.Name, s.opts.Items)
	if err != nil {
		if sec.Name == "" {
			return nil, fmt.Errorf("read recent items: %w", err)
		}
		return nil, fmt.Errorf("read recent items of section %q: %w", sec.Name, err)
	}
	if len(items) > s.opts.Items {
		items = items[:s.opts.Items]
	}
	doc := &feedDoc{
		baseURL:     s.opts.BaseURL,
		path:        mergedPath,
		ID:          s.opts.BaseURL + "/",
		Title:       clean(s.opts.Title),
		Description: clean(s.opts.Description),
	}
	if sec.Name != "" {
		doc.path = sectionPath(sec.Name)
		doc.ID = absURL(s.opts.BaseURL, doc.path)
		doc.Title = clean(s.sectionTitle(sec))
		doc.Description = clean(sec.Description)
	}
	for _, it := range items {
		e := newEntry(it, s.sourceRef(it.SourceID, states))
		if e.Updated.After(doc.Updated) {
			doc.Updated = e.Updated
		}
		doc.Entries = append(doc.Entries, e)
	}
	return doc, nil
}

// sectionTitle is the title of sec's feeds: its own, else the site's and
// its name.
func (s *Site) sectionTitle(sec Section) string {
	if sec.Title != "" {
		return sec.Title
	}
	return s.opts.Title + " — " + sec.Name
}

// sourceRef describes the source called name, configured or not.
func (s *Site) sourceRef(name string, states map[string]aggregator.SourceState) sourceRef {
	src, ok := s.sources[name]
	if !ok {
		src = aggregator.Source{Name: name}
	}
	st := states[name]
	return sourceRef{
		Title:    clean(aggregator.DisplayTitle(src, st)),
		SiteLink: clean(st.SiteLink),
		FeedURL:  publicURL(src.URL),
	}
}

// newOutput compresses r once and computes its validators.
func newOutput(r rendered, modified time.Time) (*output, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(r.body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(r.body)
	tag := hex.EncodeToString(sum[:16])
	return &output{
		contentType:  r.format.contentType(),
		cacheControl: r.format.cacheControl(),
		body:         r.body,
		gzipped:      gz.Bytes(),
		etag:         `"` + tag + `"`,
		gzipETag:     `"` + tag + `-gz"`,
		lastModified: modified,
	}, nil
}
