package poll

import (
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
)

// A preview's report says what keeps each item out: retention first (the
// item would be deleted once stored), else publish.max_age, and the rules
// of the planet, the source and its sections; a bare URL has no rules; an
// error is the report's, with its kind.
func TestReportKeptOut(t *testing.T) {
	t.Parallel()
	now := t0
	pattern := func(expr string) aggregator.Pattern {
		p, err := aggregator.NewPattern("title", expr)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules := &aggregator.Rules{
		Sources:  map[string]aggregator.Filter{"blog": {Exclude: []aggregator.Rule{aggregator.NewRule(7, pattern("(?i)sponsored"))}}},
		Sections: map[string]aggregator.Filter{"go": {Include: []aggregator.Rule{aggregator.NewRule(9, pattern("Go"))}}},
	}
	item := func(title string, date time.Time) fetch.PreviewItem {
		return fetch.PreviewItem{Item: aggregator.Item{ID: title, Title: title, Published: date}, Date: date}
	}
	p := fetch.Preview{Items: []fetch.PreviewItem{
		item("Go 1.30 is out", now.Add(-time.Hour)),
		item("Holiday photos", now.Add(-time.Hour)),
		item("Sponsored: Go hosting", now.Add(-time.Hour)),
		item("Go, a year ago", now.Add(-400*24*time.Hour)),
		item("Go, last month", now.Add(-40*24*time.Hour)),
	}}
	s := PreviewSettings{PublishMaxAge: 30 * 24 * time.Hour, RetentionMaxAge: 365 * 24 * time.Hour, Rules: rules}
	src := aggregator.Source{Name: "blog", URL: "https://u:pw@blog.example/feed", Sections: []string{"go"}}
	r := NewReport(src, p, nil, now, s)
	if r.URL != "https://blog.example/feed" || len(r.Items) != 5 {
		t.Fatalf("report %+v", r)
	}
	want := []string{
		"",
		"the feeds of section go",
		"every feed",
		"every feed",
		"every feed",
	}
	for i, it := range r.Items {
		from := ""
		if len(it.Hidden) > 0 {
			from = it.Hidden[0].From
		}
		if from != want[i] {
			t.Errorf("%q kept out of %q (%+v), want %q", it.Title, from, it.Hidden, want[i])
		}
	}
	if why := r.Items[3].Hidden[0].Why; why == r.Items[4].Hidden[0].Why {
		t.Errorf("retention and publish.max_age give the same reason: %q", why)
	}

	bare := NewReport(aggregator.Source{URL: "https://blog.example/feed"}, p, nil, now, s)
	if len(bare.Items[2].Hidden) != 0 {
		t.Errorf("a bare URL's item kept out by a source's rules: %+v", bare.Items[2].Hidden)
	}
	failed := NewReport(src, fetch.Preview{}, &fetch.StatusError{Code: 404}, now, s)
	if failed.Error == "" || failed.ErrorKind != "http status 404" || len(failed.Items) != 0 {
		t.Errorf("report of a 404: %+v", failed)
	}
}
