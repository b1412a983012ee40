package poll

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// Each kind of outcome has its class, its word, and its place in a
// pass's summary.
func TestOutcomeClassesAndSummary(t *testing.T) {
	t.Parallel()
	fail := errors.New("boom")
	outcomes := []struct {
		o    Outcome
		want Class
		word string
	}{
		{Outcome{Saved: storage.SaveResult{New: 2, Updated: 1}}, ClassChanged, "changed"},
		{Outcome{}, ClassUnchanged, "unchanged"},
		{Outcome{NotModified: true}, ClassNotModified, "not_modified"},
		{Outcome{Err: fail}, ClassFailed, "error"},
		{Outcome{Err: fail, State: aggregator.SourceState{Gone: true}}, ClassGone, "gone"},
		{Outcome{Err: &StoreError{fail}}, ClassDatabase, "db_error"},
		{Outcome{Waiting: &fetch.HostBlockedError{Host: "h", Until: t0.Add(time.Hour)}}, ClassWaiting, "waiting"},
		{Outcome{Err: context.Canceled}, ClassCancelled, "cancelled"},
	}
	var sum Summary
	for _, tt := range outcomes {
		if got := tt.o.Class(); got != tt.want || got.String() != tt.word {
			t.Errorf("%+v: class %v (%d), want %s", tt.o, got, got, tt.word)
		}
		sum.Add(tt.o)
	}
	want := "8 sources: 1 changed (2 new items, 1 updated), 1 unchanged, 1 not modified, 4 failed, 1 waiting"
	if got := sum.String(); got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

func TestStatusState(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    Status
		want string
	}{
		{Status{}, "new"},
		{Status{LastAttempt: t0}, "ok"},
		{Status{LastAttempt: t0, MovedTo: "https://new.example/"}, "moved"},
		{Status{LastAttempt: t0, ConsecutiveFailures: 3}, "failing (3)"},
		{Status{LastAttempt: t0, ConsecutiveFailures: 1, Gone: true}, "gone"},
	} {
		if got := tt.s.State(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.s, got, tt.want)
		}
	}
}
