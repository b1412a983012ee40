package publish

import (
	"bytes"
	"cmp"
	"html/template"
	"strconv"
	"strings"

	"github.com/planetgo/aggregator"
)

// pageRoute is the path of page n (from 1) of the river of the feed at
// path (mergedPath or sectionPath(name)): / or /sections/NAME.html for
// the first, /page/N.html or /sections/NAME/page/N.html for the others.
func pageRoute(feedPath string, n int) string {
	switch {
	case feedPath == mergedPath && n == 1:
		return "/"
	case feedPath == mergedPath:
		return "/page/" + strconv.Itoa(n) + htmlFormat.ext()
	case n == 1:
		return feedPath + htmlFormat.ext()
	}
	return feedPath + "/page/" + strconv.Itoa(n) + htmlFormat.ext()
}

// isPageRoute reports whether path has the form of an older page, which
// exists only while there are items enough for it.
func isPageRoute(path string) bool {
	rest, ok := strings.CutPrefix(path, "/page/")
	if !ok {
		rest, ok = strings.CutPrefix(path, sectionPath(""))
		if !ok {
			return false
		}
		_, rest, ok = strings.Cut(rest, "/page/")
		if !ok {
			return false
		}
	}
	n, ok := strings.CutSuffix(rest, htmlFormat.ext())
	return ok && n != "" && n[0] != '0' && strings.Trim(n, "0123456789") == ""
}

// pageCount is how many pages the river of doc fills: at least one, at
// most Options.Pages.
func (s *Site) pageCount(doc *feedDoc) int {
	n := (len(doc.river) + s.opts.PageItems - 1) / s.opts.PageItems
	return min(max(n, 1), s.opts.Pages)
}

// renderPage renders page n (from 1) of docs[i] with tmpl (the theme's
// templates, or the built-in ones): docs[0] is the merged feed, the
// others are sections. nav is the section list every page
// shows, from sectionNav; hidden counts each source's items the filters
// hide (nil for none).
func (s *Site) renderPage(tmpl *template.Template, docs []*feedDoc, nav []pageSection, i, n int, states map[string]aggregator.SourceState, hidden map[string]aggregator.HiddenCount) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, pageTemplateName, s.pageData(docs, nav, i, n, states, hidden)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pageData is what the theme's page template receives for page n of
// docs[i].
func (s *Site) pageData(docs []*feedDoc, nav []pageSection, i, n int, states map[string]aggregator.SourceState, hidden map[string]aggregator.HiddenCount) PageData {
	doc, merged := docs[i], docs[0]
	p := PageData{
		Planet: PlanetData{Title: merged.Title, Description: merged.Description, URL: merged.homeURL()},
		Feeds: FeedURLs{
			Atom: doc.url(atomFormat), RSS: doc.url(rssFormat), JSON: doc.url(jsonFormat),
			OPML: s.opmlURL(doc),
		},
		Page:   PageInfo{Number: n},
		Static: s.opts.BaseURL + strings.TrimSuffix(staticPath, "/"),
	}
	if i > 0 {
		p.Section = &SectionData{
			Name:        doc.section,
			Title:       s.headings[doc.section],
			Description: doc.Description,
			URL:         doc.homeURL(),
		}
	}
	if n > 1 {
		p.Page.Newer = absURL(s.opts.BaseURL, pageRoute(doc.path, n-1))
	}
	if n < s.pageCount(doc) {
		p.Page.Older = absURL(s.opts.BaseURL, pageRoute(doc.path, n+1))
	}
	// Autodiscovery: this page's feeds first, so that a reader given this
	// page subscribes to what it shows; then, on /, every section's, and on
	// a section's page the merged feed (not every section's: with many
	// sections the pages would grow with their square).
	p.Discovery = discoveryLinks(doc)
	if i == 0 {
		for _, d := range docs[1:] {
			p.Discovery = append(p.Discovery, discoveryLinks(d)...)
		}
	} else {
		p.Discovery = append(p.Discovery, discoveryLinks(merged)...)
	}
	current := doc.homeURL()
	for _, l := range nav {
		p.Nav = append(p.Nav, NavLink{Title: l.Title, URL: l.URL, Current: l.URL == current})
	}
	// Each source is described once per page, however many items it has.
	sources := make(map[string]SourceData)
	source := func(name string) SourceData {
		sd, ok := sources[name]
		if !ok {
			sd = s.sourceData(s.configured(name), states[name])
			sd.Hidden = hidden[name].In(doc.section)
			sources[name] = sd
		}
		return sd
	}
	for _, src := range s.sectionSources(doc.section) {
		p.Sources = append(p.Sources, source(src.Name))
	}
	from := (n - 1) * s.opts.PageItems
	for _, e := range doc.river[min(from, len(doc.river)):min(from+s.opts.PageItems, len(doc.river))] {
		p.Items = append(p.Items, itemData(e, source))
	}
	p.Days = groupDays(p.Items, s.opts.TimeZone)
	return p
}

// pageSection is one entry of the section navigation.
type pageSection struct{ Title, URL string }

// sectionNav lists the page of all sources and of every section; nil when
// there are no sections.
func sectionNav(docs []*feedDoc, headings map[string]string) []pageSection {
	if len(docs) < 2 {
		return nil
	}
	nav := []pageSection{{Title: "All sources", URL: docs[0].homeURL()}}
	for _, d := range docs[1:] {
		nav = append(nav, pageSection{Title: headings[d.section], URL: d.homeURL()})
	}
	return nav
}

// sectionHeading is what pages call a section: its title, else its name.
func sectionHeading(sec Section) string { return clean(cmp.Or(sec.Title, sec.Name)) }

// discoveryLinks links doc in every feed format.
func discoveryLinks(doc *feedDoc) []DiscoveryLink {
	var links []DiscoveryLink
	for _, f := range feedFormats() {
		links = append(links, DiscoveryLink{
			Title:    doc.Title + " (" + f.label() + ")",
			Type:     f.mediaType(),
			URL:      doc.url(f),
			TypeAttr: template.HTMLAttr(`type="` + f.mediaType() + `"`),
		})
	}
	return links
}

// itemData is e as the page shows it; source describes a source by name.
func itemData(e entry, source func(name string) SourceData) ItemData {
	it := ItemData{
		ID:        e.ID,
		Title:     e.Title,
		Link:      e.Link,
		Author:    e.Author,
		Published: e.Published,
		Updated:   e.Updated,
		Source:    source(e.sourceName),
		// Content and summaries were made safe (Options.Sanitize) when
		// they were read for this render: escaping them here would show
		// markup as text.
		Content: template.HTML(cmp.Or(e.Content, e.Summary)),
	}
	if it.Author == e.Source.Title {
		it.Author = "" // the source's name stands in for a missing author
	}
	for _, name := range e.alsoInNames {
		it.AlsoIn = append(it.AlsoIn, source(name))
	}
	return it
}

// configured is the configured source called name, or one with that name
// alone.
func (s *Site) configured(name string) aggregator.Source {
	if src, ok := s.sources[name]; ok {
		return src
	}
	return aggregator.Source{Name: name}
}

// sourceData is src, in state st, as pages show it.
func (s *Site) sourceData(src aggregator.Source, st aggregator.SourceState) SourceData {
	d := SourceData{
		Name:        clean(src.Name),
		Title:       clean(aggregator.DisplayTitle(src, st)),
		SiteURL:     publicURL(st.SiteLink),
		FeedURL:     publicURL(src.URL),
		Image:       s.imageURL(src, st),
		OK:          st.ConsecutiveFailures == 0 && !st.Gone,
		Failures:    st.ConsecutiveFailures,
		LastSuccess: writableTime(st.LastSuccess),
		LastAttempt: writableTime(st.LastAttempt),
		Result:      clean(st.Result()),
	}
	if !d.OK {
		d.Error = clean(st.LastError)
	}
	return d
}

// imageURL is the face of src: its configured image (an http(s) URL, or
// a path below the theme's static/), else the feed's own; "" for none.
func (s *Site) imageURL(src aggregator.Source, st aggregator.SourceState) string {
	if src.Image != "" {
		if u := publicURL(src.Image); u != "" {
			return u
		}
		return absURL(s.opts.BaseURL, staticRoute(src.Image))
	}
	return publicURL(st.Image)
}

// opmlPath is the path of doc's subscription list.
func (s *Site) opmlPath(doc *feedDoc) string {
	if doc.section == "" {
		return opmlPath
	}
	return doc.path + opmlFormat.ext()
}
