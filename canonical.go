package aggregator

import (
	"net/url"
	"strings"
)

// trackingParams are query parameters that say how a reader arrived, not
// what they read: two links that differ only in these are the same article.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true,
	"msclkid": true, "yclid": true, "twclid": true, "igshid": true,
	"mc_cid": true, "mc_eid": true, "_hsenc": true, "_hsmi": true,
	"mkt_tok": true, "_openstat": true, "wickedid": true, "oly_anon_id": true,
	"oly_enc_id": true, "vero_id": true, "rb_clickid": true, "s_cid": true,
}

// CanonicalLink returns the form of an absolute http(s) link that two copies
// of one article share: scheme and host lower-cased, the default port and
// user info dropped, an empty path made "/", utm_* and other tracking
// parameters removed, and the remaining query parameters sorted. The
// fragment is kept: "/2026/12/06#a1" and "#a2" of a day page, a changelog
// or a podcast's show notes are two articles. It returns "" for a
// link that is empty, relative, not http(s) or has a query that does not
// parse, which matches nothing.
func CanonicalLink(link string) string {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return ""
	}
	if port == "" || u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		port = ""
	}
	u.Host = host
	if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	if port != "" {
		u.Host += ":" + port
	}
	u.User = nil
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "" // a broken query matches nothing rather than something by accident
		}
		for k := range q {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "utm_") || trackingParams[lk] {
				delete(q, k)
			}
		}
		u.RawQuery = q.Encode()
	}
	u.ForceQuery = false
	return u.String()
}
