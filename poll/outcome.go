package poll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// Outcome is what fetching one source in a pass came to.
type Outcome struct {
	Source aggregator.Source
	State  aggregator.SourceState // as recorded; the state before for a waiting or cancelled fetch
	Err    error                  // the fetch's failure, or a *StoreError
	Saved  storage.SaveResult
	Took   time.Duration
	Bytes  int64 // of the body fetched; 0 when not modified

	NotModified bool // the source answered 304, or the same body again

	// Hubs and Self are the WebSub hubs and topic URL the response named
	// (fetch.Result); empty when it named none or failed.
	Hubs []string
	Self string

	// Waiting is set, and nothing else, when no request was sent because
	// the source's host asked us to wait.
	Waiting *fetch.HostBlockedError
}

// Class sorts outcomes for counting and showing.
type Class int

// The classes of Outcome.Class.
const (
	ClassUnchanged   Class = iota // fetched and parsed, nothing new or changed
	ClassChanged                  // items stored or updated
	ClassNotModified              // a 304, or the same body again
	ClassFailed                   // the source failed; retried after its backoff
	ClassGone                     // the source answered 410: no longer polled
	ClassDatabase                 // our own database failed to store it
	ClassWaiting                  // no request sent: its host asked us to wait
	ClassCancelled                // the pass was cancelled mid-fetch: nothing recorded
)

// String is the class in a word, as the result label of the fetch metrics
// spells it.
func (c Class) String() string {
	switch c {
	case ClassUnchanged:
		return "unchanged"
	case ClassChanged:
		return "changed"
	case ClassNotModified:
		return "not_modified"
	case ClassFailed:
		return "error"
	case ClassGone:
		return "gone"
	case ClassDatabase:
		return "db_error"
	case ClassWaiting:
		return "waiting"
	case ClassCancelled:
		return "cancelled"
	}
	return "class " + strconv.Itoa(int(c))
}

// Summary counts the outcomes of a pass by class, and the items they
// stored.
type Summary struct {
	Sources                int
	ByClass                [ClassCancelled + 1]int
	NewItems, UpdatedItems int
}

// Add counts o.
func (s *Summary) Add(o Outcome) {
	s.Sources++
	s.ByClass[o.Class()]++
	s.NewItems += o.Saved.New
	s.UpdatedItems += o.Saved.Updated
}

func (s Summary) String() string {
	noun := "sources"
	if s.Sources == 1 {
		noun = "source"
	}
	c := s.ByClass
	failed := c[ClassFailed] + c[ClassGone] + c[ClassDatabase] + c[ClassCancelled]
	return fmt.Sprintf("%d %s: %d changed (%d new items, %d updated), %d unchanged, %d not modified, %d failed, %d waiting",
		s.Sources, noun, c[ClassChanged], s.NewItems, s.UpdatedItems, c[ClassUnchanged], c[ClassNotModified], failed, c[ClassWaiting])
}

// Class is the one place that sorts an outcome: what metrics, the fetch
// command's summary and its lines count and show.
func (o Outcome) Class() Class {
	var storeErr *StoreError
	switch {
	case o.Waiting != nil:
		return ClassWaiting
	case errors.As(o.Err, &storeErr):
		return ClassDatabase
	case o.Err != nil && errors.Is(o.Err, context.Canceled):
		return ClassCancelled
	case o.Err != nil && o.State.Gone:
		return ClassGone
	case o.Err != nil:
		return ClassFailed
	case o.NotModified:
		return ClassNotModified
	case o.Saved.New > 0 || o.Saved.Updated > 0:
		return ClassChanged
	}
	return ClassUnchanged
}

// WriteText writes the line of o that `aggregator fetch` prints, and an
// indented line with what happens next when it was not a plain success.
func (o Outcome) WriteText(w io.Writer) {
	name, st := o.Source.Name, o.State
	switch o.Class() {
	case ClassWaiting:
		fmt.Fprintf(w, "%s: waiting: %v (-force fetches anyway)\n", name, o.Waiting)
	case ClassFailed, ClassGone, ClassDatabase, ClassCancelled:
		fmt.Fprintf(w, "%s: error: %v\n", name, o.Err)
		if errors.Is(o.Err, fetch.ErrPrivateAddress) {
			fmt.Fprintf(w, "  %s\n", internalHint)
		}
		switch {
		case o.Class() == ClassGone:
			fmt.Fprintf(w, "  gone: no longer polled; remove it from the config or fix its url\n")
		case !st.NextAttempt.IsZero():
			fmt.Fprintf(w, "  next attempt %s (%s)\n", st.NextAttempt.Format(time.RFC3339), failures(st.ConsecutiveFailures))
		}
	default:
		fmt.Fprintf(w, "%s: %s\n", name, st.Result())
	}
}

func failures(n int) string {
	if n == 1 {
		return "1 failure"
	}
	return fmt.Sprintf("%d failures in a row", n)
}

// internalHint tells the admin what to do about a source refused for its
// private address (fetch.ErrPrivateAddress).
const internalHint = "if the source is on your own network, set internal: true on it in the config"

// StoreError marks a failure of our own database, as opposed to the
// source's.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "database: " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// fetchOne fetches one source with s in a pass at tick and records the
// result in the store. Failures of the source are logged here; a failure
// of the store is returned in the outcome, for the pass to return.
func (p *Poller) fetchOne(ctx context.Context, s *snapshot, src aggregator.Source, tick time.Time) Outcome {
	log := p.opts.Logger
	start := p.opts.Now()
	o := Outcome{Source: src}
	prev, err := p.store.State(ctx, src.Name)
	if err != nil && !errors.Is(err, aggregator.ErrNotFound) {
		o.Err = &StoreError{err}
		return o
	}
	prev = StateFor(src, prev)
	target := fetchTarget(src, prev)

	res, err := s.Client.Fetch(ctx, target, prev)
	o.Took = p.opts.Now().Sub(start)
	var blocked *fetch.HostBlockedError
	switch {
	case errors.As(err, &blocked):
		// No request was sent: nothing happened to record.
		o.Waiting, o.State = blocked, prev
		log.Info("waiting for host", "source", src.Name, "host", blocked.Host, "until", blocked.Until)
		return o
	case err != nil && ctx.Err() != nil:
		// Shutting down: the source did nothing wrong, record nothing.
		o.Err, o.State = err, prev
		return o
	case err != nil:
		st := s.policy.Failed(src, prev, err, start, tick)
		o.Err, o.State = err, st
		if st.Gone {
			log.Warn("source gone", "source", src.Name, "url", aggregator.RedactURL(target.URL), "err", err)
		} else {
			args := []any{"source", src.Name, "url", aggregator.RedactURL(target.URL), "kind", st.ErrorKind, "err", err,
				"took", o.Took.Round(time.Millisecond), "failures", st.ConsecutiveFailures, "next_attempt", st.NextAttempt}
			if errors.Is(err, fetch.ErrPrivateAddress) {
				args = append(args, "hint", internalHint)
			}
			log.Warn("fetch failed", args...)
		}
		if serr := p.store.SaveState(ctx, src, st); serr != nil {
			o.Err = &StoreError{serr}
		}
		return o
	}

	st := s.policy.Succeeded(src, prev, res, start, tick)
	if st.MovedTo != prev.MovedTo {
		log.Warn("source moved", "source", src.Name, "url", aggregator.RedactURL(src.URL), "moved_to", aggregator.RedactURL(st.MovedTo),
			"hint", "update its url in the config")
	}
	o.NotModified, o.Bytes = res.NotModified, res.Bytes
	o.Hubs, o.Self = res.Hubs, res.Self
	if s.Subscribed != nil && s.Subscribed(src.Name) {
		// Pushed to us: polled only as a safety net.
		if at := start.Add(s.PushPollInterval).UTC(); at.After(st.NextAttempt) {
			st.NextAttempt = at
		}
	}
	if res.NotModified {
		o.State = st
		if err := p.store.SaveState(ctx, src, st); err != nil {
			o.Err = &StoreError{err}
			return o
		}
		// Per source and pass: at Debug, or a planet of 500 sources on
		// the default schedule writes 48,000 lines a day saying nothing.
		log.Debug("not modified", "source", src.Name, "took", o.Took.Round(time.Millisecond), "next_attempt", st.NextAttempt)
		return o
	}
	saved, err := p.store.Save(ctx, src, res.Feed.Items, st)
	if err != nil {
		o.Err = &StoreError{err}
		// Shown by the status; the validators stay those of the last fetch
		// stored, so that the next pass fetches the feed again in full, and
		// no backoff: the source did nothing wrong.
		failed := prev
		failed.LastAttempt = start.UTC()
		failed.LastOutcome = aggregator.OutcomeFailed
		failed.LastError, failed.ErrorKind = o.Err.Error(), aggregator.ErrorKindDatabase
		if serr := p.store.SaveState(ctx, src, failed); serr == nil {
			o.State = failed
		}
		return o
	}
	st.LastNew, st.LastUpdated = saved.New, saved.Updated
	o.Saved, o.State = saved, st
	level := slog.LevelDebug // fetched, nothing new: as "not modified"
	if saved.New > 0 || saved.Updated > 0 {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, "fetched", "source", src.Name, "items", len(res.Feed.Items), "new_items", saved.New,
		"updated_items", saved.Updated, "bytes", res.Bytes, "took", o.Took.Round(time.Millisecond), "next_attempt", st.NextAttempt)
	return o
}
