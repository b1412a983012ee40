package poll

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// The public states are made once per version of the store's states:
// renders between two changes share them, and a change is seen at once.
func TestPublicStatesFollowTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := storage.Open(filepath.Join(t.TempDir(), "t.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := aggregator.Source{Name: "a", URL: "https://u:secret@a.example/feed"}
	if err := store.SyncSources(ctx, []aggregator.Source{src}); err != nil {
		t.Fatal(err)
	}
	fs := NewFeeds(store, FeedOptions{Sources: []aggregator.Source{src}})
	save := func(st aggregator.SourceState) {
		t.Helper()
		if err := store.SaveState(ctx, src, st); err != nil {
			t.Fatal(err)
		}
	}
	save(aggregator.SourceState{Name: "a", URL: src.URL, FeedTitle: "one"})
	first, _ := fs.States(ctx)
	again, _ := fs.States(ctx)
	if reflect.ValueOf(first).UnsafePointer() != reflect.ValueOf(again).UnsafePointer() {
		t.Error("two reads with no change in between made the public states twice")
	}
	if st := first["a"]; st.FeedTitle != "one" || st.URL != "https://a.example/feed" {
		t.Errorf("public state = %+v, want the title and the URL without credentials", st)
	}
	save(aggregator.SourceState{Name: "a", URL: src.URL, FeedTitle: "two"})
	if later, _ := fs.States(ctx); later["a"].FeedTitle != "two" {
		t.Errorf("after a change: %q, want the new state", later["a"].FeedTitle)
	}
}
