package fetch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"syscall"
)

// specialPrefixes are the networks IsPrivate counts besides loopback,
// private, link-local and unspecified addresses: RFC 6890's special-purpose
// blocks that are not the public Internet, and multicast.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (RFC 791)
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space, carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the broadcast address
	netip.MustParsePrefix("224.0.0.0/4"),   // multicast
	netip.MustParsePrefix("ff00::/8"),      // multicast
	netip.MustParsePrefix("100::/64"),      // discard-only (RFC 6666)
}

// embeddingPrefixes are IPv6 networks whose addresses carry an IPv4 address
// in their last 32 bits (NAT64, RFC 6052 and 8215) or bits 16-48 (6to4,
// RFC 3056): the IPv4 address decides.
var (
	nat64Prefixes = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// IsPrivate reports whether addr is not on the public Internet: loopback,
// private (RFC 1918, and fc00::/7), link-local, unspecified, carrier-grade
// NAT, multicast or another special-purpose address, including the IPv4
// ones written in IPv6 (::ffff:127.0.0.1, NAT64, 6to4). A redirect from a
// public address to a private one is refused unless
// Options.AllowPrivateRedirects.
func IsPrivate(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.Is6() {
		b := addr.As16()
		for _, p := range nat64Prefixes {
			if p.Contains(addr) {
				return IsPrivate(netip.AddrFrom4([4]byte(b[12:16])))
			}
		}
		if sixToFour.Contains(addr) {
			return IsPrivate(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// addrOf returns the IP address of a, and false when a is no IP address
// (a pipe in tests, a Unix socket).
func addrOf(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr(), true
}

// redirectGuard is the Client's transport: it sends the first request of a
// fetch through base, noting whether the connection it got is to a private
// address, and the requests redirects lead to (and, in a discovery, those
// of the feeds the first page names) through outward, which
// refuses to connect to private addresses, unless the first was private:
// then the admin chose a private source, and its redirects stay with it.
//
// outward has connections of its own: a pooled connection base opened to
// a private source must not carry a public feed's redirect.
type redirectGuard struct {
	base, outward http.RoundTripper
	isPrivate     func(netip.Addr) bool
}

func (g *redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	first, _ := req.Context().Value(originKey{}).(*origin)
	switch {
	case first == nil:
		return g.base.RoundTrip(req)
	case req.Response == nil && !first.connected: // the first request, not a redirect's
		ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				addr, ok := addrOf(info.Conn.RemoteAddr())
				first.connected, first.private = true, ok && g.isPrivate(addr)
			},
		})
		return g.base.RoundTrip(req.WithContext(ctx))
	case first.private:
		return g.base.RoundTrip(req)
	}
	return g.outward.RoundTrip(req)
}

// newRedirectGuard returns the transport that sends hc's requests, guarded
// as Options say; hc's own when redirects may go anywhere, or when it is
// not an *http.Transport, whose connections it cannot check.
func newRedirectGuard(rt http.RoundTripper, opts Options) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	base, ok := rt.(*http.Transport)
	if opts.AllowPrivateRedirects || !ok {
		return rt
	}
	outward := base.Clone()
	refuse := func(addr netip.Addr) error {
		return fmt.Errorf("%w: %s", ErrPrivateRedirect, addr)
	}
	switch {
	case opts.Dialer != nil || base.DialContext == nil:
		// Checked before connecting, on the address the name resolved to
		// for this very connection, so that DNS rebinding cannot get past.
		d := &net.Dialer{}
		if opts.Dialer != nil {
			*d = *opts.Dialer
		}
		control, plainControl := d.ControlContext, d.Control
		d.Control = nil
		d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			if ap, err := netip.ParseAddrPort(address); err == nil && opts.IsPrivate(ap.Addr()) {
				return refuse(ap.Addr())
			}
			switch {
			case control != nil:
				return control(ctx, network, address, c)
			case plainControl != nil:
				return plainControl(network, address, c)
			}
			return nil
		}
		outward.DialContext = d.DialContext
	default:
		// A dial function of its own (tests): checked once connected,
		// before a byte is sent.
		dial := base.DialContext
		outward.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if ip, ok := addrOf(conn.RemoteAddr()); ok && opts.IsPrivate(ip) {
				conn.Close()
				return nil, refuse(ip)
			}
			return conn, nil
		}
	}
	return &redirectGuard{base: base, outward: outward, isPrivate: opts.IsPrivate}
}
