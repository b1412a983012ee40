package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/feeds"
	"github.com/planetgo/aggregator"
)

// healthPath is the route of the health feed, which an admin subscribes to
// in their own reader to learn when a source breaks.
const healthPath = "/health.atom"

// renderHealth renders the health feed: an Atom entry for each configured
// source that is failing, gone or moved, in config order. An entry's id
// names the incident (the source, what is wrong, and since which success or
// to which URL), so a reader shows a new entry when a source breaks again
// after recovering, and the same entry, updated, while it stays broken.
func (s *Site) renderHealth(states map[string]aggregator.SourceState) ([]byte, error) {
	self := absURL(s.opts.BaseURL, healthPath)
	f := atomFeed{
		ID:    self,
		Title: s.opts.Title + " — source health",
		Links: []feeds.AtomLink{
			{Rel: "self", Type: atomFormat.mediaType(), Href: self},
			{Rel: "alternate", Type: htmlFormat.mediaType(), Href: s.opts.BaseURL + "/"},
		},
		Generator: atomGenerator{URI: generatorURI, Name: generatorName},
	}
	var updated time.Time
	for _, src := range s.opts.Sources {
		st, ok := states[src.Name]
		if !ok || (st.URL != "" && st.URL != src.URL) {
			continue // never fetched, or its URL changed since: no news yet
		}
		e, ok := s.healthEntry(self, src, st)
		if !ok {
			continue
		}
		if st.LastAttempt.After(updated) {
			updated = st.LastAttempt
		}
		f.Entries = append(f.Entries, e)
	}
	f.Updated = rfc3339(dateOrEpoch(writableTime(updated)))
	return marshalXML(f)
}

// healthEntry is the entry of src in the health feed at self; false when
// src is well.
func (s *Site) healthEntry(self string, src aggregator.Source, st aggregator.SourceState) (atomEntry, bool) {
	title := clean(aggregator.DisplayTitle(src, st))
	since := "never"
	if !st.LastSuccess.IsZero() {
		since = st.LastSuccess.UTC().Format("20060102T150405Z")
	}
	var kind, headline string
	var text []string
	switch {
	case st.Gone:
		kind, headline = "gone-"+since, title+": gone"
		text = append(text, "The source answered 410 Gone and is no longer polled: remove it from the config or fix its url.")
	case st.ConsecutiveFailures > 0:
		kind, headline = "failing-"+since, fmt.Sprintf("%s: failing (%s)", title, st.ErrorKind)
		if st.ConsecutiveFailures == 1 {
			text = append(text, "The last fetch failed.")
		} else {
			text = append(text, fmt.Sprintf("%d failed fetches in a row.", st.ConsecutiveFailures))
		}
	case st.MovedTo != "":
		sum := sha256.Sum256([]byte(st.MovedTo))
		kind, headline = "moved-"+hex.EncodeToString(sum[:6]), title+": moved to "+clean(st.MovedTo)
		text = append(text, "The source redirects permanently to "+clean(st.MovedTo)+": update its url in the config.")
	default:
		return atomEntry{}, false
	}
	text = append(text, "URL: "+clean(src.URL))
	if st.LastError != "" {
		text = append(text, "Last error: "+clean(st.LastError))
	}
	if !st.LastSuccess.IsZero() {
		text = append(text, "Last success: "+rfc3339(st.LastSuccess))
	} else {
		text = append(text, "Never fetched successfully.")
	}
	if !st.NextAttempt.IsZero() && !st.Gone {
		text = append(text, "Next attempt: "+rfc3339(st.NextAttempt))
	}
	e := atomEntry{
		ID:      self + "#" + url.PathEscape(src.Name) + "-" + kind,
		Title:   headline,
		Updated: rfc3339(dateOrEpoch(writableTime(st.LastAttempt))),
		Author:  &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: s.opts.Title}},
		Summary: &feeds.AtomSummary{Type: "text", Content: strings.Join(text, "\n")},
	}
	if feed := publicURL(src.URL); feed != "" {
		e.Links = []feeds.AtomLink{{Rel: "related", Href: feed}}
	}
	return e, true
}
