package poll

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/robfig/cron/v3"
)

// Scheduler runs a Poller's passes in the background: on each cron tick of
// the schedules in force, the sources of that schedule that are due, and
// the passes asked of it with Go. Its passes share one context, which Stop
// cancels once their grace has passed. It is safe for concurrent use.
type Scheduler struct {
	poller  *Poller
	logger  *slog.Logger
	onError func(error)

	ctx    context.Context
	cancel context.CancelFunc
	passes sync.WaitGroup

	mu      sync.Mutex
	cron    *cron.Cron
	stopped []context.Context // Stop().Done() of the schedules Start replaced
}

// NewScheduler returns a Scheduler of p's passes. A pass that fails is
// logged, then given to onError (if not nil): a failure in the background
// has nobody to return to.
func NewScheduler(p *Poller, onError func(error)) *Scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{poller: p, logger: p.opts.Logger, onError: onError, ctx: ctx, cancel: cancel}
}

// Start puts in force the schedules of the poller's settings in force
// (Policy.Groups), stopping the ones before: passes they started finish
// on their own.
func (s *Scheduler) Start() error {
	snap := s.poller.current.Load()
	cl := cronLogger{s.logger}
	c := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithLogger(cl),
		// Skip outside Recover: a panicking job must release its token
		// (robfig/cron #366).
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)),
	)
	for spec, sources := range snap.policy.Groups(snap.Sources) {
		if _, err := c.AddFunc(spec, func() {
			s.passes.Add(1)
			defer s.passes.Done()
			s.run(sources, true)
		}); err != nil {
			return fmt.Errorf("schedule %q: %w", spec, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Stop waits for the schedules replaced whose jobs still run; the
	// others need no keeping, or a daemon reloaded for years would keep
	// one per reload.
	s.stopped = slices.DeleteFunc(s.stopped, func(done context.Context) bool { return done.Err() != nil })
	if s.cron != nil {
		s.stopped = append(s.stopped, s.cron.Stop())
	}
	s.cron = c
	c.Start()
	return nil
}

// Go runs a pass over the due ones of sources in the background, at once
// and unspread: the catch-up pass of a start, or the one after a reload.
func (s *Scheduler) Go(sources []aggregator.Source) {
	s.passes.Go(func() { s.run(sources, false) })
}

// run runs one pass, logging its failure unless the scheduler stopped it.
func (s *Scheduler) run(sources []aggregator.Source, spread bool) {
	err := s.poller.Pass(s.ctx, sources, spread)
	if err == nil || s.ctx.Err() != nil {
		return
	}
	s.logger.Error("fetch pass", "err", err)
	if s.onError != nil {
		s.onError(err)
	}
}

// Stop stops the schedule and waits for every pass the scheduler started,
// cancelling their fetches if they take longer than grace.
func (s *Scheduler) Stop(grace time.Duration) {
	s.mu.Lock()
	if s.cron != nil {
		s.stopped = append(s.stopped, s.cron.Stop())
		s.cron = nil
	}
	stopped := s.stopped
	s.stopped = nil
	s.mu.Unlock()
	timer := time.AfterFunc(grace, s.cancel)
	defer timer.Stop()
	for _, done := range stopped {
		<-done.Done()
	}
	s.passes.Wait()
	s.cancel()
}

// cronLogger hands robfig/cron's logr-style logger to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) {
	// cron logs every wake-up and schedule at Info: that is debug detail.
	c.l.Debug("cron: "+msg, kv...)
}

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(slices.Clone(kv), "err", err)...)
}
