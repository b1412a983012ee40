package publish

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
)

// renderedBody is the body of one route and its format.
type renderedBody struct {
	format format
	body   []byte
	// builtin marks a page rendered with the built-in theme, the
	// theme's own template having failed on it.
	builtin bool
}

// render reads the store once and renders every route but the feeds whose
// fingerprint is the one their outputs in prev were rendered from. It
// returns the bodies by path and the fingerprint of every feed by its path
// without extension.
func (s *Site) render(ctx context.Context, prev map[string]*output, stats *rebuildStats) (map[string]renderedBody, map[string]string, error) {
	states, err := s.store.States(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read source states: %w", err)
	}
	var hidden map[string]aggregator.HiddenCount
	if hc, ok := s.store.(HiddenCounter); ok {
		if hidden, err = hc.Hidden(ctx); err != nil {
			return nil, nil, fmt.Errorf("count hidden items: %w", err)
		}
	}
	// Read the feeds' items one feed after another (the first to publish
	// an item makes it safe, and the next finds it done), then render
	// every route at once.
	var jobs []renderJob
	fingerprints := make(map[string]string, len(s.sections)+1)
	var docs []*feedDoc // the merged feed, then each section's
	for _, sec := range append([]Section{{}}, s.sections...) {
		doc, err := s.feed(ctx, sec, states)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, doc)
		fp, err := doc.fingerprint()
		if err != nil {
			return nil, nil, fmt.Errorf("fingerprint %s: %w", doc.path, err)
		}
		fingerprints[doc.path] = fp
		if prev != nil && s.rendered[doc.path] == fp {
			stats.reused++
			continue
		}
		stats.rendered++
		for _, f := range feedFormats() {
			jobs = append(jobs, renderJob{path: doc.path + f.ext(), format: f, render: func() ([]byte, error) { return f.render(doc) }})
		}
	}
	nav := sectionNav(docs, s.headings)
	for i, doc := range docs {
		for n := 1; n <= s.pageCount(doc); n++ {
			jobs = append(jobs, renderJob{path: pageRoute(doc.path, n), format: htmlFormat,
				render:  func() ([]byte, error) { return s.renderPage(s.page, docs, nav, i, n, states, hidden) },
				builtin: func() ([]byte, error) { return s.renderPage(s.builtinPage(), docs, nav, i, n, states, hidden) },
			})
		}
		jobs = append(jobs, renderJob{path: s.opmlPath(doc), format: opmlFormat, render: func() ([]byte, error) { return s.renderOPML(docs, i, states) }})
	}
	jobs = append(jobs, renderJob{path: healthPath, format: atomFormat, render: func() ([]byte, error) { return s.renderHealth(states) }})
	out, failed, err := runRenderJobs(jobs)
	if err != nil {
		return nil, nil, err
	}
	s.replaceFailedPages(out, failed, prev)
	stats.failed = failed
	return out, fingerprints, nil
}

// renderJob renders one route.
type renderJob struct {
	path   string
	format format
	render func() ([]byte, error)
	// builtin, set for a page, renders it with the built-in theme: a
	// page's error (the theme's, on data check never tried) fails that
	// page alone, whereas any other route's fails the render.
	builtin func() ([]byte, error)
}

// pageFailure is a page the theme's template failed on.
type pageFailure struct {
	job renderJob
	err error // the template's
}

// replaceFailedPages puts in out a body for each page of failed: its
// current one when the theme rendered it (its last good version), else
// the page rendered with the built-in theme, so that readers still read
// the planet and no visitor is shown the theme's paths and errors; if
// that fails too, whatever the page has now, if anything.
func (s *Site) replaceFailedPages(out map[string]renderedBody, failed []pageFailure, prev map[string]*output) {
	var rerender []renderJob
	for _, f := range failed {
		if old := prev[f.job.path]; old != nil && !old.builtin {
			out[f.job.path] = renderedBody{format: htmlFormat, body: old.body}
			continue
		}
		if s.opts.Theme != builtinTheme() {
			j := f.job
			j.render = j.builtin
			rerender = append(rerender, j)
		}
	}
	// All at once, as the theme's ran; a page's error is no error here.
	bodies, stillFailed, _ := runRenderJobs(rerender)
	for path, b := range bodies {
		b.builtin = true
		out[path] = b
	}
	for _, f := range stillFailed {
		if old := prev[f.job.path]; old != nil {
			out[f.job.path] = renderedBody{format: htmlFormat, body: old.body, builtin: old.builtin}
		}
	}
}

// runRenderJobs runs the jobs on every CPU and returns their bodies by
// path and the pages that failed, or the first error of a route that is
// no page, in the jobs' order. Rendering only reads what the jobs were
// given. storage's Hidden runs its counts with the same loop: the two
// packages may share only the root package, which holds the domain types,
// not helpers of this kind.
func runRenderJobs(jobs []renderJob) (map[string]renderedBody, []pageFailure, error) {
	bodies := make([][]byte, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for i := range next {
				bodies[i], errs[i] = jobs[i].render()
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	out := make(map[string]renderedBody, len(jobs))
	var failed []pageFailure
	for i, j := range jobs {
		switch {
		case errs[i] != nil && j.builtin != nil:
			failed = append(failed, pageFailure{j, errs[i]})
		case errs[i] != nil:
			return nil, nil, fmt.Errorf("render %s: %w", j.path, errs[i])
		default:
			out[j.path] = renderedBody{format: j.format, body: bodies[i]}
		}
	}
	return out, failed, nil
}

// fingerprint is a hash of everything in d that its feeds show, so that a
// feed is rendered again only when what it shows changed: items added,
// edited or pruned, or a source's title or link.
func (d *feedDoc) fingerprint() (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// feed reads the newest items of sec ("" = merged) and describes its feed.
func (s *Site) feed(ctx context.Context, sec Section, states map[string]aggregator.SourceState) (*feedDoc, error) {
	// One read for the feed and its pages, which may hold more.
	limit := max(s.opts.Items, s.opts.PageItems*s.opts.Pages)
	items, err := s.store.RecentItems(ctx, sec.Name, limit)
	if err != nil {
		if sec.Name == "" {
			return nil, fmt.Errorf("read recent items: %w", err)
		}
		return nil, fmt.Errorf("read recent items of section %q: %w", sec.Name, err)
	}
	if len(items) > limit {
		items = items[:limit]
	}
	s.prepared.prepare(items, s.baseOf, s.opts.Sanitize)
	doc := &feedDoc{
		baseURL:     s.opts.BaseURL,
		path:        mergedPath,
		hubs:        s.opts.Hubs,
		ttl:         int((s.opts.CacheMaxAge + time.Minute - 1) / time.Minute),
		ID:          s.opts.BaseURL + "/",
		Title:       clean(s.opts.Title),
		Description: clean(s.opts.Description),
	}
	if sec.Name != "" {
		doc.section = sec.Name
		doc.path = sectionPath(sec.Name)
		doc.ID = absURL(s.opts.BaseURL, doc.path)
		doc.Title = clean(s.sectionTitle(sec))
		doc.Description = clean(sec.Description)
	}
	for i, it := range items {
		e := newEntry(it, s.sourceRef(it.SourceID, states))
		for _, name := range it.AlsoIn {
			if _, ok := s.sources[name]; ok {
				e.AlsoIn = append(e.AlsoIn, s.sourceRef(name, states))
				e.alsoInNames = append(e.alsoInNames, name)
			}
		}
		doc.river = append(doc.river, e)
		if i >= s.opts.Items {
			continue
		}
		if e.Updated.After(doc.Updated) {
			doc.Updated = e.Updated
		}
		doc.Entries = append(doc.Entries, e)
	}
	return doc, nil
}

// baseOf is the URL the relative links of it resolve against when it is
// made safe: its own link, else its source's URL.
func (s *Site) baseOf(it aggregator.Item) string {
	if it.Link != "" {
		return it.Link
	}
	return s.sources[it.SourceID].URL
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
	ref := sourceRef{
		ID:          clean(st.FeedID),
		Title:       clean(aggregator.DisplayTitle(src, st)),
		SiteLink:    publicURL(st.SiteLink),
		FeedURL:     publicURL(src.URL),
		Image:       s.imageURL(src, st),
		Updated:     writableTime(st.FeedUpdated),
		publishedAs: cmp.Or(st.PublishedAs, name),
	}
	if ref.ID == "" {
		ref.ID = ref.FeedURL
	}
	if ref.ID == "" {
		// A local file with no id of its own: one made from the name its
		// items are published as, stable across renames.
		ref.ID = ItemID(ref.publishedAs, "")
	}
	return ref
}

// sectionSources returns the configured sources of section name, all of
// them for "", in config order.
func (s *Site) sectionSources(name string) []aggregator.Source {
	var out []aggregator.Source
	for _, src := range s.opts.Sources {
		if name == "" || slices.Contains(src.Sections, name) {
			out = append(out, src)
		}
	}
	return out
}
