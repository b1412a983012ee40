package poll

import (
	"net/http"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
)

func testPolicy(t *testing.T, spec string) *Policy {
	t.Helper()
	p, err := NewPolicy(spec, nil, 24*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := testPolicy(t, "*/15 * * * *")
	tick := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	src := aggregator.Source{Name: "flaky"}
	tests := []struct {
		failures int
		full     time.Duration // before jitter takes up to a quarter off
	}{
		{1, 15 * time.Minute},
		{2, 30 * time.Minute},
		{3, time.Hour},
		{7, 16 * time.Hour},
		{8, 24 * time.Hour},
		{1000, 24 * time.Hour},
	}
	for _, tt := range tests {
		got := p.AfterFailure(src, tick, tt.failures, time.Time{}).Sub(tick)
		if got > tt.full || got < tt.full*3/4 || got < 15*time.Minute {
			t.Errorf("afterFailure(%d) = +%v, want in (%v, %v]", tt.failures, got, tt.full*3/4, tt.full)
		}
		if again := p.AfterFailure(src, tick, tt.failures, time.Time{}).Sub(tick); again != got {
			t.Errorf("afterFailure(%d) = +%v then +%v: jitter is not stable", tt.failures, got, again)
		}
	}
	if got := p.AfterFailure(src, tick, 1, tick.Add(3*time.Hour)); !got.Equal(tick.Add(3 * time.Hour)) {
		t.Errorf("afterFailure with Retry-After = %v, want the Retry-After", got)
	}
	other := p.AfterFailure(aggregator.Source{Name: "other"}, tick, 8, time.Time{})
	if other.Equal(p.AfterFailure(src, tick, 8, time.Time{})) {
		t.Errorf("two sources failing together retry at the same time %v", other)
	}
}

func TestHintsLengthenNeverShorten(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		spec     string
		freshFor time.Duration
		want     time.Duration
	}{
		{"@every 15m", 0, 15 * time.Minute},
		{"@every 15m", 5 * time.Minute, 15 * time.Minute},
		{"@every 15m", 3 * time.Hour, 3 * time.Hour},
		{"@every 15m", 30 * 24 * time.Hour, 24 * time.Hour},
		{"@weekly", 30 * 24 * time.Hour, -1}, // longer than the cap: the schedule's own interval
	}
	for _, tt := range tests {
		p := testPolicy(t, tt.spec)
		if tt.want < 0 {
			tt.want = p.schedules[tt.spec].Next(tick).Sub(tick)
		}
		if got := p.AfterSuccess(aggregator.Source{}, tick, tt.freshFor).Sub(tick); got != tt.want || got < 15*time.Minute {
			t.Errorf("%s, fresh for %v: next attempt +%v, want +%v", tt.spec, tt.freshFor, got, tt.want)
		}
	}
}

func TestIsDue(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	src := aggregator.Source{Name: "s", URL: "http://a.test/"}
	tests := []struct {
		name string
		st   aggregator.SourceState
		want bool
	}{
		{"never fetched", aggregator.SourceState{}, true},
		{"due", aggregator.SourceState{URL: src.URL, NextAttempt: tick}, true},
		{"a second early", aggregator.SourceState{URL: src.URL, NextAttempt: tick.Add(time.Second)}, true},
		{"later", aggregator.SourceState{URL: src.URL, NextAttempt: tick.Add(time.Minute)}, false},
		{"gone", aggregator.SourceState{URL: src.URL, Gone: true}, false},
		{"gone, url changed", aggregator.SourceState{URL: "http://old.test/", Gone: true}, true},
	}
	for _, tt := range tests {
		if got := IsDue(src, tt.st, tick); got != tt.want {
			t.Errorf("%s: IsDue() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The rules of one fetch's result: a move after three permanent redirects
// in a row, a 410 that stops polling, a Retry-After that holds the host,
// and a new configured URL that forgets all of it.
func TestFailedSucceededAndMoves(t *testing.T) {
	t.Parallel()
	p := testPolicy(t, "@every 15m")
	tick := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	src := aggregator.Source{Name: "s", URL: "http://a.test/feed"}
	st := StateFor(src, aggregator.SourceState{})
	for i := range 3 {
		if st.MovedTo != "" {
			t.Fatalf("moved after %d redirects", i)
		}
		st = p.Succeeded(src, st, fetch.Result{PermanentRedirect: "http://b.test/feed", NotModified: true}, tick, tick)
	}
	if st.MovedTo != "http://b.test/feed" || FetchURL(src, st) != "http://b.test/feed" || st.LastOutcome != aggregator.OutcomeNotModified {
		t.Errorf("after 3 permanent redirects: %+v, fetched from %s", st, FetchURL(src, st))
	}
	if got := st.Result(); got != "not modified; moved to http://b.test/feed" {
		t.Errorf("Result() = %q", got)
	}

	gone := p.Failed(src, st, &fetch.StatusError{Code: http.StatusGone, URL: "http://b.test/feed"}, tick, tick)
	if !gone.Gone || !gone.NextAttempt.IsZero() || IsDue(src, gone, tick.Add(1000*time.Hour)) || gone.LastOutcome != aggregator.OutcomeGone {
		t.Errorf("after a 410: %+v", gone)
	}
	// The admin fixes the URL: everything learnt of the old one goes.
	fixed := aggregator.Source{Name: "s", URL: "http://c.test/feed"}
	if st := StateFor(fixed, gone); st.Gone || st.MovedTo != "" || !IsDue(fixed, gone, tick) || FetchURL(fixed, st) != fixed.URL {
		t.Errorf("after the url changed: %+v", st)
	}

	until := tick.Add(3 * time.Hour)
	busy := p.Failed(src, st, &fetch.StatusError{Code: http.StatusServiceUnavailable, URL: "http://b.test/feed", RetryAfter: until}, tick, tick)
	if !busy.NextAttempt.Equal(until) || busy.RetryAfterHost != "b.test" || !busy.RetryAfter.Equal(until) || busy.ConsecutiveFailures != 1 {
		t.Errorf("after a 503 with Retry-After: %+v", busy)
	}
	if ok := p.Succeeded(src, busy, fetch.Result{}, tick, tick); ok.ConsecutiveFailures != 0 || ok.LastError != "" || ok.LastOutcome != aggregator.OutcomeStored {
		t.Errorf("a success after a failure: %+v", ok)
	}
}

// Credentials go with a move only within their origin.
func TestRequestURL(t *testing.T) {
	t.Parallel()
	src := aggregator.Source{Name: "s", URL: "https://u:p@a.test/feed"}
	for moved, want := range map[string]string{
		"":                       "https://u:p@a.test/feed",
		"https://a.test/new":     "https://u:p@a.test/new",
		"https://b.test/new":     "https://b.test/new",
		"http://a.test/new":      "http://a.test/new",
		"https://a.test:444/new": "https://a.test:444/new",
	} {
		if got := requestURL(src, aggregator.SourceState{URL: src.URL, MovedTo: moved}); got != want {
			t.Errorf("moved to %q: requestURL = %q, want %q", moved, got, want)
		}
	}
}

// Which schedule a source is on is one rule: its own, else the global.
func TestSpecAndGroups(t *testing.T) {
	t.Parallel()
	own := aggregator.Source{Name: "own", Schedule: "@hourly"}
	plain := aggregator.Source{Name: "plain"}
	p, err := NewPolicy("@every 15m", []aggregator.Source{own, plain}, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec(own) != "@hourly" || p.Spec(plain) != "@every 15m" {
		t.Errorf("Spec = %q, %q", p.Spec(own), p.Spec(plain))
	}
	if g := p.Groups([]aggregator.Source{own, plain}); len(g) != 2 || g["@hourly"][0].Name != "own" || g["@every 15m"][0].Name != "plain" {
		t.Errorf("Groups = %v", g)
	}
	if _, err := NewPolicy("every 5m", nil, time.Hour, 0); err == nil {
		t.Error("NewPolicy accepted a spec that is no cron spec")
	}
}

// A spec without a zone runs in UTC (the scheduler's zone): the next
// attempt it gives is the same whatever the zone of the clock that asks,
// so a tick at 12:00 UTC finds due the sources it should fetch.
func TestScheduleReadInUTC(t *testing.T) {
	t.Parallel()
	p := testPolicy(t, "0 12 * * *")
	src := aggregator.Source{Name: "daily"}
	utc := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	want := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("EST", -5*3600), time.FixedZone("IST", 5*3600+1800)} {
		if got := p.AfterSuccess(src, utc.In(zone), 0); !got.Equal(want) {
			t.Errorf("next attempt from a clock in %s = %v, want %v", zone, got, want)
		}
	}
}
