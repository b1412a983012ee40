package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
)

// fetchURL is where src is fetched from: its configured URL, or where it
// has moved.
func fetchURL(src aggregator.Source, st aggregator.SourceState) string {
	if st.MovedTo != "" && (st.URL == "" || st.URL == src.URL) {
		return st.MovedTo
	}
	return src.URL
}

// forOwnURL returns st for the configured url: when the config names
// another URL than the one st was recorded for, what was learnt of the old
// one (a move, a 410, redirects seen) is forgotten.
func forOwnURL(st aggregator.SourceState, url string) aggregator.SourceState {
	if st.URL != url {
		st.URL = url
		st.RedirectTo, st.RedirectCount, st.MovedTo, st.Gone = "", 0, "", false
		st.NextAttempt = time.Time{}
	}
	return st
}

// failed returns st after a fetch started at start, in a pass at tick,
// failed with err: one more failure, classified, and the next attempt put
// off by the backoff and any Retry-After, or never for a 410 Gone.
func (p *policy) failed(src aggregator.Source, st aggregator.SourceState, err error, start, tick time.Time) aggregator.SourceState {
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
	st.NextAttempt = p.afterFailure(src, tick, st.ConsecutiveFailures, retryAfter)
	st.LastOutcome = aggregator.OutcomeFailed
	return st
}

// succeeded returns st after a fetch started at start, in a pass at tick,
// brought res: failures reset, validators kept, the next attempt scheduled,
// and a permanent redirect counted, becoming a move the third time in a
// row. LastOutcome is left to the caller.
func (p *policy) succeeded(src aggregator.Source, st aggregator.SourceState, res fetch.Result, start, tick time.Time) aggregator.SourceState {
	st.LastAttempt = start.UTC()
	st.LastSuccess = st.LastAttempt
	st.ETag, st.LastModified, st.BodyHash = res.ETag, res.LastModified, res.BodyHash
	st.LastError, st.ErrorKind = "", ""
	st.ConsecutiveFailures = 0
	st.Gone = false
	st.NextAttempt = p.afterSuccess(src, tick, res.FreshFor)
	switch {
	case res.PermanentRedirect == "":
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
	return st
}
