package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/robfig/cron/v3"
)

// Shutdown deadlines: a running fetch pass gets passGrace to finish before
// its fetches are cancelled, then open HTTP requests get httpGrace.
const (
	passGrace = 20 * time.Second
	httpGrace = 5 * time.Second
)

// serve runs the daemon until ctx ends: it serves what the database holds
// at once, fetches the sources that are due, then follows the schedule: on
// each cron tick, the sources on that schedule that are due are fetched.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) (err error) {
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()

	if err := a.site.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10, // a feed reader's request is a few hundred bytes
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "sources", len(cfg.Sources), "database", cfg.Database)

	// Fetch passes run on their own context: on shutdown they get passGrace
	// to finish before it is cancelled.
	passCtx, cancelPasses := context.WithCancel(context.Background())
	defer cancelPasses()
	var passes sync.WaitGroup
	runPass := func(sources []aggregator.Source, spread bool) {
		if err := a.scheduledPass(passCtx, sources, spread); err != nil && passCtx.Err() == nil {
			logger.Error("fetch pass", "err", err)
		}
	}

	sched := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithLogger(cronLogger{logger}),
		// Skip outside Recover: a panicking job must release its token
		// (robfig/cron #366).
		cron.WithChain(cron.SkipIfStillRunning(cronLogger{logger}), cron.Recover(cronLogger{logger})),
	)
	for spec, sources := range scheduleGroups(cfg) {
		if _, err := sched.AddFunc(spec, func() {
			passes.Add(1)
			defer passes.Done()
			runPass(sources, true)
		}); err != nil {
			return fmt.Errorf("schedule %q: %w", spec, err)
		}
	}
	// The first pass catches up with whatever fell due while the daemon was
	// stopped; the next-attempt times stored are already spread.
	passes.Go(func() { runPass(cfg.Sources, false) })
	sched.Start()

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		sched.Stop()
		cancelPasses()
		passes.Wait()
		return fmt.Errorf("http server: %w", err)
	}

	cronDone := sched.Stop().Done()
	timer := time.AfterFunc(passGrace, cancelPasses)
	<-cronDone
	passes.Wait()
	timer.Stop()

	shutCtx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// scheduleGroups maps each cron spec to the sources fetched on it: those
// with a schedule of their own, and the rest on the global schedule.
func scheduleGroups(cfg *config.Config) map[string][]aggregator.Source {
	groups := make(map[string][]aggregator.Source)
	for _, src := range cfg.Sources {
		spec := src.Schedule
		if spec == "" {
			spec = cfg.Schedule
		}
		groups[spec] = append(groups[spec], src)
	}
	return groups
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

// fetchNow runs one fetch pass over the named sources (all when none),
// whatever their schedule, backoff or 410, and prints each one's result,
// and its next attempt when it failed. Unless force, a host's Retry-After is
// still honoured.
func fetchNow(ctx context.Context, cfg *config.Config, names []string, force bool, stdout io.Writer, logger *slog.Logger) (err error) {
	sources, err := selectSources(cfg, names)
	if err != nil {
		return err
	}
	a, err := openAppWith(ctx, cfg, logger, appOptions{ignoreRetryAfter: force})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()
	var mu sync.Mutex
	return a.refresh(ctx, sources, func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		printOutcome(stdout, o)
	})
}

// printOutcome prints the result line of a fetch, and an indented line
// with what happens next when it was not a plain success.
func printOutcome(w io.Writer, o outcome) {
	name, st := o.source.Name, o.state
	switch {
	case o.waiting != nil:
		fmt.Fprintf(w, "%s: waiting: %v (-force fetches anyway)\n", name, o.waiting)
	case o.err != nil:
		fmt.Fprintf(w, "%s: error: %v\n", name, o.err)
		switch {
		case st.Gone:
			fmt.Fprintf(w, "  gone: no longer polled; remove it from the config or fix its url\n")
		case !st.NextAttempt.IsZero():
			fmt.Fprintf(w, "  next attempt %s (%s)\n", st.NextAttempt.Format(time.RFC3339), failures(st.ConsecutiveFailures))
		}
	default:
		fmt.Fprintf(w, "%s: %s\n", name, st.LastResult)
	}
}

func failures(n int) string {
	if n == 1 {
		return "1 failure"
	}
	return fmt.Sprintf("%d failures in a row", n)
}
