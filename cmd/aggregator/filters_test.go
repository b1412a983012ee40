package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mmcdole/gofeed"

	"github.com/planetgo/aggregator/poll"
)

const filtersHead = `title: Planet Test
listen: %s
schedule: "@every 1h"
fetch: {timeout: 5s, jitter: 0}
`

// filtersRules hide four of filters.rss's five items from the go section
// and three from every feed, each by a rule on another field.
const filtersRules = `filters:
  exclude:
    - title: ^Sponsored
sections:
  go:
    filters:
      include:
        - category: ^go$
sources:
  - name: mixed
    url: %s/filters.rss
    sections: [go]
    filters:
      exclude:
        - author: ^Marketing
        - content: (?i)affiliate link
        - link: /nothing-here/
`

const filtersNone = `sections:
  go: {}
sources:
  - name: mixed
    url: %s/filters.rss
    sections: [go]
`

// TestReloadRulesWithoutFetch: `aggregator serve` takes the filters of a
// reloaded config at once, both ways, republishing from what it stored
// without a request to the source; /status.json and the page count what
// the filters hide.
func TestReloadRulesWithoutFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	feed, err := os.ReadFile(filepath.Join("testdata", "filters.rss"))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(feed)
	}))
	t.Cleanup(src.Close)
	addr := freeAddr(t)
	base := "http://" + addr
	dir := t.TempDir()
	configPath := filepath.Join(dir, "config.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(configPath, fmt.Appendf(nil, filtersHead+body, addr, src.URL), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	titles := func(path string) []string {
		f, err := gofeed.NewParser().Parse(bytes.NewReader(getOK(base + path)))
		if err != nil {
			return nil
		}
		var out []string
		for _, it := range f.Items {
			out = append(out, it.Title)
		}
		return out
	}
	status := func() poll.Status {
		var doc struct{ Sources []poll.Status }
		if err := json.Unmarshal(getOK(base+"/status.json"), &doc); err != nil || len(doc.Sources) != 1 {
			t.Fatalf("status.json: %v %+v", err, doc)
		}
		return doc.Sources[0]
	}
	all := []string{"Go 1.26 released", "Sponsored: buy a VPN", "Holiday photos", "Rust 2.0", "Go tips"}

	write(filtersNone)
	p := startProcess(t, []string{"STATE_DIRECTORY=" + dir}, "serve", "-config", configPath)
	p.eventually(t, "every item", func() bool { return slices.Equal(titles("/feed.atom"), all) })
	fetched := requests.Load()

	write(filtersRules)
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "the filters applied", func() bool {
		return slices.Equal(titles("/feed.atom"), []string{"Go 1.26 released", "Holiday photos"})
	})
	if got := titles("/sections/go.atom"); !slices.Equal(got, []string{"Go 1.26 released"}) {
		t.Errorf("go section = %q, want the one go item the filters leave", got)
	}
	if got := titles("/feed.rss"); !slices.Equal(got, []string{"Go 1.26 released", "Holiday photos"}) {
		t.Errorf("RSS = %q", got)
	}
	validateAtom(t, getOK(base+"/feed.atom"))
	if st := status(); st.Hidden != 3 || st.HiddenInSections["go"] != 4 {
		t.Errorf("status: hidden %d, in sections %v, want 3 and go: 4", st.Hidden, st.HiddenInSections)
	}
	if page := getOK(base + "/"); !bytes.Contains(page, []byte("filters hide 3 of its stored items")) {
		t.Errorf("the page does not show the 3 hidden items")
	}
	if page := getOK(base + "/sections/go.html"); !bytes.Contains(page, []byte("filters hide 4 of its stored items")) {
		t.Errorf("the go page does not show the 4 hidden items")
	}

	write(filtersNone)
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "every item back, in date order", func() bool { return slices.Equal(titles("/feed.atom"), all) })
	if got := titles("/sections/go.json"); len(got) != 5 {
		t.Errorf("go section after the filters left: %q", got)
	}
	if st := status(); st.Hidden != 0 || st.HiddenInSections != nil {
		t.Errorf("status after the filters left: hidden %d %v", st.Hidden, st.HiddenInSections)
	}
	if page := getOK(base + "/"); bytes.Contains(page, []byte("filters hide")) {
		t.Errorf("the page still counts hidden items")
	}
	if n := requests.Load(); n != fetched {
		t.Errorf("the source had %d requests after its first fetch, want none: a change of rules needs no fetch", n-fetched)
	}
	if !strings.Contains(p.stderr.String(), "config reloaded") {
		t.Errorf("no reload logged:\n%s", p.stderr)
	}
}

// TestCheckReportsBadRules: `aggregator check` compiles every rule and
// reports each bad one as FILE:LINE: message, with exit status 2.
func TestCheckReportsBadRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yaml")
	text := "filters:\n  exclude:\n    - title: '(?i)sponsored['\nsources:\n  - url: https://go.dev/blog/feed.atom\n    filters:\n      include:\n        - {author: 'Pike', category: '*go'}\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(buildAggregator(t), "check", "-config", path).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("check: %v, want exit status 2\n%s", err, out)
	}
	for _, want := range []string{
		path + `:3: filters.exclude rule 1: title "(?i)sponsored[" is not a valid regular expression (RE2 syntax): missing closing ]`,
		path + `:8: source "go-dev-blog-feed-atom": filters.include rule 1: category "*go" is not a valid regular expression (RE2 syntax): missing argument to repetition operator`,
	} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("check output lacks\n%s\n in:\n%s", want, out)
		}
	}
	text = strings.NewReplacer("sponsored[", "sponsored", "*go", "^go$").Replace(text)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(buildAggregator(t), "check", "-config", path).CombinedOutput()
	if want := path + ": ok: 1 sources in 0 sections, 2 filter rules\n"; err != nil || string(out) != want {
		t.Errorf("check of the fixed config: %v %q, want %q", err, out, want)
	}
}

// TestSourcesCountsHidden: the sources command shows, with filters in the
// config, how many items they hide, read from the database and from the
// running daemon alike; without filters its table is as before.
func TestSourcesCountsHidden(t *testing.T) {
	t.Parallel()
	feed, err := os.ReadFile(filepath.Join("testdata", "filters.rss"))
	if err != nil {
		t.Fatal(err)
	}
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(feed) }))
	t.Cleanup(src.Close)
	addr := freeAddr(t)
	dir := t.TempDir()
	configPath := filepath.Join(dir, "config.yaml")
	write := func(body string) {
		t.Helper()
		text := fmt.Sprintf(filtersHead+"database: %s\n", addr, filepath.Join(dir, "planet.db")) + fmt.Sprintf(body, src.URL)
		if err := os.WriteFile(configPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filtersNone)
	fetchCommand(t, configPath)
	out, _ := runCmd(t, "sources", "-config", configPath)
	if strings.Contains(out, "HIDDEN") {
		t.Errorf("sources without filters has a HIDDEN column:\n%s", out)
	}

	write(filtersRules)
	want := func(out string) {
		t.Helper()
		lines := strings.Split(out, "\n")
		if len(lines) < 2 || !strings.Contains(lines[0], "  HIDDEN  ") || !strings.Contains(lines[1], "  3 (go: 4)  ") {
			t.Errorf("sources with filters:\n%s\nwant HIDDEN 3 (go: 4)", out)
		}
	}
	out, errOut := runCmd(t, "sources", "-config", configPath)
	if !strings.Contains(errOut, "from the database") {
		t.Errorf("sources read %s", errOut)
	}
	want(out)

	d := startServe(t, configPath)
	defer d.stop(t)
	waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 2 })
	out, errOut = runCmd(t, "sources", "-config", configPath)
	if !strings.Contains(errOut, "from the running daemon") {
		t.Errorf("sources read %s", errOut)
	}
	want(out)
}

// TestPreviewNamesTheRule: preview of a configured source says which rule
// hides each item, from every feed or from a section's.
func TestPreviewNamesTheRule(t *testing.T) {
	t.Parallel()
	srv, _ := previewSite(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(`database: %s
filters:
  exclude:
    - title: ^Generics
sections:
  go:
    filters:
      include:
        - title: Rust
sources:
  - name: blog
    url: %q
    sections: [go]
`, filepath.Join(dir, "test.db"), srv.URL+"/blog.atom")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := runCmd(t, "preview", "-config", cfgPath, "blog")
	for _, want := range []string{
		`hidden     from every feed: excluded by a rule of the top-level filters at line 4 (title: '^Generics')`,
		`hidden     from the feeds of section go: matched no include rule of section "go" (line 9)`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("preview: no %q in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "hidden     from"); n != 2 {
		t.Errorf("preview gives %d reasons, want one for each item:\n%s", n, out)
	}
}
