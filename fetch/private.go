package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/planetgo/aggregator"
)

// specialPrefixes are the networks IsPrivate counts besides loopback,
// private, link-local and unspecified addresses: RFC 6890's special-purpose
// blocks that are not the public Internet (IANA's registries mark them not
// globally reachable), deprecated IPv6 blocks that may still be routed
// inward, and multicast.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network" (RFC 791)
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space, carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("ff00::/8"),       // multicast
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("::/96"),          // IPv4-compatible ::a.b.c.d, deprecated (RFC 4291 2.5.5.1)
	netip.MustParsePrefix("fec0::/10"),      // site-local, deprecated (RFC 3879) but still private where routed
	netip.MustParsePrefix("2001::/32"),      // Teredo (RFC 4380): a tunnel whose far end a relay picks
	netip.MustParsePrefix("2001:2::/48"),    // benchmarking (RFC 5180)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215): the operator's own translator
}

// embeddingPrefixes are IPv6 networks whose addresses carry an IPv4 address
// in their last 32 bits (well-known NAT64, RFC 6052; IPv4-translated,
// RFC 6145) or bits 16-48 (6to4, RFC 3056): the IPv4 address decides.
var (
	embedsLast32 = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("::ffff:0:0:0/96"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// IsPrivate reports whether addr is not on the public Internet: loopback,
// private (RFC 1918, and fc00::/7), link-local, unspecified, carrier-grade
// NAT, multicast or another special-purpose address (site-local fec0::/10,
// Teredo, local-use NAT64, IPv4-compatible ::a.b.c.d), including the IPv4
// ones written in IPv6 (::ffff:127.0.0.1, NAT64, 6to4). A Client connects
// to one only for an internal source (IsInternal), unless
// Options.AllowPrivateRedirects.
func IsPrivate(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.Is6() {
		b := addr.As16()
		for _, p := range embedsLast32 {
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

// IsInternal reports whether the admin put src on their own network, so
// that it may be fetched from a private address (IsPrivate) and its
// redirects may lead anywhere: src.Internal says so, or its URL's host is
// a private address written out ("http://10.0.0.5/rss", "http://[::1]/")
// or localhost (RFC 6761: "localhost", "feeds.localhost"), which no one
// else's DNS answers for. A name that merely resolves to a private address
// is not: whoever runs its DNS could point it anywhere (DNS rebinding).
//
// A Client given Options.IsPrivate judges addresses written out by that.
func IsInternal(src aggregator.Source) bool {
	return isInternal(src, IsPrivate)
}

func isInternal(src aggregator.Source, isPrivate func(netip.Addr) bool) bool {
	if src.Internal {
		return true
	}
	u, err := url.Parse(src.URL)
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if addr, err := netip.ParseAddr(host); err == nil {
		return isPrivate(addr)
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
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

// redirectGuard is the Client's transport. The requests of a fetch of an
// internal source (IsInternal), and of its redirects, go through base, as
// the admin asked; every other request goes through outward, which refuses
// to connect to a private address: a public source's own address, those
// its redirects lead to and, in a discovery, those of the feeds its page
// names. A request sent through an HTTP proxy goes through base: it
// connects to the proxy, which decides where the request goes.
//
// outward has connections of its own: a pooled connection base opened to
// an internal source must not carry another source's request.
type redirectGuard struct {
	base, outward http.RoundTripper
	proxied       func(*http.Request) bool
}

func (g *redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	first, _ := req.Context().Value(originKey{}).(*origin)
	switch {
	case first == nil || first.internal || g.proxied(req):
		return g.base.RoundTrip(req)
	}
	resp, err := g.outward.RoundTrip(req)
	var refused *refusedError
	if errors.As(err, &refused) {
		// The first request of a fetch is the source's own address; any
		// other was led there by what a server sent.
		if req.Response == nil && !first.answered {
			return nil, fmt.Errorf("%w: %s (the source is not marked internal)", ErrPrivateAddress, refused.addr)
		}
		return nil, fmt.Errorf("%w: %s", ErrPrivateRedirect, refused.addr)
	}
	if err == nil {
		first.answered = true
	}
	return resp, err
}

// refusedError is outward's refusal to connect to a private address,
// which RoundTrip names for the request that met it.
type refusedError struct{ addr netip.Addr }

func (e *refusedError) Error() string { return "private address " + e.addr.String() + " refused" }

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
		return &refusedError{addr}
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
	proxied := func(*http.Request) bool { return false }
	if base.Proxy != nil {
		proxied = func(req *http.Request) bool {
			u, err := base.Proxy(req)
			return err == nil && u != nil
		}
	}
	return &redirectGuard{base: base, outward: outward, proxied: proxied}
}
