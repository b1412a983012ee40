package poll

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
)

// Report is what a preview of a source shows (`aggregator preview`, as
// text or as this JSON): what the planet would publish from it now, each
// item with its identity and date and why, and what keeps it out of the
// feeds.
type Report struct {
	Source      string       `json:"source,omitempty"` // the configured source's name; "" for a URL
	URL         string       `json:"url"`              // as asked, without credentials
	At          time.Time    `json:"at"`               // when it was fetched: the items' first-seen time
	FetchedFrom string       `json:"fetched_from,omitempty"`
	MovedTo     string       `json:"moved_to,omitempty"` // where a permanent redirect leads
	Error       string       `json:"error,omitempty"`
	ErrorKind   string       `json:"error_kind,omitempty"`
	ContentType string       `json:"content_type,omitempty"` // of a page that is no feed
	FeedsNamed  []string     `json:"feeds_named,omitempty"`  // the feeds such a page names
	Feed        *ReportFeed  `json:"feed,omitempty"`
	Items       []ReportItem `json:"items"`
}

// ReportFeed is the feed a preview read.
type ReportFeed struct {
	Title    string    `json:"title"`
	Format   string    `json:"format"`
	SiteLink string    `json:"site_link,omitempty"`
	ID       string    `json:"id,omitempty"`
	Updated  time.Time `json:"updated,omitzero"`
}

// ReportItem is one item of a preview.
type ReportItem struct {
	Title        string    `json:"title"`
	Link         string    `json:"link,omitempty"`
	Canonical    string    `json:"canonical_link,omitempty"`
	ID           string    `json:"id"`
	IdentityFrom string    `json:"identity_from"` // guid, link or hash
	IdentityWhy  string    `json:"identity_why,omitempty"`
	Published    time.Time `json:"published,omitzero"`
	Updated      time.Time `json:"updated,omitzero"`
	DateFrom     string    `json:"date_from,omitempty"` // published or updated
	UnreadDate   string    `json:"unread_date,omitempty"`
	Date         time.Time `json:"date"` // what the item is ordered by
	DateWhy      string    `json:"date_why,omitempty"`
	Author       string    `json:"author,omitempty"`
	Categories   []string  `json:"categories,omitempty"`
	Hidden       []KeptOut `json:"hidden,omitempty"`
}

// KeptOut is one reason an item is kept out of some feeds.
type KeptOut struct {
	From string `json:"from"` // "every feed", "the merged feed", `section "go"`
	Why  string `json:"why"`
}

// PreviewSettings are what keeps a previewed item out of the feeds.
type PreviewSettings struct {
	PublishMaxAge   time.Duration     // FeedOptions.MaxAge
	RetentionMaxAge time.Duration     // storage.Retention.MaxAge
	Rules           *aggregator.Rules // the config's filters
}

// NewReport is the report of previewing src at now: p, or err.
func NewReport(src aggregator.Source, p fetch.Preview, err error, now time.Time, s PreviewSettings) Report {
	r := Report{Source: src.Name, URL: aggregator.RedactURL(src.URL), At: now, Items: []ReportItem{}}
	if err != nil {
		r.Error, r.ErrorKind = err.Error(), fetch.Kind(err)
		var nf *fetch.NotFeedError
		if errors.As(err, &nf) {
			r.FetchedFrom, r.ContentType, r.FeedsNamed = nf.URL, nf.ContentType, nf.Feeds
		}
		return r
	}
	r.FetchedFrom, r.MovedTo = p.URL, p.PermanentRedirect
	f := p.Feed
	r.Feed = &ReportFeed{Title: f.Title, Format: f.Format, SiteLink: f.SiteLink, ID: f.ID, Updated: f.Updated}
	for _, it := range p.Items {
		r.Items = append(r.Items, ReportItem{
			Title:        it.Item.Title,
			Link:         it.Item.Link,
			Canonical:    it.Canonical,
			ID:           it.Item.ID,
			IdentityFrom: it.IdentityFrom,
			IdentityWhy:  it.IdentityWhy,
			Published:    it.Item.Published,
			Updated:      it.Item.Updated,
			DateFrom:     it.DateFrom,
			UnreadDate:   it.UnreadDate,
			Date:         it.Date,
			DateWhy:      it.DateWhy,
			Author:       it.Item.Author,
			Categories:   it.Item.Categories,
			Hidden:       s.keptOut(src, it.Item, it.Date, now),
		})
	}
	return r
}

// keptOut says which feeds keep out it, an item of src dated date, and
// why: publish.max_age and retention.max_age, and for a configured source
// its filters.
func (s PreviewSettings) keptOut(src aggregator.Source, it aggregator.Item, date, now time.Time) []KeptOut {
	var out []KeptOut
	if age := s.RetentionMaxAge; age > 0 && date.Before(now.Add(-age)) {
		out = append(out, KeptOut{"every feed", fmt.Sprintf("deleted once stored: dated more than retention.max_age (%s) ago", age)})
	} else if age := s.PublishMaxAge; age > 0 && date.Before(now.Add(-age)) {
		out = append(out, KeptOut{"every feed", fmt.Sprintf("dated more than publish.max_age (%s) ago", age)})
	}
	if src.Name == "" {
		return out // a bare URL: no filters apply
	}
	// The top-level and the source's rules keep it out of every feed; a
	// section's, out of that section's.
	it.SourceID = src.Name
	if h, ok := s.Rules.Hides(&it, ""); ok {
		return append(out, KeptOut{"every feed", h.String()})
	}
	for _, sec := range src.Sections {
		if h, ok := s.Rules.Hides(&it, sec); ok {
			out = append(out, KeptOut{"the feeds of section " + sec, h.String()})
		}
	}
	return out
}

// WriteText writes r for a person: the text form of `aggregator preview`.
func (r Report) WriteText(w io.Writer) {
	name := r.URL
	if r.Source != "" {
		name = fmt.Sprintf("source %s (%s)", r.Source, r.URL)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: %s\n", name, r.Error)
		if r.ErrorKind == "not a feed" {
			if len(r.FeedsNamed) == 0 {
				fmt.Fprintf(w, "It is not a feed and names none; `aggregator discover %s` looks further.\n", r.URL)
			} else {
				fmt.Fprintln(w, "It is not a feed; it names these feeds:")
				for _, f := range r.FeedsNamed {
					fmt.Fprintf(w, "  %s\n", f)
				}
			}
		}
		return
	}
	f := r.Feed
	fmt.Fprintf(w, "%s\n", name)
	if r.FetchedFrom != r.URL {
		fmt.Fprintf(w, "fetched from %s\n", r.FetchedFrom)
	}
	if r.MovedTo != "" {
		fmt.Fprintf(w, "moved permanently to %s: configure that URL\n", r.MovedTo)
	}
	fmt.Fprintf(w, "feed %q (%s)", f.Title, f.Format)
	if f.SiteLink != "" {
		fmt.Fprintf(w, ", site %s", f.SiteLink)
	}
	fmt.Fprintln(w)
	if len(r.Items) == 0 {
		fmt.Fprintln(w, "The feed has no items: nothing would be published.")
		return
	}
	shown := 0
	for i, it := range r.Items {
		fmt.Fprintf(w, "\n%d. %s\n", i+1, cmp.Or(it.Title, "(no title)"))
		if it.Link != "" {
			fmt.Fprintf(w, "   link       %s\n", it.Link)
		}
		if it.Canonical != "" && it.Canonical != it.Link {
			fmt.Fprintf(w, "   canonical  %s\n", it.Canonical)
		}
		id := fmt.Sprintf("%s %s", it.IdentityFrom, it.ID)
		if it.IdentityFrom == aggregator.IdentityLink {
			id = "link"
		}
		if it.IdentityWhy != "" {
			id += " (" + it.IdentityWhy + ")"
		}
		fmt.Fprintf(w, "   identity   %s\n", id)
		date := it.Date.Format(time.RFC3339)
		switch {
		case it.DateWhy != "":
			date += " (" + it.DateWhy + ")"
		case it.UnreadDate != "":
			date += fmt.Sprintf(" (%s; its published date %q cannot be read)", it.DateFrom, it.UnreadDate)
		case it.DateFrom == "updated":
			date += " (updated: it has no published date)"
		default:
			date += " (" + it.DateFrom + ")"
		}
		fmt.Fprintf(w, "   date       %s\n", date)
		for _, h := range it.Hidden {
			fmt.Fprintf(w, "   hidden     from %s: %s\n", h.From, h.Why)
		}
		if len(it.Hidden) == 0 {
			shown++
		}
	}
	fmt.Fprintf(w, "\n%s: %d published, %d hidden from some feeds; dates as if first seen now (%s)\n",
		count(len(r.Items), "item"), shown, len(r.Items)-shown, r.At.Format(time.RFC3339))
}

// count is "1 item", "2 items".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
