package publish

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// fakeStore is a Store over a slice of items and a map of states. A source
// belongs to the sections its entry in sources names.
type fakeStore struct {
	items   []aggregator.Item
	states  map[string]aggregator.SourceState
	sources []aggregator.Source
	err     error // returned by every method when set
}

func (f *fakeStore) RecentItems(ctx context.Context, section string, limit int) ([]aggregator.Item, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []aggregator.Item
	for _, it := range f.items {
		if section == "" || slices.ContainsFunc(f.sources, func(s aggregator.Source) bool {
			return s.Name == it.SourceID && slices.Contains(s.Sections, section)
		}) {
			out = append(out, it)
		}
	}
	slices.SortStableFunc(out, func(a, b aggregator.Item) int { return b.Date().Compare(a.Date()) })
	return out[:min(limit, len(out))], nil
}

func (f *fakeStore) States(ctx context.Context) (map[string]aggregator.SourceState, error) {
	return f.states, f.err
}

// fixedNow is the clock of every test.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func day(d, h int) time.Time { return time.Date(2026, 2, d, h, 0, 0, 0, time.UTC) }

// testSources are three configured sources in two sections, one read from
// a local file and failing, one never fetched.
func testSources() []aggregator.Source {
	return []aggregator.Source{
		{Name: "alpha", URL: "https://alpha.example/feed.xml", Title: "Alpha Blog", Sections: []string{"go"}},
		{Name: "beta", URL: "https://beta.example/rss", Sections: []string{"go", "news"}, Image: "faces/beta.png"},
		{Name: "gamma", URL: "/var/lib/planet/gamma.xml", Sections: []string{"news"}},
		{Name: "delta", URL: "https://delta.example/atom", Sections: []string{"news"}},
	}
}

func testStates() map[string]aggregator.SourceState {
	return map[string]aggregator.SourceState{
		"alpha": {Name: "alpha", FeedTitle: "Alpha's own title", SiteLink: "https://alpha.example/",
			FeedID: "tag:alpha.example,2026:feed", FeedUpdated: day(28, 9), Image: "https://alpha.example/logo.png",
			LastAttempt: day(28, 11), LastSuccess: day(28, 11), LastOutcome: aggregator.OutcomeStored, LastNew: 3},
		"beta": {Name: "beta", FeedTitle: "Beta <News> & Views", SiteLink: "https://beta.example/",
			LastAttempt: day(28, 11), LastSuccess: day(27, 11), LastOutcome: aggregator.OutcomeNotModified},
		"gamma": {Name: "gamma", LastAttempt: day(28, 11), LastSuccess: day(20, 11),
			LastOutcome: aggregator.OutcomeFailed, LastError: `parse /var/lib/planet/gamma.xml: unexpected EOF <oops>`, ConsecutiveFailures: 2},
	}
}

// testItems covers every shape of item the writers must handle.
func testItems() []aggregator.Item {
	return []aggregator.Item{{
		ID: "https://alpha.example/posts/1", SourceID: "alpha",
		Title: "Go 1.26 & more", Link: "https://alpha.example/posts/1",
		Content: "<p>Full <b>content</b></p>", Summary: "<p>Short</p>", Author: "Ann Author",
		Categories: []string{"go", "release"},
		Enclosures: []aggregator.Enclosure{
			{URL: "https://alpha.example/ep1.mp3", Type: "audio/mpeg", Length: 12345678},
			{URL: "https://alpha.example/ep1.ogg", Type: "Audio/OGG"},
		},
		Published: day(27, 9), Updated: day(28, 10), FirstSeen: day(27, 10),
		AlsoIn: []string{"beta", "gone-from-the-config", "delta"},
	}, {
		ID: "tag:alpha.example,2026:no-link", SourceID: "alpha",
		Title: "A note without a link", Content: "<p>Just a note.</p>",
		Published: day(26, 8), FirstSeen: day(26, 9),
	}, {
		ID: "https://beta.example/2", SourceID: "beta",
		Link: "https://beta.example/2", Content: "<p>Untitled, with a ]]> inside</p>",
		Published: day(25, 7), FirstSeen: day(25, 8),
	}, {
		ID: "https://beta.example/3", SourceID: "beta",
		Title: "Summary only", Link: "https://beta.example/3", Summary: "<p>Only a <i>summary</i></p>",
		Published: day(23, 7), FirstSeen: day(23, 8),
	}, {
		ID: "gamma-1", SourceID: "gamma",
		Title: "From the future", Link: "https://gamma.example/future",
		Published: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), FirstSeen: day(28, 6),
	}, {
		ID: "https://beta.example/4", SourceID: "beta",
		Title: "No date", Link: "https://beta.example/4", Summary: "<p>Undated</p>",
		FirstSeen: day(24, 12),
	}, {
		ID: "https://alpha.example/x?a=1&b=2", SourceID: "alpha",
		Title: `<script>alert("x")</script> & friends`, Link: "https://alpha.example/x?a=1&b=2",
		Author: `Eve "<evil>"`, Content: `<p>Escaped &amp; fine</p>`,
		Published: day(22, 7), FirstSeen: day(22, 8),
	}, {
		ID: "https://beta.example/ctl", SourceID: "beta",
		Title: "Bell\x07 and tab\tand vt\x0b end\uFFFE", Link: "https://beta.example/ctl",
		Content: "<p>nul\x00 and esc\x1b here</p>", Author: "Ctl\x01 Author",
		Categories: []string{"ctl\x01", "\x02", "  "},
		Enclosures: []aggregator.Enclosure{
			{URL: "https://beta.example/file.bin"},
			{URL: "https://beta.example/odd", Type: "audio", Length: -1},
			{URL: "", Type: "audio/mpeg"},
		},
		Published: day(21, 7), FirstSeen: day(21, 8),
	}, {
		ID: "retired-1", SourceID: "retired",
		Title: "From a source no longer configured", Link: "https://retired.example/1",
		Published: day(20, 7), FirstSeen: day(20, 8),
	}, {
		ID: "title-only", SourceID: "gamma",
		Title: "Title only", Published: day(19, 7), FirstSeen: day(19, 8),
	}, {
		// A guid and a date only: no title (fetch makes a blank one
		// empty), no link, no text (as a lone <script> once sanitized).
		// Every format says "(untitled)".
		ID: "alpha-blank", SourceID: "alpha",
		Published: day(18, 7), FirstSeen: day(18, 8),
	}}
}

func testOptions() Options {
	return Options{
		Title:       "Planet Test",
		Description: "Everything & everyone",
		BaseURL:     "https://planet.example/",
		Sections: []Section{
			{Name: "go", Title: "Go", Description: "Posts about Go"},
			{Name: "news"},
		},
		Sources: testSources(),
		Now:     func() time.Time { return fixedNow },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newTestStore() *fakeStore {
	return &fakeStore{items: testItems(), states: testStates(), sources: testSources()}
}

// mustSite returns a Site over store with opts, rebuilt once.
func mustSite(t *testing.T, store Store, opts Options) *Site {
	t.Helper()
	s := NewSite(store, opts)
	if err := s.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild() = %v", err)
	}
	return s
}

// request sends method path with header to h and returns the response.
func request(t *testing.T, h http.Handler, method, path string, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// body reads and closes resp's body.
func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// feedPaths lists every feed route of the test site.
func feedPaths() []string {
	var paths []string
	for _, p := range []string{"/feed", "/sections/go", "/sections/news"} {
		for _, ext := range []string{".atom", ".rss", ".json"} {
			paths = append(paths, p+ext)
		}
	}
	return paths
}

// allPaths lists every route of the test site.
func allPaths() []string {
	return append(feedPaths(), "/", "/sources.opml",
		"/sections/go.html", "/sections/go.opml", "/sections/news.html", "/sections/news.opml")
}

func TestRebuildErrorKeepsPreviousOutputs(t *testing.T) {
	t.Parallel()
	store := newTestStore()
	s := mustSite(t, store, testOptions())
	before := body(t, request(t, s, "GET", "/feed.atom", nil))

	errDisk := errors.New("disk on fire")
	store.err = errDisk
	if err := s.Rebuild(t.Context()); !errors.Is(err, errDisk) {
		t.Fatalf("Rebuild() = %v, want %v", err, errDisk)
	}
	resp := request(t, s, "GET", "/feed.atom", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after failed Rebuild = %d, want 200", resp.StatusCode)
	}
	if got := body(t, resp); string(got) != string(before) {
		t.Errorf("body changed after failed Rebuild")
	}
}

func TestItemsLimit(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Items = 2
	s := mustSite(t, newTestStore(), opts)
	var f jsonFeed
	decodeJSON(t, body(t, request(t, s, "GET", "/feed.json", nil)), &f)
	if len(f.Items) != 2 {
		t.Fatalf("items = %d, want 2", len(f.Items))
	}
	if want := ItemID("gamma", "gamma-1"); f.Items[0].ID != want {
		t.Errorf("first item = %s, want the clamped future item %s", f.Items[0].ID, want)
	}
}
