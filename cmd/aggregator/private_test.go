package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/internal/loopback"
	"github.com/planetgo/aggregator/poll"
)

// TestRedirectInwardRefused: a feed on a (stand-in) public address that
// redirects to an internal server is refused before a byte reaches it, and
// nothing of it is stored; the public page and health feed say only
// "network error" for that and for a refused connection, while
// /status.json, for the admin, has the reason.
func TestRedirectInwardRefused(t *testing.T) {
	t.Parallel()
	var internalRequests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalRequests.Add(1)
		w.Write(testFeed(t, "testdata/blog.atom"))
	}))
	public := loopback.Serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin/feed", http.StatusFound)
	}))
	closed := "http://" + freeAddr(t) + "/feed"
	dir := t.TempDir()
	cfg := writeAndLoadConfig(t, dir, fmt.Sprintf("database: %s\nsources:\n  - {name: inward, url: %q}\n  - {name: closed, url: %q}\n",
		filepath.Join(dir, "test.db"), public.URL+"/feed", closed))
	a, err := openAppWith(context.Background(), cfg, discardLogger(), appOptions{
		isPrivate: func(addr netip.Addr) bool { return addr != netip.MustParseAddr("127.0.0.2") && fetch.IsPrivate(addr) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.poller.Refresh(context.Background(), cfg.Sources, nil); err != nil {
		t.Fatal(err)
	}
	if n := internalRequests.Load(); n != 0 {
		t.Errorf("the internal server got %d requests", n)
	}
	if items := itemsBySource(t, a); len(items) != 0 {
		t.Errorf("stored %v, want nothing", items)
	}
	states, err := a.store.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if kind := states["inward"].ErrorKind; kind != "private redirect" {
		t.Errorf("inward failed as %q, want private redirect", kind)
	}

	for _, path := range []string{"/", "/health.atom"} {
		body := string(serveGet(t, a, path))
		if strings.Count(body, "network error") < 2 {
			t.Errorf("%s does not say network error for both sources:\n%s", path, body)
		}
		for _, detail := range []string{"refused", "private", strings.TrimPrefix(internal.URL, "http://"), "dial"} {
			if strings.Contains(body, detail) {
				t.Errorf("%s shows %q:\n%s", path, detail, body)
			}
		}
	}
	w := httptest.NewRecorder()
	poll.StatusHandler(a.store, func() ([]aggregator.Source, *aggregator.Rules) { return a.cfg.Sources, a.cfg.Rules }, a.logger).ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
	if status := w.Body.String(); !strings.Contains(status, "redirect to a private address refused") || !strings.Contains(status, "connection refused") {
		t.Errorf("/status.json lacks the full reasons:\n%s", status)
	}
}

// TestAdminRoutesAllowList: /status.json and /metrics answer 403 to a client
// outside admin.allow, here 127.0.0.1 when only 10.0.0.0/8 may, and the
// site still answers it.
func TestAdminRoutesAllowList(t *testing.T) {
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	configPath := writeConfig(t, dir, addr, src.URL)
	text, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	writeAndLoadConfig(t, dir, strings.Replace(string(text), "sources:", "admin: {allow: [10.0.0.0/8]}\nsources:", 1))
	d := startServe(t, configPath)
	defer d.stop(t)
	waitFor(t, d, "http://"+addr+"/feed.atom", func(f *gofeed.Feed) bool { return len(f.Items) > 0 })
	for path, want := range map[string]int{"/status.json": 403, "/metrics": 403, "/": 200, "/healthz": 200} {
		resp, _ := get(t, "http://"+addr+path)
		if resp.StatusCode != want {
			t.Errorf("GET %s from 127.0.0.1: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestInternalSourceKey: a source the config marks `internal: true` is
// fetched from its private address, while another whose name resolves to
// the same address (an intranet name not marked, or a public name pointed
// inward) is refused before a byte reaches it; the page and health feed
// say "network error", /status.json the reason and what to do.
func TestInternalSourceKey(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write(testFeed(t, "testdata/blog.atom"))
	}))
	addr := strings.TrimPrefix(internal.URL, "http://")
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		if strings.Contains(a, ".test:") {
			a = addr // every .test name resolves to the internal server
		}
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	dir := t.TempDir()
	cfg := writeAndLoadConfig(t, dir, fmt.Sprintf(`database: %s
sources:
  - name: intranet
    url: http://wiki.test/feed
    internal: true
  - {name: rebound, url: "http://rebound.test/feed"}
`, filepath.Join(dir, "test.db")))
	if !cfg.Sources[0].Internal || cfg.Sources[1].Internal {
		t.Fatalf("sources = %+v, want only intranet internal", cfg.Sources)
	}
	a, err := openAppWith(context.Background(), cfg, discardLogger(), appOptions{dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.poller.Refresh(context.Background(), cfg.Sources, nil); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the internal server got %d requests, want the intranet source's one", n)
	}
	items := itemsBySource(t, a)
	if len(items["intranet"]) == 0 || len(items["rebound"]) != 0 {
		t.Errorf("stored %d items of intranet, %d of rebound; want intranet's alone", len(items["intranet"]), len(items["rebound"]))
	}
	states, err := a.store.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if kind := states["rebound"].ErrorKind; kind != "private address" {
		t.Errorf("rebound failed as %q, want private address", kind)
	}
	for _, path := range []string{"/", "/health.atom"} {
		body := string(serveGet(t, a, path))
		if !strings.Contains(body, "network error") || strings.Contains(body, "private") || strings.Contains(body, addr) {
			t.Errorf("%s does not say just network error for rebound:\n%s", path, body)
		}
	}
	w := httptest.NewRecorder()
	poll.StatusHandler(a.store, func() ([]aggregator.Source, *aggregator.Rules) { return a.cfg.Sources, a.cfg.Rules }, a.logger).ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
	if status := w.Body.String(); !strings.Contains(status, "private address refused") || !strings.Contains(status, "not marked internal") {
		t.Errorf("/status.json lacks the reason:\n%s", status)
	}
}
