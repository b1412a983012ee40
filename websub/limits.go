package websub

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/planetgo/aggregator"
	"golang.org/x/net/publicsuffix"
)

// The verifications in flight are bounded in all, per client and per
// callback site, so that slow callbacks of one client, or on one site,
// leave slots to the others.
const (
	maxVerifying          = 64
	maxVerifyingPerClient = 8
	maxVerifyingPerSite   = 8
)

// maxClients is how many clients' request rates are kept in each of the
// two generations of buckets (see rates).
const maxClients = 10_000

// maxLoggedURL is the longest callback written in a log line.
const maxLoggedURL = 200

// clientKey is the client a request's address counts as for the
// per-client bounds: an IPv4 address, or the /64 an IPv6 address is in,
// since one host commonly has a whole /64 (RFC 4291 2.5.4; RFC 8981 makes
// it draw a new address as it likes). An IPv4-mapped address is its IPv4
// address. What is not an address is kept as it is.
func clientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return addrKey(a)
}

func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// siteOf is the site a callback counts toward for the per-host bounds and
// the fair share of deliveries: its host in lower case without a trailing
// dot, reduced to its registrable domain (the public suffix list's eTLD+1:
// a.example.com and b.example.com are one site, a.github.io and b.github.io
// two), or its address (an IPv6 one's /64, an IPv4-mapped one unmapped).
// Two names of one server ("localhost", "127.0.0.1") stay two: that would
// take resolving them, and a name's addresses may change.
func siteOf(callback string) string {
	u, err := url.Parse(callback)
	if err != nil {
		return ""
	}
	host := strings.TrimRight(strings.ToLower(u.Hostname()), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return addrKey(a)
	}
	if site, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return site
	}
	return host
}

// numericHost reports whether host ends in a number, as an IPv4 address
// does: the WHATWG URL standard reads such a host as one (127.1,
// 0x7f.0.0.1, 2130706433 and 127.000.000.001 are all 127.0.0.1), and so
// may a resolver. The hub takes only the four decimal numbers of the
// usual form, so that one address has one spelling.
func numericHost(host string) bool {
	if strings.Contains(host, ":") {
		return false // IPv6
	}
	host = strings.TrimRight(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// logURL is a callback as log lines show it: without credentials, and cut
// to maxLoggedURL bytes.
func logURL(u string) string {
	u = aggregator.RedactURL(u)
	if len(u) <= maxLoggedURL {
		return u
	}
	cut := maxLoggedURL
	for cut > 0 && !utf8.RuneStart(u[cut]) {
		cut--
	}
	return u[:cut] + "…"
}

// bucket is a token bucket of one client's requests.
type bucket struct {
	tokens float64
	last   time.Time
}

// rates are the clients' token buckets, in two generations: a client's
// bucket is looked up in the newer, then the older, and goes to the
// newer; when the newer holds maxClients, the older is forgotten whole
// and the newer becomes it. Each request costs a few map operations
// whatever the number of clients, and at most 2 × maxClients are kept. A
// client forgotten gets a full bucket again, as it would after a minute
// of quiet: only one that sent nothing while maxClients others did.
type rates struct {
	cur, old map[string]*bucket
}

// allow takes a token of client's bucket, reporting false when it has
// none left. It holds h.mu.
func (h *Hub) allow(client string) bool {
	now := h.opts.Now()
	rate := float64(h.opts.ClientRate)
	r := &h.rates
	b := r.cur[client]
	if b == nil {
		b = r.old[client]
		if b != nil {
			delete(r.old, client)
		} else {
			b = &bucket{tokens: rate, last: now}
		}
		if len(r.cur) >= maxClients {
			r.old, r.cur = r.cur, make(map[string]*bucket)
		}
		r.cur[client] = b
	}
	b.tokens = min(rate, b.tokens+now.Sub(b.last).Minutes()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// verification is a request being verified.
type verification struct {
	key, site, client string
	// adds is set on a subscription that is not in force yet: it counts
	// toward the bounds while it is verified.
	adds bool
}

// checkBounds refuses a request that would take the subscriptions, or
// the verifications in flight, beyond their bounds, with its status and
// message; otherwise it returns v to count among those in flight. It
// holds h.mu.
func (h *Hub) checkBounds(req request, now time.Time) (v *verification, code int, msg string) {
	v = &verification{key: key(req.topic, req.callback), site: siteOf(req.callback), client: clientKey(req.client)}
	if req.mode == "subscribe" && !h.live(v.key, now) && !h.adding(v.key) {
		total, perSite, perClient := h.count(v.site, v.client, now)
		switch {
		case total >= h.opts.MaxSubscriptions:
			return nil, http.StatusForbidden, "this hub has as many subscriptions as it takes"
		case perSite >= h.opts.MaxPerCallbackHost:
			return nil, http.StatusForbidden, "too many subscriptions with callbacks on " + v.site
		case perClient >= h.opts.MaxPerClient:
			return nil, http.StatusForbidden, "too many subscriptions from your address"
		}
		v.adds = true
	}
	bySite, byClient := 0, 0
	for _, w := range h.verifying {
		if w.site == v.site {
			bySite++
		}
		if w.client == v.client {
			byClient++
		}
	}
	switch {
	case len(h.verifying) >= maxVerifying:
		return nil, http.StatusServiceUnavailable, "too many verifications in flight; try again later"
	case byClient >= maxVerifyingPerClient:
		return nil, http.StatusServiceUnavailable, "too many of your requests are being verified; try again later"
	case bySite >= maxVerifyingPerSite:
		return nil, http.StatusServiceUnavailable, "too many verifications in flight to callbacks on " + v.site + "; try again later"
	}
	return v, 0, ""
}

// live reports whether the subscription of k is in force at now.
func (h *Hub) live(k string, now time.Time) bool {
	s := h.subs[k]
	return s != nil && s.Expires.After(now)
}

// adding reports whether a subscription of k that is not in force yet is
// being verified.
func (h *Hub) adding(k string) bool {
	for _, v := range h.verifying {
		if v.adds && v.key == k {
			return true
		}
	}
	return false
}

// count returns the subscriptions in force at now and those being
// verified to be added: in all, with callbacks on site, and from client.
func (h *Hub) count(site, client string, now time.Time) (total, perSite, perClient int) {
	add := func(s, c string) {
		total++
		if s == site {
			perSite++
		}
		if c == client {
			perClient++
		}
	}
	for _, s := range h.subs {
		if s.Expires.After(now) {
			add(s.site, s.from)
		}
	}
	for _, v := range h.verifying {
		if v.adds && !h.live(v.key, now) {
			add(v.site, v.client)
		}
	}
	return total, perSite, perClient
}

// done removes v from the verifications in flight. It holds h.mu.
func (h *Hub) done(v *verification) {
	for i, w := range h.verifying {
		if w == v {
			h.verifying = append(h.verifying[:i], h.verifying[i+1:]...)
			return
		}
	}
}

// isIPv4 reports whether host is an IPv4 address in the usual form.
func isIPv4(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is4()
}

// withoutURL is err without url.Error's text, which repeats the URL
// (a callback of up to 2 KB, which logURL shortens).
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
