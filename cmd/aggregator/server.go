package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/metrics"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
	"golang.org/x/sys/unix"
)

// server is what serve runs: the database, the poller, the metrics and
// the schedule for the life of the process, around the app of the config
// in force, which a reload replaces.
type server struct {
	store   *storage.Store
	logger  *slog.Logger
	eng     *engine
	metrics *metrics.Metrics
	app     atomic.Pointer[app] // of the config in force

	// sched runs the passes in the background; on shutdown they get
	// passGrace to finish before their fetches are cancelled.
	sched     *poll.Scheduler
	passGrace time.Duration

	// push are the settings of the WebSub in force (d.eng.push), nil
	// when none runs; pushStop stops it.
	push     *webSubSettings
	pushStop func()

	// damaged is the first error of a pass that found the database
	// damaged (storage.ErrCorrupt): /healthz is red from then on.
	damaged atomic.Pointer[error]
}

func (d *server) current() *app { return d.app.Load() }

// handler serves the current app's site, /status.json, /metrics and
// /healthz, counting requests by route and status. It dispatches with a
// switch rather than a ServeMux, whose matching took 5 allocations and
// more time than the site's own handler on every feed request. The site
// answers 404 to any path it does not know (it never cleans or redirects).
func (d *server) handler() http.Handler {
	scrape := d.metrics.Handler()
	status := poll.StatusHandlerWith(d.store, func() ([]aggregator.Source, *aggregator.Rules) {
		cfg := d.current().cfg
		return cfg.Sources, cfg.Rules
	}, d.logger, poll.StatusExtras{
		SourceWebSub: func(source string) string { return d.eng.push.Load().SourceStatus(source) },
		WebSub: func() any {
			if st := d.eng.push.Load().Status(); st != nil {
				return st
			}
			return nil
		},
	})
	return d.metrics.Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h http.HandlerFunc
		switch r.URL.Path {
		case "/status.json":
			h = d.adminOnly(status.ServeHTTP)
		case "/metrics":
			h = d.adminOnly(scrape.ServeHTTP)
		case "/healthz":
			h = d.serveHealth
		case hubPath:
			if !d.eng.push.Load().ServeHub(w, r) {
				d.current().site.ServeHTTP(w, r)
			}
			return
		default:
			if strings.HasPrefix(r.URL.Path, websub.CallbackPath) && d.eng.push.Load().ServeCallback(w, r) {
				return
			}
			d.current().site.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}))
}

// route is the metrics' label of path: one of the daemon's own routes, the
// site's label (publish.RouteLabel), or "other", so that the label's values
// stay few whatever clients ask for.
func route(path string) string {
	switch path {
	case "/status.json", "/metrics", "/healthz", hubPath:
		return path
	}
	if strings.HasPrefix(path, websub.CallbackPath) {
		return websub.CallbackPath
	}
	if r := publish.RouteLabel(path); r != "" {
		return r
	}
	return "other"
}

// adminOnly serves h to the clients of the networks admin.allow names, and
// 403 to the others. Behind a reverse proxy, every client has the proxy's
// address.
func (d *server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.current().cfg.Admin.Allows(r.RemoteAddr) {
			http.Error(w, "forbidden: admin.allow does not include your address", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// serveHealth answers 200 when the process is up and the database
// readable, 503 otherwise.
func (d *server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if d.damaged.Load() != nil {
		http.Error(w, "database damaged: see the log", http.StatusServiceUnavailable)
		return
	}
	if err := d.store.Check(ctx); err != nil {
		d.logger.Error("health check", "err", err)
		http.Error(w, "database unreadable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// passFailed turns /healthz red when a pass found the database damaged:
// the daemon goes on serving what it can, and a restart would refuse the
// database (exit 65) or find the same.
func (d *server) passFailed(err error) {
	if errors.Is(err, storage.ErrCorrupt) && d.damaged.CompareAndSwap(nil, &err) {
		d.logger.Error("database damaged; /healthz reports it: stop the daemon, run aggregator verify, then aggregator salvage", "database", d.store.Path())
	}
}

// reload re-reads the config file. If it is invalid, every problem is
// logged with its line and the daemon goes on with the config in force.
// If it is valid, the new config replaces the old at once: sources, the
// schedule and the outputs. Settings that need a restart keep their old
// value. A pass then fetches whatever the new config makes due (new
// sources, changed URLs); nothing else is fetched before its time.
func (d *server) reload(ctx context.Context) {
	old := d.current()
	notify(d.logger, reloadingState())
	defer notify(d.logger, sd.SdNotifyReady)
	d.logger.Info("reloading config", "file", old.cfg.File)

	cfg, err := config.Load(old.cfg.File)
	if err != nil {
		d.metrics.Reloaded(false)
		for _, e := range configErrors(err) {
			d.logger.Error("config invalid; keeping the config in force", "err", e)
		}
		return
	}
	cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
	for _, s := range config.KeepRestartSettings(old.cfg, cfg) {
		d.logger.Warn("setting changed; ignored until restart", "key", s.Key, "in_force", s.InForce, "in_file", s.InFile)
	}
	a, err := d.apply(ctx, cfg)
	if err != nil {
		d.metrics.Reloaded(false)
		// A theme's mistakes come joined, one per template line.
		for _, e := range configErrors(err) {
			d.logger.Error("reload failed; keeping the config in force", "err", e)
		}
		if err := old.configure(ctx); err != nil {
			d.logger.Error("restore the config in force", "err", err)
		}
		return
	}
	d.metrics.Reloaded(true)
	added, removed := old.cfg.SourceChanges(cfg)
	d.metrics.Forget(removed)
	d.logger.Info("config reloaded", "sources", len(cfg.Sources), "added", added, "removed", removed)
	d.sched.Go(a.cfg.Sources)
}

// apply builds the app of cfg, puts its settings in force in the poller
// (which brings forward the next attempts of sources whose schedule
// shortened), renders its outputs, and makes it the app in force with its
// schedule.
func (d *server) apply(ctx context.Context, cfg *config.Config) (*app, error) {
	a, err := d.eng.app(cfg, d.logger)
	if err != nil {
		return nil, err
	}
	if err := a.configure(ctx); err != nil {
		return nil, err
	}
	if err := a.poller.Publish(ctx); err != nil {
		return nil, fmt.Errorf("render feeds: %w", err)
	}
	d.app.Store(a)
	if d.push != nil && *d.push == webSubSettingsOf(cfg) {
		d.eng.push.Load().Configure(cfg.Sources, cfg.WebSub.Hubs)
	} else {
		was := d.eng.push.Load()
		if err := d.startWebSub(cfg); err != nil {
			// The next reload, or a restart, tries again.
			d.logger.Error("websub not started; the daemon goes on without it", "err", err)
		} else {
			d.logger.Info("websub settings put in force", "hub", cfg.WebSub.Hub, "subscribe", cfg.WebSub.Subscribe)
		}
		d.wakeUnsubscribed(ctx, was, cfg.Sources)
	}
	return a, d.sched.Start()
}

// watchdog pings systemd's watchdog every interval/2 while the database
// is readable, until ctx ends. When it is not, the pings stop, and systemd
// restarts the daemon once interval has passed without one.
func (d *server) watchdog(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		checkCtx, cancel := context.WithTimeout(ctx, interval/2)
		err := d.store.Check(checkCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.logger.Error("health check failed; not pinging the watchdog", "err", err)
			}
			continue
		}
		notify(d.logger, sd.SdNotifyWatchdog)
	}
}

// notify sends state to systemd; without $NOTIFY_SOCKET it does nothing.
func notify(logger *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		logger.Warn("notify systemd", "state", state, "err", err)
	}
}

// reloadingState is RELOADING=1 with the MONOTONIC_USEC that
// Type=notify-reload requires (sd_notify(3)).
func reloadingState() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return sd.SdNotifyReloading
	}
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, ts.Nano()/1000)
}
