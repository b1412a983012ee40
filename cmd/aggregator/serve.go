package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/daemon"
	"github.com/planetgo/aggregator/metrics"
	"github.com/planetgo/aggregator/poll"
)

// runServe runs `aggregator serve`.
func runServe(c *cli) error {
	grace := c.fs.Duration("grace", daemon.DefaultPassGrace, "on SIGTERM, how long a fetch pass may go on before its fetches are cancelled")
	logger := c.logger()
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	return serve(c.ctx, cfg, *grace, log)
}

// runFetch runs `aggregator fetch`.
func runFetch(c *cli) error {
	force := c.fs.Bool("force", false, "fetch even from hosts whose Retry-After has not passed")
	logger := c.logger()
	cfg, err := c.load(-1)
	if err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	return fetchNow(c.ctx, cfg, c.fs.Args(), *force, c.stdout, log)
}

// serve runs the daemon (package daemon) of cfg until ctx ends: it serves
// what the database holds at once, fetches the sources that are due, then
// follows the schedule. SIGHUP reloads the config (see reloader). Under
// systemd it reports READY once the database is open and the listener up,
// pings the watchdog while the database is readable, and reports STOPPING
// on shutdown.
func serve(ctx context.Context, cfg *config.Config, grace time.Duration, logger *slog.Logger) (err error) {
	// From the start: a SIGHUP's default action is to end the process. One
	// that comes before the schedule starts is handled after.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	store, err := openStore(cfg, logger, 0)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	var d *daemon.Daemon
	m := metrics.New(store, func() []aggregator.Source { return d.Setup().Poll.Sources }, daemon.Route)
	eng := newEngine(store, logger, appOptions{}, func(o poll.Outcome) { d.Observe(o) })
	r := &reloader{eng: eng, metrics: m, logger: logger, cfg: cfg}
	d = daemon.New(store, eng.poller, m, daemon.Options{
		Logger: logger, PassGrace: grace, Reload: r.reload,
		Stopping: func() { notify(logger, sd.SdNotifyStopping) },
	})
	r.daemon, eng.changed = d, d.Changed
	a, err := eng.app(cfg, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Start(ctx, a.setup()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	logger.Info("serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "sources", len(cfg.Sources), "database", cfg.Database)
	notify(logger, sd.SdNotifyReady+"\nSTATUS=serving on "+ln.Addr().String())
	var watchdogs sync.WaitGroup
	watchdogCtx, stopWatchdog := context.WithCancel(context.Background())
	defer func() {
		stopWatchdog()
		watchdogs.Wait()
	}()
	if interval, err := sd.SdWatchdogEnabled(false); err != nil {
		logger.Warn("systemd watchdog", "err", err)
	} else if interval > 0 {
		watchdogs.Go(func() { d.Watchdog(watchdogCtx, interval, func() { notify(logger, sd.SdNotifyWatchdog) }) })
	}
	return d.Run(ctx, ln, hup)
}

// fetchNow runs one fetch pass over the named sources (all when none),
// whatever their schedule, backoff or 410, and prints each one's result,
// and its next attempt when it failed, under a progress bar when stdout is
// a terminal, then a summary. Unless force, a host's Retry-After is
// still honoured.
func fetchNow(ctx context.Context, cfg *config.Config, names []string, force bool, stdout io.Writer, logger *slog.Logger) (err error) {
	sources, err := cfg.Select(names)
	if err != nil {
		return &usageError{err.Error()}
	}
	a, err := openAppWith(ctx, cfg, logger, appOptions{ignoreRetryAfter: force, renderChangesOnly: true, noHiddenCounts: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()
	var mu sync.Mutex
	bar := &progress{w: stdout, tty: isTerminal(stdout), total: len(sources)}
	var sum poll.Summary
	start := time.Now()
	err = a.poller.Refresh(ctx, sources, func(o poll.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		var lines strings.Builder
		o.WriteText(&lines)
		bar.report(lines.String())
		sum.Add(o)
	})
	bar.finish()
	fmt.Fprintf(stdout, "%v in %v\n", sum, time.Since(start).Round(time.Millisecond))
	if dbFailures := sum.ByClass[poll.ClassDatabase]; err != nil && dbFailures > 0 {
		// Each failure was printed with its source: say so once, keeping
		// the errors for the exit status (a damaged database is 65).
		return &printedError{fmt.Sprintf("the database failed to store %d of the sources (above)", dbFailures), err}
	}
	return err
}

// printedError is an error whose details the command printed already:
// its message is msg alone, and it wraps err for errors.Is and As.
type printedError struct {
	msg string
	err error
}

func (e *printedError) Error() string { return e.msg }
func (e *printedError) Unwrap() error { return e.err }
