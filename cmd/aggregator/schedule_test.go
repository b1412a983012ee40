package main

import (
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/robfig/cron/v3"
)

func testPolicy(t *testing.T, spec string) *policy {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &policy{schedules: map[string]cron.Schedule{spec: s}, global: spec, maxInterval: 24 * time.Hour, jitter: time.Minute}
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
		got := p.afterFailure(src, tick, tt.failures, time.Time{}).Sub(tick)
		if got > tt.full || got < tt.full*3/4 || got < 15*time.Minute {
			t.Errorf("afterFailure(%d) = +%v, want in (%v, %v]", tt.failures, got, tt.full*3/4, tt.full)
		}
		if again := p.afterFailure(src, tick, tt.failures, time.Time{}).Sub(tick); again != got {
			t.Errorf("afterFailure(%d) = +%v then +%v: jitter is not stable", tt.failures, got, again)
		}
	}
	if got := p.afterFailure(src, tick, 1, tick.Add(3*time.Hour)); !got.Equal(tick.Add(3 * time.Hour)) {
		t.Errorf("afterFailure with Retry-After = %v, want the Retry-After", got)
	}
	other := p.afterFailure(aggregator.Source{Name: "other"}, tick, 8, time.Time{})
	if other.Equal(p.afterFailure(src, tick, 8, time.Time{})) {
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
		if got := p.afterSuccess(aggregator.Source{}, tick, tt.freshFor).Sub(tick); got != tt.want || got < 15*time.Minute {
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
		if got := isDue(src, tt.st, tick); got != tt.want {
			t.Errorf("%s: isDue() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
