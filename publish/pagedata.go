package publish

import (
	"fmt"
	"html/template"
	"strconv"
	"time"
)

// The data a theme's page template receives: a stable contract, listed in
// the README ("Themes"). Names are added, never changed or removed, but
// with a major version. Every string is plain text that html/template
// escapes, but Content; every URL is absolute, or empty where there is
// none.

// PageData is one page: the planet's or a section's, first or older.
type PageData struct {
	Planet  PlanetData
	Section *SectionData // nil on the planet's own pages
	Items   []ItemData   // newest first
	Days    []DayData    // Items grouped by calendar day in the page's time zone, newest first
	Sources []SourceData // the sources of the page (all, or the section's), in config order
	Feeds   FeedURLs     // this page's own feeds and subscription list
	Page    PageInfo

	// Nav links the planet's page and each section's; empty when there
	// are no sections.
	Nav []NavLink
	// Discovery are the feeds for <link rel="alternate">: this page's own
	// first, then on the planet's page every section's, on a section's
	// the planet's.
	Discovery []DiscoveryLink
	// Static is the URL of the theme's static files, without a trailing
	// slash: {{.Static}}/style.css.
	Static string
}

// PlanetData describes the whole planet.
type PlanetData struct {
	Title       string
	Description string // may be empty
	URL         string // of the planet's first page, /
}

// SectionData describes the section a page shows.
type SectionData struct {
	Name        string // as in the config and the URL
	Title       string // its title, else its name
	Description string // may be empty
	URL         string // of its first page
}

// ItemData is one item.
type ItemData struct {
	ID        string        // the item's public id (urn:uuid:…), as in the feeds
	Title     string        // may be empty
	Link      string        // may be empty
	Content   template.HTML // sanitized HTML (content, else summary), written as is; may be empty
	Author    string        // the item's author; empty when it names none but its source
	Published time.Time     // when it was published (never later than first seen); zero when unknown
	Updated   time.Time     // when it last changed, else Published
	Source    SourceData    // where it came from
	AlsoIn    []SourceData  // other sources that carried the same article
}

// DayData is one calendar day of a page's items.
type DayData struct {
	Date  time.Time // midnight that day, in the page's time zone
	Items []ItemData
}

// SourceData is one configured source and how its fetches go.
type SourceData struct {
	Name        string
	Title       string    // the admin's title, else the feed's, else the name
	SiteURL     string    // the site the feed links to; may be empty
	FeedURL     string    // may be empty (a local file)
	Image       string    // its face: the config's image, else the feed's own; may be empty
	OK          bool      // its last fetch did not fail (true before the first)
	Error       string    // why the last fetch failed, its class only ("http status 404"); empty when OK
	Failures    int       // failed fetches in a row
	LastSuccess time.Time // zero before the first success
	LastAttempt time.Time // zero before the first fetch
	Result      string    // the last fetch in words: "new 3", "not modified"…; empty before the first
	Hidden      int       // its stored items the filters keep out of this page's feeds
}

// FeedURLs are the URLs of one page's feeds.
type FeedURLs struct{ Atom, RSS, JSON, OPML string }

// PageInfo places a page among the pages of its river.
type PageInfo struct {
	Number int    // 1 for the first page
	Newer  string // URL of the page before; empty on the first
	Older  string // URL of the page after; empty on the last
}

// NavLink is one entry of the section navigation.
type NavLink struct {
	Title, URL string
	Current    bool // the page shows it
}

// DiscoveryLink is one feed a page announces.
type DiscoveryLink struct {
	Title, Type, URL string
	// TypeAttr is type="Type" as one attribute: html/template would write
	// "+" in an attribute value as &#43;, which naive autodiscovery
	// scanners do not decode. Type is one of our constant media types.
	TypeAttr template.HTMLAttr
}

// groupDays groups items, newest first, by their calendar day in zone.
// Items without a date join the day before them (the first day, for the
// first).
func groupDays(items []ItemData, zone *time.Location) []DayData {
	var days []DayData
	for _, it := range items {
		var day time.Time
		if !it.Published.IsZero() {
			y, m, d := it.Published.In(zone).Date()
			day = time.Date(y, m, d, 0, 0, 0, 0, zone)
		}
		if n := len(days); n > 0 && (day.IsZero() || days[n-1].Date.Equal(day)) {
			days[n-1].Items = append(days[n-1].Items, it)
			continue
		}
		days = append(days, DayData{Date: day, Items: []ItemData{it}})
	}
	return days
}

// samplePages are the pages a theme is checked against, so that each
// branch of a template whose condition depends on the shape of the data
// runs at least once: every kind of page (the planet's and a section's,
// first, middle, last and only, with nothing on it), every field set and
// empty, and on the first page every combination of the optional fields
// of an item and of a source. A condition on one value (a title) is
// beyond it.
func samplePages() []PageData {
	when := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	sources := sampleSources(when)
	items := sampleItems(when, sources)
	// The full item and the bare one.
	few := []ItemData{items[len(items)-1], items[0]}
	const site = "https://planet.example"
	planet := PlanetData{Title: "Planet", Description: "Everyone", URL: site + "/"}
	section := &SectionData{Name: "go", Title: "Go", Description: "Go posts", URL: site + "/sections/go.html"}
	feeds := FeedURLs{Atom: site + "/feed.atom", RSS: site + "/feed.rss", JSON: site + "/feed.json", OPML: site + "/sources.opml"}
	discovery := []DiscoveryLink{
		{Title: "Planet (Atom)", Type: "application/atom+xml", URL: feeds.Atom, TypeAttr: `type="application/atom+xml"`},
		{Title: "Planet (JSON Feed)", Type: "application/feed+json", URL: feeds.JSON, TypeAttr: `type="application/feed+json"`},
	}
	nav := []NavLink{{Title: "All sources", URL: planet.URL, Current: true}, {Title: "Go", URL: section.URL}}
	sectionNav := []NavLink{{Title: "All sources", URL: planet.URL}, {Title: "Go", URL: section.URL, Current: true}}
	page := func(sec *SectionData, n int, newer, older string, items []ItemData, sources []SourceData, nav []NavLink) PageData {
		return PageData{
			Planet: planet, Section: sec, Items: items, Days: groupDays(items, time.UTC), Sources: sources,
			Feeds: feeds, Page: PageInfo{Number: n, Newer: newer, Older: older},
			Nav: nav, Discovery: discovery, Static: site + "/static",
		}
	}
	return []PageData{
		page(nil, 1, "", site+"/page/2.html", items, sources, nav),
		page(nil, 2, site+"/", site+"/page/3.html", few, sources, nav),
		page(nil, 3, site+"/page/2.html", "", few, sources, nav),
		page(section, 1, "", site+"/sections/go/page/2.html", few, sources[:2], sectionNav),
		page(section, 2, section.URL, site+"/sections/go/page/3.html", few[1:], sources[1:2], sectionNav),
		page(section, 10, site+"/sections/go/page/9.html", "", few, sources[2:3], sectionNav),
		// The only page of a planet without sections or a description.
		{
			Planet: PlanetData{Title: "Planet", URL: site + "/"}, Items: few, Days: groupDays(few, time.UTC), Sources: sources[:1],
			Feeds: feeds, Page: PageInfo{Number: 1}, Discovery: discovery[:1], Static: site + "/static",
		},
		// Nothing at all: a section of no sources, and a new planet.
		{
			Planet: PlanetData{Title: "Planet", URL: site + "/"}, Section: &SectionData{Name: "empty", Title: "empty", URL: site + "/sections/empty.html"},
			Feeds: feeds, Page: PageInfo{Number: 1}, Static: site + "/static",
		},
		{Planet: PlanetData{Title: "Planet", URL: site + "/"}, Feeds: feeds, Page: PageInfo{Number: 1}, Static: site + "/static"},
	}
}

// sampleSources are sources in every combination of their optional
// fields: the first never fetched, the others fetched, half failing.
func sampleSources(when time.Time) []SourceData {
	const bits = 6
	var out []SourceData
	for i := range 1 << bits {
		has := func(bit int) bool { return i&(1<<bit) != 0 }
		name := "source" + strconv.Itoa(i)
		src := SourceData{Name: name, Title: "Source " + strconv.Itoa(i), OK: true, LastAttempt: when, Result: "new 1"}
		if has(0) {
			src.SiteURL = "https://" + name + ".example/"
		}
		if has(1) {
			src.FeedURL = "https://" + name + ".example/feed"
		}
		if has(2) {
			src.Image = "https://" + name + ".example/face.png"
		}
		if has(3) {
			src.OK, src.Error, src.Failures, src.Result = false, "http status 404", 1+i%3, "error: http status 404"
		}
		if has(4) {
			src.LastSuccess = when.Add(-time.Duration(i) * time.Hour)
		}
		if has(5) {
			src.Hidden = 1 + i%4
		}
		if i == 0 {
			src.LastAttempt, src.Result = time.Time{}, ""
		}
		out = append(out, src)
	}
	return out
}

// sampleItems are items in every combination of their optional fields,
// from sources of every kind, spread over days: the first has neither
// field, so it has no day of its own, and the last has every one.
func sampleItems(when time.Time, sources []SourceData) []ItemData {
	const bits = 7
	var out []ItemData
	for i := range 1 << bits {
		has := func(bit int) bool { return i&(1<<bit) != 0 }
		it := ItemData{
			ID:     fmt.Sprintf("urn:uuid:00000000-0000-5000-8000-%012d", i),
			Source: sources[i%len(sources)],
		}
		if has(0) {
			it.Title = "Post " + strconv.Itoa(i)
		}
		if has(1) {
			it.Link = "https://example.com/posts/" + strconv.Itoa(i)
		}
		if has(2) {
			it.Content = "<p>Content</p>"
		}
		if has(3) {
			it.Author = "Ann"
		}
		if has(4) {
			it.Published = when.Add(-time.Duration(i) * 5 * time.Hour)
			it.Updated = it.Published
		}
		if has(5) {
			it.Updated = when.Add(-time.Duration(i) * 4 * time.Hour)
		}
		if has(6) {
			it.AlsoIn = []SourceData{sources[(i+1)%len(sources)], sources[(i+2)%len(sources)]}
		}
		out = append(out, it)
	}
	return out
}
