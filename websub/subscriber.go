package websub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// subscriberRecords is the kind of the stored records of our
// subscriptions to the hubs of sources, one per source.
const subscriberRecords = "websub.subscriber"

// CallbackPath is the path below the base URL at which hubs reach our
// subscriptions: CallbackPath + TOKEN.
const CallbackPath = "/websub/callback/"

// The states of a subscription of ours.
const (
	stateNew           = "new"           // found; not asked for yet
	stateRequested     = "requested"     // asked for; the hub has not verified it yet
	stateActive        = "active"        // verified; the lease runs until Expires
	stateFailed        = "failed"        // the hub refused the request, or never verified it
	stateDenied        = "denied"        // the hub denied it (hub.mode=denied)
	stateLapsed        = "lapsed"        // the lease ran out before a renewal was verified
	stateUnsubscribing = "unsubscribing" // its source left the config, or no longer names the hub
	stateInsecure      = "insecure"      // the hub is plain http and the topic is not: never asked (WebSub 5.1)
)

// DefaultIngestInterval is the least time between the starts of two
// ingests of one source's pushes (SubscriberOptions.IngestInterval).
const DefaultIngestInterval = time.Second

// ingestShare bounds the time one source's pushes take: the start of an
// ingest is at least ingestShare times the last one's duration after
// the start of the last, so that a hub pushing large bodies without
// pause keeps a worker busy a fifth of the time at most.
const ingestShare = 5

// The bounds of our subscriptions' lifetimes.
const (
	// leaseMin is the shortest lease taken from a hub's verification, and
	// leaseMaxFactor × Lease the longest: a lease out of range (a second,
	// or one that overflows time.Duration) is brought into it, so that
	// renewals are neither back to back nor never.
	leaseMin       = time.Minute
	leaseMaxFactor = 4
	// maxAttempts is how many refused, denied or unverified requests in a
	// row a subscription is asked for before we give up on it; giveUpFor
	// is how long it then rests before a fetch that names the hub again
	// starts it over.
	maxAttempts = 10
	giveUpFor   = 7 * 24 * time.Hour
)

// IngestFunc takes a pushed body for a source through the path of a
// fetched one (poll.Poller.Ingest), and renders what changed.
type IngestFunc func(ctx context.Context, src aggregator.Source, body []byte, contentType string) error

// SubscriberOptions are the settings of a Subscriber. The zero value of
// each field is its default.
type SubscriberOptions struct {
	// BaseURL is our public URL: callbacks are BaseURL + CallbackPath +
	// TOKEN.
	BaseURL string
	// Client sends the requests to hubs, which sources name: it must keep
	// off private addresses unless the admin allows them. nil →
	// NewGuardedClient(GuardOptions{}).
	Client    *http.Client
	UserAgent string // "" → aggregator.DefaultUserAgent
	// MaxBytes bounds a pushed body, as fetch.max_bytes a fetched one; 0
	// → aggregator.DefaultMaxBytes.
	MaxBytes int64
	// Lease is the lease asked for; 0 → 10 days. A subscription is
	// renewed when a tenth of its lease (at least a minute) is left.
	Lease time.Duration
	// RetryBase and RetryMax shape the backoff of a refused or unverified
	// subscription; 0 → 1 minute and 1 day.
	RetryBase, RetryMax time.Duration
	// VerifyWithin is how long a hub has to verify a request before it
	// counts as failed; 0 → 10 minutes.
	VerifyWithin time.Duration
	// IngestInterval is the least time between the starts of two ingests
	// of one source's pushes, and ingestShare times the last one's
	// duration if longer: what comes meanwhile waits in its queue, where
	// a body byte-identical to one waiting is coalesced; 0 →
	// DefaultIngestInterval.
	IngestInterval time.Duration
	// Lapsed, if set, is called when a source's subscription stops being
	// live (lapsed, refused, denied), so that its polling goes back to its
	// schedule.
	Lapsed func(src aggregator.Source)
	// Overflowed, if set, is called when pushed content of src was
	// dropped before it was stored (more pushes waited than its queue
	// holds), so that src is fetched soon: its full feed brings back what
	// it still lists. The source's ingest worker calls it, never during
	// an ingest and at most once per body it stores, so it may block
	// (the source's pushes wait meanwhile).
	Overflowed func(src aggregator.Source)
	Now        func() time.Time // nil → time.Now
	Logger     *slog.Logger     // nil → discard
}

// Subscriber subscribes to the WebSub hubs that sources name (WebSub 5),
// answers their verifications of intent for the topics we asked for,
// renews leases, unsubscribes from sources that left the config, and
// takes the content hubs push, signed with the secret of its
// subscription, to ingest: a source's pushes one at a time, in the order
// they came, IngestInterval apart, through a bounded queue (see enqueue
// and drain). It ends the subscriptions of sources that left the config,
// changed their URL, or whose feed names no hub any more, and gives up
// on one refused maxAttempts times in a row. It serves the
// callbacks (ServeHTTP) and keeps its subscriptions in the store; Run
// sends its requests. It is safe for concurrent use.
type Subscriber struct {
	store  *storage.Store
	ingest IngestFunc
	opts   SubscriberOptions

	mu      sync.Mutex
	sources map[string]aggregator.Source // configured, by name
	subs    map[string]*ourSub           // by source name
	tokens  map[string]string            // callback token → source name
	queues  map[string]*pushQueue        // by source name, while pushes wait or are stored
	ctx     context.Context              // Run's while it runs
	stats   SubscriberStats
	reading int64 // bytes of the pushed bodies being read (pushBudget)

	wake chan struct{}
	work sync.WaitGroup
}

// ourSub is one of our subscriptions, as stored.
type ourSub struct {
	Source string
	// SourceURL is the source's URL in the config when the subscription
	// was made: a source whose URL changes ends it. "" in records written
	// before it was kept: Configure sets it.
	SourceURL string `json:",omitempty"`
	Hub       string
	Topic     string
	Token     string
	Secret    string
	State     string
	Error     string    `json:",omitempty"`
	Requested time.Time // when the last request was sent
	Expires   time.Time `json:",omitzero"` // the lease's end, when verified
	Granted   time.Time `json:",omitzero"` // the lease's start (Requested in records from before it was kept)
	Failures  int       `json:",omitempty"`
	NextTry   time.Time `json:",omitzero"` // when a failed one is asked for again
	GaveUp    time.Time `json:",omitzero"` // when maxAttempts failed in a row: asked for no more
	Renewing  bool      `json:",omitempty"`
	// Ending is set when the source's URL changed, or a fetch of it named
	// no hub or another topic: Run unsubscribes (if it may be live) and
	// forgets it.
	Ending bool `json:",omitempty"`

	// Kept in memory only: the callback's bounds (see ServeHTTP).
	pushing      int       // pushes being read
	verifyWindow time.Time // the start of the current minute of verifications
	verifies     int       // verification requests in it
}

// SubscriberStats counts what a subscriber did.
type SubscriberStats struct {
	Subscriptions int    `json:"subscriptions"` // live ones
	Pushes        uint64 `json:"pushes"`        // pushed bodies taken
	Rejected      uint64 `json:"rejected"`      // pushes refused: bad or no signature, too large, unknown callback, beyond the bounds of pushes being read
	Coalesced     uint64 `json:"coalesced"`     // pushes dropped as byte-identical to one waiting to be stored
	Overflowed    uint64 `json:"overflowed"`    // pushes dropped unstored, oldest first, from a full queue; their source is polled soon
	Waiting       int    `json:"waiting"`       // pushes waiting to be stored now
	Failed        uint64 `json:"failed"`        // pushed bodies that did not parse or store
}

// NewSubscriber returns the subscriber over store, with the subscriptions
// stored there. It fails only when the store does.
func NewSubscriber(ctx context.Context, store *storage.Store, ingest IngestFunc, opts SubscriberOptions) (*Subscriber, error) {
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.Client == nil {
		opts.Client = NewGuardedClient(GuardOptions{})
	}
	if opts.UserAgent == "" {
		opts.UserAgent = aggregator.DefaultUserAgent
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = aggregator.DefaultMaxBytes
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * 24 * time.Hour
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Minute
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 24 * time.Hour
	}
	if opts.VerifyWithin <= 0 {
		opts.VerifyWithin = 10 * time.Minute
	}
	if opts.IngestInterval <= 0 {
		opts.IngestInterval = DefaultIngestInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{
		store:   store,
		ingest:  ingest,
		opts:    opts,
		sources: make(map[string]aggregator.Source),
		subs:    make(map[string]*ourSub),
		tokens:  make(map[string]string),
		queues:  make(map[string]*pushQueue),
		wake:    make(chan struct{}, 1),
	}
	recs, err := store.Records(ctx, subscriberRecords)
	if err != nil {
		return nil, fmt.Errorf("read websub subscriptions: %w", err)
	}
	for name, v := range recs {
		var sub ourSub
		if err := json.Unmarshal(v, &sub); err != nil || sub.Source != name || sub.Token == "" {
			opts.Logger.Warn("websub subscription unreadable; dropped", "source", name, "err", err)
			continue
		}
		s.subs[name] = &sub
		s.tokens[sub.Token] = name
	}
	return s, nil
}

// Configure sets the sources of the config in force: the subscriptions of
// sources that left it, or whose URL changed, are ended (unsubscribed at
// their hub) by Run.
func (s *Subscriber) Configure(sources []aggregator.Source) {
	s.mu.Lock()
	s.sources = make(map[string]aggregator.Source, len(sources))
	for _, src := range sources {
		s.sources[src.Name] = src
	}
	var changed []*ourSub
	for name, sub := range s.subs {
		src, ok := s.sources[name]
		switch {
		case !ok || sub.Ending:
		case sub.SourceURL == "":
			sub.SourceURL = src.URL // a record from before SourceURL was kept
			changed = append(changed, sub)
		case sub.SourceURL != src.URL:
			sub.Ending = true
			changed = append(changed, sub)
		}
	}
	recs := s.recordsOf(changed)
	s.mu.Unlock()
	s.persist(context.Background(), recs)
	s.poke()
}

// Discovered tells the subscriber the hubs and topic URL a fetch of src
// found (fetch.Result.Hubs, Self; url is where it was fetched from, the
// topic when the feed names none). Call it for every fetch that read
// src's feed: a 304 or the same body again tells nothing of the hubs the
// body names. A source whose subscription is live at one of those hubs
// for that topic is left alone; otherwise Run subscribes at the first
// hub that may have our secret (see secureFor), or none if none may.
// When the feed names no hub, src's subscription is ended.
func (s *Subscriber) Discovered(src aggregator.Source, hubs []string, self, fetchedURL string) {
	topic := self
	if topic == "" {
		topic = fetchedURL
	}
	var usable []string
	for _, hub := range hubs {
		if secureFor(hub, topic) {
			usable = append(usable, hub)
		}
	}
	now := s.opts.Now()
	s.mu.Lock()
	if _, ok := s.sources[src.Name]; !ok {
		s.mu.Unlock()
		return
	}
	old := s.subs[src.Name]
	var changed []*ourSub
	switch {
	case len(hubs) == 0 || topic == "":
		// The feed names no hub now: end the subscription it had.
		if old != nil && !old.Ending && old.State != stateUnsubscribing {
			old.Ending = true
			s.poke()
		}
	case len(usable) == 0:
		if old == nil || old.State != stateInsecure || old.Hub != hubs[0] || old.Topic != topic {
			changed = append(changed, s.replace(src, hubs[0], topic, stateInsecure))
		}
	case !s.reachable(usable[0]):
	case old != nil && old.Topic == topic && contains(usable, old.Hub) && old.State != stateUnsubscribing && old.State != stateInsecure:
		was := *old
		old.Ending, old.SourceURL = false, src.URL
		if !old.GaveUp.IsZero() && now.Sub(old.GaveUp) >= giveUpFor {
			// Given up a while ago, and named again: start over.
			old.GaveUp, old.Failures, old.NextTry = time.Time{}, 0, time.Time{}
			s.poke()
		}
		if *old != was {
			changed = append(changed, old)
			s.poke()
		}
	default:
		s.replace(src, usable[0], topic, stateNew) // stored when Run asks for it
		s.poke()
	}
	recs := s.recordsOf(changed)
	s.mu.Unlock()
	s.persist(context.Background(), recs)
}

// replace makes src's subscription a new one at hub for topic, in state,
// with a token and secret of its own: the callback of the one it
// replaces answers 410 from now on, so that its hub drops it. It holds
// s.mu.
func (s *Subscriber) replace(src aggregator.Source, hub, topic, state string) *ourSub {
	if old := s.subs[src.Name]; old != nil {
		delete(s.tokens, old.Token)
	}
	sub := &ourSub{Source: src.Name, SourceURL: src.URL, Hub: hub, Topic: topic, Token: randomToken(24), Secret: randomToken(32), State: state}
	s.subs[src.Name] = sub
	s.tokens[sub.Token] = src.Name
	return sub
}

// secureFor reports whether a subscription to topic may be asked for at
// hub, which gets its hub.secret: over https, or over plain http only
// when the topic is plain http too, whose content is then no safer at
// the publisher than on its way from the hub (WebSub 5.1: the secret
// SHOULD only be sent over HTTPS).
func secureFor(hub, topic string) bool {
	h, err := url.Parse(hub)
	if err != nil {
		return false
	}
	if strings.EqualFold(h.Scheme, "https") {
		return true
	}
	t, err := url.Parse(topic)
	return err == nil && strings.EqualFold(h.Scheme, "http") && strings.EqualFold(t.Scheme, "http")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// reachable reports whether a hub could reach our callbacks: not when
// our base URL is on loopback and the hub is not.
func (s *Subscriber) reachable(hub string) bool {
	local := func(u string) bool {
		p, err := url.Parse(u)
		if err != nil {
			return true
		}
		h := strings.ToLower(p.Hostname())
		return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
	}
	return !local(s.opts.BaseURL) || local(hub)
}

// Subscribed reports whether src's subscription is live: verified and
// within its lease.
func (s *Subscriber) Subscribed(source string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[source].live(s.opts.Now())
}

// live reports whether sub is verified, within its lease and not ending.
func (sub *ourSub) live(now time.Time) bool {
	return sub != nil && sub.State == stateActive && sub.Expires.After(now) && !sub.Ending
}

// Status describes src's subscription in words for /status.json; "" when
// it has none.
func (s *Subscriber) Status(source string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[source]
	if sub == nil {
		return ""
	}
	hub := aggregator.RedactURL(sub.Hub)
	switch {
	case sub.Ending || sub.State == stateUnsubscribing:
		return "unsubscribing from " + hub
	case sub.State == stateInsecure:
		return "hub " + hub + " is plain http and the feed is not: not subscribed, since its secret would travel in clear; polling on schedule"
	}
	switch sub.State {
	case stateActive:
		return "subscribed at " + hub + " until " + sub.Expires.UTC().Format(time.RFC3339)
	case stateRequested:
		return "subscription requested at " + hub + "; polling on schedule until verified"
	case stateLapsed:
		return "subscription at " + hub + " lapsed; polling on schedule"
	case stateDenied, stateFailed:
		msg := "subscription at " + hub + " failed"
		if sub.State == stateDenied {
			msg = "subscription denied by " + hub
		}
		if sub.Error != "" {
			msg += ": " + sub.Error
		}
		if !sub.GaveUp.IsZero() {
			msg += fmt.Sprintf("; given up after %d attempts", sub.Failures)
		}
		return msg + "; polling on schedule"
	case stateNew:
		return "hub " + hub + " found; subscribing"
	}
	return ""
}

// Stats returns what the subscriber has done so far.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	for _, q := range s.queues {
		st.Waiting += len(q.waiting)
	}
	now := s.opts.Now()
	for _, sub := range s.subs {
		if sub.live(now) {
			st.Subscriptions++
		}
	}
	return st
}

func (s *Subscriber) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends the requests to hubs (subscribe, renew, unsubscribe) and
// ingests pushed bodies until ctx ends, then waits for the work in
// flight.
func (s *Subscriber) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ctx = nil
		s.mu.Unlock()
		s.work.Wait()
	}()
	for {
		if !sleepUntil(ctx, s.wake, s.Tick(ctx), s.opts.Now) {
			return
		}
	}
}

// Tick does what is due now: requests for new, failed and lapsed
// subscriptions whose time has come, renewals of leases with a tenth
// left, unsubscriptions of sources that left the config. It returns when
// something is due next (zero for nothing). Run calls it; tests call it
// with a fake clock.
func (s *Subscriber) Tick(ctx context.Context) time.Time {
	now := s.opts.Now()
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	type job struct {
		sub  ourSub
		mode string
	}
	var jobs []job
	var lapsed []aggregator.Source
	var changed []*ourSub
	s.mu.Lock()
	for name, sub := range s.subs {
		src, configured := s.sources[name]
		switch {
		case sub.Ending || sub.State == stateUnsubscribing || !configured && len(s.sources) > 0:
			switch {
			case sub.State == stateActive || sub.State == stateRequested:
				if configured && sub.State == stateActive && sub.Expires.After(now) {
					lapsed = append(lapsed, src) // polled as a safety net until now
				}
				sub.State, sub.Requested, sub.Renewing = stateUnsubscribing, now, false
				jobs = append(jobs, job{*sub, "unsubscribe"})
				changed = append(changed, sub)
				soon(now.Add(s.opts.VerifyWithin))
			case sub.State != stateUnsubscribing || now.Sub(sub.Requested) > s.opts.VerifyWithin:
				// Never live, or asked to end and never verified: forget
				// it; its callback answers 410 from now on.
				delete(s.subs, name)
				delete(s.tokens, sub.Token)
				changed = append(changed, &ourSub{Source: name})
			default:
				soon(sub.Requested.Add(s.opts.VerifyWithin))
			}
		case !configured:
			// Sources not configured yet: wait for Configure.
		case sub.State != stateInsecure && !secureFor(sub.Hub, sub.Topic):
			// Made before plain http hubs were refused for https topics:
			// never renewed.
			if sub.live(now) {
				lapsed = append(lapsed, src)
			}
			sub.State, sub.Renewing = stateInsecure, false
			changed = append(changed, sub)
		case sub.State == stateActive && !sub.Expires.After(now):
			sub.State, sub.Error, sub.NextTry = stateLapsed, "", now
			lapsed = append(lapsed, src)
			changed = append(changed, sub)
			fallthrough
		case sub.State == stateNew || sub.State == stateLapsed || sub.State == stateFailed || sub.State == stateDenied:
			if !sub.GaveUp.IsZero() {
				continue // until a fetch names its hub again, giveUpFor later
			}
			if sub.NextTry.After(now) {
				soon(sub.NextTry)
				continue
			}
			sub.Requested, sub.Renewing = now, false
			if sub.State != stateLapsed {
				sub.State = stateRequested
			}
			jobs = append(jobs, job{*sub, "subscribe"})
			changed = append(changed, sub)
			soon(now.Add(s.opts.VerifyWithin))
		case sub.State == stateRequested || sub.Renewing:
			if deadline := sub.Requested.Add(s.opts.VerifyWithin); now.After(deadline) {
				s.failed(sub, now, errors.New("the hub did not verify the request"))
				if !sub.Renewing {
					lapsed = append(lapsed, src)
				}
				sub.Renewing = false
				changed = append(changed, sub)
				soon(sub.NextTry)
			} else {
				soon(deadline)
			}
			if sub.State == stateActive {
				soon(sub.Expires)
			}
		case sub.State == stateActive:
			if !sub.GaveUp.IsZero() {
				soon(sub.Expires) // no more renewals: it lapses
				continue
			}
			renewAt := renewalOf(sub)
			if sub.NextTry.After(renewAt) {
				renewAt = sub.NextTry // a renewal refused: the next after its backoff
			}
			if now.Before(renewAt) {
				soon(renewAt)
				continue
			}
			sub.Requested, sub.Renewing = now, true
			jobs = append(jobs, job{*sub, "subscribe"})
			changed = append(changed, sub)
			soon(now.Add(s.opts.VerifyWithin))
		}
	}
	recs := s.recordsOf(changed)
	s.mu.Unlock()
	s.persist(ctx, recs)
	for _, src := range lapsed {
		if s.opts.Lapsed != nil {
			s.opts.Lapsed(src)
		}
	}
	for _, j := range jobs {
		s.work.Go(func() { s.request(ctx, j.sub, j.mode) })
	}
	return next
}

// renewalOf is when sub's lease is renewed: when a tenth of it is left,
// at least a minute before its end, but not before half of it has run, so
// that a short lease is not renewed back to back.
func renewalOf(sub *ourSub) time.Time {
	start := sub.Granted
	if start.IsZero() {
		start = sub.Requested
	}
	lease := sub.Expires.Sub(start)
	at := sub.Expires.Add(-max(time.Minute, lease/10))
	if half := start.Add(lease / 2); at.Before(half) {
		return half
	}
	return at
}

// grantedLease is the lease a hub's verification grants (its
// hub.lease_seconds), within leaseMin and leaseMaxFactor × the lease we
// asked for; the one we asked for when it gives none.
func (s *Subscriber) grantedLease(value string) time.Duration {
	asked := s.opts.Lease
	secs, err := strconv.ParseInt(value, 10, 64)
	if err != nil || secs <= 0 {
		return asked
	}
	// Compared in seconds: secs × time.Second may overflow.
	maxSecs := int64(leaseMaxFactor * asked / time.Second)
	return time.Duration(min(max(secs, int64(leaseMin/time.Second)), maxSecs)) * time.Second
}

// failed records that sub's request failed with err: tried again after
// a backoff. It holds s.mu.
func (s *Subscriber) failed(sub *ourSub, now time.Time, err error) {
	sub.Error = err.Error()
	s.retryLater(sub, now)
	if sub.State != stateActive || !sub.Expires.After(now) {
		sub.State = stateFailed
	}
}

// retryLater counts a failed attempt of sub: the next is after a
// backoff, none after maxAttempts in a row. It holds s.mu.
func (s *Subscriber) retryLater(sub *ourSub, now time.Time) {
	sub.Failures++
	sub.NextTry = now.Add(backoff(sub.Failures, s.opts.RetryBase, s.opts.RetryMax))
	if sub.Failures >= maxAttempts {
		sub.GaveUp = now
		s.opts.Logger.Warn("websub subscription given up", "source", sub.Source, "hub", aggregator.RedactURL(sub.Hub), "attempts", sub.Failures)
	}
}

// recordsOf returns the stored form of subs (a sub with only its Source
// set is deleted). It holds s.mu.
func (s *Subscriber) recordsOf(subs []*ourSub) map[string][]byte {
	recs := make(map[string][]byte, len(subs))
	for _, sub := range subs {
		if sub.Token == "" {
			recs[sub.Source] = nil
			continue
		}
		recs[sub.Source], _ = json.Marshal(sub) // strings and times
	}
	return recs
}

// persist writes recs.
func (s *Subscriber) persist(ctx context.Context, recs map[string][]byte) {
	if len(recs) == 0 {
		return
	}
	if err := s.store.PutRecords(context.WithoutCancel(ctx), subscriberRecords, recs); err != nil {
		s.opts.Logger.Error("store websub subscriptions", "err", err)
	}
}

// request sends sub's hub a subscribe or unsubscribe request (WebSub
// 5.1); the hub verifies it later at the callback. A refusal is recorded.
func (s *Subscriber) request(ctx context.Context, sub ourSub, mode string) {
	form := url.Values{
		"hub.mode":     {mode},
		"hub.topic":    {sub.Topic},
		"hub.callback": {s.opts.BaseURL + CallbackPath + sub.Token},
	}
	if mode == "subscribe" {
		form.Set("hub.secret", sub.Secret)
		form.Set("hub.lease_seconds", strconv.FormatInt(int64(s.opts.Lease/time.Second), 10))
	}
	err := s.post(ctx, sub.Hub, form)
	if err == nil {
		s.opts.Logger.Info("websub "+mode+" requested", "source", sub.Source, "hub", aggregator.RedactURL(sub.Hub), "topic", aggregator.RedactURL(sub.Topic))
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.opts.Logger.Warn("websub "+mode+" refused", "source", sub.Source, "hub", aggregator.RedactURL(sub.Hub), "err", err)
	var lapsed *aggregator.Source
	s.mu.Lock()
	cur := s.subs[sub.Source]
	if cur == nil || cur.Token != sub.Token {
		s.mu.Unlock()
		return
	}
	if mode == "unsubscribe" {
		delete(s.subs, sub.Source)
		delete(s.tokens, sub.Token)
		recs := map[string][]byte{sub.Source: nil}
		s.mu.Unlock()
		s.persist(ctx, recs)
		return
	}
	wasLive := cur.State == stateActive && cur.Expires.After(s.opts.Now())
	s.failed(cur, s.opts.Now(), err)
	cur.Renewing = false
	if src, ok := s.sources[sub.Source]; ok && !wasLive {
		lapsed = &src
	}
	recs := s.recordsOf([]*ourSub{cur})
	s.mu.Unlock()
	s.persist(ctx, recs)
	if lapsed != nil && s.opts.Lapsed != nil {
		s.opts.Lapsed(*lapsed)
	}
	s.poke()
}

// post sends form to hub; a 2xx is success.
func (s *Subscriber) post(ctx context.Context, hub string, form url.Values) error {
	return postForm(ctx, s.opts.Client, hub, s.opts.UserAgent, form)
}
