package config_test

import (
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

const filtersConfig = `filters:
  exclude:
    - title: (?i)sponsored
    - {category: ^ads$, author: Marketing}
sections:
  go:
    filters:
      include:
        - category: ^go$
        - title: \bGo\b
  news: {}
sources:
  - url: https://go.dev/blog/feed.atom
    name: go-blog
    sections: [go]
    filters:
      exclude:
        - link: /holiday/
  - url: https://example.org/feed
    name: news
    sections: [news]
`

func TestLoadFilters(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, filtersConfig)
	rs := cfg.Rules
	if rs == nil {
		t.Fatal("Rules = nil")
	}
	lines := func(rules []aggregator.Rule) []int {
		var out []int
		for _, r := range rules {
			out = append(out, r.Line)
		}
		return out
	}
	if got := lines(rs.All.Exclude); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("top-level exclude lines = %v, want [3 4]", got)
	}
	if got := rs.All.Exclude[1].String(); got != `author: 'Marketing', category: '^ads$'` {
		t.Errorf("rule 2 = %s", got)
	}
	if got := lines(rs.Sections["go"].Include); len(got) != 2 || got[0] != 9 {
		t.Errorf("section go include lines = %v, want [9 10]", got)
	}
	if _, ok := rs.Sections["news"]; ok {
		t.Errorf("section news, which has no filters, has an entry")
	}
	if got := lines(rs.Sources["go-blog"].Exclude); len(got) != 1 || got[0] != 18 {
		t.Errorf("source exclude lines = %v, want [18]", got)
	}
	for _, tt := range []struct {
		it      aggregator.Item
		section string
		hidden  bool
	}{
		{aggregator.Item{SourceID: "news", Title: "Sponsored: a thing"}, "", true},
		{aggregator.Item{SourceID: "news", Title: "x", Author: "Marketing team", Categories: []string{"ads"}}, "", true},
		{aggregator.Item{SourceID: "news", Title: "x", Author: "Marketing team"}, "", false},
		{aggregator.Item{SourceID: "go-blog", Title: "Rust", Link: "https://go.dev/blog/x"}, "", false},
		{aggregator.Item{SourceID: "go-blog", Title: "Rust", Link: "https://go.dev/blog/x"}, "go", true},
		{aggregator.Item{SourceID: "go-blog", Title: "Go 2", Link: "https://go.dev/holiday/x"}, "", true},
	} {
		if _, got := rs.Hides(&tt.it, tt.section); got != tt.hidden {
			t.Errorf("Hides(%+v, %q) = %v, want %v", tt.it, tt.section, got, tt.hidden)
		}
	}
	if cfg := mustLoad(t, minimal); cfg.Rules != nil {
		t.Errorf("a config without filters has Rules %+v", cfg.Rules)
	}
}

// TestFilterErrors: every bad rule is reported at once, each on the line
// of its expression.
func TestFilterErrors(t *testing.T) {
	t.Parallel()
	text := `filters:
  include:
    - title: (unclosed
  exclude:
    - body: x
    - {}
sections:
  go:
    filters:
      exclude:
        - content: 'x(?=y)'
sources:
  - url: https://go.dev/blog/feed.atom
    sections: [go]
    filters:
      include:
        - author: Pike
          link: 'a{2,1}'
      exclud:
        - title: x
  - url: https://example.org/feed
    filters:
      exclude:
        - title: ""
        - category: [a, b]
        - Sponsored
`
	errs := loadErrors(t, text)
	want := []struct {
		line int
		msg  string
	}{
		{3, `filters.include rule 1: title "(unclosed" is not a valid regular expression (RE2 syntax): missing closing )`},
		{5, `unknown key "body" in a rule (want one of title, content, author, category, link)`},
		{6, `filters.exclude rule 2 is empty`},
		{11, `section "go": filters.exclude rule 1: content "x(?=y)" is not a valid regular expression (RE2 syntax): invalid or unsupported Perl syntax`},
		{18, `source "go-dev-blog-feed-atom": filters.include rule 1: link "a{2,1}" is not a valid regular expression (RE2 syntax): invalid repeat count`},
		{19, `unknown key "exclud" in filters (want include or exclude)`},
		{24, `source "example-org-feed": filters.exclude rule 1: title is empty`},
		{25, `want text, got a list`},
		{26, `want a mapping with keys title, content, author, category, link, got "Sponsored"`},
	}
	if len(errs) != len(want) {
		t.Fatalf("Load() returned %d errors, want %d:\n%s", len(errs), len(want), errorList(errs))
	}
	for i, w := range want {
		if errs[i].Line != w.line || !strings.Contains(errs[i].Msg, w.msg) {
			t.Errorf("error %d = %s, want line %d saying %q", i, errs[i], w.line, w.msg)
		}
	}
}
