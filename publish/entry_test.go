package publish

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func TestNewEntryDates(t *testing.T) {
	t.Parallel()
	seen := day(20, 12)
	tests := []struct {
		name                       string
		published, updated         time.Time
		wantPublished, wantUpdated time.Time
	}{
		{"published", day(19, 0), time.Time{}, day(19, 0), day(19, 0)},
		{"updated", day(19, 0), day(21, 0), day(19, 0), day(21, 0)},
		{"future published is clamped", day(28, 0), time.Time{}, seen, seen},
		{"no published", time.Time{}, time.Time{}, seen, seen},
		{"other zone", day(19, 0).In(time.FixedZone("X", 3600)), time.Time{}, day(19, 0), day(19, 0)},
		{"unwritable updated", day(19, 0), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), day(19, 0), day(19, 0)},
		{"unwritable published", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEntry(aggregator.Item{ID: "x", SourceID: "s", Published: tt.published, Updated: tt.updated, FirstSeen: seen}, sourceRef{Title: "S"})
			if !e.Published.Equal(tt.wantPublished) || e.Published.Location() != time.UTC {
				t.Errorf("Published = %v, want %v in UTC", e.Published, tt.wantPublished)
			}
			if !e.Updated.Equal(tt.wantUpdated) {
				t.Errorf("Updated = %v, want %v", e.Updated, tt.wantUpdated)
			}
		})
	}
}

func TestItemID(t *testing.T) {
	t.Parallel()
	uuid5 := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tests := []struct {
		name, sourceID, id string
		want               string // "" when only the shape is checked
	}{
		// Pinned: a change here changes every published id, and readers
		// would show every item as new.
		{"pinned", "alpha", "https://alpha.example/posts/1", "urn:uuid:dadd9e5a-1511-529e-8132-ecb55b5a79ef"},
		{"empty", "", "", ""},
		{"unicode", "blog", "tag:é.example,2026:ünïcode", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ItemID(tt.sourceID, tt.id)
			if !uuid5.MatchString(got) {
				t.Errorf("ItemID(%q, %q) = %q, want a version 5 urn:uuid", tt.sourceID, tt.id, got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("ItemID(%q, %q) = %q, want %q", tt.sourceID, tt.id, got, tt.want)
			}
		})
	}
	if ItemID("ab", "c") == ItemID("a", "bc") {
		t.Errorf("itemID does not separate the source from the id")
	}
	if ItemID("a", "x") == ItemID("b", "x") {
		t.Errorf("the same id in two sources gives the same itemID")
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "Hello, world", "Hello, world"},
		{"allowed whitespace", "a\tb\nc\rd", "a\tb\nc\rd"},
		{"controls", "a\x00b\x07c\x0bd\x0ce\x1bf\x1f", "abcdef"},
		{"non-characters", "a\uFFFEb\uFFFFc", "abc"},
		{"invalid utf-8", "a\xffb", "a\uFFFDb"},
		{"markup untouched", "<p>&amp;</p>", "<p>&amp;</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := clean(tt.in); got != tt.want {
				t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanMediaType(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "audio/mpeg", "audio/mpeg"},
		{"upper case", "Audio/MPEG", "audio/mpeg"},
		{"parameters", "text/plain; charset=UTF-8", "text/plain; charset=UTF-8"},
		{"no subtype", "audio", ""},
		{"empty", "", ""},
		{"garbage", "a b/c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cleanMediaType(tt.in); got != tt.want {
				t.Errorf("cleanMediaType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestETagListMatches(t *testing.T) {
	t.Parallel()
	const etag = `"abc"`
	tests := []struct {
		name, list string
		want       bool
	}{
		{"same", `"abc"`, true},
		{"weak", `W/"abc"`, true},
		{"list", `"x", "abc"`, true},
		{"list without spaces", `"x","abc"`, true},
		{"comma inside a tag", `"a,b", "abc"`, true},
		{"star", `*`, true},
		{"star with spaces", ` * `, true},
		{"other", `"abd"`, false},
		{"prefix", `"ab"`, false},
		{"unquoted", `abc`, false},
		{"unterminated", `"abc`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := etagListMatches(tt.list, etag); got != tt.want {
				t.Errorf("etagListMatches(%q, %q) = %v, want %v", tt.list, etag, got, tt.want)
			}
		})
	}
}

// A renamed source's items keep their public ids: they are made from the
// name the store says the source is published as.
func TestRenamedSourceKeepsIDs(t *testing.T) {
	t.Parallel()
	it := aggregator.Item{ID: "post-1", SourceID: "old", Title: "t", Link: "https://a.example/1", FirstSeen: fixedNow}
	before := &fakeStore{items: []aggregator.Item{it}, sources: []aggregator.Source{{Name: "old", Title: "A", URL: "https://a.example/feed"}}}
	opts := testOptions()
	opts.Sources = before.sources
	old := body(t, request(t, mustSite(t, before, opts), "GET", "/feed.atom", nil))

	it.SourceID = "new"
	after := &fakeStore{items: []aggregator.Item{it}, sources: []aggregator.Source{{Name: "new", Title: "A", URL: "https://a.example/feed", RenamedFrom: []string{"old"}}},
		states: map[string]aggregator.SourceState{"new": {Name: "new", PublishedAs: "old"}}}
	opts.Sources = after.sources
	renamed := body(t, request(t, mustSite(t, after, opts), "GET", "/feed.atom", nil))
	if !bytes.Equal(old, renamed) {
		t.Errorf("feed after the rename differs:\n%s", firstDiff(renamed, old))
	}
	if id := ItemID("old", "post-1"); !bytes.Contains(renamed, []byte("<id>"+id+"</id>")) {
		t.Errorf("feed after the rename lacks the old id %s", id)
	}
}

// Every route the site serves has a label, a section's all the same one,
// and a path it does not serve none.
func TestRouteLabel(t *testing.T) {
	t.Parallel()
	site := NewSite(&fakeStore{}, testOptions())
	for path := range site.routes {
		want := path
		if strings.HasPrefix(path, "/sections/") {
			want = "/sections/"
		}
		if got := RouteLabel(path); got != want {
			t.Errorf("RouteLabel(%q) = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]string{"/page/2.html": "/page/", "/static/style.css": "/static/", "/sections/go/page/3.html": "/sections/"} {
		if got := RouteLabel(path); got != want {
			t.Errorf("RouteLabel(%q) = %q, want %q", path, got, want)
		}
	}
	for _, path := range []string{"/status.json", "/feed.xml", "/x", "/page/x.html", "/pages/2.html"} {
		if got := RouteLabel(path); got != "" {
			t.Errorf("RouteLabel(%q) = %q, want none", path, got)
		}
	}
}
