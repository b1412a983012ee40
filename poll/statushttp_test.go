package poll

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
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
