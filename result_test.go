package aggregator

import (
	"testing"
	"time"
)

func TestResult(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   SourceState
		want string
	}{
		{"never fetched", SourceState{}, ""},
		{"new", SourceState{LastOutcome: OutcomeStored, LastNew: 3}, "new 3"},
		{"updated", SourceState{LastOutcome: OutcomeStored, LastUpdated: 1}, "updated 1"},
		{"both", SourceState{LastOutcome: OutcomeStored, LastNew: 2, LastUpdated: 1}, "new 2, updated 1"},
		{"not modified, moved", SourceState{LastOutcome: OutcomeNotModified, MovedTo: "https://new.example/feed"}, "not modified; moved to https://new.example/feed"},
		{"failed", SourceState{LastOutcome: OutcomeFailed, LastError: "http status 500", NextAttempt: next}, "error: http status 500; next attempt 2026-12-06T12:00:00Z"},
		{"database", SourceState{LastOutcome: OutcomeFailed, LastError: "database: no space left on device", ErrorKind: ErrorKindDatabase, NextAttempt: next}, "error: database: no space left on device; retried next pass"},
		{"gone", SourceState{LastOutcome: OutcomeGone, LastError: "http status 410"}, "gone: http status 410; no longer polled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.st.Result(); got != tt.want {
				t.Errorf("Result() = %q, want %q", got, tt.want)
			}
		})
	}
}
