package poll

import (
	"cmp"
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
// gap between two fetch passes of the schedules in use (the sources' own,
// and global for those that name none or when there are no sources),
// within a minute and an hour. The outputs change only after a pass, so a
// client is never more than half a pass behind. Schedules are read in UTC,
// as the passes run.
func CacheMaxAge(global string, sources []aggregator.Source, now time.Time) time.Duration {
	specs := []string{global}
	if len(sources) > 0 {
		specs = specs[:0]
		for _, src := range sources {
			specs = append(specs, cmp.Or(src.Schedule, global))
		}
	}
	now = now.UTC()
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
