// Package poll runs a planet's fetch passes: which sources are due and
// when each is fetched next (the scheduling policy: schedules, backoff,
// 410 Gone, moves, Retry-After), fetching them, storing what they bring,
// pruning, and asking the publisher to render. It is the one place that
// ties fetch and storage together, the way the cron jobs of a daemon and
// the fetch command both use it.
//
// It imports the root package, fetch and storage. It never sees config or
// publish: its settings are values the caller builds, and publishing is
// the Publisher interface declared here.
package poll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/storage"
)

// Publisher renders the outputs from what the store holds.
type Publisher interface {
	Rebuild(ctx context.Context) error
}

// Settings are what the passes need of one config. A reload hands the
// poller new Settings; passes already running finish with the ones they
// began with, and publish with the newest.
type Settings struct {
	Sources     []aggregator.Source
	Schedule    string        // the cron spec of sources that name none
	MaxInterval time.Duration // cap of cache hints, backoff and Retry-After
	Jitter      time.Duration // window a scheduled pass spreads its sources over
	Concurrency int           // fetches in flight, which the client bounds; the pass runs 4× as many workers
	Retention   storage.Retention

	Client    *fetch.Client // fetches this config's sources
	Publisher Publisher     // renders this config's outputs; nil renders nothing

	// Subscribed, if set, reports whether a source has a live WebSub
	// subscription: its hub pushes its changes (Ingest), and a pass that
	// succeeds schedules it at most every PushPollInterval.
	Subscribed       func(source string) bool
	PushPollInterval time.Duration
}

// Options are the optional settings of New. The zero value works.
type Options struct {
	Now    func() time.Time // nil → time.Now
	Logger *slog.Logger     // nil → discard

	// PushRenderInterval is the least time between the starts of two
	// renders Ingest asks for, and pushRenderShare times the last one's
	// duration if longer: the pushes stored meanwhile share the next; 0
	// → DefaultPushRenderInterval. A pass's render is not delayed by it.
	PushRenderInterval time.Duration

	// Observe, if set, is called with the outcome of every source a pass
	// fetches, as it finishes (for metrics).
	Observe func(Outcome)

	// RenderChangesOnly skips rendering after a pass that stored and
	// pruned nothing: for a command whose outputs nobody reads. A daemon
	// renders after every pass: its pages show each source's health.
	RenderChangesOnly bool
}

// DefaultPushRenderInterval is the least time between the starts of two
// renders that pushes ask for (Options.PushRenderInterval).
const DefaultPushRenderInterval = time.Second

// pushRenderShare bounds the time the renders pushes ask for take: one
// starts at least pushRenderShare times the last one's duration after
// the start of the last, so that hubs pushing without pause keep the
// renderer busy a fifth of the time at most.
const pushRenderShare = 5

// Poller runs fetch passes over one store. It owns what passes share: the
// store handle, the set of sources being fetched (no source is fetched by
// two passes at once), the lock that serialises pruning and rendering, and
// the settings in force, which Configure swaps at once. It is safe for
// concurrent use.
type Poller struct {
	store *storage.Store
	opts  Options

	current atomic.Pointer[snapshot]

	publishMu sync.Mutex // serialises pruning and rendering

	// Renders asked for by Ingest, and those done: a render that starts
	// after a push was stored serves every push stored before it.
	renderMu                    sync.Mutex
	renderAsked, renderCovering uint64
	nextPushRender              time.Time // real time: when Ingest may render again

	inFlightMu sync.Mutex
	inFlight   map[string]bool
}

// snapshot is one immutable set of settings and the policy made of them.
type snapshot struct {
	Settings
	policy *Policy
}

// New returns a Poller over store. Configure must be called before a pass.
func New(store *storage.Store, opts Options) *Poller {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.PushRenderInterval <= 0 {
		opts.PushRenderInterval = DefaultPushRenderInterval
	}
	return &Poller{store: store, opts: opts}
}

// Configure puts s in force: it brings the store's sources in step with
// s.Sources, tells s.Client of the Retry-After times stored, and, on a
// change of settings, brings forward the next attempt of each source whose
// schedule got shorter. It returns an error, and leaves the settings in
// force, when a schedule does not parse or the store fails.
func (p *Poller) Configure(ctx context.Context, s Settings) error {
	s.Concurrency = max(s.Concurrency, 1)
	pol, err := NewPolicy(s.Schedule, s.Sources, s.MaxInterval, s.Jitter)
	if err != nil {
		return err
	}
	if err := p.store.SyncSources(ctx, s.Sources); err != nil {
		return err
	}
	next := &snapshot{Settings: s, policy: pol}
	if err := p.restoreHostBlocks(ctx, next); err != nil {
		return err
	}
	if old := p.current.Load(); old != nil {
		if err := p.reschedule(ctx, old, next); err != nil {
			return err
		}
	}
	p.current.Store(next)
	return nil
}

// Policy is the scheduling policy in force.
func (p *Poller) Policy() *Policy { return p.current.Load().policy }

// restoreHostBlocks tells s's client of the Retry-After times earlier runs
// recorded, so that a restart does not ask a host before it said.
func (p *Poller) restoreHostBlocks(ctx context.Context, s *snapshot) error {
	states, err := p.store.States(ctx)
	if err != nil {
		return err
	}
	for host, until := range HostBlocks(states, p.opts.Now()) {
		s.Client.BlockHost(host, until)
	}
	return nil
}

// reschedule brings forward the next attempt of each source whose schedule
// differs between old and next, so that a shorter interval takes effect
// now rather than after the next attempt the old one set. A source being
// fetched is left to its fetch.
func (p *Poller) reschedule(ctx context.Context, old, next *snapshot) error {
	states, err := p.store.States(ctx)
	if err != nil {
		return fmt.Errorf("read source states: %w", err)
	}
	oldSources := make(map[string]aggregator.Source, len(old.Sources))
	for _, src := range old.Sources {
		oldSources[src.Name] = src
	}
	now := p.opts.Now()
	for _, src := range next.Sources {
		prev, ok := oldSources[src.Name]
		st, known := states[src.Name]
		if !ok || !known || st.Gone || st.NextAttempt.IsZero() || old.policy.Spec(prev) == next.policy.Spec(src) {
			continue
		}
		at := next.policy.NextAfterChange(src, st, now)
		if !at.Before(st.NextAttempt) || !p.claim(src.Name) {
			continue
		}
		st.NextAttempt = at
		err := p.store.SaveState(ctx, src, st)
		p.release(src.Name)
		if err != nil {
			return err
		}
		p.opts.Logger.Info("schedule changed", "source", src.Name, "schedule", next.policy.Spec(src), "next_attempt", at)
	}
	return nil
}

// Refresh fetches sources now, whatever their schedule and backoff (but not
// before a host's Retry-After, unless the client ignores it), stores what
// they bring, prunes, and renders, calling report (if not nil) as each
// source finishes. A failing source is recorded and reported, never fatal:
// Refresh returns an error only when ctx ends or the database fails.
func (p *Poller) Refresh(ctx context.Context, sources []aggregator.Source, report func(Outcome)) error {
	return p.pass(ctx, p.current.Load(), sources, p.opts.Now(), false, report)
}

// Pass is what a cron tick runs: it fetches those of sources that are due,
// each at its own offset in the jitter window if spread, and leaves the
// others alone. Errors are as Refresh's.
func (p *Poller) Pass(ctx context.Context, sources []aggregator.Source, spread bool) error {
	s := p.current.Load()
	tick := p.opts.Now()
	due, err := p.Due(ctx, sources, tick)
	if err != nil {
		return err
	}
	if len(due) == 0 {
		p.opts.Logger.Debug("nothing due", "sources", len(sources))
		return nil
	}
	return p.pass(ctx, s, due, tick, spread, nil)
}

// Due returns the sources a pass at tick fetches: those whose next attempt
// has come, that are not gone, and whose host has not asked us to wait.
func (p *Poller) Due(ctx context.Context, sources []aggregator.Source, tick time.Time) ([]aggregator.Source, error) {
	s := p.current.Load()
	states, err := p.store.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("read source states: %w", err)
	}
	var due []aggregator.Source
	for _, src := range sources {
		st := states[src.Name]
		if !IsDue(src, st, tick) || !s.Client.BlockedUntil(fetch.Host(FetchURL(src, st))).IsZero() {
			continue
		}
		due = append(due, src)
	}
	return due, nil
}

// pass fetches sources with s as of tick, spread over the jitter window
// if spread, then prunes and renders.
func (p *Poller) pass(ctx context.Context, s *snapshot, sources []aggregator.Source, tick time.Time, spread bool, report func(Outcome)) error {
	var mu sync.Mutex
	var changed, failed, waiting int
	var dbErr error
	p.fetchAll(ctx, s, sources, tick, spread, func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		switch o.Class() {
		case ClassChanged:
			changed++
		case ClassWaiting:
			waiting++
		case ClassFailed, ClassGone, ClassDatabase:
			failed++
		}
		if o.Class() == ClassDatabase {
			dbErr = errors.Join(dbErr, o.Err)
		}
		if p.opts.Observe != nil {
			p.opts.Observe(o)
		}
		if report != nil {
			report(o)
		}
	})
	// The states of sources that brought nothing new, in one commit.
	if err := p.store.FlushStates(context.WithoutCancel(ctx)); err != nil {
		dbErr = errors.Join(dbErr, err)
	}
	p.opts.Logger.Info("fetch pass done", "sources", len(sources), "changed", changed, "failed", failed,
		"waiting", waiting, "took", p.opts.Now().Sub(tick).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.publish(ctx, changed > 0); err != nil {
		return errors.Join(dbErr, err)
	}
	return dbErr
}

// publish prunes old items and renders the outputs again with the
// settings now in force (a pass that began before a reload publishes with
// the new config); changed says whether the pass stored anything.
func (p *Poller) publish(ctx context.Context, changed bool) error {
	s := p.current.Load()
	p.publishMu.Lock()
	defer p.publishMu.Unlock()
	n, err := p.store.Prune(ctx, s.Retention)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	if n > 0 {
		p.opts.Logger.Info("pruned", "items", n)
	}
	if s.Publisher == nil || p.opts.RenderChangesOnly && !changed && n == 0 {
		return nil
	}
	if err := s.Publisher.Rebuild(ctx); err != nil {
		return fmt.Errorf("render feeds: %w", err)
	}
	return nil
}

// Publish renders the outputs of the settings in force, serialised with
// the passes' own renders.
func (p *Poller) Publish(ctx context.Context) error {
	s := p.current.Load()
	p.publishMu.Lock()
	defer p.publishMu.Unlock()
	if s.Publisher == nil {
		return nil
	}
	return s.Publisher.Rebuild(ctx)
}

// fetchAll fetches sources with at most s.Concurrency in flight,
// interleaving hosts so that workers do not all wait on one busy host. If
// spread, each source starts at its offset in its schedule's jitter window
// after tick, rather than all in the same second.
func (p *Poller) fetchAll(ctx context.Context, s *snapshot, sources []aggregator.Source, tick time.Time, spread bool, report func(Outcome)) {
	order := interleaveHosts(sources)
	starts := make(map[string]time.Time, len(order))
	for _, src := range order {
		starts[src.Name] = tick
		if spread {
			starts[src.Name] = tick.Add(offset(src.Name, s.policy.spread(src, tick)))
		}
	}
	slices.SortStableFunc(order, func(x, y aggregator.Source) int { return starts[x.Name].Compare(starts[y.Name]) })

	jobs := make(chan aggregator.Source)
	var wg sync.WaitGroup
	// More workers than fetches in flight (the client bounds those), so
	// that while some wait for their feed's commit others fetch and parse.
	for range min(4*s.Concurrency, len(sources)) {
		wg.Go(func() {
			for src := range jobs {
				if !p.claim(src.Name) {
					continue
				}
				o := p.fetchOne(ctx, s, src, tick)
				p.release(src.Name)
				report(o)
			}
		})
	}
	for _, src := range order {
		if wait(ctx, starts[src.Name].Sub(p.opts.Now())) != nil {
			break
		}
		jobs <- src
	}
	close(jobs)
	wg.Wait()
}

// wait waits for d, or returns ctx's error if it ends first.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// claim marks name as being fetched, reporting false if it already was.
func (p *Poller) claim(name string) bool {
	p.inFlightMu.Lock()
	defer p.inFlightMu.Unlock()
	if p.inFlight[name] {
		return false
	}
	if p.inFlight == nil {
		p.inFlight = make(map[string]bool)
	}
	p.inFlight[name] = true
	return true
}

func (p *Poller) release(name string) {
	p.inFlightMu.Lock()
	defer p.inFlightMu.Unlock()
	delete(p.inFlight, name)
}

// interleaveHosts orders sources round-robin by host, keeping their order
// within each host.
func interleaveHosts(sources []aggregator.Source) []aggregator.Source {
	var hosts []string
	byHost := make(map[string][]aggregator.Source)
	for _, src := range sources {
		h := fetch.Host(src.URL)
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], src)
	}
	out := make([]aggregator.Source, 0, len(sources))
	for len(out) < len(sources) {
		for _, h := range hosts {
			if q := byHost[h]; len(q) > 0 {
				out = append(out, q[0])
				byHost[h] = q[1:]
			}
		}
	}
	return out
}
