// Package fetch gets source feeds over HTTP (or from local files), politely,
// and turns them into normalised aggregator.Items with gofeed. It knows
// nothing of storage or publishing.
package fetch

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
)

// Options are the optional settings of a Client. The zero value works.
type Options struct {
	UserAgent     string        // "" → DefaultUserAgent
	Timeout       time.Duration // whole fetch, from sending the request to the end of parsing the body; 0 → 30s
	HeaderTimeout time.Duration // from sending a request to its response headers; 0 → Timeout
	MaxBytes      int64         // body limit after decompression; 0 → 10 MiB
	PerHost       int           // requests in flight to one host; 0 → 2
	Concurrency   int           // fetches (request and parse) in flight at once; 0 → no limit
	HostInterval  time.Duration // least time between the starts of two requests to one host; 0 → none
	MaxRetryAfter time.Duration // longest Retry-After honoured; 0 → 24h

	// IgnoreRetryAfter sends requests to hosts whose Retry-After has not
	// passed, for an admin who insists. Retry-After answers are still
	// recorded.
	IgnoreRetryAfter bool

	// AllowPrivateRedirects lets every request go to a private address
	// (IsPrivate). Without it, only an internal source (IsInternal) is
	// fetched from one, and its redirects go anywhere; any other source's
	// requests are refused such an address, checked on the address each
	// connection is opened to: its own address fails with
	// ErrPrivateAddress, one a redirect leads to with ErrPrivateRedirect.
	AllowPrivateRedirects bool
	// IsPrivate tells the private addresses; nil → IsPrivate. (Tests
	// call some loopback addresses public.)
	IsPrivate func(netip.Addr) bool
	// Dialer opens the connections of redirects from a public address,
	// with a Control hook added that refuses private addresses before
	// connecting; give the dialer hc's transport uses. nil → hc's
	// transport's DialContext, with the address checked once connected
	// (a plain net.Dialer with the hook when it has none).
	Dialer *net.Dialer
	// Dial, if set, opens the connections of the transport NewClient
	// builds when given no http.Client, instead of the network (for
	// tests); that transport then uses no proxy.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Blocks keeps the Retry-After times hosts sent; share one between
	// the Clients that follow each other in a process. nil → the Client's
	// own.
	Blocks *Blocks

	// Now is the clock: for hosts' gaps and Retry-After times, and what
	// feeds' updated dates are judged in the future against. nil → time.Now
	Now func() time.Time
}

// DefaultUserAgent names the project and where to find it.
const DefaultUserAgent = aggregator.DefaultUserAgent

// accept names the feed types first, as a feed reader should.
const accept = "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

// maxRedirects is the most redirects one fetch follows.
const maxRedirects = 10

// Result is what one fetch brought.
type Result struct {
	// NotModified is true when the source answered 304, or sent the same
	// body as last time: nothing was parsed, Feed is empty.
	NotModified bool
	Feed        Feed

	// Validators and body hash to remember for the next fetch.
	ETag         string
	LastModified string
	BodyHash     string
	Bytes        int64 // body size after decompression, 0 when not modified

	// URL is where the feed came from after redirects; relative links are
	// resolved against it.
	URL string
	// PermanentRedirect is where the source URL has permanently moved: the
	// URL after the redirects (301, 308) that start the chain, if any did.
	PermanentRedirect string
	// FreshFor is how long the source says it stays unchanged, the longest
	// of its Cache-Control max-age, Expires and RSS <ttl>; 0 when it says
	// nothing.
	FreshFor time.Duration

	// Hubs and Self are the WebSub hubs and the topic URL the response
	// names (WebSub 4): its Link header, else the feed document (which is
	// read only when parsed). Both are empty when it names none.
	Hubs []string
	Self string

	deadline time.Time // when Options.Timeout ends for parsing the body; zero for a file
}

// Client fetches sources. It is safe for concurrent use.
type Client struct {
	http   *http.Client
	opts   Options
	parser *Parser
	hosts  *hostGate
	slots  chan struct{} // Options.Concurrency; nil for no limit
}

// NewClient returns a Client that sends its requests with a copy of hc,
// whose redirect policy it replaces with its own, and whose transport it
// wraps to keep the requests of sources that are not internal off private
// addresses (see Options.AllowPrivateRedirects). With hc nil, it builds
// the client a daemon needs (newTransport).
func NewClient(hc *http.Client, opts Options) *Client {
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.Timeout <= 0 {
		opts.Timeout = aggregator.DefaultFetchTimeout
	}
	if opts.HeaderTimeout <= 0 || opts.HeaderTimeout > opts.Timeout {
		opts.HeaderTimeout = opts.Timeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = aggregator.DefaultMaxBytes
	}
	if opts.PerHost <= 0 {
		opts.PerHost = aggregator.DefaultPerHost
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = aggregator.DefaultMaxInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Blocks == nil {
		opts.Blocks = &Blocks{}
	}
	if opts.IsPrivate == nil {
		opts.IsPrivate = IsPrivate
	}
	if hc == nil {
		hc = &http.Client{Transport: newTransport(&opts)}
	}
	c := &Client{
		opts:   opts,
		parser: NewParser(),
		hosts:  &hostGate{limit: opts.PerHost, gap: opts.HostInterval, now: opts.Now, blocks: opts.Blocks},
	}
	if opts.Concurrency > 0 {
		c.slots = make(chan struct{}, opts.Concurrency)
	}
	own := *hc
	own.CheckRedirect = c.checkRedirect
	own.Transport = newRedirectGuard(hc.Transport, opts)
	c.http = &own
	return c
}

// newTransport returns the transport of a Client built without an
// http.Client: through the environment's proxy, with a dialer that
// becomes opts.Dialer, or through opts.Dial (no proxy, no dialer); it
// keeps as many connections to a host as requests may be in flight to
// it, and gives up on response headers after opts.HeaderTimeout.
func newTransport(opts *Options) *http.Transport {
	proxy, dial := http.ProxyFromEnvironment, opts.Dial
	if dial == nil {
		opts.Dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		dial = opts.Dialer.DialContext
	} else {
		proxy = nil
	}
	return &http.Transport{
		Proxy:             proxy,
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      100,
		// PerHost requests are in flight at most; this keeps the
		// connections to as many, even while one goes back to the pool.
		MaxConnsPerHost:       opts.PerHost,
		MaxIdleConnsPerHost:   opts.PerHost,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.HeaderTimeout,
	}
}

// BlockHost records that host asked for no requests before until, as a
// Retry-After remembered from an earlier run does.
func (c *Client) BlockHost(host string, until time.Time) {
	c.hosts.block(host, until)
}

// BlockedUntil returns the time before which host asked for no requests, or
// the zero time when it asked for nothing or that time has passed.
func (c *Client) BlockedUntil(host string) time.Time {
	return c.hosts.blockedUntil(host)
}

// Fetch gets src, sending the validators of its previous state, and parses
// it unless it has not changed; updated dates later than Options.Now plus
// a few minutes are dropped (see dropFutureUpdates). Errors are classified
// by Kind: a *StatusError for a failing status, a *HostBlockedError when
// src's host asked us to wait, ErrTooLarge, ErrTimeout (also when parsing
// the body outlasts Options.Timeout), ErrRedirectLoop,
// ErrTooManyRedirects, ErrPrivateAddress (src is not internal, see
// IsInternal, and its address is private), ErrPrivateRedirect,
// ErrNotFeed, ErrTooComplex, a *ParseError, or the network's own error.
//
// Waiting for a per-host slot or gap is bounded by ctx only; Options.Timeout
// starts when the request is sent, so a source queued behind a slow one on
// the same host does not time out before it is asked.
func (c *Client) Fetch(ctx context.Context, src aggregator.Source, prev aggregator.SourceState) (Result, error) {
	res, _, err := c.fetch(ctx, src, prev, nil)
	return res, err
}

// fetch is Fetch, giving notes (when not nil) one ItemNote per item, and
// returning also the response, whose body the caller may read when it is
// no feed (ErrNotFeed).
func (c *Client) fetch(ctx context.Context, src aggregator.Source, prev aggregator.SourceState, notes *[]ItemNote) (Result, response, error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		// Not url.Error's text, which quotes the URL, credentials and all.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Result{}, response{}, fmt.Errorf("bad url: %w", err)
	}
	// Credentials in the URL go in the Authorization header alone (see
	// checkRedirect for where it is sent): the URL requested, and so every
	// URL a Result holds and each link resolved against it, has none.
	creds := u.User
	u.User = nil
	release, err := c.slot(ctx)
	if err != nil {
		return Result{}, response{}, err
	}
	defer release()
	var got response
	switch u.Scheme {
	case "file":
		got, err = c.readFile(u, prev)
		got.res.URL = aggregator.RedactURL(src.URL)
	case "http", "https":
		got, err = c.get(withGuard(ctx, isInternal(src, c.opts.IsPrivate)), u, creds, prev)
	default:
		err = fmt.Errorf("unsupported url scheme %q", u.Scheme)
	}
	if err != nil {
		return Result{}, response{}, err
	}
	res := got.res
	if res.NotModified {
		return res, got, nil
	}
	parseCtx, cancel := c.parseContext(ctx, res.deadline)
	defer cancel()
	res.Feed, err = c.parser.parseNoting(parseCtx, got.body, res.URL, got.contentType, src, notes)
	if err != nil {
		return Result{}, got, err
	}
	res.Feed.dropFutureUpdates(c.opts.Now())
	res.FreshFor = max(res.FreshFor, res.Feed.TTL)
	if len(res.Hubs) == 0 && u.Scheme != "file" {
		base, _ := url.Parse(res.URL)
		hubs, self := DiscoverDocument(got.body, base)
		res.Hubs = hubs
		if res.Self == "" {
			res.Self = self
		}
	}
	return res, got, nil
}

// slot waits for one of the Options.Concurrency fetches in flight, and
// returns what gives it back; the error is ctx's cause when it ends
// first.
func (c *Client) slot(ctx context.Context) (release func(), err error) {
	if c.slots == nil {
		return func() {}, nil
	}
	select {
	case c.slots <- struct{}{}:
		return func() { <-c.slots }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// response is what one request brought: the result so far, and the body
// to parse with its Content-Type (none when not modified).
type response struct {
	res         Result
	body        []byte
	contentType string
}

// get sends one conditional GET for u, with creds (if not nil) as Basic
// authorization, following redirects.
func (c *Client) get(ctx context.Context, u *url.URL, creds *url.Userinfo, prev aggregator.SourceState) (response, error) {
	release, err := c.hosts.acquire(ctx, u.Hostname(), c.opts.IgnoreRetryAfter)
	if err != nil {
		return response{}, err
	}
	defer release()

	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.Timeout, fmt.Errorf("%w after %s", ErrTimeout, c.opts.Timeout))
	defer cancel()
	got, err := c.do(ctx, u, creds, prev)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrTimeout) {
			return response{}, cause
		}
		return response{}, err
	}
	got.res.deadline, _ = ctx.Deadline()
	return got, nil
}

// do sends the request, with the header timeout, and reads the response.
func (c *Client) do(ctx context.Context, u *url.URL, creds *url.Userinfo, prev aggregator.SourceState) (response, error) {
	ctx, cancelHeaders := context.WithCancelCause(ctx)
	defer cancelHeaders(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return response{}, err
	}
	if creds != nil {
		password, _ := creds.Password()
		req.SetBasicAuth(creds.Username(), password)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", accept)
	// Asked for, and so decoded, here rather than by the transport, so that
	// the size limit counts decoded bytes whatever transport hc has.
	req.Header.Set("Accept-Encoding", "gzip")
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	headerTimer := time.AfterFunc(c.opts.HeaderTimeout, func() {
		cancelHeaders(fmt.Errorf("%w: no response headers after %s", ErrTimeout, c.opts.HeaderTimeout))
	})
	resp, err := c.http.Do(req)
	headerTimer.Stop()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrTimeout) {
			return response{}, cause
		}
		// The caller knows the URL: keep the cause, not net/http's
		// `Get "URL": ` prefix.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return response{}, err
	}
	defer resp.Body.Close()

	now := c.opts.Now()
	res := Result{
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		BodyHash:     prev.BodyHash,
		URL:          resp.Request.URL.String(),
		FreshFor:     freshFor(resp.Header, now),

		PermanentRedirect: permanentRedirect(resp),
	}
	res.Hubs, res.Self = discoverHeader(resp.Header, resp.Request.URL)
	if resp.StatusCode == http.StatusNotModified {
		// RFC 9111 4.3.4: a 304 updates the stored validators it carries;
		// those it leaves out stay as they were.
		if res.ETag == "" {
			res.ETag = prev.ETag
		}
		if res.LastModified == "" {
			res.LastModified = prev.LastModified
		}
		res.NotModified = true
		return response{res: res}, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		serr := &StatusError{Code: resp.StatusCode, URL: res.URL}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if until, ok := retryAfter(resp.Header, now); ok && until.After(now) {
				if limit := now.Add(c.opts.MaxRetryAfter); until.After(limit) {
					until = limit
				}
				serr.RetryAfter = until.UTC()
				c.hosts.block(resp.Request.URL.Hostname(), serr.RetryAfter)
			}
		}
		return response{}, serr
	}
	var r io.Reader = resp.Body
	sizeHint := int64(0)
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if resp.ContentLength > c.opts.MaxBytes {
			return response{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, resp.ContentLength, c.opts.MaxBytes)
		}
		sizeHint = resp.ContentLength
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return response{}, c.readError(ctx, fmt.Errorf("gzip body: %w", err))
		}
		defer zr.Close()
		r = zr
	default:
		return response{}, &ParseError{Err: fmt.Errorf("unsupported Content-Encoding %q", enc)}
	}
	body, err := c.readBody(r, sizeHint)
	if err != nil {
		return response{}, c.readError(ctx, err)
	}
	res.Bytes = int64(len(body))
	res.BodyHash = bodyHash(body)
	res.NotModified = res.BodyHash == prev.BodyHash
	return response{res, body, resp.Header.Get("Content-Type")}, nil
}

// permanentRedirect is where the leading permanent redirects (301, 308) of
// the chain that brought resp lead; "" when the chain starts otherwise.
// Each request after a redirect links to the response that caused it.
func permanentRedirect(resp *http.Response) string {
	var codes []int
	var targets []string
	for req := resp.Request; req != nil && req.Response != nil; req = req.Response.Request {
		codes = append(codes, req.Response.StatusCode)
		targets = append(targets, req.URL.String())
	}
	permanent := ""
	for i := len(codes) - 1; i >= 0; i-- { // from the first redirect
		if codes[i] != http.StatusMovedPermanently && codes[i] != http.StatusPermanentRedirect {
			break
		}
		permanent = targets[i]
	}
	return permanent
}

// readError classifies an error met reading a body: a deadline is a
// timeout, a broken gzip stream a parse error.
func (c *Client) readError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, flate.CorruptInputError(0)) {
		return &ParseError{Err: err}
	}
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) {
		return &ParseError{Err: err}
	}
	return err
}

// origin is what redirectGuard knows of a fetch: whether its source is
// internal (IsInternal), which its redirects share, and, in a discovery,
// the requests of the links the first page names; and whether a request of
// it has been answered, after which a refused address was named by a
// server, not by the source.
type origin struct {
	internal bool
	answered bool
}

type originKey struct{}

// withGuard gives ctx, the context of one fetch, the origin its requests
// are judged by (see redirectGuard): internal or not, unless ctx has one
// already: then the fetch is one that a page fetched before led to, and it
// is judged as a redirect of that page's request.
func withGuard(ctx context.Context, internal bool) context.Context {
	if _, ok := ctx.Value(originKey{}).(*origin); ok {
		return ctx
	}
	return context.WithValue(ctx, originKey{}, &origin{internal: internal})
}

// checkRedirect is the http.Client's redirect policy: follow up to
// maxRedirects, never in a loop, never to a host that asked us to wait, and
// never with the credentials to another origin.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
	}
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("%w: back to %s", ErrRedirectLoop, req.URL)
		}
	}
	if err := c.hosts.check(strings.ToLower(req.URL.Hostname()), c.opts.IgnoreRetryAfter); err != nil {
		return err
	}
	// net/http sends the first request's Authorization on to the same host
	// and its subdomains, whatever the port or scheme; the configured
	// credentials go to the configured origin alone, never downgraded to
	// plain HTTP.
	if first := via[0].URL; req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

// readBody reads at most MaxBytes: a larger body is an error, never parsed
// truncated.
//
// sizeHint, the length the server announced (0 if none), sizes the buffer
// at once: growing it from nothing, as io.ReadAll does, allocates twice the
// body and copies it along the way.
func (c *Client) readBody(r io.Reader, sizeHint int64) ([]byte, error) {
	var buf bytes.Buffer
	if sizeHint > 0 {
		buf.Grow(int(min(sizeHint, c.opts.MaxBytes)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, c.opts.MaxBytes+1)); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	if int64(len(body)) > c.opts.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.opts.MaxBytes)
	}
	return body, nil
}

// readFile reads a local source. Its modification time stands in for
// Last-Modified, and an unchanged body is not parsed again.
func (c *Client) readFile(u *url.URL, prev aggregator.SourceState) (response, error) {
	f, err := os.Open(u.Path)
	if err != nil {
		return response{}, fmt.Errorf("%w: %w", errFile, err)
	}
	defer f.Close()
	var res Result
	size := int64(0)
	if fi, err := f.Stat(); err == nil {
		res.LastModified = fi.ModTime().UTC().Format(http.TimeFormat)
		size = fi.Size()
	}
	body, err := c.readBody(f, size)
	if err != nil {
		return response{}, fmt.Errorf("%w: %w", errFile, err)
	}
	res.Bytes = int64(len(body))
	res.BodyHash = bodyHash(body)
	res.NotModified = res.BodyHash == prev.BodyHash
	return response{res: res, body: body}, nil
}

func bodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}
