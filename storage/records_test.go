package storage

import (
	"maps"
	"path/filepath"
	"testing"
)

// TestRecordsSurviveReopen: records of a kind are stored, replaced and
// deleted, kept apart from another kind's, and read back after the
// database is closed and opened again, which still verifies.
func TestRecordsSurviveReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test.db")
	c := &clock{t: t0}
	s := mustOpen(t, path, c)
	ctx := t.Context()
	if got, err := s.Records(ctx, "websub.hub"); err != nil || len(got) != 0 {
		t.Fatalf("Records() before any = %v, %v", got, err)
	}
	if err := s.PutRecords(ctx, "websub.hub", map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "websub.hub", "a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(ctx, "websub.hub", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "websub.subscriber", "a", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, c)
	if err := s.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	got, err := s.Records(ctx, "websub.hub")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]byte{"a": []byte("one"), "c": []byte("3")}; !maps.EqualFunc(got, want, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Errorf("Records() = %q, want %q", got, want)
	}
	if _, err := s.Records(ctx, "bad/kind"); err == nil {
		t.Errorf("Records(bad/kind) = nil error")
	}
}
