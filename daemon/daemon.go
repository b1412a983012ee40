// Package daemon is the aggregator that runs for years: it serves the
// site of the config in force with the daemon's own routes (/status.json,
// /metrics, /healthz, our WebSub hub and the callbacks of our
// subscriptions), runs the poller's schedule, and puts a new config's
// Setup in force when the caller reloads one. It never reads a config:
// the caller builds each Setup from one (cmd/aggregator), and owns the
// signals, systemd and the config file.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/metrics"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/publish"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
)

// Shutdown deadlines: a running fetch pass gets DefaultPassGrace
// (Options.PassGrace) to finish before its fetches are cancelled, then
// open HTTP requests get httpGrace.
const (
	DefaultPassGrace = 20 * time.Second
	httpGrace        = 5 * time.Second
)

// Setup is what the daemon serves and fetches with for one config.
type Setup struct {
	Site *publish.Site
	// Poll are the poller's settings; the daemon sets Subscribed, from
	// its WebSub.
	Poll  poll.Settings
	Rules *aggregator.Rules // the filters, for /status.json's hidden counts
	// AllowAdmin reports whether a client at remoteAddr may read
	// /status.json and /metrics.
	AllowAdmin func(remoteAddr string) bool
	WebSub     WebSub
	PingHubs   []string // the hubs told of each change of our feeds
}

// Options are the optional settings of a Daemon.
type Options struct {
	Logger    *slog.Logger  // nil → discard
	PassGrace time.Duration // 0 → DefaultPassGrace
	// Reload is called on each value Run receives on its reloads
	// channel: it reads the config again and calls Apply.
	Reload func(ctx context.Context)
	// Stopping is called when Run begins to shut down (systemd's
	// STOPPING=1).
	Stopping func()
}

// Daemon is the long-running aggregator around one store and its poller.
// Its life is Start, Run (which calls Options.Reload, and so Apply, on its
// own goroutine), then Close: Start, Apply and Close are called one at a
// time, never concurrently; what they put in force is read by any
// goroutine (requests, metrics, passes).
type Daemon struct {
	store   *storage.Store
	poller  *poll.Poller
	sched   *poll.Scheduler
	metrics *metrics.Metrics
	logger  *slog.Logger
	opts    Options
	setup   atomic.Pointer[Setup] // in force

	// configured holds the names of the sources of the Setup in force:
	// Observe counts the outcomes of those only, as a pass that began
	// before a reload still fetches the sources it removed. Its lock
	// keeps Observe from counting a source once Apply has forgotten it.
	observeMu  sync.RWMutex
	configured map[string]bool

	// push is the WebSub in force (nil: none), built from pushOn;
	// pushStop stops it.
	push     atomic.Pointer[websub.Service]
	pushOn   *WebSub
	pushStop func()

	// damaged is the first error of a pass that found the database
	// damaged (storage.ErrCorrupt): /healthz is red from then on.
	damaged atomic.Pointer[error]
}

// New returns the daemon of store and poller, counting in m. The poller's
// outcomes are to be handed to Observe (poll.Options.Observe), and the
// changes of its sites' renders to Changed (publish.Options.Changed).
func New(store *storage.Store, poller *poll.Poller, m *metrics.Metrics, opts Options) *Daemon {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PassGrace <= 0 {
		opts.PassGrace = DefaultPassGrace
	}
	d := &Daemon{store: store, poller: poller, metrics: m, logger: opts.Logger, opts: opts}
	d.sched = poll.NewScheduler(poller, d.passFailed)
	return d
}

// Setup returns the Setup in force.
func (d *Daemon) Setup() *Setup { return d.setup.Load() }

// Observe counts a fetch's outcome, and hands our WebSub subscriber the
// hubs it found: of a feed read, none ends the source's subscription; of
// a 304 (or the same body again), whose feed was not read, only those of
// its Link header count. It does so for a source of the Setup in force
// only: the outcome of one no longer configured (fetched by a pass that
// began before a reload) is ignored, or its series would be back in
// /metrics for good.
func (d *Daemon) Observe(o poll.Outcome) {
	d.observeMu.RLock()
	configured := d.configured[o.Source.Name]
	if configured {
		d.metrics.Fetched(o)
	}
	d.observeMu.RUnlock()
	if configured && o.Err == nil && o.Waiting == nil && (!o.NotModified || len(o.Hubs) > 0) {
		d.push.Load().Discovered(o.Source, o.Hubs, o.Self, aggregator.RedactURL(poll.FetchURL(o.Source, o.State)))
	}
}

// observeSources makes the sources of s those whose outcomes Observe
// counts, and drops the series of the sources no longer among them.
func (d *Daemon) observeSources(s *Setup) {
	configured := make(map[string]bool, len(s.Poll.Sources))
	for _, src := range s.Poll.Sources {
		configured[src.Name] = true
	}
	d.observeMu.Lock()
	defer d.observeMu.Unlock()
	var removed []string
	for name := range d.configured {
		if !configured[name] {
			removed = append(removed, name)
		}
	}
	d.configured = configured
	d.metrics.Forget(removed)
}

// Changed tells our WebSub of the feeds a render changed: our hub sends
// them to its subscribers, and the hubs to ping are pinged.
func (d *Daemon) Changed(changes []publish.FeedChange) {
	contents := make([]websub.Content, 0, len(changes))
	for _, c := range changes {
		contents = append(contents, websub.Content{Topic: c.URL, ContentType: c.ContentType, Body: c.Body, Link: c.Link})
	}
	d.push.Load().Changed(contents)
}

// Start puts s in force (the store's sources follow it), renders its
// outputs and starts its WebSub: the daemon serves what the database
// holds from its first request. Close stops what Start started.
func (d *Daemon) Start(ctx context.Context, s *Setup) error {
	if err := d.configure(ctx, s); err != nil {
		return err
	}
	d.setup.Store(s)
	d.observeSources(s)
	if err := s.Site.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	if err := d.startWebSub(s); err != nil {
		return err
	}
	if err := d.metrics.RegisterWebSub(func() *websub.Status { return d.push.Load().Status() }); err != nil {
		return err
	}
	return d.metrics.RegisterPages(func() int { return d.Setup().Site.FailingPages() })
}

// Close stops what the daemon runs (a schedule Apply started without Run,
// its WebSub) and waits for it.
func (d *Daemon) Close() {
	d.sched.Stop(0)
	d.stopWebSub()
}

// configure puts s's poller settings in force.
func (d *Daemon) configure(ctx context.Context, s *Setup) error {
	settings := s.Poll
	settings.Subscribed = d.Subscribed
	return d.poller.Configure(ctx, settings)
}

// Subscribed reports whether the daemon's WebSub holds a live
// subscription to source: it is then polled only as a safety net.
func (d *Daemon) Subscribed(source string) bool { return d.push.Load().Subscribed(source) }

// Apply puts s in force in place of the Setup in force: the poller's
// settings (which brings forward the next attempts of sources whose
// schedule shortened), the outputs, rendered, the WebSub (started anew
// when its settings changed), and the schedule; then a pass fetches what s
// makes due (new sources, changed URLs), and nothing else before its time.
// When it fails, the Setup in force stays.
func (d *Daemon) Apply(ctx context.Context, s *Setup) error {
	old := d.Setup()
	err := d.configure(ctx, s)
	if err == nil {
		if err = d.poller.Publish(ctx); err != nil {
			err = fmt.Errorf("render feeds: %w", err)
		}
	}
	if err != nil {
		if rerr := d.configure(ctx, old); rerr != nil {
			d.logger.Error("restore the config in force", "err", rerr)
		}
		return err
	}
	d.setup.Store(s)
	if err := d.sched.Start(); err != nil {
		d.setup.Store(old)
		if rerr := d.configure(ctx, old); rerr != nil {
			d.logger.Error("restore the config in force", "err", rerr)
		}
		return err
	}
	d.observeSources(s)
	if d.pushOn != nil && *d.pushOn == s.WebSub {
		d.push.Load().Configure(s.Poll.Sources, s.PingHubs)
	} else {
		was := d.push.Load()
		if err := d.startWebSub(s); err != nil {
			// The next reload, or a restart, tries again.
			d.logger.Error("websub not started; the daemon goes on without it", "err", err)
		} else {
			d.logger.Info("websub settings put in force", "hub", s.WebSub.Hub, "subscribe", s.WebSub.Subscribe)
		}
		d.wakeUnsubscribed(ctx, was, s.Poll.Sources)
	}
	d.sched.Go(s.Poll.Sources)
	return nil
}

// Run serves on ln and runs the schedule until ctx ends: a first pass
// catches up with whatever fell due while the daemon was stopped (the
// next attempts stored are already spread), then each cron tick fetches
// the sources on its schedule that are due. Each value on reloads calls
// Options.Reload. When ctx ends, the schedule stops, a running pass gets
// Options.PassGrace to finish before its fetches are cancelled, and open
// requests get 5 s.
func (d *Daemon) Run(ctx context.Context, ln net.Listener, reloads <-chan os.Signal) error {
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10, // a feed reader's request is a few hundred bytes
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := d.sched.Start(); err != nil {
		srv.Close()
		return err
	}
	d.sched.Go(d.Setup().Poll.Sources)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-reloads:
			if d.opts.Reload != nil {
				d.opts.Reload(ctx)
			}
		case err := <-serveErr:
			d.sched.Stop(0)
			return fmt.Errorf("http server: %w", err)
		}
	}
	d.logger.Info("shutting down")
	if d.opts.Stopping != nil {
		d.opts.Stopping()
	}
	d.sched.Stop(d.opts.PassGrace)
	shutCtx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	d.logger.Info("stopped")
	return nil
}

// Handler serves the site in force, /status.json, /metrics and /healthz,
// our hub and the callbacks of our subscriptions, counting requests by
// route (Route) and status. It dispatches with a switch rather than a
// ServeMux, whose matching took 5 allocations and more time than the
// site's own handler on every feed request. The site answers 404 to any
// path it does not know (it never cleans or redirects).
func (d *Daemon) Handler() http.Handler {
	scrape := d.metrics.Handler()
	status := poll.StatusHandlerWith(d.store, func() ([]aggregator.Source, *aggregator.Rules) {
		s := d.Setup()
		return s.Poll.Sources, s.Rules
	}, d.logger, poll.StatusExtras{
		SourceWebSub: func(source string) string { return d.push.Load().SourceStatus(source) },
		WebSub: func() any {
			if st := d.push.Load().Status(); st != nil {
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
		case websub.HubPath:
			if !d.push.Load().ServeHub(w, r) {
				d.Setup().Site.ServeHTTP(w, r)
			}
			return
		default:
			if strings.HasPrefix(r.URL.Path, websub.CallbackPath) && d.push.Load().ServeCallback(w, r) {
				return
			}
			d.Setup().Site.ServeHTTP(w, r)
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

// Route is the metrics' label of path: one of the daemon's own routes, the
// site's label (publish.RouteLabel), or "other", so that the label's values
// stay few whatever clients ask for.
func Route(path string) string {
	switch path {
	case "/status.json", "/metrics", "/healthz", websub.HubPath:
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

// adminOnly serves h to the clients Setup.AllowAdmin allows, and 403 to
// the others. Behind a reverse proxy, every client has the proxy's
// address.
func (d *Daemon) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allow := d.Setup().AllowAdmin; allow == nil || !allow(r.RemoteAddr) {
			http.Error(w, "forbidden: admin.allow does not include your address", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// serveHealth answers 200 when the process is up and the database
// readable, 503 otherwise.
func (d *Daemon) serveHealth(w http.ResponseWriter, r *http.Request) {
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

// Watchdog calls ping every interval/2 while the database is readable,
// until ctx ends (systemd's watchdog: when the pings stop, systemd
// restarts the daemon once interval has passed without one).
func (d *Daemon) Watchdog(ctx context.Context, interval time.Duration, ping func()) {
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
		switch {
		case err == nil:
			ping()
		case ctx.Err() == nil:
			d.logger.Error("health check failed; not pinging the watchdog", "err", err)
		}
	}
}

// passFailed turns /healthz red when a pass found the database damaged:
// the daemon goes on serving what it can, and a restart would refuse the
// database (exit 65) or find the same.
func (d *Daemon) passFailed(err error) {
	if errors.Is(err, storage.ErrCorrupt) && d.damaged.CompareAndSwap(nil, &err) {
		d.logger.Error("database damaged; /healthz reports it: stop the daemon, run aggregator verify, then aggregator salvage", "database", d.store.Path())
	}
}
