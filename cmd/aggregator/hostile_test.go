package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/publish"
)

// hostileSources serves testdata/hostile.rss and hostile.json from a
// loopback server and ingests them, each in a section named after it.
func hostileSources(t *testing.T) (*app, string) {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	t.Cleanup(srv.Close)
	a := ingestSections(t, []testSource{
		{"hostile-rss", srv.URL + "/hostile.rss"},
		{"hostile-json", srv.URL + "/hostile.json"},
	})
	return a, srv.URL
}

// TestHostileContent feeds hostile items through fetch, sanitize, storage
// and publish, and checks every output: no script, event handler,
// javascript: URL, relative URL or control character anywhere.
func TestHostileContent(t *testing.T) {
	t.Parallel()
	a, origin := hostileSources(t)
	paths := []string{"/", "/feed.atom", "/feed.rss", "/feed.json", "/sources.opml"}
	for _, sec := range []string{"hostile-rss", "hostile-json"} {
		for _, ext := range []string{".atom", ".rss", ".json", ".html", ".opml"} {
			paths = append(paths, "/sections/"+sec+ext)
		}
	}
	all := map[string][]byte{}
	for _, path := range paths {
		all[path] = serveGet(t, a, path)
	}
	stored, err := a.store.RecentItems(t.Context(), "", allItems)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("%d items stored, want 3", len(stored))
	}
	want := map[string]aggregator.Item{}
	for _, it := range stored {
		want[publish.ItemID(it.SourceID, it.ID)] = it
	}
	ctl := regexp.MustCompile(`[\x00-\x08\x0b\x0c\x0e-\x1f]|\\u00(0[0-8bcef]|1[0-9a-f])`)
	for path, body := range all {
		if m := ctl.Find(body); m != nil {
			t.Errorf("GET %s: control character %q", path, m)
		}
		switch {
		case strings.HasSuffix(path, ".atom"), strings.HasSuffix(path, ".rss"), strings.HasSuffix(path, ".json"):
			if ids := checkFeed(t, path, body, want); len(ids) == 0 {
				t.Errorf("GET %s: no items", path)
			}
		case strings.HasSuffix(path, ".opml"):
			if err := wellFormed(body); err != nil {
				t.Errorf("GET %s: %v", path, err)
			}
		default:
			if bad := unsafeHTML(body); bad != "" {
				t.Errorf("GET %s: %s", path, bad)
			}
			for _, w := range []string{
				`href="` + origin + `/relative/link"`, `src="` + origin + `/posts/relative.png"`,
				`href="` + origin + `/posts/hostile"`, "Friendly item", "Unclosed <b>bold",
			} {
				if !bytes.Contains(body, []byte(w)) && path != "/sections/hostile-json.html" {
					t.Errorf("GET %s lacks %q", path, w)
				}
			}
		}
		// Outside HTML, a tag in a title or name shows as text, never as
		// markup a reader could run.
		if bytes.Contains(bytes.ToLower(body), []byte("<script")) {
			t.Errorf("GET %s contains <script", path)
		}
	}
}

// chromium returns the path of a Chromium to run, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium; .ci/run does): the page is not tested in a browser")
	return ""
}

// dumpDOM loads url in headless Chromium, lets its timers and image loads
// run, and returns the DOM as the page's scripts, if any, left it.
func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000", "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Fatalf("chromium --dump-dom %s printed nothing:\n%s", url, stderr.String())
	}
	return stdout.String()
}

// pwned matches what any of hostile.rss's payloads does when it runs.
var pwned = regexp.MustCompile(`<title>[^<]*PWNED|<body[^>]*data-pwned`)

// TestPageInBrowser loads the planet page with a hostile item in headless
// Chromium: the items are shown, and none of the item's scripts runs, with
// the page's Content-Security-Policy and without it (so the sanitizer alone
// is tested too). A control page with the raw payloads proves the browser
// would have run them.
func TestPageInBrowser(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	a, origin := hostileSources(t)
	site := httptest.NewServer(a.site)
	t.Cleanup(site.Close)
	withoutCSP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.site.ServeHTTP(dropCSP{w}, r)
	}))
	t.Cleanup(withoutCSP.Close)
	raw, err := os.ReadFile("testdata/hostile.rss")
	if err != nil {
		t.Fatal(err)
	}
	payload := raw[bytes.Index(raw, []byte("<![CDATA["))+9 : bytes.Index(raw, []byte("]]>"))]
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!DOCTYPE html><html><head><title>control</title></head><body>"))
		w.Write(payload)
	}))
	t.Cleanup(control.Close)

	t.Run("control", func(t *testing.T) {
		t.Parallel()
		if dom := dumpDOM(t, browser, control.URL); !pwned.MatchString(dom) {
			t.Fatalf("the unsanitized payload did not run in Chromium, so this test proves nothing:\n%s", dom)
		}
	})
	for name, base := range map[string]string{"with CSP": site.URL, "without CSP": withoutCSP.URL} {
		for _, path := range []string{"/", "/sections/hostile-rss.html"} {
			t.Run(name+" "+path, func(t *testing.T) {
				t.Parallel()
				dom := dumpDOM(t, browser, base+path)
				if m := pwned.FindString(dom); m != "" {
					t.Errorf("a hostile script ran: %q", m)
				}
				for _, w := range []string{
					"Friendly item", "Hostile document.title=", "Before the attacks.",
					`href="` + origin + `/posts/friendly"`, `href="` + origin + `/relative/link"`,
					`<section class="sources">`, "Sources</h2>",
				} {
					if !strings.Contains(dom, w) {
						t.Errorf("the page as Chromium shows it lacks %q", w)
					}
				}
				// The unclosed <b> and the stray end tags stay inside
				// their item: the source list is not bold.
				if i := strings.Index(dom, `<section class="sources">`); i < 0 || strings.Contains(dom[max(i-200, 0):i], "<b>") {
					t.Errorf("an item's markup leaks into the source list:\n%s", dom[max(i-200, 0):max(i, 0)])
				}
			})
		}
	}
}

// dropCSP removes the Content-Security-Policy header before it is sent.
type dropCSP struct{ http.ResponseWriter }

func (d dropCSP) WriteHeader(code int) {
	d.Header().Del("Content-Security-Policy")
	d.ResponseWriter.WriteHeader(code)
}
