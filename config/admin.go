package config

import "net/netip"

// adminAllow returns the networks of admin.allow, each a CIDR or a single
// address; the loopback networks when the key is absent.
func (ck *checker) adminAllow(list []string) []netip.Prefix {
	if _, ok := lookup(ck.doc, "admin", "allow"); !ok {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	nets := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		n, _ := lookup(ck.doc, "admin", "allow", i)
		if p, ok := ck.allowed(n.Line, s); ok {
			nets = append(nets, p)
		}
	}
	return nets
}

// allowed returns the network of one entry of admin.allow, recording the
// entries that would never match, or not what they say.
func (ck *checker) allowed(line int, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		addr, aerr := netip.ParseAddr(s)
		if aerr != nil {
			ck.errorf(line, "admin.allow %q is not a network (e.g. 10.0.0.0/8) or an address", s)
			return p, false
		}
		if addr.Zone() != "" {
			ck.errorf(line, "admin.allow %q names a zone (%%%s): clients are matched without one; write %s", s, addr.Zone(), addr.WithZone(""))
			return p, false
		}
		if addr.Is4In6() {
			// Allows unmaps the client's address: it is IPv4 by then.
			ck.errorf(line, "admin.allow %q is an IPv4-mapped IPv6 address, which never matches: write %s", s, addr.Unmap())
			return p, false
		}
		return netip.PrefixFrom(addr, addr.BitLen()), true
	}
	if p.Addr().Is4In6() {
		suggest := "its IPv4 network"
		if p.Bits() >= 96 {
			suggest = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked().String()
		}
		ck.errorf(line, "admin.allow %q is an IPv4-mapped IPv6 network, which never matches: write %s", s, suggest)
		return p, false
	}
	if m := p.Masked(); m != p {
		ck.errorf(line, "admin.allow %q has bits set past its prefix length (did you mean %s?)", s, m)
		return p, false
	}
	return p, true
}
