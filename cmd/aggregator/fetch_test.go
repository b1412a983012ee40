package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
)

// fetchCommand runs `aggregator fetch` in this process and returns its stdout.
func fetchCommand(t *testing.T, configPath string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"fetch", "-config", configPath}, args...), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("fetch exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("fetch output lacks %q:\n%s", w, out)
		}
	}
}

func TestFetchCommand(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	var requests, conditional atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("If-None-Match") != "" {
			conditional.Add(1)
		}
		src.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), counting.URL)

	wantLines(t, fetchCommand(t, configPath), "blog: new 2", "news: new 1")

	// Unchanged: conditional requests, answered 304, store nothing.
	wantLines(t, fetchCommand(t, configPath), "blog: not modified", "news: not modified")
	if got := conditional.Load(); got != 2 {
		t.Errorf("%d conditional requests in the second pass, want 2", got)
	}

	// One item's title changes: updated in place, nothing duplicated.
	blog, _ := os.ReadFile(filepath.Join("testdata", "blog.atom"))
	src.set("/blog.atom", bytes.Replace(blog, []byte("Generics, revisited"), []byte("Generics, revisited again"), 1))
	wantLines(t, fetchCommand(t, configPath, "blog"), "blog: updated 1")

	// A failing source is reported, not fatal, and the others still work.
	src.set("/news.rss", []byte("<html>moved</html>"))
	src.set("/blog.atom", blog)
	out := fetchCommand(t, configPath)
	wantLines(t, out, "blog: updated 1", "news: error: not a feed")

	cfg := loadConfig(t, configPath)
	store, err := storage.Open(cfg.Database, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	items, err := store.RecentItems(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Errorf("%d items stored after four passes, want 3 (no duplicates)", len(items))
	}
	st, err := store.State(context.Background(), "news")
	if err != nil {
		t.Fatal(err)
	}
	if st.ConsecutiveFailures != 1 || st.LastError == "" || st.LastSuccess.IsZero() {
		t.Errorf("failing source state = %+v, want one failure after a success", st)
	}
}

func TestFetchCommandErrors(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), src.URL)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"fetch", "-config", configPath, "nosuch"}, &stdout, &stderr); code != exitConfig {
		t.Errorf("fetch of an unknown source exited %d, want %d", code, exitConfig)
	}
	if !strings.Contains(stderr.String(), `nosuch`) {
		t.Errorf("stderr = %q, want the unknown name", stderr.String())
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("sources:\n  - url: example.com/feed\n    sections: [nowhere]\n"), 0o644)
	stderr.Reset()
	if code := run(context.Background(), []string{"check", "-config", bad}, &stdout, &stderr); code != exitConfig {
		t.Errorf("check of a bad config exited %d, want %d", code, exitConfig)
	}
	for _, want := range []string{bad + ":2:", bad + ":3:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, stderr.String())
		}
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"check", "-config", configPath}, &stdout, &stderr); code != exitOK {
		t.Errorf("check of a good config exited %d:\n%s", code, stderr.String())
	}
}

// TestCorpusIngest serves every corpus feed from a loopback server and
// ingests them all into a real database in one pass: each feed gofeed reads
// is stored with as many items as it has distinct identities, and no file
// stops the pass.
func TestCorpusIngest(t *testing.T) {
	t.Parallel()
	corpus := newCorpus(t, "wellformed", "realworld", "illformed")
	c := corpus.config(t, "fetch: {concurrency: 8, per_host: 8, timeout: 5m}\nretention: {max_items: 100000}\n")
	want := map[string]int{}
	parser := fetch.NewParser()
	for name, path := range corpus.files {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err != nil {
			want[name] = -1 // gofeed itself rejects it: any outcome but a crash
			continue
		}
		f, err := parser.Parse(t.Context(), body, "", "", aggregator.Source{Name: name})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		distinct := map[string]bool{}
		for _, it := range f.Items {
			distinct[it.ID] = true
		}
		want[name] = len(distinct)
	}
	a, err := openApp(context.Background(), c, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	got := map[string]int{}
	errs := 0
	err = a.poller.Refresh(context.Background(), c.Sources, func(o poll.Outcome) {
		if o.Err != nil {
			errs++
			got[o.Source.Name] = -1
			return
		}
		got[o.Source.Name] = o.Saved.New
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range want {
		if n >= 0 && got[name] != n {
			t.Errorf("%s (%s): stored %d items, want %d", name, corpus.files[name], got[name], n)
		}
	}
	t.Logf("%d corpus files fetched; %d rejected with a reason", len(corpus.files), errs)
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestCompactCommand(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), src.URL)
	fetchCommand(t, configPath)

	// Refused while a daemon holds the database.
	d := startServe(t, configPath)
	waitFor(t, d, "http://"+configAddr(t, configPath)+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"compact", "-config", configPath}, &stdout, &stderr); code != exitFail {
		t.Errorf("compact beside a daemon exited %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr.String(), "in use by another process") {
		t.Errorf("compact beside a daemon: stderr %q, want it to say the database is in use", stderr.String())
	}
	d.stop(t)

	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"compact", "-config", configPath}, &stdout, &stderr); code != exitOK {
		t.Fatalf("compact exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "iB → ") {
		t.Errorf("compact printed %q, want the sizes before and after", stdout.String())
	}
	wantLines(t, fetchCommand(t, configPath), "blog: not modified", "news: not modified")
}

// configAddr returns the listen address of the config at path.
func configAddr(t *testing.T, path string) string {
	t.Helper()
	return loadConfig(t, path).Listen
}

// writeAndLoadConfig writes text as dir/config.yaml and loads it.
func writeAndLoadConfig(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadConfig(t, path)
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDiskFullDuringPass: when the database cannot grow (database_max_size
// stands in for a full disk), the feed that hit it fails with the reason,
// the other sources are stored, the failing one is tried again on the next
// pass rather than marked done, and the database stays whole.
func TestDiskFullDuringPass(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	var big strings.Builder
	big.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title><link>http://big.example/</link><description>d</description>`)
	for i := range 300 {
		fmt.Fprintf(&big, "<item><title>%d</title><guid>big-%d</guid><description>%s</description></item>", i, i, strings.Repeat("word ", 2000))
	}
	big.WriteString("</channel></rss>")
	src.set("/news.rss", []byte(big.String()))
	dir := t.TempDir()
	configPath := writeConfig(t, dir, freeAddr(t), src.URL)
	cfg, _ := os.ReadFile(configPath)
	os.WriteFile(configPath, append([]byte("database_max_size: 1MiB\n"), cfg...), 0o644)

	for pass, blog := range []string{"blog: new 2", "blog: not modified"} {
		// The pass goes on, but fetch exits 1: the database failed.
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"fetch", "-config", configPath}, &stdout, &stderr); code != exitFail {
			t.Errorf("pass %d: fetch exited %d, want %d", pass+1, code, exitFail)
		}
		out := stdout.String()
		wantLines(t, out, blog)
		// Tried again on the second pass, not "not modified".
		if !strings.Contains(out, "news: error: database: ") || !strings.Contains(out, "maximum size") {
			t.Errorf("pass %d: fetch output %q, want news failing on the database's maximum size", pass+1, out)
		}
	}
	store, err := storage.Open(loadConfig(t, configPath).Database, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Verify(context.Background()); err != nil {
		t.Error(err)
	}
}

// The fetch command renders the outputs after a pass that stored something
// (which prepares the newly published items), and skips it after one that
// stored nothing: no process reads its outputs.
func TestFetchRendersOnlyChanges(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	configPath := writeConfig(t, t.TempDir(), freeAddr(t), src.URL)
	renders := func(args ...string) int {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append([]string{"fetch", "-config", configPath, "-log-level", "debug"}, args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("fetch exited %d:\n%s%s", code, stdout.String(), stderr.String())
		}
		return strings.Count(stderr.String(), `msg="rebuilt outputs"`)
	}
	if n := renders(); n != 1 {
		t.Errorf("first fetch rendered %d times, want 1", n)
	}
	if n := renders(); n != 0 {
		t.Errorf("fetch of unchanged sources rendered %d times, want 0", n)
	}
	blog, _ := os.ReadFile(filepath.Join("testdata", "blog.atom"))
	src.set("/blog.atom", bytes.Replace(blog, []byte("Generics, revisited"), []byte("Generics, again"), 1))
	if n := renders(); n != 1 {
		t.Errorf("fetch of a changed source rendered %d times, want 1", n)
	}
}
