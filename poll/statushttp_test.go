package poll

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// What StatusHandler serves, ReadStatus reads back: every configured
// source in config order, credentials out, with the items the filters
// hide.
func TestStatusRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := storage.Open(filepath.Join(t.TempDir(), "s.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcs := []aggregator.Source{
		{Name: "b", URL: "https://user:secret@b.example/feed"},
		{Name: "a", URL: "https://a.example/feed"},
	}
	if err := store.SyncSources(ctx, srcs); err != nil {
		t.Fatal(err)
	}
	items := []aggregator.Item{
		{ID: "1", SourceID: "a", Title: "Sponsored post", FirstSeen: t0},
		{ID: "2", SourceID: "a", Title: "A post", FirstSeen: t0},
	}
	if _, err := store.Save(ctx, srcs[1], items, aggregator.SourceState{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveState(ctx, srcs[1], aggregator.SourceState{Name: "a", URL: srcs[1].URL, ConsecutiveFailures: 1, LastError: "boom", LastAttempt: t0}); err != nil {
		t.Fatal(err)
	}
	p, err := aggregator.NewPattern(aggregator.FieldTitle, "^Sponsored")
	if err != nil {
		t.Fatal(err)
	}
	rules := &aggregator.Rules{All: aggregator.Filter{Exclude: []aggregator.Rule{aggregator.NewRule(3, p)}}}
	srv := httptest.NewServer(StatusHandler(store, func() ([]aggregator.Source, *aggregator.Rules) { return srcs, rules }, discardLogger()))
	defer srv.Close()
	list, err := ReadStatus(ctx, srv.URL+"/status.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "b" || list[0].URL != "https://b.example/feed" || list[1].State() != "failing (1)" || list[1].Error != "boom" {
		t.Errorf("read back %+v", list)
	}
	if list[0].Hidden != 0 || list[1].Hidden != 1 {
		t.Errorf("hidden: b %d, a %d, want 0 and 1", list[0].Hidden, list[1].Hidden)
	}
	store.Close()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// LoadStatus reads the config alone before there is a database (and
// creates none), the database when nobody holds it, and the daemon's
// /status.json while the daemon holds the database.
func TestLoadStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	srcs := []aggregator.Source{{Name: "a", URL: "https://a.example/feed"}, {Name: "b", URL: "https://b.example/feed"}}
	place := StatusPlace{Database: path, Listen: "127.0.0.1:1", Sources: srcs}

	list, from, err := LoadStatus(ctx, place)
	if err != nil || len(list) != 2 || list[0].State() != "new" || !strings.HasPrefix(from, "the config") {
		t.Errorf("no database: %+v from %q, %v; want two new sources from the config", list, from, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadStatus made the database: stat = %v", err)
	}

	store, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SyncSources(ctx, srcs); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveState(ctx, srcs[1], aggregator.SourceState{Name: "b", URL: srcs[1].URL, ConsecutiveFailures: 2, LastError: "boom", LastAttempt: t0}); err != nil {
		t.Fatal(err)
	}
	// Held: the daemon that holds it is asked.
	srv := httptest.NewServer(StatusHandler(store, func() ([]aggregator.Source, *aggregator.Rules) { return srcs, nil }, discardLogger()))
	defer srv.Close()
	held := place
	held.Listen = strings.TrimPrefix(srv.URL, "http://")
	list, from, err = LoadStatus(ctx, held)
	if err != nil || len(list) != 2 || list[1].State() != "failing (2)" || from != "the running daemon, "+srv.URL+"/status.json" {
		t.Errorf("held: %+v from %q, %v; want b failing, from the daemon", list, from, err)
	}
	if _, _, err := LoadStatus(ctx, place); err == nil || !strings.Contains(err.Error(), "a daemon holds "+path) {
		t.Errorf("held, no daemon listening: err = %v, want one that says a daemon holds the database", err)
	}
	store.Close()

	list, from, err = LoadStatus(ctx, place)
	if err != nil || len(list) != 2 || list[1].Error != "boom" || from != "the database "+path {
		t.Errorf("free: %+v from %q, %v; want b's error from the database", list, from, err)
	}
}

func TestLocalAddr(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		":8080":             "127.0.0.1:8080",
		"0.0.0.0:8080":      "127.0.0.1:8080",
		"[::]:8080":         "[::1]:8080",
		"192.0.2.7:8080":    "192.0.2.7:8080",
		"localhost:8080":    "localhost:8080",
		"[2001:db8::1]:443": "[2001:db8::1]:443",
		"nonsense":          "nonsense",
	} {
		if got := LocalAddr(listen); got != want {
			t.Errorf("LocalAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}
