package aggregator

import (
	"regexp"
	"strings"
	"testing"
)

func mustRule(t testing.TB, line int, kv ...string) Rule {
	t.Helper()
	var ps []Pattern
	for i := 0; i+1 < len(kv); i += 2 {
		p, err := NewPattern(kv[i], kv[i+1])
		if err != nil {
			t.Fatalf("NewPattern(%q, %q): %v", kv[i], kv[i+1], err)
		}
		ps = append(ps, p)
	}
	return NewRule(line, ps...)
}

func TestRuleFields(t *testing.T) {
	t.Parallel()
	it := Item{
		SourceID:   "blog",
		Title:      "Go 1.26 is released",
		Link:       "https://go.dev/blog/go1.26",
		Content:    "<p>Today the Go team is happy to announce…</p>",
		Summary:    "<p>A short summary about generics</p>",
		Author:     "Rob Pike",
		Categories: []string{"release", "golang"},
	}
	tests := []struct {
		name string
		kv   []string
		want bool
	}{
		{"title", []string{"title", `^Go 1\.26`}, true},
		{"title no", []string{"title", `Rust`}, false},
		{"title case-insensitive", []string{"title", `(?i)RELEASED`}, true},
		{"content", []string{"content", `happy to announce`}, true},
		{"content reads the summary too", []string{"content", `generics`}, true},
		{"content no", []string{"content", `sponsored`}, false},
		{"author", []string{"author", `^Rob Pike$`}, true},
		{"author no", []string{"author", `^Rob$`}, false},
		{"category any of them", []string{"category", `^golang$`}, true},
		{"category whole", []string{"category", `^go$`}, false},
		{"link", []string{"link", `^https://go\.dev/`}, true},
		{"link no", []string{"link", `example\.com`}, false},
		{"every field must match", []string{"title", `Go`, "author", `Pike`, "category", `release`}, true},
		{"one field fails the rule", []string{"title", `Go`, "author", `Thompson`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRule(t, 1, tt.kv...)
			if got := r.Matches(&it); got != tt.want {
				t.Errorf("Rule{%s}.Matches() = %v, want %v", r, got, tt.want)
			}
		})
	}
}

func TestEmptyFields(t *testing.T) {
	t.Parallel()
	it := Item{Title: "no author, no category"}
	if r := mustRule(t, 1, "author", `^$`); !r.Matches(&it) {
		t.Errorf("author ^$ does not match an item without author")
	}
	if r := mustRule(t, 1, "category", `.`); r.Matches(&it) {
		t.Errorf("category . matches an item without categories")
	}
	if r := mustRule(t, 1, "content", `^$`); !r.Matches(&it) {
		t.Errorf("content ^$ does not match an item without content")
	}
}

func TestNewPatternErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewPattern("title", `(unclosed`); err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Errorf("NewPattern(unclosed) = %v, want RE2's error", err)
	}
	if _, err := NewPattern("title", `(?<=x)y`); err == nil {
		t.Errorf("NewPattern(lookbehind) = nil, want an error: RE2 has none")
	}
	if _, err := NewPattern("body", `x`); err == nil || !strings.Contains(err.Error(), "title, content, author, category, link") {
		t.Errorf("NewPattern(body) = %v, want an error naming the fields", err)
	}
}

func TestRulesLevels(t *testing.T) {
	t.Parallel()
	rs := &Rules{
		All: Filter{Exclude: []Rule{mustRule(t, 3, "title", `(?i)sponsored`)}},
		Sections: map[string]Filter{
			"go": {Include: []Rule{mustRule(t, 8, "category", `^go$`), mustRule(t, 9, "title", `\bGo\b`)}},
		},
		Sources: map[string]Filter{
			"photos": {Exclude: []Rule{mustRule(t, 14, "category", `^holiday$`)}},
			"news":   {Include: []Rule{mustRule(t, 20, "author", `Pike`)}},
		},
	}
	type want struct {
		hidden bool
		level  string
		line   int
	}
	tests := []struct {
		name    string
		it      Item
		section string
		want    want
	}{
		{"top-level exclude, merged", Item{SourceID: "a", Title: "SPONSORED: buy"}, "", want{true, LevelAll, 3}},
		{"top-level exclude, section", Item{SourceID: "a", Title: "Sponsored", Categories: []string{"go"}}, "go", want{true, LevelAll, 3}},
		{"section include applies in the section", Item{SourceID: "a", Title: "Rust news"}, "go", want{true, LevelSection, 8}},
		{"section include not in the merged feed", Item{SourceID: "a", Title: "Rust news"}, "", want{}},
		{"section include by category", Item{SourceID: "a", Title: "x", Categories: []string{"go"}}, "go", want{}},
		{"section include by title", Item{SourceID: "a", Title: "Go news"}, "go", want{}},
		{"source exclude everywhere", Item{SourceID: "photos", Title: "Beach", Categories: []string{"holiday"}}, "", want{true, LevelSource, 14}},
		{"source exclude in a section", Item{SourceID: "photos", Title: "Go", Categories: []string{"holiday", "go"}}, "go", want{true, LevelSource, 14}},
		{"source exclude other source", Item{SourceID: "a", Title: "Beach", Categories: []string{"holiday"}}, "", want{}},
		{"source include", Item{SourceID: "news", Title: "x", Author: "Rob Pike"}, "", want{}},
		{"source include misses", Item{SourceID: "news", Title: "x", Author: "Ken"}, "", want{true, LevelSource, 20}},
		{"every level passes", Item{SourceID: "news", Title: "Go 2", Author: "Rob Pike"}, "go", want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, hidden := rs.Hides(&tt.it, tt.section)
			line := h.IncludeLine
			if h.Rule != nil {
				line = h.Rule.Line
			}
			if got := (want{hidden, h.Level, line}); got != tt.want {
				t.Errorf("Hides() = %+v (%v), want %+v", got, h, tt.want)
			}
		})
	}
	if _, hidden := (*Rules)(nil).Hides(&Item{}, ""); hidden {
		t.Errorf("nil Rules hide an item")
	}
	if !rs.Touches("a", "") || (&Rules{}).Touches("a", "go") {
		t.Errorf("Touches is wrong")
	}
	h, _ := rs.Hides(&Item{SourceID: "photos", Categories: []string{"holiday"}}, "")
	if got, want := h.String(), `excluded by a rule of source "photos" at line 14 (category: '^holiday$')`; got != want {
		t.Errorf("Hidden.String() = %q, want %q", got, want)
	}
	h, _ = rs.Hides(&Item{SourceID: "x"}, "go")
	if got, want := h.String(), `matched no include rule of section "go" (line 8)`; got != want {
		t.Errorf("Hidden.String() = %q, want %q", got, want)
	}
}

// TestNeedles: the strings a pattern looks for before it runs its
// expression are found in every text the expression matches, whatever
// the case and the Unicode spellings a case-insensitive match allows.
func TestNeedles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, text string
		match      bool
	}{
		{`(?i)sponsored`, "SPONSORED post", true},
		{`(?i)sponsored`, "SPONſORED post", true}, // U+017F LATIN SMALL LETTER LONG S folds to s
		{`(?i)kernel`, "\u212aERNEL", true},       // KELVIN SIGN folds to k
		{`(?i)café`, "CAFÉ", true},
		{`café`, "café au lait", true},
		{`café`, "CAFÉ", false},
		{`Go|Rust`, "all about rust", false},
		{`(?i)Go|Rust`, "all about RUST", true}, // (?i) applies to the first branch only
		{`(?i)(go|rust)+lang`, "GoRUSTlang", true},
		{`(?i)(?:spon)?sored`, "SORED", true},
		{`x{2,}y`, "xxxy", true},
		{`a.c`, "abc", true},
		{`\x{FFFD}`, "\xff", true}, // an invalid byte matches U+FFFD
	}
	for _, tt := range tests {
		p, err := NewPattern(FieldTitle, tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		it := Item{Title: tt.text}
		v := itemView{it: &it}
		if got := p.matches(&v); got != tt.match {
			t.Errorf("%q matches %q = %v, want %v (needles %q)", tt.expr, tt.text, got, tt.match, p.needles)
		}
		v.release()
	}
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`(?i)sponsored`, []string{"ored"}},
		{`Sponsored`, []string{"sponsored"}},
		{`(?i)(advert|promo)`, []string{"advert", "promo"}},
		{`x*`, nil},
		{`^(?:a|b*)$`, nil},
	} {
		p, err := NewPattern(FieldTitle, tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range p.needles {
			got = append(got, string(n))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("needles of %q = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// FuzzNeedles: a pattern's needles never turn away a text its expression
// matches.
func FuzzNeedles(f *testing.F) {
	for _, s := range [][2]string{
		{`(?i)sponsored`, "SPONſORED"}, {`(?i)k`, "\u212a"}, {`(?i)ß`, "ẞ"}, {`a+b`, "aab"},
		{`(?i)(foo|bar)baz`, "FOOBAZ"}, {`\bgo\b`, "go go"}, {`(?i)straße`, "STRASSE"},
		{`[a-z]+ing`, "testing"}, {`(?i)ǅ`, "ǆ"}, {`(?i)Ω`, "\u2126"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		p, err := NewPattern(FieldTitle, expr)
		if err != nil {
			t.Fatalf("regexp compiles %q, NewPattern: %v", expr, err)
		}
		if re.MatchString(text) && !p.mayMatch(lowerASCII(nil, text)) {
			t.Errorf("%q matches %q, but its needles %q turn it away", expr, text, p.needles)
		}
	})
}

// TestLowerASCII: eight bytes at a time, every byte value and every tail
// length, as one at a time would.
func TestLowerASCII(t *testing.T) {
	t.Parallel()
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for n := range 20 {
		for off := 0; off+n <= len(all); off++ {
			s := string(all[off : off+n])
			want := []byte(s)
			for i, c := range want {
				if 'A' <= c && c <= 'Z' {
					want[i] = c + 32
				}
			}
			if got := lowerASCII([]byte("KEEP"), s); string(got) != "KEEP"+string(want) {
				t.Fatalf("lowerASCII(%q) = %q, want %q", s, got[4:], want)
			}
		}
	}
}
