package publish

import (
	"html/template"
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

// samplePages are the pages a theme is checked against: every field set,
// every optional one empty, and every kind of page (the planet's first,
// a section's older page, a page with nothing), so that each branch of a
// template runs at least once.
func samplePages() []PageData {
	when := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	ok := SourceData{
		Name: "alpha", Title: "Alpha", SiteURL: "https://alpha.example/", FeedURL: "https://alpha.example/feed",
		Image: "https://alpha.example/face.png", OK: true, LastSuccess: when, LastAttempt: when, Result: "new 1",
	}
	failing := SourceData{
		Name: "beta", Title: "Beta", Error: "http status 404", Failures: 2, LastAttempt: when, Result: "error: http status 404",
		Hidden: 3,
	}
	full := ItemData{
		ID: "urn:uuid:00000000-0000-5000-8000-000000000000", Title: "A post", Link: "https://alpha.example/post",
		Content: "<p>Content</p>", Author: "Ann", Published: when, Updated: when, Source: ok, AlsoIn: []SourceData{failing},
	}
	bare := ItemData{ID: "urn:uuid:00000000-0000-5000-8000-000000000001", Source: failing}
	items := []ItemData{full, bare}
	feeds := FeedURLs{Atom: "https://planet.example/feed.atom", RSS: "https://planet.example/feed.rss",
		JSON: "https://planet.example/feed.json", OPML: "https://planet.example/sources.opml"}
	discovery := []DiscoveryLink{{Title: "Planet (Atom)", Type: "application/atom+xml", URL: feeds.Atom, TypeAttr: `type="application/atom+xml"`}}
	planet := PlanetData{Title: "Planet", Description: "Everyone", URL: "https://planet.example/"}
	section := &SectionData{Name: "go", Title: "Go", Description: "Go posts", URL: "https://planet.example/sections/go.html"}
	nav := []NavLink{{Title: "All sources", URL: planet.URL, Current: true}, {Title: "Go", URL: section.URL}}
	return []PageData{{
		Planet: planet, Items: items, Days: groupDays(items, time.UTC), Sources: []SourceData{ok, failing},
		Feeds: feeds, Page: PageInfo{Number: 1, Older: "https://planet.example/page/2.html"},
		Nav: nav, Discovery: discovery, Static: "https://planet.example/static",
	}, {
		Planet: planet, Section: section, Items: items, Days: groupDays(items, time.UTC), Sources: []SourceData{failing, ok},
		Feeds: feeds, Page: PageInfo{Number: 2, Newer: section.URL, Older: "https://planet.example/sections/go/page/3.html"},
		Nav: nav, Discovery: discovery, Static: "https://planet.example/static",
	}, {
		Planet: PlanetData{Title: "Planet", URL: "https://planet.example/"}, Section: &SectionData{Name: "empty", Title: "empty"},
		Feeds: feeds, Page: PageInfo{Number: 3, Newer: "https://planet.example/page/2.html"},
		Static: "https://planet.example/static",
	}}
}
