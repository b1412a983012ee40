package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/metrics"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/websub"
)

// Shutdown deadlines: a running fetch pass gets defaultPassGrace (serve
// -grace) to finish before its fetches are cancelled, then open HTTP
// requests get httpGrace.
const (
	defaultPassGrace = 20 * time.Second
	httpGrace        = 5 * time.Second
)

// serveOptions are the settings of serve from its flags.
type serveOptions struct {
	passGrace time.Duration // 0 → defaultPassGrace
}

// runServe runs `aggregator serve`.
func runServe(c *cli) error {
	grace := c.fs.Duration("grace", defaultPassGrace, "on SIGTERM, how long a fetch pass may go on before its fetches are cancelled")
	logger := c.logger()
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	return serve(c.ctx, cfg, serveOptions{passGrace: *grace}, log)
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

// serve runs the daemon until ctx ends: it serves what the database holds
// at once, fetches the sources that are due, then follows the schedule: on
// each cron tick, the sources on that schedule that are due are fetched.
// SIGHUP reloads the config (see server.reload). Under systemd it reports
// READY once the database is open and the listener up, pings the watchdog
// while the database is readable, and reports STOPPING on shutdown.
func serve(ctx context.Context, cfg *config.Config, opts serveOptions, logger *slog.Logger) (err error) {
	if opts.passGrace <= 0 {
		opts.passGrace = defaultPassGrace
	}
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
	d := &server{store: store, logger: logger, passGrace: opts.passGrace}
	d.metrics = metrics.New(store, func() []aggregator.Source { return d.current().cfg.Sources }, route)
	d.eng = newEngine(store, logger, appOptions{}, func(o poll.Outcome) {
		d.metrics.Fetched(o)
		discovered(d.eng.push.Load(), o)
	})
	d.sched = poll.NewScheduler(d.eng.poller, d.passFailed)
	a, err := d.eng.app(cfg, logger)
	if err != nil {
		return err
	}
	if err := a.configure(ctx); err != nil {
		return err
	}
	d.app.Store(a)
	if err := a.site.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	if err := d.startWebSub(cfg); err != nil {
		return err
	}
	defer d.stopWebSub()
	if err := d.metrics.RegisterWebSub(func() *websub.Status { return d.eng.push.Load().Status() }); err != nil {
		return err
	}
	if err := d.metrics.RegisterPages(func() int { return d.current().site.FailingPages() }); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           d.handler(),
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
		watchdogs.Go(func() { d.watchdog(watchdogCtx, interval) })
	}

	if err := d.sched.Start(); err != nil {
		srv.Close()
		return err
	}
	// The first pass catches up with whatever fell due while the daemon was
	// stopped; the next-attempt times stored are already spread.
	d.sched.Go(cfg.Sources)

	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-hup:
			d.reload(ctx)
		case err := <-serveErr:
			d.sched.Stop(0)
			return fmt.Errorf("http server: %w", err)
		}
	}
	logger.Info("shutting down")
	notify(logger, sd.SdNotifyStopping)
	d.sched.Stop(d.passGrace)

	shutCtx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
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
	dbFailures := 0
	start := time.Now()
	err = a.poller.Refresh(ctx, sources, func(o poll.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		var lines strings.Builder
		o.WriteText(&lines)
		bar.report(lines.String())
		sum.Add(o)
		if o.Class() == poll.ClassDatabase {
			dbFailures++
		}
	})
	bar.finish()
	fmt.Fprintf(stdout, "%v in %v\n", sum, time.Since(start).Round(time.Millisecond))
	if err != nil && dbFailures > 0 {
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
