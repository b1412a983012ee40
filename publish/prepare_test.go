package publish

import (
	"strings"
	"sync"
	"testing"

	"github.com/planetgo/aggregator"
)

// Each version of an item is made safe once while it is shown, whatever
// the number of feeds and rebuilds that show it; an item never shown is
// never sanitized; an edited item is sanitized again; and a relative link
// of an item without one resolves against its source's URL.
func TestSanitizeOncePerVersion(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	store := newTestStore()
	opts := testOptions()
	opts.Items, opts.Pages = 3, 1 // the pages show what the feeds do
	opts.Sanitize = func(html, base string) string {
		mu.Lock()
		defer mu.Unlock()
		calls[html]++
		return "safe(" + html + " @ " + base + ")"
	}
	site := mustSite(t, store, opts)
	for range 2 {
		if err := site.Rebuild(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	shown := string(body(t, request(t, site, "GET", "/feed.json", nil)))
	if !strings.Contains(shown, "safe(<p>Full <b>content</b></p> @ https://alpha.example/posts/1)") {
		t.Errorf("merged feed does not show the sanitized content:\n%s", shown)
	}
	if !strings.Contains(string(body(t, request(t, site, "GET", "/sections/go.json", nil))), "safe(<p>Just a note.</p> @ https://alpha.example/feed.xml)") {
		t.Error("an item without a link was not made safe against its source's URL")
	}
	for html, n := range calls {
		if n != 1 {
			t.Errorf("sanitized %q %d times over three rebuilds, want once", html, n)
		}
	}
	shownHTML := map[string]bool{}
	for _, sec := range []string{"", "go", "news"} {
		items, _ := store.RecentItems(t.Context(), sec, opts.Items)
		for _, it := range items {
			shownHTML[it.Content], shownHTML[it.Summary] = true, true
		}
	}
	for html := range calls {
		if !shownHTML[html] {
			t.Errorf("%q, shown in no feed, was sanitized", html)
		}
	}
	if len(calls) == 0 || len(shownHTML) >= 2*len(testItems()) {
		t.Fatalf("%d sanitized, %d shown: the test shows too little or everything", len(calls), len(shownHTML))
	}

	// An edit is a new version.
	store.items[0].Content = "<p>edited</p>"
	if err := site.Rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls["<p>edited</p>"] != 1 {
		t.Errorf("the edited content was sanitized %d times, want once", calls["<p>edited</p>"])
	}
}

// Nothing sanitizes when no Sanitize is set: the store's HTML is shown.
func TestNoSanitizer(t *testing.T) {
	t.Parallel()
	site := mustSite(t, &fakeStore{items: []aggregator.Item{{ID: "x", SourceID: "alpha", Content: "<p>as stored</p>", FirstSeen: fixedNow}}, sources: testSources()}, testOptions())
	if got := string(body(t, request(t, site, "GET", "/feed.json", nil))); !strings.Contains(got, "<p>as stored</p>") {
		t.Errorf("content not as stored:\n%s", got)
	}
}

// Sites that share a Prepared (a reload's new Site) sanitize nothing the
// one before already made safe.
func TestPreparedSharedAcrossSites(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	opts := testOptions()
	opts.Prepared = &Prepared{}
	opts.Sanitize = func(html, base string) string {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return html
	}
	mustSite(t, newTestStore(), opts)
	first := calls
	mustSite(t, newTestStore(), opts)
	if first == 0 || calls != first {
		t.Errorf("sanitized %d times for the first site, %d in all after a second; want none for the second", first, calls)
	}
}
