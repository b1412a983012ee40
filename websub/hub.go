package websub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// HubPath is the route of our own hub below the daemon's base URL.
const HubPath = "/websub"

// hubRecords is the kind of the stored records of our hub's subscriptions.
const hubRecords = "websub.hub"

// maxSecret is the longest hub.secret accepted: WebSub 5.1 says it MUST be
// less than 200 bytes.
const maxSecret = 199

// maxCallback is the longest hub.callback accepted.
const maxCallback = 2048

// Content is a new version of one of our feeds, as a hub distributes it.
type Content struct {
	Topic       string // the feed's URL
	ContentType string
	Body        []byte
	Link        string // the Link header: its hubs and itself
}

// HubOptions are the settings of a Hub. The zero value of each field is
// its default.
type HubOptions struct {
	// IsTopic reports whether a URL is one of our feeds; subscriptions to
	// anything else are refused. nil refuses every topic.
	IsTopic func(topic string) bool

	LeaseMin, LeaseMax time.Duration // bounds of the leases granted; 1h and 10 days
	// AllowHTTP accepts callbacks over plain HTTP; otherwise only https.
	AllowHTTP bool
	// Client sends the verification requests and the deliveries; it must
	// keep off private addresses unless the admin allows them (see
	// NewGuardedClient). nil → NewGuardedClient(GuardOptions{}).
	Client    *http.Client
	UserAgent string           // "" → aggregator.DefaultUserAgent
	Now       func() time.Time // nil → time.Now
	Logger    *slog.Logger     // nil → discard

	// MaxSubscriptions bounds the subscriptions in all (default 10,000),
	// MaxPerCallbackHost those whose callbacks are on one site (default
	// 100; siteOf), and MaxPerClient those one client asked for (default
	// 100; a client is an IPv4 address or an IPv6 /64, clientKey). Those
	// being verified count as well as those in force.
	MaxSubscriptions, MaxPerCallbackHost, MaxPerClient int
	// ClientRate is how many requests one client may send per minute, in
	// bursts of as many (default 60).
	ClientRate int
	// Concurrency bounds the deliveries in flight (default 16), PerHost
	// those to one callback site (default 2; see siteOf). Slots go to
	// each site waiting in turn, those whose last delivery failed last.
	Concurrency, PerHost int
	// VerifyTimeout and DeliverTimeout bound a verification's and a
	// delivery's request, body included (default 5s each): a subscriber
	// answers at once (WebSub 7: a 2xx says it received the content, not
	// that it processed it), and a callback that holds its requests holds
	// the slots of others.
	VerifyTimeout, DeliverTimeout time.Duration
	// TopicGrace is how long a subscription stays after its topic stopped
	// being one of our feeds (IsTopic; a section removed, base_url
	// changed) before the hub denies it (WebSub 5.2; default 24h): a
	// mistake put right within it changes nothing for subscribers.
	TopicGrace time.Duration
	// RetryBase and RetryMax shape the backoff of a failed delivery
	// (default 10s and 30m); after MaxAttempts failures in a row (default
	// 8) the subscription is dropped.
	RetryBase, RetryMax time.Duration
	MaxAttempts         int
}

// Hub is the WebSub hub of our own feeds (WebSub 5 and 7): it takes
// subscription requests, verifies the subscriber's intent, keeps the
// subscriptions in the store, and sends each subscriber of a feed its new
// version when it changes. It is an http.Handler for the hub URL. Run
// sends its requests; it is safe for concurrent use.
type Hub struct {
	store *storage.Store
	opts  HubOptions

	mu        sync.Mutex
	subs      map[string]*subscription // by key(topic, callback)
	rates     rates                    // request rate by client
	verifying []*verification          // verifications in flight
	sites     map[string]*site         // deliveries by callback site
	running   int                      // deliveries in flight
	ctx       context.Context          // Run's, while it runs; nil otherwise
	nextSweep time.Time
	sweeping  sync.Mutex // held by sweep, which leaves h.mu while IsTopic runs
	storing   sync.Mutex // held by persistUnlock

	wake  chan struct{}
	work  sync.WaitGroup
	stats HubStats
}

// HubStats counts what a hub did, for /status.json and the metrics.
type HubStats struct {
	Subscriptions int    `json:"subscriptions"`
	Requests      uint64 `json:"requests"`   // subscription requests received
	Refused       uint64 `json:"refused"`    // of those, refused at once (4xx, 429)
	Verified      uint64 `json:"verified"`   // intents verified
	Unverified    uint64 `json:"unverified"` // intents the callback did not confirm
	Deliveries    uint64 `json:"deliveries"` // content sent and acknowledged
	Failures      uint64 `json:"failures"`   // content sent and not acknowledged
	Dropped       uint64 `json:"dropped"`    // subscriptions dropped after failures or 410
	Pending       int    `json:"pending"`    // subscriptions with content waiting
	Expired       uint64 `json:"expired"`    // leases that ran out
	Denied        uint64 `json:"denied"`     // subscriptions ended as their topic is no longer ours
}

// subscription is one subscriber of one topic; its exported fields are
// what the store keeps.
type subscription struct {
	Topic    string
	Callback string
	Secret   string    `json:",omitempty"`
	Client   string    // address of the client that asked
	Expires  time.Time // the lease's end
	Created  time.Time

	// Content waiting for delivery, and the state of its attempts.
	pending  *Content
	version  int // bumped by each new pending content
	attempts int
	due      time.Time
	inFlight bool

	site      string    // siteOf(Callback)
	from      string    // clientKey(Client)
	topicGone time.Time // since when Topic is not ours; zero while it is
}

// newSubscription returns a subscription with its keys set.
func newSubscription(topic, callback, client string, created time.Time) *subscription {
	s := &subscription{Topic: topic, Callback: callback, Client: client, Created: created}
	s.setKeys()
	return s
}

// setKeys sets the bounds' keys of s from its stored fields.
func (s *subscription) setKeys() {
	s.site, s.from = siteOf(s.Callback), clientKey(s.Client)
}

// key identifies a subscription (WebSub 5.1: a topic and callback pair).
func key(topic, callback string) string { return topic + "\x00" + callback }

// NewHub returns the hub over store, with the subscriptions stored there
// whose lease has not run out; it deletes the others, and those it cannot
// read, from the store. It fails only when the store does.
func NewHub(ctx context.Context, store *storage.Store, opts HubOptions) (*Hub, error) {
	if opts.IsTopic == nil {
		opts.IsTopic = func(string) bool { return false }
	}
	if opts.LeaseMin <= 0 {
		opts.LeaseMin = time.Hour
	}
	if opts.LeaseMax <= 0 {
		opts.LeaseMax = 10 * 24 * time.Hour
	}
	opts.LeaseMax = max(opts.LeaseMax, opts.LeaseMin)
	if opts.Client == nil {
		opts.Client = NewGuardedClient(GuardOptions{})
	}
	if opts.UserAgent == "" {
		opts.UserAgent = aggregator.DefaultUserAgent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&opts.MaxSubscriptions, 10_000)
	setDefault(&opts.MaxPerCallbackHost, 100)
	setDefault(&opts.MaxPerClient, 100)
	setDefault(&opts.ClientRate, 60)
	setDefault(&opts.Concurrency, 16)
	setDefault(&opts.PerHost, 2)
	setDefault(&opts.MaxAttempts, 8)
	if opts.RetryBase <= 0 {
		opts.RetryBase = 10 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Minute
	}
	setDuration(&opts.VerifyTimeout, 5*time.Second)
	setDuration(&opts.DeliverTimeout, 5*time.Second)
	setDuration(&opts.TopicGrace, 24*time.Hour)
	h := &Hub{
		store: store,
		opts:  opts,
		subs:  make(map[string]*subscription),
		rates: rates{cur: make(map[string]*bucket), old: make(map[string]*bucket)},
		sites: make(map[string]*site),
		wake:  make(chan struct{}, 1),
	}
	recs, err := store.Records(ctx, hubRecords)
	if err != nil {
		return nil, fmt.Errorf("read hub subscriptions: %w", err)
	}
	now := opts.Now()
	drop := make(map[string][]byte)
	for k, v := range recs {
		var sub subscription
		if err := json.Unmarshal(v, &sub); err != nil || key(sub.Topic, sub.Callback) != k {
			opts.Logger.Warn("hub subscription unreadable; dropped", "err", err)
			drop[k] = nil
			continue
		}
		if !sub.Expires.After(now) {
			drop[k] = nil
			continue
		}
		sub.setKeys()
		h.subs[k] = &sub
	}
	if len(drop) > 0 {
		if err := store.PutRecords(ctx, hubRecords, drop); err != nil {
			return nil, fmt.Errorf("delete ended hub subscriptions: %w", err)
		}
	}
	return h, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// Stats returns what the hub has done so far.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stats
	now := h.opts.Now()
	for _, s := range h.subs {
		if !s.Expires.After(now) {
			continue // the next sweep deletes it
		}
		st.Subscriptions++
		if s.pending != nil {
			st.Pending++
		}
	}
	return st
}

// ServeHTTP takes a subscription request (WebSub 5.1): a POST of
// hub.mode (subscribe or unsubscribe), hub.topic, hub.callback, and
// optionally hub.lease_seconds and hub.secret, as a form. It answers 202
// Accepted and verifies the intent in the background, or refuses at once:
// 405 for another method, 429 to a client over its rate, 400 for a
// request that is not valid or names a topic that is not one of our
// feeds, 403 when the subscription bounds are reached, 503 when too many
// verifications are in flight, in all or of the client or callback site.
// The bounds count the subscriptions being verified as well as those in
// force, and a client is an IPv4 address or an IPv6 /64 (clientKey).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed: subscribe with a POST (WebSub 5.1)", http.StatusMethodNotAllowed)
		return
	}
	client := clientAddr(r.RemoteAddr)
	h.mu.Lock()
	h.stats.Requests++
	allowed := h.allow(clientKey(client))
	h.mu.Unlock()
	if !allowed {
		h.refuse(w, http.StatusTooManyRequests, "too many requests from your address; try again in a minute")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.refuse(w, http.StatusBadRequest, "the body is not a form of at most 16 KiB")
		return
	}
	req, err := h.parseRequest(r.PostForm)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	req.client = client
	if code, msg := h.admit(req); code != 0 {
		h.refuse(w, code, msg)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// refuse answers a subscription request with code and msg.
func (h *Hub) refuse(w http.ResponseWriter, code int, msg string) {
	h.mu.Lock()
	h.stats.Refused++
	h.mu.Unlock()
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "60")
	}
	http.Error(w, msg, code)
}

// clientAddr is the address of a request's client, without its port.
func clientAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// request is a checked subscription request.
type request struct {
	mode, topic, callback, secret string
	lease                         time.Duration
	client                        string
}

// parseRequest checks a subscription request's form.
func (h *Hub) parseRequest(form url.Values) (request, error) {
	req := request{
		mode:     form.Get("hub.mode"),
		topic:    form.Get("hub.topic"),
		callback: form.Get("hub.callback"),
		secret:   form.Get("hub.secret"),
		lease:    h.opts.LeaseMax,
	}
	if req.mode != "subscribe" && req.mode != "unsubscribe" {
		return req, fmt.Errorf("hub.mode %q is not subscribe or unsubscribe", req.mode)
	}
	if !h.opts.IsTopic(req.topic) {
		return req, fmt.Errorf("hub.topic %q is not a feed of this hub", req.topic)
	}
	if err := h.checkCallback(req.callback); err != nil {
		return req, err
	}
	if len(req.secret) > maxSecret {
		return req, fmt.Errorf("hub.secret is longer than %d bytes", maxSecret)
	}
	if s := form.Get("hub.lease_seconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return req, fmt.Errorf("hub.lease_seconds %q is not a positive number", s)
		}
		req.lease = time.Duration(min(n, int64(h.opts.LeaseMax/time.Second))) * time.Second
		req.lease = max(req.lease, h.opts.LeaseMin)
	}
	return req, nil
}

// checkCallback refuses a callback that is not an absolute https URL (or
// http when allowed) with a host and no credentials.
func (h *Hub) checkCallback(callback string) error {
	u, err := url.Parse(callback)
	switch {
	case len(callback) > maxCallback:
		return fmt.Errorf("hub.callback is longer than %d bytes", maxCallback)
	case err != nil || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("hub.callback %q is not an absolute URL", callback)
	case numericHost(u.Hostname()) && !isIPv4(u.Hostname()):
		return fmt.Errorf("hub.callback host %q: write an IPv4 address as four decimal numbers", u.Hostname())
	case u.User != nil:
		return errors.New("hub.callback must not carry credentials")
	case u.Scheme == "https":
	case u.Scheme == "http" && h.opts.AllowHTTP:
	case u.Scheme == "http":
		return errors.New("hub.callback must be https: this hub does not deliver over plain HTTP")
	default:
		return fmt.Errorf("hub.callback scheme %q is not https", u.Scheme)
	}
	return nil
}

// admit checks req against the bounds and starts verifying it; a non-zero
// code refuses it.
func (h *Hub) admit(req request) (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx == nil {
		return http.StatusServiceUnavailable, "the hub is not running"
	}
	v, code, msg := h.checkBounds(req, h.opts.Now())
	if code != 0 {
		return code, msg
	}
	h.verifying = append(h.verifying, v)
	ctx := h.ctx
	h.work.Go(func() { h.verify(ctx, req, v) })
	return 0, ""
}

// verify asks req's callback to confirm req (WebSub 5.3), and puts the
// subscription in force, or ends it, when it does; then v is no longer in
// flight.
func (h *Hub) verify(ctx context.Context, req request, v *verification) {
	challenge := randomToken(24)
	u, _ := url.Parse(req.callback) // checked
	q := u.Query()
	q.Set("hub.mode", req.mode)
	q.Set("hub.topic", req.topic)
	q.Set("hub.challenge", challenge)
	if req.mode == "subscribe" {
		q.Set("hub.lease_seconds", strconv.FormatInt(int64(req.lease/time.Second), 10))
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, h.opts.VerifyTimeout)
	err := h.confirm(ctx, u.String(), challenge)
	cancel()
	h.mu.Lock()
	h.done(v)
	if err != nil {
		h.stats.Unverified++
		h.mu.Unlock()
		// Anyone may have us send these: not worth an admin's attention.
		h.opts.Logger.Debug("websub intent not verified", "mode", req.mode, "topic", req.topic, "callback", logURL(req.callback), "err", err)
		return
	}
	h.stats.Verified++
	k := v.key
	if req.mode == "unsubscribe" {
		delete(h.subs, k)
		h.persistUnlock(map[string]*subscription{k: nil})
		h.opts.Logger.Info("websub unsubscribed", "topic", req.topic, "callback", logURL(req.callback))
		return
	}
	now := h.opts.Now()
	sub := h.subs[k]
	if sub == nil {
		sub = newSubscription(req.topic, req.callback, req.client, now)
		h.subs[k] = sub
	}
	sub.Secret, sub.Client, sub.Expires = req.secret, req.client, now.Add(req.lease)
	sub.setKeys()
	rec := *sub
	h.persistUnlock(map[string]*subscription{k: &rec})
	h.opts.Logger.Info("websub subscribed", "topic", req.topic, "callback", logURL(req.callback), "lease", req.lease)
}

// confirm sends the verification GET and checks that the callback echoed
// the challenge with a 2xx.
func (h *Hub) confirm(ctx context.Context, u, challenge string) error {
	resp, err := h.getCallback(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(challenge))+1))
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("callback answered %s", resp.Status)
	case string(body) != challenge:
		return errors.New("callback did not echo the challenge")
	}
	return nil
}

// getCallback sends a GET to a subscriber's callback u with the hub's
// client (which refuses private addresses) and User-Agent; an error does
// not repeat u.
func (h *Hub) getCallback(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", h.opts.UserAgent)
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return nil, withoutURL(err)
	}
	return resp, nil
}

// persistUnlock writes the subscriptions of subs' keys, or deletes those
// that are nil, in one transaction. Called with h.mu held, it releases
// it once it holds h.storing, so that the store sees the changes in the
// order memory did, and the hub does not wait for the disk.
func (h *Hub) persistUnlock(subs map[string]*subscription) {
	if len(subs) == 0 {
		h.mu.Unlock()
		return
	}
	h.storing.Lock()
	defer h.storing.Unlock()
	h.mu.Unlock()
	recs := make(map[string][]byte, len(subs))
	for k, sub := range subs {
		var v []byte
		if sub != nil {
			v, _ = json.Marshal(sub) // plain strings and times
		}
		recs[k] = v
	}
	err := h.store.PutRecords(context.Background(), hubRecords, recs)
	if err != nil {
		h.opts.Logger.Error("store hub subscriptions", "err", err)
	}
}
