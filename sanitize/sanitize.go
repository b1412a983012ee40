// Package sanitize makes the HTML of source feeds safe to republish: every
// URL in it is made absolute against the item's base, then bluemonday's
// user-generated-content policy removes scripts, event handlers, styles,
// frames and javascript: URLs. It knows nothing of feeds or storage.
package sanitize

import (
	"net/url"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// Sanitizer cleans HTML fragments. It is safe for concurrent use.
type Sanitizer struct {
	policy *bluemonday.Policy
}

// New returns a Sanitizer with the project's policy: bluemonday's UGC
// policy, data: URLs only for images, and rel="nofollow noreferrer" on
// every link.
func New() *Sanitizer {
	p := bluemonday.UGCPolicy()
	p.AllowDataURIImages()
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.RequireParseableURLs(true)
	return &Sanitizer{policy: p}
}

// HTML returns fragment with its URLs resolved against base (when base is
// an absolute URL) and everything unsafe removed.
func (s *Sanitizer) HTML(fragment, base string) string {
	if fragment == "" {
		return ""
	}
	if b, err := url.Parse(base); err == nil && b.IsAbs() {
		fragment = absolutize(fragment, b)
	}
	return strings.TrimSpace(s.policy.Sanitize(fragment))
}

// urlAttrs are the attributes that hold one URL.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "poster": true, "cite": true,
	"action": true, "background": true, "longdesc": true,
}

// absolutize rewrites the URL attributes of fragment against base. Text is
// copied as it came; only tags are re-serialised.
func absolutize(fragment string, base *url.URL) string {
	if !strings.Contains(fragment, "=") {
		return fragment // no attributes at all
	}
	var b strings.Builder
	b.Grow(len(fragment) + len(fragment)/8)
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			changed := false
			for i, a := range tok.Attr {
				if !urlAttrs[a.Key] {
					continue
				}
				if v := resolve(base, a.Val); v != a.Val {
					tok.Attr[i].Val, changed = v, true
				}
			}
			if changed {
				b.WriteString(tok.String())
			} else {
				b.Write(z.Raw())
			}
		default:
			b.Write(z.Raw())
		}
	}
}

func resolve(base *url.URL, ref string) string {
	trimmed := strings.TrimSpace(ref)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return ref
	}
	u, err := url.Parse(trimmed)
	if err != nil || u.IsAbs() {
		return ref
	}
	return base.ResolveReference(u).String()
}
