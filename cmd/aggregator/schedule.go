package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/robfig/cron/v3"
)

// dueSlack is how early a source may be fetched before its next attempt:
// cron fires "@every" schedules on whole seconds, so the tick meant for a
// source can come a second before the time computed for it.
const dueSlack = 2 * time.Second

// movedAfter is how many fetches in a row must see the same permanent
// redirect before the source is fetched from its new URL.
const movedAfter = 3

// policy decides when each source is fetched next.
type policy struct {
	schedules   map[string]cron.Schedule // by spec
	global      string                   // the spec of sources with none
	maxInterval time.Duration            // cap of hints, backoff and Retry-After
	jitter      time.Duration            // window a pass spreads its sources over
}

func newPolicy(cfg *config.Config) (*policy, error) {
	p := &policy{
		schedules:   make(map[string]cron.Schedule),
		global:      cfg.Schedule,
		maxInterval: cfg.Fetch.MaxInterval,
		jitter:      cfg.Fetch.Jitter,
	}
	specs := []string{cfg.Schedule}
	for _, src := range cfg.Sources {
		specs = append(specs, src.Schedule)
	}
	for _, spec := range specs {
		if _, ok := p.schedules[spec]; ok || spec == "" {
			continue
		}
		s, err := cron.ParseStandard(spec)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", spec, err)
		}
		p.schedules[spec] = s
	}
	return p, nil
}

func (p *policy) schedule(src aggregator.Source) cron.Schedule {
	if src.Schedule != "" {
		return p.schedules[src.Schedule]
	}
	return p.schedules[p.global]
}

// interval is the time from tick to the source's next scheduled tick.
func (p *policy) interval(src aggregator.Source, tick time.Time) time.Duration {
	return max(p.schedule(src).Next(tick).Sub(tick), time.Second)
}

// isDue reports whether a pass at tick should fetch src: not gone, and its
// next attempt has come. A source whose configured URL changed is due at
// once: what was learnt of the old URL no longer applies.
func isDue(src aggregator.Source, st aggregator.SourceState, tick time.Time) bool {
	if st.URL != "" && st.URL != src.URL {
		return true
	}
	return !st.Gone && !st.NextAttempt.After(tick.Add(dueSlack))
}

// afterSuccess is the next attempt after a fetch at tick that worked: the
// next scheduled tick, or later if the source said it stays fresh longer
// (its hints capped at maxInterval).
func (p *policy) afterSuccess(src aggregator.Source, tick time.Time, freshFor time.Duration) time.Time {
	next := tick.Add(p.interval(src, tick))
	if hinted := tick.Add(min(freshFor, p.maxInterval)); hinted.After(next) {
		next = hinted
	}
	return next.UTC()
}

// afterFailure is the next attempt after the failures-th failure in a row
// at tick: the schedule's interval doubled for each failure after the
// first, up to maxInterval (never below the interval itself), less a jitter
// of up to a quarter so that sources failing together drift apart. It is
// never later than retryAfter requires less, nor ever "never".
func (p *policy) afterFailure(src aggregator.Source, tick time.Time, failures int, retryAfter time.Time) time.Time {
	base := p.interval(src, tick)
	limit := max(p.maxInterval, base)
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	d -= time.Duration(float64(d) / 4 * unitHash(src.Name, failures))
	d = max(d, base)
	next := tick.Add(d)
	if retryAfter.After(next) {
		next = retryAfter
	}
	return next.UTC()
}

// spread is the window a scheduled pass at tick spreads src's group over:
// the configured jitter, but at most a quarter of the interval, so that a
// pass ends well before the next one.
func (p *policy) spread(src aggregator.Source, tick time.Time) time.Duration {
	return min(p.jitter, p.interval(src, tick)/4)
}

// offset is when, within a window, src starts: the same place every pass,
// so each source keeps a regular interval, and different places for
// different sources.
func offset(name string, window time.Duration) time.Duration {
	return time.Duration(float64(window) * unitHash(name, 0))
}

// unitHash maps name and n to a number in [0, 1), the same every time.
func unitHash(name string, n int) float64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", name, n))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
}
