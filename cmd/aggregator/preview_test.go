package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
)

// runCode runs the command and returns its exit code and outputs.
func runCode(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// previewSite serves a blog whose feed has an item dated in the future,
// an HTML page naming it, an empty feed and a 404.
func previewSite(t *testing.T) (srv *httptest.Server, requests *atomic.Int32) {
	t.Helper()
	blog := strings.Replace(string(testFeed(t, "testdata/blog.atom")), "<published>2026-11-03T10:00:00Z</published>", "<published>2099-01-01T00:00:00Z</published>", 1)
	requests = new(atomic.Int32)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/blog.atom":
			w.Header().Set("Content-Type", "application/atom+xml")
			w.Write([]byte(blog))
		case "/blog/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!DOCTYPE html><html><head><title>Blog</title><link rel="alternate" type="application/atom+xml" href="../blog.atom" title="Blog"></head><body>Hello</body></html>`)
		case "/empty.rss":
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprint(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title><link>http://empty.example/</link><description>none</description></channel></rss>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

// TestPreviewCommand: a configured source by name, a bare URL, an HTML
// page, an empty feed and an error, as text and JSON; the database, written
// by a fetch before, is the same file byte for byte afterwards.
func TestPreviewCommand(t *testing.T) {
	t.Parallel()
	srv, requests := previewSite(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "test.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`database: %s
sections: {go: {}}
sources:
  - {name: blog, url: %q, sections: [go], identity: link}
`, db, srv.URL+"/blog.atom")), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, "fetch", "-config", cfgPath)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	beforeInfo, _ := os.Stat(db)
	start := time.Now().UTC().Truncate(time.Second)

	t.Run("configured source", func(t *testing.T) {
		out, _ := runCmd(t, "preview", "-config", cfgPath, "blog")
		for _, want := range []string{
			"source blog (" + srv.URL + "/blog.atom)",
			`feed "Example Go Blog" (atom), site http://blog.example/`,
			"1. Generics, revisited",
			"identity   link (identity: link)",
			"(first seen: its published date 2099-01-01T00:00:00Z is in the future)",
			"2. Go 1.26 is released",
			"date       2026-11-01T10:00:00Z (published)",
			"2 items: 2 published",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("preview blog: no %q in\n%s", want, out)
			}
		}
		out, _ = runCmd(t, "preview", "-config", cfgPath, "-format", "json", "blog")
		var r poll.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.Source != "blog" || r.Feed == nil || r.Feed.Format != "atom" || len(r.Items) != 2 {
			t.Fatalf("JSON preview = %+v", r)
		}
		future := r.Items[0]
		if future.ID != "http://blog.example/generics" || future.IdentityFrom != "link" || future.IdentityWhy != "identity: link" ||
			future.Date.Before(start) || !future.Date.Equal(r.At) || future.DateWhy == "" || future.Canonical != "http://blog.example/generics" {
			t.Errorf("future item = %+v, want identified by link and dated when first seen (%v)", future, r.At)
		}
		if past := r.Items[1]; !past.Date.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) || past.DateWhy != "" || past.DateFrom != "published" {
			t.Errorf("past item = %+v, want its published date", past)
		}
	})
	t.Run("bare URL", func(t *testing.T) {
		out, _ := runCmd(t, "preview", "-format", "json", srv.URL+"/blog.atom?x=1")
		var r poll.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.Source != "" || len(r.Items) != 2 || r.Items[0].IdentityFrom != "guid" || r.Items[0].ID != "tag:blog.example,2026:generics" {
			t.Errorf("preview of a URL (no config, default identity) = %+v", r)
		}
	})
	t.Run("configured source by URL", func(t *testing.T) {
		out, _ := runCmd(t, "preview", "-config", cfgPath, srv.URL+"/blog.atom")
		if !strings.Contains(out, "source blog (") || !strings.Contains(out, "identity   link (identity: link)") {
			t.Errorf("preview by the source's URL does not preview the source:\n%s", out)
		}
	})
	t.Run("max age", func(t *testing.T) {
		aged := filepath.Join(dir, "aged.yaml")
		if err := os.WriteFile(aged, []byte(fmt.Sprintf("database: %s\npublish: {max_age: 7d}\nsources: [{url: %q}]\n", db, srv.URL+"/blog.atom")), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := runCmd(t, "preview", "-config", aged, srv.URL+"/blog.atom")
		if !strings.Contains(out, "hidden     from every feed: dated more than publish.max_age (168h0m0s) ago\n") ||
			strings.Count(out, "hidden     from") != 1 || !strings.Contains(out, "2 items: 1 published, 1 hidden") {
			t.Errorf("preview with publish.max_age 7d: want the old item hidden, the new one not:\n%s", out)
		}
	})
	t.Run("HTML page", func(t *testing.T) {
		code, out, _ := runCode("preview", "-config", cfgPath, srv.URL+"/blog/")
		if code != exitFail || !strings.Contains(out, "not a feed (text/html; charset=utf-8)") ||
			!strings.Contains(out, "It is not a feed; it names these feeds:\n  "+srv.URL+"/blog.atom\n") {
			t.Errorf("preview of a page: exit %d\n%s", code, out)
		}
		code, out, _ = runCode("preview", "-config", cfgPath, "-format", "json", srv.URL+"/blog/")
		var r poll.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFail {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		if r.ErrorKind != "not a feed" || !slices.Equal(r.FeedsNamed, []string{srv.URL + "/blog.atom"}) || r.Feed != nil || len(r.Items) != 0 {
			t.Errorf("JSON preview of a page = %+v", r)
		}
	})
	t.Run("empty feed", func(t *testing.T) {
		out, _ := runCmd(t, "preview", "-config", cfgPath, srv.URL+"/empty.rss")
		if !strings.Contains(out, "The feed has no items: nothing would be published.") {
			t.Errorf("preview of an empty feed:\n%s", out)
		}
	})
	t.Run("error", func(t *testing.T) {
		code, out, _ := runCode("preview", "-config", cfgPath, srv.URL+"/missing.atom")
		if code != exitFail || out != srv.URL+"/missing.atom: http status 404 Not Found\n" {
			t.Errorf("preview of a 404: exit %d\n%s", code, out)
		}
		closed := "http://" + freeAddr(t) + "/feed"
		code, out, _ = runCode("preview", "-config", cfgPath, "-format", "json", closed)
		var r poll.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFail || r.ErrorKind != "connect" || r.Error == "" {
			t.Errorf("JSON preview of a closed port: exit %d, %v, %+v", code, err, r)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"preview", "-config", cfgPath, "nosuchsource"},
			{"preview", "-config", cfgPath, "ftp://example.com/feed"},
			{"preview", "-config", cfgPath, "-format", "xml", "blog"},
			{"preview", "-config", cfgPath},
			{"preview", "-config", filepath.Join(dir, "missing.yaml"), srv.URL + "/blog.atom"},
		} {
			if code, _, errOut := runCode(args...); code != exitConfig || errOut == "" {
				t.Errorf("%q: exit %d, stderr %q; want 2 and a reason", args, code, errOut)
			}
		}
	})

	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	afterInfo, _ := os.Stat(db)
	if !bytes.Equal(before, after) || !afterInfo.ModTime().Equal(beforeInfo.ModTime()) {
		t.Errorf("preview changed the database (%d bytes, then %d; modified %v, then %v)", len(before), len(after), beforeInfo.ModTime(), afterInfo.ModTime())
	}
	if n := requests.Load(); n < 8 {
		t.Errorf("the site got %d requests: the previews did not fetch", n)
	}
}

// TestDiscoverCommand: the feeds of a site as sources: YAML that loads as a
// config, named after the site, with names the config has taken avoided;
// no feed, or a host that does not answer, is exit 1 with the reason.
func TestDiscoverCommand(t *testing.T) {
	t.Parallel()
	rss := testFeed(t, "testdata/news.rss")
	var silentRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/blog/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><head>
<link rel="alternate" type="application/atom+xml" href="feed.atom">
<link rel="alternate" type="application/rss+xml" href="/comments/feed/"></head></html>`)
		case "/blog/feed.atom":
			w.Write(testFeed(t, "testdata/blog.atom"))
		case "/comments/feed/":
			w.Write(rss)
		case "/nothing/":
			fmt.Fprint(w, `<html><body>no feeds</body></html>`)
		case "/silent/":
			silentRequests.Add(1)
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	host := strings.TrimPrefix(srv.URL, "http://")
	site := config.NameFromURL(srv.URL + "/blog/")

	out, _ := runCmd(t, "discover", host+"/blog/")
	for _, want := range []string{
		srv.URL + "/blog/: 2 feeds",
		"Example Go Blog\n  url       " + srv.URL + "/blog/feed.atom\n  format    atom, 2 items, newest 2026-11-03T10:00:00Z\n  found as  <link rel=\"alternate\">",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("discover: no %q in\n%s", want, out)
		}
	}
	_, paste, ok := strings.Cut(out, "# to paste into the config\n")
	if !ok {
		t.Fatalf("no YAML to paste in\n%s", out)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("database: "+filepath.Join(dir, "x.db")+"\n"+paste), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the YAML printed does not load: %v\n%s", err, paste)
	}
	var got []string
	for _, src := range cfg.Sources {
		got = append(got, src.Name+" "+src.URL)
	}
	want := []string{site + " " + srv.URL + "/blog/feed.atom", config.NameFromURL(srv.URL+"/comments/feed/") + " " + srv.URL + "/comments/feed/"}
	if !slices.Equal(got, want) {
		t.Errorf("sources = %q, want %q", got, want)
	}

	// With that config, the names are taken.
	out, _ = runCmd(t, "discover", "-config", cfgPath, srv.URL+"/blog/")
	if !strings.Contains(out, "- name: "+site+"-2\n") {
		t.Errorf("discover with a config naming %s already:\n%s", site, out)
	}

	code, out, _ := runCode("discover", srv.URL+"/nothing/")
	if code != exitFail || !strings.Contains(out, "no feed found") || !strings.Contains(out, srv.URL+"/feed.json") || strings.Contains(out, "sources:") {
		t.Errorf("discover of a site with no feed: exit %d\n%s", code, out)
	}

	silentCfg := filepath.Join(dir, "silent.yaml")
	if err := os.WriteFile(silentCfg, []byte("fetch: {timeout: 2s, header_timeout: 200ms}\nsources: [{url: http://x.example/}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCode("discover", "-config", silentCfg, srv.URL+"/silent/")
	if code != exitFail || !strings.Contains(errOut, "timeout") || silentRequests.Load() != 1 {
		t.Errorf("discover of a silent host: exit %d, %d requests, stderr %q; want a timeout after one request", code, silentRequests.Load(), errOut)
	}
	if code, _, errOut := runCode("discover", "ftp://example.com/"); code != exitConfig || !strings.Contains(errOut, "want an http(s) address") {
		t.Errorf("discover ftp://: exit %d, %q", code, errOut)
	}
}

// TestOPMLImportResolvesSites: an outline that names a site is replaced by
// the feed its page names, and stderr says so; a site with no feed is left
// out, and said so; a site whose feed is imported already adds nothing.
// Outlines with a feed are taken as they are, without a request.
func TestOPMLImportResolvesSites(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/blog/", "/again/":
			fmt.Fprint(w, `<html><head><link rel="alternate" type="application/atom+xml" href="/blog/feed.atom"></head></html>`)
		case "/blog/feed.atom":
			w.Write(testFeed(t, "testdata/blog.atom"))
		case "/nothing/":
			fmt.Fprint(w, `<html><body>no feeds</body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	opml := filepath.Join(dir, "blogroll.opml")
	if err := os.WriteFile(opml, []byte(fmt.Sprintf(`<?xml version="1.0"?>
<opml version="2.0"><head><title>Blogroll</title></head><body>
  <outline text="Feed" xmlUrl="http://feed.invalid/rss" htmlUrl="http://feed.invalid/"/>
  <outline text="The Blog" type="link" url="%[1]s/blog/"/>
  <outline text="Nothing here" htmlUrl="%[1]s/nothing/"/>
  <outline text="Again" xmlUrl="%[1]s/again/" htmlUrl="%[1]s/again/"/>
</body></opml>`, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut := runCmd(t, "opml", "import", "-section", "blogs", opml)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("database: "+filepath.Join(dir, "x.db")+"\n"+out), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the printed YAML does not load: %v\n%s", err, out)
	}
	var got []string
	for _, src := range cfg.Sources {
		got = append(got, src.URL+" "+src.Title)
	}
	if want := []string{"http://feed.invalid/rss Feed", srv.URL + "/blog/feed.atom The Blog"}; !slices.Equal(got, want) {
		t.Errorf("sources = %q, want %q\n%s", got, want, out)
	}
	if !strings.HasPrefix(out, "# 2 sources from "+opml+", 1 of them found at the site the outline names\n") {
		t.Errorf("no comment on the sites resolved:\n%s", out)
	}
	for _, want := range []string{
		srv.URL + "/blog/: resolved to " + srv.URL + "/blog/feed.atom, found as <link rel=\"alternate\">\n",
		srv.URL + "/nothing/: no feed found: left out\n",
		srv.URL + "/again/: its feed " + srv.URL + "/blog/feed.atom is imported already\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr has no %q:\n%s", want, errOut)
		}
	}
	// The pages, their feeds (twice) and the five well-known paths of the site with none.
	if n := requests.Load(); n != 2+2+1+5 {
		t.Errorf("%d requests, want 10", n)
	}
}
