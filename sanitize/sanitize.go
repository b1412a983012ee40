// Package sanitize makes the HTML of source feeds safe to republish: every
// URL in it is made absolute against the item's base, then bluemonday's
// user-generated-content policy removes scripts, event handlers, styles,
// frames and javascript: URLs, and the result is balanced, every element
// closed, so that it can be embedded in a page. It knows nothing of feeds
// or storage.
package sanitize

import (
	"net/url"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
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
// an absolute URL), everything unsafe removed, and every element closed.
func (s *Sanitizer) HTML(fragment, base string) string {
	if fragment == "" {
		return ""
	}
	if b, err := url.Parse(base); err == nil && b.IsAbs() {
		fragment = absolutize(fragment, b)
	}
	return strings.TrimSpace(balance(s.policy.Sanitize(fragment)))
}

// balance closes the elements fragment leaves open and drops the end tags
// it has too many, as a browser would, so that a truncated summary such as
// `<p>Read <a href="…">mo` cannot make the rest of a page a link, or a
// stray `</div>` close the page's own elements. It parses fragment, its
// nesting bounded by limitNesting, as the content of a <div> and
// serialises the tree. It runs after the policy, so that what is
// sanitized is what is published, and only re-serialises elements the
// policy allowed. Its cost is linear in the fragment's length and so is
// its output, at most maxGrowth times it: what cannot be rendered within
// that keeps only its text.
func balance(fragment string) string {
	if !strings.Contains(fragment, "<") {
		return fragment
	}
	div := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	limited, _ := limitNesting(fragment)
	nodes, err := html.ParseFragment(strings.NewReader(limited), div)
	if err != nil {
		return textOf(fragment) // nested too deep for the parser even so
	}
	b := boundedWriter{max: maxGrowth*len(fragment) + 1024}
	b.Grow(len(fragment) + 16)
	for _, n := range nodes {
		if err := html.Render(&b, n); err != nil {
			return textOf(fragment)
		}
	}
	return b.String()
}

// maxGrowth bounds how many times longer than the policy's output balance
// may make it: the end tags it adds, and the tbody and tr a table implies.
const maxGrowth = 4

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
	// A fragment resolves too: "#note" republished elsewhere must still
	// point into the original page.
	if trimmed == "" {
		return ref
	}
	u, err := url.Parse(trimmed)
	if err != nil || u.IsAbs() {
		return ref
	}
	return base.ResolveReference(u).String()
}
