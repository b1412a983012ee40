package fetch

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
)

// maxHubs is the most hubs kept of one response: a subscriber needs one.
const maxHubs = 8

// maxDiscoveryHead is how much of an XML feed's beginning is searched for
// its hub and self links: they belong to the feed, before its first entry.
const maxDiscoveryHead = 64 << 10

// ParseLinks returns the target URLs of the links in the Link header
// fields (RFC 8288) whose rel names rel, resolved against base, in order.
// It reads what it can of a malformed field and skips the rest.
func ParseLinks(fields []string, rel string, base *url.URL) []string {
	var out []string
	for _, field := range fields {
		for field != "" {
			field = strings.TrimLeft(field, " \t,")
			if !strings.HasPrefix(field, "<") {
				// Not a link-value: skip to the next comma outside quotes.
				_, field = cutUnquoted(field, ',')
				continue
			}
			end := strings.IndexByte(field, '>')
			if end < 0 {
				break
			}
			target := field[1:end]
			var params string
			params, field = cutUnquoted(field[end+1:], ',')
			if hasRel(params, rel) {
				if u := resolveLink(base, target); u != "" {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// cutUnquoted cuts s at the first sep outside a quoted string.
func cutUnquoted(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// hasRel reports whether the parameters of a link-value (";rel=..."
// and others) have a rel whose space-separated list holds want.
func hasRel(params, want string) bool {
	for params != "" {
		var p string
		p, params = cutUnquoted(params, ';')
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		for _, r := range strings.Fields(value) {
			if strings.EqualFold(r, want) {
				return true
			}
		}
	}
	return false
}

// resolveLink returns ref made absolute against base, if it is an http(s)
// URL, else "".
func resolveLink(base *url.URL, ref string) string {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(u.String()) > maxURL {
		return ""
	}
	return u.String()
}

// discoverHeader returns the hubs and self link of a response's Link
// header (WebSub 4), resolved against base.
func discoverHeader(h http.Header, base *url.URL) (hubs []string, self string) {
	fields := h.Values("Link")
	if len(fields) == 0 {
		return nil, ""
	}
	hubs = ParseLinks(fields, "hub", base)
	if selves := ParseLinks(fields, "self", base); len(selves) > 0 {
		self = selves[0]
	}
	return hubs[:min(len(hubs), maxHubs)], self
}

// DiscoverDocument returns the hubs and self link a feed document names
// (WebSub 4): Atom's link, RSS's atom:link (before the first entry or
// item), JSON Feed's hubs and feed_url; resolved against base.
func DiscoverDocument(body []byte, base *url.URL) (hubs []string, self string) {
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		var doc struct {
			FeedURL string `json:"feed_url"`
			Hubs    []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"hubs"`
		}
		if json.Unmarshal(trimmed, &doc) != nil {
			return nil, ""
		}
		for _, h := range doc.Hubs {
			if u := resolveLink(base, h.URL); u != "" && strings.EqualFold(h.Type, "WebSub") && len(hubs) < maxHubs {
				hubs = append(hubs, u)
			}
		}
		return hubs, resolveLink(base, doc.FeedURL)
	}
	d := xml.NewDecoder(bytes.NewReader(body[:min(len(body), maxDiscoveryHead)]))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			return hubs, self
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch el.Name.Local {
		case "entry", "item":
			return hubs, self
		case "link":
		default:
			continue
		}
		var rel, href string
		for _, a := range el.Attr {
			switch a.Name.Local {
			case "rel":
				rel = a.Value
			case "href":
				href = a.Value
			}
		}
		u := resolveLink(base, href)
		switch {
		case u == "":
		case strings.EqualFold(rel, "hub") && len(hubs) < maxHubs:
			hubs = append(hubs, u)
		case strings.EqualFold(rel, "self") && self == "":
			self = u
		}
	}
}
