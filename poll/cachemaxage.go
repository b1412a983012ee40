package poll

import (
	"time"

	"github.com/planetgo/aggregator"
	"github.com/robfig/cron/v3"
)

// Bounds of the Cache-Control max-age of the outputs.
const (
	minCacheMaxAge = time.Minute
	maxCacheMaxAge = time.Hour
)

// CacheMaxAge is how long clients may reuse an output: half the shortest
// gap between two fetch passes of any schedule (global, the one of sources
// that name none, and the sources' own), within a minute and an hour. The
// outputs change only after a pass, so a client is never more than half a
// pass behind.
func CacheMaxAge(global string, sources []aggregator.Source, now time.Time) time.Duration {
	specs := []string{global}
	for _, src := range sources {
		if src.Schedule != "" {
			specs = append(specs, src.Schedule)
		}
	}
	gap := maxCacheMaxAge * 2
	for _, spec := range specs {
		if g, ok := shortestGap(spec, now); ok {
			gap = min(gap, g)
		}
	}
	return min(max(gap/2, minCacheMaxAge), maxCacheMaxAge)
}

// shortestGap is the shortest time between the next few activations of
// the cron spec after now; false if the spec does not parse. A spec such as
// "0 9,17 * * *" has uneven gaps, so several are looked at.
func shortestGap(spec string, now time.Time) (gap time.Duration, ok bool) {
	defer func() {
		if recover() != nil { // robfig/cron #554: some specs panic
			gap, ok = 0, false
		}
	}()
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return 0, false
	}
	prev := sched.Next(now)
	for range 8 {
		next := sched.Next(prev)
		if next.IsZero() || prev.IsZero() {
			break
		}
		if g := next.Sub(prev); !ok || g < gap {
			gap, ok = g, true
		}
		prev = next
	}
	return gap, ok
}
