package websub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/planetgo/aggregator/fetch"
)

// ErrPrivateAddress is the error of a request to a callback on a
// loopback, private, link-local or other special address (fetch.IsPrivate)
// when they are not allowed.
var ErrPrivateAddress = errors.New("callback on a private address")

// GuardOptions say where a guarded client may send requests.
type GuardOptions struct {
	// AllowPrivate lets requests go to any address.
	AllowPrivate bool
	// IsPrivate decides; nil → fetch.IsPrivate.
	IsPrivate func(netip.Addr) bool
	// Timeout bounds each request, body included; 0 → 10s.
	Timeout time.Duration
	// Transport, if set, is cloned rather than http.DefaultTransport
	// (tests: to trust a test server's certificate). Its DialContext is
	// replaced.
	Transport *http.Transport
}

// NewGuardedClient returns the client that sends requests to URLs others
// gave us (callbacks): it connects to no private address unless allowed,
// checked on the address each connection is opened to, after the name
// resolved, so that a name resolving to loopback, or rebinding to it, is
// refused too; it never follows a redirect and uses no proxy.
func NewGuardedClient(opts GuardOptions) *http.Client {
	if opts.IsPrivate == nil {
		opts.IsPrivate = fetch.IsPrivate
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone()
	tr.Proxy = nil // a proxy would be the address checked
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || opts.IsPrivate(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
			}
			return nil
		}
	}
	tr.DialContext = d.DialContext
	tr.MaxConnsPerHost = 4
	return &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
