package poll

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/robfig/cron/v3"
)

// dueSlack is how early a source may be fetched before its next attempt:
// cron fires "@every" schedules on whole seconds, so the tick meant for a
// source can come a second before the time computed for it.
const dueSlack = 2 * time.Second

// movedAfter is how many fetches in a row must see the same permanent
// redirect before the source is fetched from its new URL.
const movedAfter = 3

// Policy decides when each source is fetched: on which schedule, how far
// off after a success (cache hints) or a failure (backoff, Retry-After),
// and from which URL (moves, 410). It is pure and immutable: every method
// takes the time it reasons about.
type Policy struct {
	schedules   map[string]cron.Schedule // by spec
	global      string                   // the spec of sources with none
	maxInterval time.Duration            // cap of hints, backoff and Retry-After
	jitter      time.Duration            // window a pass spreads its sources over
}

// NewPolicy returns the policy of sources fetched on global (a cron spec,
// for those that name none of their own), with cache hints, backoff and
// Retry-After capped at maxInterval and scheduled passes spread over
// jitter. It returns an error naming the first spec that does not parse.
func NewPolicy(global string, sources []aggregator.Source, maxInterval, jitter time.Duration) (*Policy, error) {
	p := &Policy{
		schedules:   make(map[string]cron.Schedule),
		global:      global,
		maxInterval: maxInterval,
		jitter:      jitter,
	}
	specs := []string{global}
	for _, src := range sources {
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

// Spec is the cron spec src is fetched on: its own, else the global one.
func (p *Policy) Spec(src aggregator.Source) string {
	if src.Schedule != "" {
		return src.Schedule
	}
	return p.global
}

// Groups maps each cron spec to the sources fetched on it, in their order.
func (p *Policy) Groups(sources []aggregator.Source) map[string][]aggregator.Source {
	groups := make(map[string][]aggregator.Source)
	for _, src := range sources {
		spec := p.Spec(src)
		groups[spec] = append(groups[spec], src)
	}
	return groups
}

// interval is the time from tick to the source's next scheduled tick. A
// spec without a zone is read in UTC, as the scheduler runs it, whatever
// the zone of tick (robfig/cron reads it in the zone of the time it is
// given).
func (p *Policy) interval(src aggregator.Source, tick time.Time) time.Duration {
	return max(p.schedules[p.Spec(src)].Next(tick.UTC()).Sub(tick), time.Second)
}

// IsDue reports whether a pass at tick should fetch src, whose state is st:
// not gone, and its next attempt has come. A source whose configured URL
// changed is due at once: what was learnt of the old URL no longer
// applies.
func IsDue(src aggregator.Source, st aggregator.SourceState, tick time.Time) bool {
	if st.URL != "" && st.URL != src.URL {
		return true
	}
	return !st.Gone && !st.NextAttempt.After(tick.Add(dueSlack))
}

// AfterSuccess is the next attempt after a fetch at tick that worked: the
// next scheduled tick, or later if the source said it stays fresh longer
// (its hints capped at the maximum interval).
func (p *Policy) AfterSuccess(src aggregator.Source, tick time.Time, freshFor time.Duration) time.Time {
	next := tick.Add(p.interval(src, tick))
	if hinted := tick.Add(min(freshFor, p.maxInterval)); hinted.After(next) {
		next = hinted
	}
	return next.UTC()
}

// AfterFailure is the next attempt after the failures-th failure in a row
// at tick: the schedule's interval doubled for each failure after the
// first, up to the maximum interval (never below the interval itself),
// less a jitter of up to a quarter so that sources failing together drift
// apart. It is never earlier than retryAfter, nor ever "never".
func (p *Policy) AfterFailure(src aggregator.Source, tick time.Time, failures int, retryAfter time.Time) time.Time {
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

// NextAfterChange is when src, in state st, is next fetched once its
// schedule changed at now: what the new schedule says after its last
// success or failure.
func (p *Policy) NextAfterChange(src aggregator.Source, st aggregator.SourceState, now time.Time) time.Time {
	if st.ConsecutiveFailures > 0 {
		return p.AfterFailure(src, now, st.ConsecutiveFailures, st.RetryAfter)
	}
	return p.AfterSuccess(src, now, 0)
}

// spread is the window a scheduled pass at tick spreads src's group over:
// the configured jitter, but at most a quarter of the interval, so that a
// pass ends well before the next one.
func (p *Policy) spread(src aggregator.Source, tick time.Time) time.Duration {
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

// FetchURL is where src, in state st, is fetched from: its configured URL,
// or where it has moved (see movable).
func FetchURL(src aggregator.Source, st aggregator.SourceState) string {
	if st.MovedTo != "" && (st.URL == "" || st.URL == src.URL) && movable(src, st.MovedTo) {
		return st.MovedTo
	}
	return src.URL
}

// fetchTarget is the source a fetch of src, in state st, asks the
// fetcher for: src at its request URL (FetchURL, with the configured
// credentials where they belong; see sourceAt).
func fetchTarget(src aggregator.Source, st aggregator.SourceState) aggregator.Source {
	return sourceAt(src, requestURL(src, st))
}

// sourceAt is src fetched from u: internal (aggregator.Source.Internal)
// only while u stays on the host the config marks internal. Nothing a feed
// sends, such as a permanent redirect, carries the admin's word to another
// host.
func sourceAt(src aggregator.Source, u string) aggregator.Source {
	t := src
	t.URL = u
	t.Internal = src.Internal && sameHost(u, src.URL)
	return t
}

// movable reports whether src may be fetched from moved instead of its
// configured URL: only when the fetcher trusts moved as it trusts the
// configured URL (fetch.IsInternal). A public source's move never leads to
// a private address written out, nor to localhost, whatever an old state
// recorded; an internal source's move to another host is not recorded,
// and its redirect is followed each time, from the admin's own server.
// Addresses written out are judged by fetch.IsPrivate, not by a Client's
// Options.IsPrivate.
func movable(src aggregator.Source, moved string) bool {
	return fetch.IsInternal(sourceAt(src, moved)) == fetch.IsInternal(src)
}

// sameHost reports whether URLs a and b name the same host, whatever their
// scheme and port.
func sameHost(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return strings.EqualFold(strings.TrimSuffix(ua.Hostname(), "."), strings.TrimSuffix(ub.Hostname(), "."))
}

// StateFor returns st as it applies to src's configured URL: when the
// config names another URL than the one st was recorded for, what was
// learnt of the old one (a move, a 410, redirects seen, the next attempt)
// is forgotten.
func StateFor(src aggregator.Source, st aggregator.SourceState) aggregator.SourceState {
	st.Name = src.Name
	if st.URL != src.URL {
		st.URL = src.URL
		st.RedirectTo, st.RedirectCount, st.MovedTo, st.Gone = "", 0, "", false
		st.NextAttempt = time.Time{}
	}
	return st
}

// Failed returns st after a fetch started at start, in a pass at tick,
// failed with err: one more failure, classified, and the next attempt put
// off by the backoff and any Retry-After, or never for a 410 Gone.
func (p *Policy) Failed(src aggregator.Source, st aggregator.SourceState, err error, start, tick time.Time) aggregator.SourceState {
	st.LastAttempt = start.UTC()
	st.ConsecutiveFailures++
	st.LastError = err.Error()
	st.ErrorKind = fetch.Kind(err)
	var retryAfter time.Time
	var status *fetch.StatusError
	if errors.As(err, &status) {
		if !status.RetryAfter.IsZero() {
			retryAfter = status.RetryAfter
			st.RetryAfter, st.RetryAfterHost = status.RetryAfter, fetch.Host(status.URL)
		}
		st.Gone = status.Code == http.StatusGone
	}
	if st.Gone {
		st.NextAttempt = time.Time{}
		st.LastOutcome = aggregator.OutcomeGone
		return st
	}
	st.NextAttempt = p.AfterFailure(src, tick, st.ConsecutiveFailures, retryAfter)
	st.LastOutcome = aggregator.OutcomeFailed
	return st
}

// Succeeded returns st after a fetch started at start, in a pass at tick,
// brought res: failures reset, validators kept, the next attempt
// scheduled, and a permanent redirect counted, becoming a move the third
// time in a row (one that movable allows). The outcome is not modified, or stored for the caller to
// store.
func (p *Policy) Succeeded(src aggregator.Source, st aggregator.SourceState, res fetch.Result, start, tick time.Time) aggregator.SourceState {
	st.LastAttempt = start.UTC()
	st.LastSuccess = st.LastAttempt
	st.ETag, st.LastModified, st.BodyHash = res.ETag, res.LastModified, res.BodyHash
	st.LastError, st.ErrorKind = "", ""
	st.ConsecutiveFailures = 0
	st.Gone = false
	st.NextAttempt = p.AfterSuccess(src, tick, res.FreshFor)
	switch {
	case res.PermanentRedirect == "" || !movable(src, res.PermanentRedirect):
		st.RedirectTo, st.RedirectCount = "", 0
	case res.PermanentRedirect == st.RedirectTo:
		st.RedirectCount++
	default:
		st.RedirectTo, st.RedirectCount = res.PermanentRedirect, 1
	}
	if st.RedirectCount >= movedAfter {
		st.MovedTo = st.RedirectTo
		st.RedirectTo, st.RedirectCount = "", 0
	}
	if res.NotModified {
		st.LastOutcome = aggregator.OutcomeNotModified
	} else {
		st.LastOutcome = aggregator.OutcomeStored
		st.FeedTitle, st.SiteLink = res.Feed.Title, res.Feed.SiteLink
		st.FeedID, st.FeedUpdated = res.Feed.ID, res.Feed.Updated
		st.Image = res.Feed.Image
	}
	return st
}

// requestURL is the URL src, in state st, is requested at: FetchURL, with
// the configured URL's credentials when it moved within their origin.
func requestURL(src aggregator.Source, st aggregator.SourceState) string {
	moved := FetchURL(src, st)
	c, err := url.Parse(src.URL)
	if err != nil || c.User == nil || moved == src.URL {
		return moved
	}
	m, err := url.Parse(moved)
	if err != nil || m.User != nil || m.Scheme != c.Scheme || !strings.EqualFold(m.Host, c.Host) {
		return moved
	}
	m.User = c.User
	return m.String()
}

// HostBlocks returns, by host, when the Retry-After that states record for
// it ends, for those not over at now: what a restart tells the client, and
// what the status of a source shows.
func HostBlocks(states map[string]aggregator.SourceState, now time.Time) map[string]time.Time {
	blocked := make(map[string]time.Time)
	for _, st := range states {
		if st.RetryAfterHost != "" && st.RetryAfter.After(now) && st.RetryAfter.After(blocked[st.RetryAfterHost]) {
			blocked[st.RetryAfterHost] = st.RetryAfter
		}
	}
	return blocked
}
