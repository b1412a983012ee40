package poll

import (
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func TestCacheMaxAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC)
	tests := []struct {
		name     string
		schedule string
		sources  []string // the sources' own schedules
		want     time.Duration
	}{
		{"every 15 minutes", "@every 15m", nil, 450 * time.Second},
		{"cron every 10 minutes", "*/10 * * * *", nil, 5 * time.Minute},
		{"short interval is clamped", "@every 30s", nil, time.Minute},
		{"daily is clamped", "@daily", nil, time.Hour},
		{"uneven gaps take the shortest", "0 9,10 * * *", nil, 30 * time.Minute},
		{"a source polled more often", "@every 1h", []string{"", "@every 4m"}, 2 * time.Minute},
		{"an invalid spec is ignored", "@every 20m", []string{"", "TZ=UTC"}, 10 * time.Minute},
		{"a global schedule no source uses", "@every 15m", []string{"@hourly"}, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sources []aggregator.Source
			for _, spec := range tt.sources {
				sources = append(sources, aggregator.Source{Name: "s", Schedule: spec})
			}
			if got := CacheMaxAge(tt.schedule, sources, now); got != tt.want {
				t.Errorf("CacheMaxAge(%q, %q) = %v, want %v", tt.schedule, tt.sources, got, tt.want)
			}
		})
	}
}
