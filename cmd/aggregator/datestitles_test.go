package main

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFutureDatesAndUntitledItems ingests a feed whose dates lie ahead
// (9999, 2090, 2095, the feed's own) and one whose items have no title and
// no text once read and sanitized, then reads every feed back: no date in
// any of them is in the future (the feeds', the entries' and atom:source's
// updated, RSS lastBuildDate, JSON Feed date_modified), and every item has
// a title or text, "(untitled)" when it has neither.
func TestFutureDatesAndUntitledItems(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	t.Cleanup(srv.Close)
	a := ingestSections(t, []testSource{
		{"future", srv.URL + "/future-dates.atom"},
		{"untitled", srv.URL + "/untitled.rss"},
	})
	// Clocks on this machine: the dates we publish are no later than now.
	limit := time.Now().Add(time.Minute)
	notAhead := func(path, what, s string, layout string) {
		t.Helper()
		d, err := time.Parse(layout, s)
		if err != nil {
			t.Errorf("GET %s: %s %q: %v", path, what, s, err)
			return
		}
		if d.After(limit) {
			t.Errorf("GET %s: %s %s is in the future", path, what, s)
		}
	}
	updated := regexp.MustCompile(`<updated>([^<]*)</updated>`)
	untitled := 0
	for _, feed := range []string{"/feed", "/sections/future", "/sections/untitled"} {
		atom := serveGet(t, a, feed+".atom")
		validateAtom(t, atom)
		for _, m := range updated.FindAllSubmatch(atom, -1) {
			notAhead(feed+".atom", "updated", string(m[1]), time.RFC3339)
		}

		path := feed + ".rss"
		var rss struct {
			Channel struct {
				LastBuildDate string `xml:"lastBuildDate"`
				Items         []struct {
					Title       string `xml:"title"`
					Description string `xml:"description"`
				} `xml:"item"`
			} `xml:"channel"`
		}
		if err := xml.Unmarshal(serveGet(t, a, path), &rss); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		notAhead(path, "lastBuildDate", rss.Channel.LastBuildDate, time.RFC1123Z)
		for i, it := range rss.Channel.Items {
			if strings.TrimSpace(it.Title) == "" && strings.TrimSpace(it.Description) == "" {
				t.Errorf("GET %s: item %d has neither title nor description", path, i)
			}
			if it.Title == "(untitled)" {
				untitled++
			}
		}

		path = feed + ".json"
		var js struct {
			Items []struct {
				Title        string `json:"title"`
				ContentHTML  string `json:"content_html"`
				DateModified string `json:"date_modified"`
			} `json:"items"`
		}
		if err := json.Unmarshal(serveGet(t, a, path), &js); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		for i, it := range js.Items {
			notAhead(path, "date_modified", it.DateModified, time.RFC3339)
			if strings.TrimSpace(it.Title) == "" && strings.TrimSpace(it.ContentHTML) == "" {
				t.Errorf("GET %s: item %d has neither title nor content", path, i)
			}
		}
	}
	// Of the merged and sections' RSS: the Atom entry with out-of-line
	// content, and the three RSS items with nothing to show; the note with
	// text keeps no title.
	if untitled != 2*4 {
		t.Errorf("%d (untitled) items in RSS, want 8", untitled)
	}
}
