package main

import (
	"context"
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
	"github.com/planetgo/aggregator/storage"
)

// The retention-churn finding (issue 13, 7) through the binary: with
// retention.max_items 2 and undated items, a full response of three, a
// truncated one of the newest alone, and the full one again. Nothing comes
// back as new, and the two kept are the feed's newest.
func TestRetentionChurnThroughBinary(t *testing.T) {
	t.Parallel()
	bin := buildAggregator(t)
	full, err := os.ReadFile("testdata/undated-full.rss")
	if err != nil {
		t.Fatal(err)
	}
	truncated, err := os.ReadFile("testdata/undated-truncated.rss")
	if err != nil {
		t.Fatal(err)
	}
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(*body.Load())
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	db := filepath.Join(dir, "aggregator.db")
	configPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("database: %s\nretention: {max_items: 2}\nsources:\n  - {name: undated, url: %s/feed.rss}\n", db, srv.URL)
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		what string
		body []byte
		want string
	}{
		{"full", full, "undated: new 3\n"},
		{"truncated", truncated, "undated: new 0\n"},
		{"full again", full, "undated: new 0\n"},
	} {
		body.Store(&step.body)
		code, stdout, stderr := runBinary(t, bin, false, "fetch", "-config", configPath)
		if code != exitOK || !strings.Contains(stdout, step.want) {
			t.Errorf("%s: fetch exited %d, printed %q, want %q; stderr:\n%s", step.what, code, stdout, step.want, stderr)
		}
	}
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, err := s.RecentItems(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if want := []string{"undated-a", "undated-b"}; !slices.Equal(ids, want) {
		t.Errorf("items kept = %v, want %v (the feed's newest two)", ids, want)
	}
}

// The retention settings of the config reach the poller, removed_after
// included.
func TestRetentionSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	configPath := filepath.Join(dir, "config.yaml")
	cfgText := "database: " + filepath.Join(dir, "aggregator.db") +
		"\nretention: {max_items: 300, max_age: 400d, removed_after: 90d}\nsources:\n  - {name: local, url: ./feed.xml}\n"
	if err := os.WriteFile(configPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	want := storage.Retention{MaxItems: 300, MaxAge: 400 * 24 * time.Hour, RemovedAfter: 90 * 24 * time.Hour}
	if got := a.settings().Retention; got != want {
		t.Errorf("settings().Retention = %+v, want %+v", got, want)
	}
}
