package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
)

// sourceServer serves files of testdata/ by name, and can be switched off
// (every request a 503) to prove the daemon serves its feeds without it.
type sourceServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	down  bool
}

func newSourceServer(t *testing.T) *sourceServer {
	t.Helper()
	s := &sourceServer{files: map[string][]byte{}}
	for _, name := range []string{"blog.atom", "news.rss"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		s.files["/"+name] = b
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, ok := s.files[r.URL.Path]
		down := s.down
		s.mu.Unlock()
		switch {
		case down:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("ETag", fmt.Sprintf(`"%x"`, len(body)))
			if r.Header.Get("If-None-Match") == w.Header().Get("ETag") {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write(body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sourceServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *sourceServer) set(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeConfig writes a config with the blog and news sources of srv. Its
// fetch timeout covers parsing, which takes seconds for a feed of a few
// megabytes under the race detector on a busy machine.
func writeConfig(t *testing.T, dir, addr, srcURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`title: Planet Test
base_url: http://%[1]s
listen: %[1]s
database: %[2]s
schedule: "@every 1h"
fetch: {timeout: 60s, concurrency: 2}
publish: {items: 10}
sections:
  go: {title: Go, description: Gophers}
  news: {title: News}
sources:
  - url: %[3]s/blog.atom
    name: blog
    sections: [go]
  - url: %[3]s/news.rss
    name: news
    title: The News
    sections: [news, go]
`, addr, filepath.Join(dir, "test.db"), srcURL)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serving is `aggregator serve` running in this process.
type serving struct {
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startServe(t *testing.T, configPath string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &serving{cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	go func() { d.done <- run(ctx, []string{"serve", "-config", configPath}, io.Discard, d.stderr) }()
	return d
}

// stop sends the equivalent of SIGTERM and waits for a clean exit.
func (d *serving) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop:\n%s", d.stderr)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls url until cond accepts the parsed feed, or fails the test
// after a generous deadline.
func waitFor(t *testing.T, d *serving, url string, cond func(*gofeed.Feed) bool) *gofeed.Feed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if f, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err == nil && cond(f) {
					return f
				}
			}
		}
		select {
		case code := <-d.done:
			t.Fatalf("serve exited %d:\n%s", code, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready (last error %v):\n%s", url, err, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func parseFeed(t *testing.T, url string) *gofeed.Feed {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: parse: %v", url, err)
	}
	return f
}

func titles(f *gofeed.Feed) []string {
	var out []string
	for _, it := range f.Items {
		out = append(out, it.Title)
	}
	return out
}

func guids(f *gofeed.Feed) []string {
	var out []string
	for _, it := range f.Items {
		out = append(out, it.GUID)
	}
	return out
}

// TestServeEndToEnd runs the daemon against a loopback source server, reads
// every route back, restarts it with every source down, and reads the same
// items again.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	configPath := writeConfig(t, dir, addr, src.URL)

	d := startServe(t, configPath)
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })

	wantMerged := []string{"Generics, revisited", "Datacenter moves to the moon", "Go 1.26 is released"}
	feeds := map[string][]string{
		"/feed":           wantMerged,
		"/sections/go":    wantMerged,
		"/sections/news":  {"Datacenter moves to the moon"},
		"/sections/empty": nil,
	}
	ids := map[string][]string{}
	for path, want := range feeds {
		for _, ext := range []string{".atom", ".rss", ".json"} {
			url := base + path + ext
			if path == "/sections/empty" {
				if resp, _ := get(t, url); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %s, want 404", url, resp.Status)
				}
				continue
			}
			f := parseFeed(t, url)
			if got := titles(f); !slices.Equal(got, want) {
				t.Errorf("GET %s: titles %q, want %q", url, got, want)
			}
			ids[path+ext] = guids(f)
			for _, it := range f.Items {
				if it.GUID == "" || it.Link == "" || it.PublishedParsed == nil {
					t.Errorf("GET %s: item %q lacks id, link or date", url, it.Title)
				}
			}
		}
	}
	if a, r := ids["/feed.atom"], ids["/feed.rss"]; !slices.Equal(a, r) {
		t.Errorf("Atom ids %q differ from RSS ids %q", a, r)
	}

	resp, page := get(t, base+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"Planet Test", "/sections/go.atom", "/sections/news.rss", "The News", "Example Go Blog", "new 2"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("GET /: page lacks %q", want)
		}
	}
	d.stop(t)

	// Restart with every source failing: the same items are served at once.
	src.setDown(true)
	d = startServe(t, configPath)
	defer d.stop(t)
	f := waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	if got := guids(f); !slices.Equal(got, ids["/feed.atom"]) {
		t.Errorf("after restart: ids %q, want %q", got, ids["/feed.atom"])
	}
	if got := guids(parseFeed(t, base+"/sections/news.json")); !slices.Equal(got, ids["/sections/news.json"]) {
		t.Errorf("after restart: news.json ids %q, want %q", got, ids["/sections/news.json"])
	}
}

// TestOddPaths: paths that try to escape or confuse the routes get a 404,
// 400 or a redirect to a clean path, never a file, a feed or a crash; other
// methods than GET and HEAD get a 405.
func TestOddPaths(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	d := startServe(t, writeConfig(t, dir, addr, src.URL))
	defer d.stop(t)
	waitFor(t, d, base+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	for _, path := range []string{
		"/sections/../feed.atom",
		"/sections/%2e%2e/feed.atom",
		"/sections/..%2ffeed.atom",
		"/sections/go.atom/",
		"/sections/go",
		"/sections/.atom",
		"/sections/" + strings.Repeat("a", 10000) + ".atom",
		"/sections/go%00.atom",
		"/sections/%ff%fe.rss",
		"/feed.atom.bak",
		"/../../etc/passwd",
		"//feed.atom",
		"/feed.ATOM",
	} {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %.60s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusBadRequest, http.StatusMovedPermanently, http.StatusTemporaryRedirect,
			http.StatusPermanentRedirect, http.StatusRequestURITooLong:
		default:
			t.Errorf("GET %.60s: %s, want 404, 400 or a redirect", path, resp.Status)
		}
		if bytes.Contains(body, []byte("root:")) || bytes.Contains(body, []byte("<feed")) {
			t.Errorf("GET %.60s: served content", path)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, base+"/feed.atom", strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /feed.atom: %s, want 405", method, resp.Status)
		}
	}
	// A header larger than the server accepts is refused, not read whole.
	req, _ := http.NewRequest(http.MethodGet, base+"/feed.atom", nil)
	req.Header.Set("X-Huge", strings.Repeat("x", 2<<20))
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MiB header: %s, want 431", resp.Status)
		}
	}
}

// TestSlowClients: clients that open connections and trickle or stall
// their request headers neither keep others from being served nor hold
// their connections past the header timeout.
func TestSlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the server's header timeout")
	}
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	d := startServe(t, writeConfig(t, dir, addr, src.URL))
	defer d.stop(t)
	waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) == 3 })

	var slow []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	// Others are served meanwhile.
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/feed.atom")
	if err != nil {
		t.Fatalf("with 100 stalled clients: %v", err)
	}
	resp.Body.Close()
	// The stalled ones are cut off after the header timeout (10 s).
	for _, c := range slow {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("stalled connection not closed by the server: %v", err)
		}
	}
}
