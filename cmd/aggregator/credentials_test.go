package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planetgo/aggregator/poll"
)

// TestCredentialsNeverShown: a private feed configured as
// http://user:secret@host/... gets its credentials as an Authorization
// header on every request, after it moved too, and they appear in no
// output of the real binary: no route, no fetch or sources output, no log
// line; nor in the links resolved against the feed's URL.
func TestCredentialsNeverShown(t *testing.T) {
	t.Parallel()
	feed, err := os.ReadFile(filepath.Join("testdata", "private-relative.rss"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	requests := map[string]int{}
	unauthorized := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests[r.URL.Path]++
		if user, pass, ok := r.BasicAuth(); !ok || user != "user" || pass != "secret" {
			unauthorized++
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/feed", http.StatusMovedPermanently)
		case "/feed":
			w.Write(feed)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	private := strings.Replace(srv.URL, "http://", "http://user:secret@", 1)

	dir := t.TempDir()
	addr := freeAddr(t)
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(fmt.Sprintf(`listen: %s
database: %s
sections:
  priv: {title: Private}
sources:
  - {name: moved, url: %q, sections: [priv]}
  - {name: missing, url: %q, sections: [priv]}
`, addr, filepath.Join(dir, "test.db"), private+"/old", private+"/missing")), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildAggregator(t)
	var outputs []string
	// Three permanent redirects make a move; the fourth fetch goes to
	// where the source moved, with the credentials, since it is the same
	// origin.
	for range 4 {
		code, stdout, stderr := runBinary(t, bin, false, "fetch", "-config", configPath)
		if code != 0 {
			t.Fatalf("fetch exited %d:\n%s%s", code, stdout, stderr)
		}
		outputs = append(outputs, stdout, stderr)
	}
	if !strings.Contains(outputs[6], "moved: not modified; moved to "+srv.URL+"/feed") {
		t.Errorf("the last fetch's output does not say the source moved:\n%s", outputs[6])
	}

	p := startProcess(t, nil, "serve", "-config", configPath)
	base := "http://" + addr
	p.eventually(t, "the site", func() bool { return getOK(base+"/health.atom") != nil })
	routes := []string{"/", "/feed.atom", "/feed.rss", "/feed.json", "/sources.opml", "/health.atom", "/status.json"}
	for _, ext := range []string{".html", ".atom", ".rss", ".json", ".opml"} {
		routes = append(routes, "/sections/priv"+ext)
	}
	bodies := map[string]string{}
	for _, route := range routes {
		body := getOK(base + route)
		if body == nil {
			t.Fatalf("GET %s: no 200", route)
		}
		bodies[route] = string(body)
		outputs = append(outputs, string(body))
	}
	code, stdout, stderr := runBinary(t, bin, false, "sources", "-config", configPath)
	if code != 0 {
		t.Fatalf("sources exited %d:\n%s%s", code, stdout, stderr)
	}
	outputs = append(outputs, stdout, stderr)
	p.signal(t, os.Interrupt)
	p.waitExit(t, 30*time.Second)
	outputs = append(outputs, p.stderr.String())

	for i, out := range outputs {
		for _, secret := range []string{"secret", "user:", "user@"} {
			if strings.Contains(out, secret) {
				t.Errorf("output %d shows %q:\n%s", i, secret, out)
			}
		}
	}
	// What the credentials kept out: links resolved against the feed URL,
	// the feed URLs listed, and the status.
	for route, want := range map[string]string{
		"/feed.atom":    srv.URL + "/minutes/1.html",
		"/feed.rss":     srv.URL + "/audio/1.mp3",
		"/feed.json":    srv.URL + "/logo.png",
		"/sources.opml": srv.URL + "/missing",
		"/health.atom":  srv.URL + "/missing",
		"/":             srv.URL + "/old",
	} {
		if !strings.Contains(bodies[route], want) {
			t.Errorf("%s lacks %s:\n%s", route, want, bodies[route])
		}
	}
	var status struct{ Sources []poll.Status }
	if err := json.Unmarshal([]byte(bodies["/status.json"]), &status); err != nil {
		t.Fatal(err)
	}
	if len(status.Sources) != 2 || status.Sources[0].URL != srv.URL+"/old" || status.Sources[0].MovedTo != srv.URL+"/feed" {
		t.Errorf("status = %+v, want the moved source's URLs without credentials", status.Sources)
	}
	mu.Lock()
	defer mu.Unlock()
	if unauthorized != 0 || requests["/feed"] != 4 || requests["/old"] != 3 {
		t.Errorf("the feed server had %d requests without the credentials, and requests %v; want none, and /old 3 times, /feed 4", unauthorized, requests)
	}
}
