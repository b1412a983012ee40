package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/planetgo/aggregator"
)

// TestRetryAfterOutlivesReload: a 503 with a Retry-After that reaches a pass
// begun before a config reload holds for the app the reload built, so the
// next tick sends nothing to that host before the time.
func TestRetryAfterOutlivesReload(t *testing.T) {
	t.Parallel()
	blog := testFeed(t, "testdata/blog.atom")
	arrived, answer := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	requests := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/busy" {
			close(arrived)
			<-answer
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(blog)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := writeAndLoadConfig(t, dir, fmt.Sprintf("database: %s\nsources:\n  - {name: busy, url: %q}\n  - {name: other, url: %q}\n",
		filepath.Join(dir, "test.db"), srv.URL+"/busy", srv.URL+"/other"))
	ctx := context.Background()
	old, err := openAppWith(ctx, cfg, discardLogger(), appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()

	pass := make(chan error, 1)
	go func() { pass <- old.poller.Refresh(ctx, []aggregator.Source{cfg.Sources[0]}, nil) }()
	<-arrived
	// What server.apply does on SIGHUP, while the pass waits for its answer.
	reloaded, err := old.eng.app(loadConfig(t, cfg.File), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := reloaded.configure(ctx); err != nil {
		t.Fatal(err)
	}
	close(answer)
	if err := <-pass; err != nil {
		t.Fatal(err)
	}

	if err := reloaded.poller.Pass(ctx, reloaded.cfg.Sources, false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests["/other"] != 0 {
		t.Errorf("the pass after the reload sent %d requests to a host whose Retry-After has not passed", requests["/other"])
	}
	if until := reloaded.client.BlockedUntil("127.0.0.1"); until.IsZero() {
		t.Error("the reloaded app's client does not know of the host's Retry-After")
	}
}
