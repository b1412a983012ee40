package aggregator

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The fields a rule's patterns match.
const (
	FieldTitle    = "title"    // the item's title, plain text
	FieldContent  = "content"  // its content or its summary, HTML as the feed gave it
	FieldAuthor   = "author"   // its author's name
	FieldCategory = "category" // any one of its categories
	FieldLink     = "link"     // its link
)

// fields are the fields a rule can match, in the order a rule tries them:
// the short ones first, so that a rule whose title does not match never
// reads the content.
var fields = [...]string{FieldTitle, FieldAuthor, FieldCategory, FieldLink, FieldContent}

// Fields returns the fields a rule can match, in the order the config's
// documentation gives them.
func Fields() []string {
	return []string{FieldTitle, FieldContent, FieldAuthor, FieldCategory, FieldLink}
}

// IsField reports whether a rule can match f.
func IsField(f string) bool {
	for _, g := range fields {
		if f == g {
			return true
		}
	}
	return false
}

// Pattern is one field of a rule and the RE2 expression its text must match
// (anywhere in it, unless the expression is anchored).
type Pattern struct {
	Field string
	Expr  string
	re    *regexp.Regexp
	// needles are strings in lower case one of which the field's text,
	// its ASCII letters lowered, contains wherever re matches; nil when
	// none were found. Most items match no rule, and looking for a
	// string costs a fraction of running the expression (which, for a
	// case-insensitive one, looks at every byte).
	needles [][]byte
}

// NewPattern compiles expr, an RE2 expression (Go's regexp syntax), for
// field, one of Fields. The error says what is wrong with either.
func NewPattern(field, expr string) (Pattern, error) {
	if !IsField(field) {
		return Pattern{}, fmt.Errorf("%q is not a field a rule can match (%s)", field, strings.Join(Fields(), ", "))
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Pattern{}, err
	}
	p := Pattern{Field: field, Expr: expr, re: re}
	if tree, err := syntax.Parse(expr, syntax.Perl); err == nil {
		for _, n := range needles(tree) {
			p.needles = append(p.needles, []byte(n))
		}
	}
	return p, nil
}

// Rule matches an item when each of its patterns matches its field.
type Rule struct {
	Line     int       // where the config writes it; 0 when it was not read from a file
	Patterns []Pattern // at least one, the cheap fields first (title, author, category, link, content)
}

// NewRule returns the rule of patterns, put in the order it tries them:
// the short fields first.
func NewRule(line int, patterns ...Pattern) Rule {
	r := Rule{Line: line}
	for _, f := range fields {
		for _, p := range patterns {
			if p.Field == f {
				r.Patterns = append(r.Patterns, p)
			}
		}
	}
	return r
}

// String writes the rule as YAML would, each expression single-quoted:
// `title: '(?i)\bgo\b', content: 'x'`.
func (r Rule) String() string {
	var b strings.Builder
	for i, p := range r.Patterns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Field + ": '" + strings.ReplaceAll(p.Expr, "'", "''") + "'")
	}
	return b.String()
}

// Filter is the rules of one level (the whole planet, a section, a source):
// an item passes it when it matches one of Include (if there are any) and
// none of Exclude.
type Filter struct {
	Include, Exclude []Rule
}

// IsZero reports whether f has no rules.
func (f Filter) IsZero() bool { return len(f.Include) == 0 && len(f.Exclude) == 0 }

// Rules are the filters of a config at each of its levels. The zero value
// publishes everything. A Rules is read-only once built, and safe for
// concurrent use.
type Rules struct {
	All      Filter            // every item
	Sections map[string]Filter // the items of a section's feeds and page, by section name
	Sources  map[string]Filter // a source's items, wherever they are published, by source name
}

// The levels a filter is written at, as Hidden.Level says.
const (
	LevelAll     = "all"     // the top-level filters:, every feed
	LevelSection = "section" // a section's filters:, that section's feeds
	LevelSource  = "source"  // a source's filters:, its items in every feed
)

// Hidden says why the rules keep an item out of a feed.
type Hidden struct {
	Level string // LevelAll, LevelSection or LevelSource
	Name  string // the section's or source's name; "" for LevelAll
	// Rule is the exclude rule that matched the item; nil when the level
	// has include rules and none matched it.
	Rule *Rule
	// IncludeLine is the line of the level's first include rule, when
	// none matched.
	IncludeLine int
}

// String says why in a line: `excluded by a rule of source "x" at line
// 12 (title: 'Sponsored')`, `matched no include rule of section "go" (line 7)`.
func (h Hidden) String() string {
	where := "the top-level filters"
	switch h.Level {
	case LevelSection:
		where = fmt.Sprintf("section %q", h.Name)
	case LevelSource:
		where = fmt.Sprintf("source %q", h.Name)
	}
	if h.Rule == nil {
		return fmt.Sprintf("matched no include rule of %s (line %d)", where, h.IncludeLine)
	}
	return fmt.Sprintf("excluded by a rule of %s at line %d (%s)", where, h.Rule.Line, h.Rule)
}

// HiddenCount is how many of a source's stored items the rules hide.
type HiddenCount struct {
	// All counts the items hidden from every feed: by the top-level rules
	// or the source's own. The merged feed shows none of them.
	All int
	// Sections counts, for each of the source's sections that has rules
	// of its own, the items its feeds leave out, those of All included.
	Sections map[string]int
}

// In is the count of items hidden from the feeds of section ("" for the
// merged feed).
func (c HiddenCount) In(section string) int {
	if n, ok := c.Sections[section]; ok {
		return n
	}
	return c.All
}

// IsZero reports whether rs has no rules at any level.
func (rs *Rules) IsZero() bool {
	if rs == nil {
		return true
	}
	if !rs.All.IsZero() {
		return false
	}
	for _, f := range rs.Sections {
		if !f.IsZero() {
			return false
		}
	}
	for _, f := range rs.Sources {
		if !f.IsZero() {
			return false
		}
	}
	return true
}

// Len is the number of rules at every level.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	n := len(rs.All.Include) + len(rs.All.Exclude)
	for _, f := range rs.Sections {
		n += len(f.Include) + len(f.Exclude)
	}
	for _, f := range rs.Sources {
		n += len(f.Include) + len(f.Exclude)
	}
	return n
}

// Hides reports whether the rules keep it out of the feeds of section ("" for
// the merged feed, which only the top-level and source rules apply to), and
// the first reason found, the levels taken in the order all, section,
// source. A nil rs hides nothing.
func (rs *Rules) Hides(it *Item, section string) (Hidden, bool) {
	if rs == nil {
		return Hidden{}, false
	}
	v := itemView{it: it}
	defer v.release()
	if h, ok := rs.All.hides(&v); ok {
		h.Level = LevelAll
		return h, true
	}
	if section != "" {
		if f, ok := rs.Sections[section]; ok {
			if h, ok := f.hides(&v); ok {
				h.Level, h.Name = LevelSection, section
				return h, true
			}
		}
	}
	if f, ok := rs.Sources[it.SourceID]; ok {
		if h, ok := f.hides(&v); ok {
			h.Level, h.Name = LevelSource, it.SourceID
			return h, true
		}
	}
	return Hidden{}, false
}

// HidesIn is Hides for counting: it reports whether the rules hide it from
// every feed (by the top-level rules or its source's), and when they do
// not, sets in[i] to whether the rules of section sections[i] hide it from
// that section's feeds. The item's fields are read once for all the
// levels. in must be as long as sections.
func (rs *Rules) HidesIn(it *Item, sections []string, in []bool) bool {
	if rs == nil {
		return false
	}
	v := itemView{it: it}
	defer v.release()
	if _, hidden := rs.All.hides(&v); hidden {
		return true
	}
	if f, ok := rs.Sources[it.SourceID]; ok {
		if _, hidden := f.hides(&v); hidden {
			return true
		}
	}
	for i, sec := range sections {
		in[i] = false
		if f, ok := rs.Sections[sec]; ok {
			_, in[i] = f.hides(&v)
		}
	}
	return false
}

// Touches reports whether any rule applies to the items of source in the
// feeds of section ("" for the merged feed): when none does, a caller
// need not ask Hides of each.
func (rs *Rules) Touches(source, section string) bool {
	if rs == nil {
		return false
	}
	if !rs.All.IsZero() || !rs.Sources[source].IsZero() {
		return true
	}
	return section != "" && !rs.Sections[section].IsZero()
}

// Hides reports whether f alone keeps it out, and why: the first exclude
// rule that matches it, or, when f has include rules, that none does. The
// Level and Name of the Hidden are left for the caller to say.
func (f Filter) Hides(it *Item) (Hidden, bool) {
	v := itemView{it: it}
	defer v.release()
	return f.hides(&v)
}

// hides applies f to the item of v. The excludes come first: they match
// few items, and an item one excludes need not be tried on the includes.
func (f Filter) hides(v *itemView) (Hidden, bool) {
	for i := range f.Exclude {
		if f.Exclude[i].matches(v) {
			return Hidden{Rule: &f.Exclude[i]}, true
		}
	}
	if len(f.Include) == 0 {
		return Hidden{}, false
	}
	for i := range f.Include {
		if f.Include[i].matches(v) {
			return Hidden{}, false
		}
	}
	return Hidden{IncludeLine: f.Include[0].Line}, true
}

// Matches reports whether every pattern of r matches it.
func (r *Rule) Matches(it *Item) bool {
	v := itemView{it: it}
	defer v.release()
	return r.matches(&v)
}

func (r *Rule) matches(v *itemView) bool {
	for i := range r.Patterns {
		if !r.Patterns[i].matches(v) {
			return false
		}
	}
	return len(r.Patterns) > 0
}

// matches reports whether p matches its field of the item of v: for the
// content, its content or its summary; for the category, any one of its
// categories. An empty field (an item with no author, no category) is
// matched as "".
func (p *Pattern) matches(v *itemView) bool {
	it := v.it
	switch p.Field {
	case FieldTitle:
		return p.matchText(v, 0, it.Title)
	case FieldAuthor:
		return p.matchText(v, 1, it.Author)
	case FieldLink:
		return p.matchText(v, 2, it.Link)
	case FieldContent:
		switch {
		case it.Summary == "":
			return p.matchText(v, 3, it.Content)
		case it.Content == "":
			return p.matchText(v, 4, it.Summary)
		}
		return p.matchText(v, 3, it.Content) || p.matchText(v, 4, it.Summary)
	case FieldCategory:
		if len(it.Categories) == 0 {
			return p.re.MatchString("")
		}
		for _, c := range it.Categories {
			if p.mayMatch(lowerASCII(nil, c)) && p.re.MatchString(c) {
				return true
			}
		}
	}
	return false
}

// matchText matches text, the field slot of v's item.
func (p *Pattern) matchText(v *itemView, slot int, text string) bool {
	if p.needles != nil && !p.mayMatch(v.lower(slot, text)) {
		return false
	}
	return p.re.MatchString(text)
}

// mayMatch reports whether lowered, a field's text with its ASCII letters
// lowered, holds one of p's needles, as every match does.
func (p *Pattern) mayMatch(lowered []byte) bool {
	if p.needles == nil {
		return true
	}
	for _, n := range p.needles {
		if bytes.Contains(lowered, n) {
			return true
		}
	}
	return false
}

// itemView is an item as its rules see it: the text of each field lowered
// once, when a pattern first needs it, for all its patterns.
type itemView struct {
	it     *Item
	lowers [5]*[]byte // title, author, link, content, summary
}

var lowerPool = sync.Pool{New: func() any { return new([]byte) }}

func (v *itemView) lower(slot int, text string) []byte {
	if b := v.lowers[slot]; b != nil {
		return *b
	}
	b := lowerPool.Get().(*[]byte)
	*b = lowerASCII((*b)[:0], text)
	v.lowers[slot] = b
	return *b
}

func (v *itemView) release() {
	for _, b := range v.lowers {
		if b != nil && cap(*b) <= 1<<20 {
			lowerPool.Put(b)
		}
	}
}

// lowerASCII appends s to dst with its ASCII letters lowered; every other
// byte is kept. It works on eight bytes at a time: an item's content is
// lowered once for all its rules, and byte by byte that cost as much as
// looking for every rule's needles in it.
func lowerASCII(dst []byte, s string) []byte {
	start := len(dst)
	dst = append(dst, s...)
	b := dst[start:]
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// In each byte below 0x80, adding 0x80-'A' sets the high bit from
		// 'A' up, adding 0x80-'Z'-1 from past 'Z'; neither carries into
		// the next byte. Bytes from 0x80 up are left alone.
		y := x & 0x7f7f7f7f7f7f7f7f
		upper := (y + 0x3f3f3f3f3f3f3f3f) &^ (y + 0x2525252525252525) &^ x & 0x8080808080808080
		if upper != 0 {
			binary.LittleEndian.PutUint64(b[i:], x|upper>>2)
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// maxNeedles bounds the strings an alternation may ask for.
const maxNeedles = 16

// needles returns strings one of which every match of re contains, once
// its ASCII letters are lowered, and the needles too; nil when there are
// none worth looking for. A case-insensitive literal keeps only its runes
// whose every case is ASCII ('k' and 's' have non-ASCII ones: the Kelvin
// and long s signs), so lowering the text's ASCII letters alone finds
// every spelling of what is kept.
func needles(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if s := longestRun(re.Rune, re.Flags&syntax.FoldCase != 0); s != "" {
			return []string{s}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return needles(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return needles(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if n := needles(sub); n != nil && (best == nil || shortest(n) > shortest(best)) {
				best = n
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			n := needles(sub)
			if n == nil {
				return nil // that branch may match without any
			}
			all = append(all, n...)
		}
		if len(all) <= maxNeedles {
			return all
		}
	}
	return nil
}

// shortest is the length of the shortest of set.
func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// longestRun returns the longest run of runes in lit that lowering the
// text's ASCII letters brings to one spelling, lowered; "" when there is
// none.
func longestRun(lit []rune, fold bool) string {
	var best, cur []byte
	for _, r := range lit {
		if !plainRune(r, fold) {
			if len(cur) > len(best) {
				best = cur
			}
			cur = nil
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		cur = utf8.AppendRune(cur, r)
	}
	if len(cur) > len(best) {
		best = cur
	}
	return string(best)
}

// plainRune reports whether every spelling a match may give r is found by
// lowering the text's ASCII letters: r itself when the literal is case
// sensitive (but not U+FFFD, which the matcher also gives for bytes that
// are not UTF-8); when it is not, r's case orbit must be ASCII.
func plainRune(r rune, fold bool) bool {
	if r == utf8.RuneError {
		return false
	}
	if !fold {
		return true
	}
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
