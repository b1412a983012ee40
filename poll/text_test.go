package poll

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// Each class of outcome prints as the fetch command shows it: the result,
// or the error and what happens next.
func TestOutcomeWriteText(t *testing.T) {
	t.Parallel()
	fail := errors.New("status 500")
	next := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	src := aggregator.Source{Name: "blog"}
	tests := []struct {
		o    Outcome
		want string
	}{
		{Outcome{Source: src, Saved: storage.SaveResult{New: 2}, State: aggregator.SourceState{LastOutcome: aggregator.OutcomeStored, LastNew: 2}},
			"blog: new 2\n"},
		{Outcome{Source: src, NotModified: true, State: aggregator.SourceState{LastOutcome: aggregator.OutcomeNotModified}},
			"blog: not modified\n"},
		{Outcome{Source: src, Err: fail, State: aggregator.SourceState{NextAttempt: next, ConsecutiveFailures: 1}},
			"blog: error: status 500\n  next attempt 2026-12-06T13:00:00Z (1 failure)\n"},
		{Outcome{Source: src, Err: fail, State: aggregator.SourceState{NextAttempt: next, ConsecutiveFailures: 3}},
			"blog: error: status 500\n  next attempt 2026-12-06T13:00:00Z (3 failures in a row)\n"},
		{Outcome{Source: src, Err: fail, State: aggregator.SourceState{Gone: true}},
			"blog: error: status 500\n  gone: no longer polled; remove it from the config or fix its url\n"},
		{Outcome{Source: src, Err: &StoreError{errors.New("disk full")}},
			"blog: error: database: disk full\n"},
		{Outcome{Source: src, Waiting: &fetch.HostBlockedError{Host: "h.example", Until: next}},
			"blog: waiting: host h.example asked for no requests before 2026-12-06T13:00:00Z (-force fetches anyway)\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		tt.o.WriteText(&b)
		if b.String() != tt.want {
			t.Errorf("%v:\n got %q\nwant %q", tt.o.Class(), b.String(), tt.want)
		}
	}
}

// The sources table has a column of hidden items only with filters,
// with each section's own count beside, and times relative to now.
func TestWriteStatusTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	list := []Status{
		{Name: "a", LastAttempt: now.Add(-time.Minute), LastSuccess: now.Add(-200 * time.Second), NextAttempt: now.Add(12 * time.Minute), Result: "new 3",
			Hidden: 3, HiddenInSections: map[string]int{"web": 7, "go": 5}},
		{Name: "b-longer", ConsecutiveFailures: 2, Result: "error: status 500"},
	}
	for _, tt := range []struct {
		filters bool
		want    string
	}{
		{false, `
NAME      STATE        LAST SUCCESS  NEXT ATTEMPT  RESULT
a         ok           3m20s ago     in 12m0s      new 3
b-longer  failing (2)  -             -             error: status 500
`},
		{true, `
NAME      STATE        LAST SUCCESS  NEXT ATTEMPT  HIDDEN             RESULT
a         ok           3m20s ago     in 12m0s      3 (go: 5, web: 7)  new 3
b-longer  failing (2)  -             -             0                  error: status 500
`},
	} {
		var b strings.Builder
		if err := WriteStatusTable(&b, list, now, tt.filters); err != nil {
			t.Fatal(err)
		}
		if got := "\n" + b.String(); got != tt.want {
			t.Errorf("filters %v:\n got %s\nwant %s", tt.filters, got, tt.want)
		}
	}
}

// A preview prints each item with where its identity and date come
// from, what hides it, and a count; an error that is a page names the
// feeds it links.
func TestReportWriteText(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	r := Report{
		Source: "blog", URL: "https://blog.example/feed", At: at,
		FetchedFrom: "https://www.blog.example/feed", MovedTo: "https://www.blog.example/feed",
		Feed: &ReportFeed{Title: "Blog", Format: "atom", SiteLink: "https://blog.example/"},
		Items: []ReportItem{
			{Title: "One", Link: "https://blog.example/1", Canonical: "https://blog.example/one", ID: "urn:1", IdentityFrom: "guid",
				Date: at.Add(-time.Hour), DateFrom: "published"},
			{Link: "https://blog.example/2", IdentityFrom: aggregator.IdentityLink, IdentityWhy: "its GUID is shared",
				Date: at, DateWhy: "no date: first seen"},
			{Title: "Three", ID: "urn:3", IdentityFrom: "guid", Date: at.Add(-2 * time.Hour), DateFrom: "updated",
				Hidden: []KeptOut{{"every feed", `title matches "x"`}}},
			{Title: "Four", ID: "urn:4", IdentityFrom: "guid", Date: at.Add(-3 * time.Hour), DateFrom: "updated", UnreadDate: "yesterday"},
		},
	}
	want := `source blog (https://blog.example/feed)
fetched from https://www.blog.example/feed
moved permanently to https://www.blog.example/feed: configure that URL
feed "Blog" (atom), site https://blog.example/

1. One
   link       https://blog.example/1
   canonical  https://blog.example/one
   identity   guid urn:1
   date       2026-12-06T11:00:00Z (published)

2. (no title)
   link       https://blog.example/2
   identity   link (its GUID is shared)
   date       2026-12-06T12:00:00Z (no date: first seen)

3. Three
   identity   guid urn:3
   date       2026-12-06T10:00:00Z (updated: it has no published date)
   hidden     from every feed: title matches "x"

4. Four
   identity   guid urn:4
   date       2026-12-06T09:00:00Z (updated; its published date "yesterday" cannot be read)

4 items: 3 published, 1 hidden from some feeds; dates as if first seen now (2026-12-06T12:00:00Z)
`
	var b strings.Builder
	r.WriteText(&b)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	for _, tt := range []struct {
		named []string
		want  string
	}{
		{nil, "https://blog.example/: not a feed\nIt is not a feed and names none; `aggregator discover https://blog.example/` looks further.\n"},
		{[]string{"https://blog.example/feed"}, "https://blog.example/: not a feed\nIt is not a feed; it names these feeds:\n  https://blog.example/feed\n"},
	} {
		b.Reset()
		Report{URL: "https://blog.example/", Error: "not a feed", ErrorKind: "not a feed", FeedsNamed: tt.named}.WriteText(&b)
		if b.String() != tt.want {
			t.Errorf("got %q, want %q", b.String(), tt.want)
		}
	}
	b.Reset()
	Report{URL: "https://blog.example/", Feed: &ReportFeed{Title: "Empty", Format: "rss"}, FetchedFrom: "https://blog.example/"}.WriteText(&b)
	if want := "https://blog.example/\nfeed \"Empty\" (rss)\nThe feed has no items: nothing would be published.\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
