package poll

import (
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// A source's status: never fetched; its host's Retry-After put after its
// next attempt; credentials out of every URL and error; a state recorded
// for another URL forgotten.
func TestStatuses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	srcs := []aggregator.Source{
		{Name: "new", URL: "https://new.example/feed"},
		{Name: "busy", URL: "https://u:secret@busy.example/feed", Sections: []string{"go"}},
		{Name: "moved", URL: "https://now.example/feed"},
	}
	states := map[string]aggregator.SourceState{
		"busy": {URL: srcs[1].URL, LastOutcome: aggregator.OutcomeFailed, LastError: "GET https://u:secret@busy.example/feed: 503",
			ConsecutiveFailures: 1, NextAttempt: now.Add(time.Minute), RetryAfter: now.Add(time.Hour), RetryAfterHost: "busy.example"},
		"moved": {URL: "https://then.example/feed", MovedTo: "https://elsewhere.example/feed", Gone: true},
	}
	got := Statuses(srcs, states, now)
	if got[0].Result != "never fetched" || got[0].Sections == nil {
		t.Errorf("never fetched: %+v", got[0])
	}
	b := got[1]
	if b.URL != "https://busy.example/feed" || b.Error != "GET https://busy.example/feed: 503" || !b.NextAttempt.Equal(now.Add(time.Hour)) || !b.HostBlockedUntil.Equal(now.Add(time.Hour)) {
		t.Errorf("busy: %+v", b)
	}
	if m := got[2]; m.Gone || m.MovedTo != "" {
		t.Errorf("a state of another URL shows: %+v", m)
	}
}
