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
	stateUnsubscribing = "unsubscribing" // its source left the config
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
// they came, through a bounded queue (see enqueue). It serves the
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
	queues  map[string]*pushQueue        // by source name
	ctx     context.Context              // Run's while it runs
	stats   SubscriberStats

	wake chan struct{}
	work sync.WaitGroup
}

// ourSub is one of our subscriptions, as stored.
type ourSub struct {
	Source    string
	Hub       string
	Topic     string
	Token     string
	Secret    string
	State     string
	Error     string    `json:",omitempty"`
	Requested time.Time // when the last request was sent
	Expires   time.Time `json:",omitzero"` // the lease's end, when verified
	Failures  int       `json:",omitempty"`
	NextTry   time.Time `json:",omitzero"` // when a failed one is asked for again
	Renewing  bool      `json:",omitempty"`
}

// SubscriberStats counts what a subscriber did.
type SubscriberStats struct {
	Subscriptions int    `json:"subscriptions"` // live ones
	Pushes        uint64 `json:"pushes"`        // pushed bodies taken
	Rejected      uint64 `json:"rejected"`      // pushes refused: bad or no signature, too large, unknown callback
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
// sources that left it are ended (unsubscribed at their hub) by Run.
func (s *Subscriber) Configure(sources []aggregator.Source) {
	s.mu.Lock()
	s.sources = make(map[string]aggregator.Source, len(sources))
	for _, src := range sources {
		s.sources[src.Name] = src
	}
	s.mu.Unlock()
	s.poke()
}

// Discovered tells the subscriber the hubs and topic URL a fetch of src
// found (fetch.Result.Hubs, Self; url is where it was fetched from, the
// topic when the feed names none). A source whose subscription is live
// at one of those hubs for that topic is left alone; otherwise Run
// subscribes at the first hub.
func (s *Subscriber) Discovered(src aggregator.Source, hubs []string, self, fetchedURL string) {
	if len(hubs) == 0 {
		return
	}
	topic := self
	if topic == "" {
		topic = fetchedURL
	}
	if topic == "" || !s.reachable(hubs[0]) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sources[src.Name]; !ok {
		return
	}
	if old := s.subs[src.Name]; old != nil && old.Topic == topic && contains(hubs, old.Hub) {
		return
	}
	if old := s.subs[src.Name]; old != nil {
		delete(s.tokens, old.Token) // the hub or topic changed: a new subscription
	}
	sub := &ourSub{Source: src.Name, Hub: hubs[0], Topic: topic, Token: randomToken(24), Secret: randomToken(32), State: stateNew}
	s.subs[src.Name] = sub
	s.tokens[sub.Token] = src.Name
	s.poke()
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
	sub := s.subs[source]
	return sub != nil && sub.State == stateActive && sub.Expires.After(s.opts.Now())
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
		return msg + "; polling on schedule"
	case stateUnsubscribing:
		return "unsubscribing from " + hub
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
		if sub.State == stateActive && sub.Expires.After(now) {
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
		case !configured && len(s.sources) > 0 || !configured && sub.State == stateUnsubscribing:
			switch {
			case sub.State == stateActive || sub.State == stateRequested:
				sub.State, sub.Requested = stateUnsubscribing, now
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
		case sub.State == stateActive && !sub.Expires.After(now):
			sub.State, sub.Error, sub.NextTry = stateLapsed, "", now
			lapsed = append(lapsed, src)
			changed = append(changed, sub)
			fallthrough
		case sub.State == stateNew || sub.State == stateLapsed || sub.State == stateFailed || sub.State == stateDenied:
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
			renewAt := sub.Expires.Add(-max(time.Minute, leaseOf(sub)/10))
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

// leaseOf is the lease a subscription was granted, from its request to
// its end.
func leaseOf(sub *ourSub) time.Duration { return sub.Expires.Sub(sub.Requested) }

// failed records that sub's request failed with err: tried again after
// a backoff. It holds s.mu.
func (s *Subscriber) failed(sub *ourSub, now time.Time, err error) {
	sub.Failures++
	sub.Error = err.Error()
	sub.NextTry = now.Add(backoff(sub.Failures, s.opts.RetryBase, s.opts.RetryMax))
	if sub.State != stateActive || !sub.Expires.After(now) {
		sub.State = stateFailed
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
