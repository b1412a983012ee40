// Package fetch gets source feeds over HTTP (or from local files), politely,
// and turns them into normalised aggregator.Items with gofeed. It knows
// nothing of storage or publishing.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
)

// Options are the optional settings of a Client. The zero value works.
type Options struct {
	UserAgent string        // "" → DefaultUserAgent
	Timeout   time.Duration // whole request, body included; 0 → 30s
	MaxBytes  int64         // body limit after decompression; 0 → 10 MiB
	PerHost   int           // requests in flight to one host; 0 → 2
}

// DefaultUserAgent names the project and where to find it.
const DefaultUserAgent = "aggregator/1 (+https://github.com/planetgo/aggregator)"

// accept names the feed types first, as a feed reader should.
const accept = "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

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
	Bytes        int64 // body size, 0 when not modified
}

// Client fetches sources. It is safe for concurrent use.
type Client struct {
	http   *http.Client
	opts   Options
	parser *Parser
	hosts  hostLimiter
}

// NewClient returns a Client that sends its requests with hc.
func NewClient(hc *http.Client, opts Options) *Client {
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.PerHost <= 0 {
		opts.PerHost = 2
	}
	return &Client{
		http:   hc,
		opts:   opts,
		parser: NewParser(),
		hosts:  hostLimiter{limit: opts.PerHost},
	}
}

// Fetch gets src, sending the validators of its previous state, and parses
// it unless it has not changed. Errors are classified by Kind: a
// *StatusError for a failing status, ErrTooLarge, ErrTimeout, ErrNotFeed, a
// *ParseError, or the network's own error.
func (c *Client) Fetch(ctx context.Context, src aggregator.Source, prev aggregator.SourceState) (Result, error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		return Result{}, fmt.Errorf("bad url: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.Timeout, fmt.Errorf("%w after %s", ErrTimeout, c.opts.Timeout))
	defer cancel()
	var res Result
	var body []byte
	var contentType string
	switch u.Scheme {
	case "file":
		res, body, err = c.readFile(u, prev)
	case "http", "https":
		res, body, contentType, err = c.get(ctx, u, prev)
	default:
		err = fmt.Errorf("unsupported url scheme %q", u.Scheme)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrTimeout) {
			return Result{}, cause
		}
		return Result{}, err
	}
	if res.NotModified {
		return res, nil
	}
	res.Feed, err = c.parser.Parse(body, src.URL, contentType, src.Name)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func (c *Client) get(ctx context.Context, u *url.URL, prev aggregator.SourceState) (Result, []byte, string, error) {
	release, err := c.hosts.acquire(ctx, u.Hostname())
	if err != nil {
		return Result{}, nil, "", err
	}
	defer release()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, nil, "", err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", accept)
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The caller knows the URL: keep the cause, not net/http's
		// `Get "URL": ` prefix.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Result{}, nil, "", err
	}
	defer resp.Body.Close()

	res := Result{
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		BodyHash:     prev.BodyHash,
	}
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
		return res, nil, "", nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, nil, "", &StatusError{Code: resp.StatusCode}
	}
	if resp.ContentLength > c.opts.MaxBytes {
		return Result{}, nil, "", fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, resp.ContentLength, c.opts.MaxBytes)
	}
	body, err := c.readBody(resp.Body)
	if err != nil {
		return Result{}, nil, "", err
	}
	res.Bytes = int64(len(body))
	res.BodyHash = bodyHash(body)
	res.NotModified = res.BodyHash == prev.BodyHash
	return res, body, resp.Header.Get("Content-Type"), nil
}

// readBody reads at most MaxBytes: a larger body is an error, never parsed
// truncated.
func (c *Client) readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, c.opts.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.opts.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.opts.MaxBytes)
	}
	return body, nil
}

// readFile reads a local source. Its modification time stands in for
// Last-Modified, and an unchanged body is not parsed again.
func (c *Client) readFile(u *url.URL, prev aggregator.SourceState) (Result, []byte, error) {
	f, err := os.Open(u.Path)
	if err != nil {
		return Result{}, nil, fmt.Errorf("%w: %w", errFile, err)
	}
	defer f.Close()
	var res Result
	if fi, err := f.Stat(); err == nil {
		res.LastModified = fi.ModTime().UTC().Format(http.TimeFormat)
	}
	body, err := c.readBody(f)
	if err != nil {
		return Result{}, nil, fmt.Errorf("%w: %w", errFile, err)
	}
	res.Bytes = int64(len(body))
	res.BodyHash = bodyHash(body)
	res.NotModified = res.BodyHash == prev.BodyHash
	return res, body, nil
}

func bodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// Host is the key of per-host limits: the URL's host name without the
// port, lower-cased.
func Host(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// hostLimiter bounds the requests in flight to each host.
type hostLimiter struct {
	limit int
	mu    sync.Mutex
	slots map[string]chan struct{}
}

func (h *hostLimiter) acquire(ctx context.Context, host string) (release func(), err error) {
	host = strings.ToLower(host)
	h.mu.Lock()
	if h.slots == nil {
		h.slots = make(map[string]chan struct{})
	}
	slot, ok := h.slots[host]
	if !ok {
		slot = make(chan struct{}, h.limit)
		h.slots[host] = slot
	}
	h.mu.Unlock()
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
