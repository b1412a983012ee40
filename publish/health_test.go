package publish

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

type healthDoc struct {
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Summary string `xml:"summary"`
	} `xml:"entry"`
}

func healthFeed(t *testing.T, states map[string]aggregator.SourceState) healthDoc {
	t.Helper()
	site := NewSite(&fakeStore{states: states, sources: testSources()},
		Options{Title: "Planet", BaseURL: "https://planet.example", Sources: testSources(), Now: func() time.Time { return fixedNow }})
	if err := site.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health.atom", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("GET /health.atom: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc healthDoc
	if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("health feed: %v\n%s", err, rec.Body)
	}
	return doc
}

// TestHealthFeed: one entry per failing, gone or moved source; none for a
// well one or one never fetched; a new id when a source fails again after
// recovering, the same id while it keeps failing.
func TestHealthFeed(t *testing.T) {
	t.Parallel()
	states := map[string]aggregator.SourceState{
		"alpha": {LastSuccess: day(1, 0), LastAttempt: day(1, 0)},
		"beta": {LastSuccess: day(1, 0), LastAttempt: day(2, 0), ConsecutiveFailures: 2,
			ErrorKind: "http status 500", LastError: "500 Internal Server Error", NextAttempt: day(3, 0)},
		"gamma": {LastAttempt: day(2, 0), Gone: true, ConsecutiveFailures: 1, ErrorKind: "http status 410"},
		"delta": {LastSuccess: day(2, 0), LastAttempt: day(2, 0), MovedTo: "https://delta.example/new"},
	}
	doc := healthFeed(t, states)
	var titles []string
	for _, e := range doc.Entries {
		titles = append(titles, e.Title)
	}
	want := []string{"beta: failing (http status 500)", "gamma: gone", "delta: moved to https://delta.example/new"}
	if !slices.Equal(titles, want) {
		t.Errorf("titles = %q, want %q", titles, want)
	}
	firstID := doc.Entries[0].ID

	beta := states["beta"]
	beta.ConsecutiveFailures, beta.LastAttempt = 3, day(3, 0)
	states["beta"] = beta
	if got := healthFeed(t, states).Entries[0].ID; got != firstID {
		t.Errorf("still failing: id %q, want the same %q", got, firstID)
	}
	beta.LastSuccess, beta.ConsecutiveFailures, beta.LastAttempt = day(4, 0), 1, day(5, 0)
	states["beta"] = beta
	if got := healthFeed(t, states).Entries[0].ID; got == firstID {
		t.Errorf("failing again after a success: id %q, want a new one", got)
	}
}
