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
	"strings"
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

// maxVerifying bounds the verifications in flight.
const maxVerifying = 64

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
	// MaxPerCallbackHost those whose callbacks are on one host (default
	// 100), and MaxPerClient those one client address asked for
	// (default 100).
	MaxSubscriptions, MaxPerCallbackHost, MaxPerClient int
	// ClientRate is how many requests one client address may send per
	// minute, in bursts of as many (default 60).
	ClientRate int
	// Concurrency bounds the deliveries in flight (default 16), PerHost
	// those to one callback host (default 2).
	Concurrency, PerHost int
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
	clients   map[string]*bucket       // request rate by client address
	inHost    map[string]int           // requests in flight by callback host
	running   int                      // deliveries in flight
	verifying int                      // verifications in flight
	ctx       context.Context          // Run's, while it runs; nil otherwise

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
}

// key identifies a subscription (WebSub 5.1: a topic and callback pair).
func key(topic, callback string) string { return topic + "\x00" + callback }

// NewHub returns the hub over store, with the subscriptions stored there
// whose lease has not run out. It fails only when the store does.
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
	h := &Hub{
		store:   store,
		opts:    opts,
		subs:    make(map[string]*subscription),
		clients: make(map[string]*bucket),
		inHost:  make(map[string]int),
		wake:    make(chan struct{}, 1),
	}
	recs, err := store.Records(ctx, hubRecords)
	if err != nil {
		return nil, fmt.Errorf("read hub subscriptions: %w", err)
	}
	now := opts.Now()
	for k, v := range recs {
		var sub subscription
		if err := json.Unmarshal(v, &sub); err != nil || key(sub.Topic, sub.Callback) != k {
			opts.Logger.Warn("hub subscription unreadable; dropped", "err", err)
			continue
		}
		if !sub.Expires.After(now) {
			continue // dropped from the store at the next sweep
		}
		h.subs[k] = &sub
	}
	return h, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Stats returns what the hub has done so far.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stats
	st.Subscriptions = len(h.subs)
	for _, s := range h.subs {
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
// verifications are in flight.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed: subscribe with a POST (WebSub 5.1)", http.StatusMethodNotAllowed)
		return
	}
	client := clientAddr(r.RemoteAddr)
	h.mu.Lock()
	h.stats.Requests++
	allowed := h.allow(client)
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
	case err != nil || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("hub.callback %q is not an absolute URL", callback)
	case len(callback) > maxCallback:
		return fmt.Errorf("hub.callback is longer than %d bytes", maxCallback)
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
	if req.mode == "subscribe" {
		if _, renewing := h.subs[key(req.topic, req.callback)]; !renewing {
			host := hostOf(req.callback)
			perHost, perClient := 0, 0
			for _, s := range h.subs {
				if hostOf(s.Callback) == host {
					perHost++
				}
				if s.Client == req.client {
					perClient++
				}
			}
			switch {
			case len(h.subs) >= h.opts.MaxSubscriptions:
				return http.StatusForbidden, "this hub has as many subscriptions as it takes"
			case perHost >= h.opts.MaxPerCallbackHost:
				return http.StatusForbidden, "too many subscriptions with callbacks on " + host
			case perClient >= h.opts.MaxPerClient:
				return http.StatusForbidden, "too many subscriptions from your address"
			}
		}
	}
	if h.ctx == nil {
		return http.StatusServiceUnavailable, "the hub is not running"
	}
	// Each client's rate bounds its verifications; these bound them all.
	if h.verifying >= maxVerifying {
		return http.StatusServiceUnavailable, "too many verifications in flight; try again later"
	}
	h.verifying++
	ctx := h.ctx
	h.work.Go(func() {
		h.verify(ctx, req)
		h.mu.Lock()
		h.verifying--
		h.mu.Unlock()
	})
	return 0, ""
}

// hostOf is the host of a callback URL, for its bounds.
func hostOf(callback string) string {
	u, err := url.Parse(callback)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// verify asks req's callback to confirm req (WebSub 5.3), and puts the
// subscription in force, or ends it, when it does.
func (h *Hub) verify(ctx context.Context, req request) {
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
	err := h.confirm(ctx, u.String(), challenge)
	h.mu.Lock()
	if err != nil {
		h.stats.Unverified++
		h.mu.Unlock()
		h.opts.Logger.Info("websub intent not verified", "mode", req.mode, "topic", req.topic, "callback", aggregator.RedactURL(req.callback), "err", err)
		return
	}
	h.stats.Verified++
	k := key(req.topic, req.callback)
	if req.mode == "unsubscribe" {
		delete(h.subs, k)
		h.mu.Unlock()
		h.persist(k, nil)
		h.opts.Logger.Info("websub unsubscribed", "topic", req.topic, "callback", aggregator.RedactURL(req.callback))
		return
	}
	now := h.opts.Now()
	sub := h.subs[k]
	if sub == nil {
		sub = &subscription{Topic: req.topic, Callback: req.callback, Created: now}
		h.subs[k] = sub
	}
	sub.Secret, sub.Client, sub.Expires = req.secret, req.client, now.Add(req.lease)
	rec := *sub
	h.mu.Unlock()
	h.persist(k, &rec)
	h.opts.Logger.Info("websub subscribed", "topic", req.topic, "callback", aggregator.RedactURL(req.callback), "lease", req.lease)
}

// confirm sends the verification GET and checks that the callback echoed
// the challenge with a 2xx.
func (h *Hub) confirm(ctx context.Context, u, challenge string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", h.opts.UserAgent)
	resp, err := h.opts.Client.Do(req)
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

// persist writes the subscription of k, or deletes it when sub is nil.
func (h *Hub) persist(k string, sub *subscription) {
	var v []byte
	if sub != nil {
		v, _ = json.Marshal(sub) // plain strings and times
	}
	err := h.store.PutRecords(context.Background(), hubRecords, map[string][]byte{k: v})
	if err != nil {
		h.opts.Logger.Error("store hub subscription", "err", err)
	}
}

// bucket is a token bucket of one client's requests.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token of client's bucket, reporting false when it has
// none left. It holds h.mu.
func (h *Hub) allow(client string) bool {
	now := h.opts.Now()
	rate := float64(h.opts.ClientRate)
	b := h.clients[client]
	if b == nil {
		if len(h.clients) > 10_000 {
			// Forget full buckets rather than grow without end.
			for c, old := range h.clients {
				if old.tokens+now.Sub(old.last).Minutes()*rate >= rate {
					delete(h.clients, c)
				}
			}
		}
		b = &bucket{tokens: rate, last: now}
		h.clients[client] = b
	}
	b.tokens = min(rate, b.tokens+now.Sub(b.last).Minutes()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
