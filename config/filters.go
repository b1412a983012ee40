package config

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/planetgo/aggregator"
)

// The file's filters: are read node by node, so that each mistake has the
// line of the expression it is about. The types were checked when the file
// was decoded (rawFilters, rawRule); what is not the right type here is
// skipped, its mistake recorded then.

// rules returns the rules of the file: its top-level filters, each
// section's and each source's (in bySource, by source name), compiled;
// nil when it has none.
func (ck *checker) rules(bySource map[string]aggregator.Filter) *aggregator.Rules {
	rs := &aggregator.Rules{Sources: bySource}
	if n, ok := lookup(ck.doc, "filters"); ok {
		rs.All = ck.filter(n, "")
	}
	if n, ok := lookup(ck.doc, "sections"); ok && resolve(n).Kind == yaml.MappingNode {
		n = resolve(n)
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := resolve(n.Content[i]).Value
			if f, ok := lookup(n.Content[i+1], "filters"); ok {
				if filter := ck.filter(f, fmt.Sprintf("section %q: ", name)); !filter.IsZero() {
					if rs.Sections == nil {
						rs.Sections = make(map[string]aggregator.Filter)
					}
					rs.Sections[name] = filter
				}
			}
		}
	}
	if rs.IsZero() {
		return nil
	}
	return rs
}

// sourceFilter returns the filters of the source item, named name.
func (ck *checker) sourceFilter(item *yaml.Node, name string) aggregator.Filter {
	n, ok := lookup(item, "filters")
	if !ok {
		return aggregator.Filter{}
	}
	return ck.filter(n, fmt.Sprintf("source %q: ", name))
}

// filter compiles the include and exclude rules of the filters: mapping n.
// label names its level in messages ("" at the top level).
func (ck *checker) filter(n *yaml.Node, label string) aggregator.Filter {
	var f aggregator.Filter
	if resolve(n).Kind != yaml.MappingNode {
		return f // empty, or a type error said so
	}
	f.Include = ck.ruleList(n, "include", label)
	f.Exclude = ck.ruleList(n, "exclude", label)
	return f
}

// ruleList compiles the rules of filters n's list key.
func (ck *checker) ruleList(n *yaml.Node, key, label string) []aggregator.Rule {
	list, ok := lookup(n, key)
	if !ok || resolve(list).Kind != yaml.SequenceNode {
		return nil
	}
	var rules []aggregator.Rule
	for i, item := range resolve(list).Content {
		where := fmt.Sprintf("%sfilters.%s rule %d", label, key, i+1)
		if r, ok := ck.rule(item, where); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

// rule compiles one rule, a mapping of fields to RE2 expressions.
func (ck *checker) rule(item *yaml.Node, where string) (aggregator.Rule, bool) {
	m := resolve(item)
	if isNull(item) || m.Kind == yaml.MappingNode && len(m.Content) == 0 {
		ck.errorf(item.Line, "%s is empty: give it one or more of %s, each a regular expression", phrase(where), phrase(strings.Join(aggregator.Fields(), ", ")))
		return aggregator.Rule{}, false
	}
	if m.Kind != yaml.MappingNode {
		return aggregator.Rule{}, false // a type error said so
	}
	var patterns []aggregator.Pattern
	ok := true
	for i := 0; i+1 < len(m.Content); i += 2 {
		field, value := resolve(m.Content[i]).Value, resolve(m.Content[i+1])
		if value.Kind != yaml.ScalarNode {
			ok = false // a type error said so
			continue
		}
		if value.Value == "" {
			ck.errorf(value.Line, "%s: %s is empty; it would match every item", phrase(where), field)
			ok = false
			continue
		}
		if !aggregator.IsField(field) {
			ok = false // reported with the file's types
			continue
		}
		p, err := ck.pattern(field, value.Value)
		var large programSizeError
		switch {
		case errors.As(err, &large):
			ck.errorf(value.Line, "%s: %s %q is too large: it compiles to about %d instructions, at most %d (a repeat such as {1000} copies what it repeats)", phrase(where), field, value.Value, int(large), maxProgram)
		case errors.Is(err, errProgramsTooLarge):
			if !ck.programsReported {
				ck.programsReported = true
				ck.errorf(value.Line, "%s: the rules of the file compile to more than %d instructions in all; write fewer or simpler rules (the same expression written many times counts once)", phrase(where), maxPrograms)
			}
		case err != nil:
			ck.errorf(value.Line, "%s: %s %q is not a valid regular expression (RE2 syntax): %s", phrase(where), field, value.Value, phrase(regexpReason(err)))
		}
		if err != nil {
			ok = false
			continue
		}
		patterns = append(patterns, p)
	}
	if !ok {
		return aggregator.Rule{}, false
	}
	return aggregator.NewRule(item.Line, patterns...), true
}

// pattern compiles expr for field, once per file: a rule written for many
// sources (or in many sections) shares its compiled form, which is safe
// for concurrent use. Compiling ten rules for each of 1,000 sources took
// longer than the rest of loading the file.
//
// The size of each expression's program is bounded, and so is their sum:
// compiling 20,000 rules of \pL{1000} took 7.7 s and 1.4 GB, at every load
// and reload. The size is measured on the parsed expression, before the
// costly part of compiling it.
func (ck *checker) pattern(field, expr string) (aggregator.Pattern, error) {
	key := [2]string{field, expr}
	if c, ok := ck.patterns[key]; ok {
		return c.p, c.err
	}
	var p aggregator.Pattern
	var err error
	if ck.programs > maxPrograms {
		// Past the bound, even parsing costs too much: \pL alone is a
		// class of 1,300 ranges.
		err = errProgramsTooLarge
	} else if tree, perr := syntax.Parse(expr, syntax.Perl); perr == nil {
		size := programSize(tree)
		ck.programs = min(ck.programs+size, maxPrograms+1)
		switch {
		case size > maxProgram:
			err = programSizeError(size)
		case ck.programs > maxPrograms:
			err = errProgramsTooLarge
		}
	}
	if err == nil {
		p, err = aggregator.NewPattern(field, expr)
	}
	if ck.patterns == nil {
		ck.patterns = make(map[[2]string]compiled)
	}
	ck.patterns[key] = compiled{p, err}
	return p, err
}

// maxProgram is the most instructions one expression may compile to, and
// maxPrograms the most the distinct expressions of a file may compile to
// in all. A rule of a few words compiles to tens of instructions, a list
// of a hundred words to a few hundred; each costs about 100 bytes and a
// tenth of a microsecond to compile, so maxPrograms is about 25 MB.
const (
	maxProgram  = 1000
	maxPrograms = 250_000
)

// programSizeError is the size of an expression larger than maxProgram.
type programSizeError int

func (e programSizeError) Error() string {
	return fmt.Sprintf("compiles to about %d instructions", int(e))
}

// errProgramsTooLarge is the error of the expressions past maxPrograms.
var errProgramsTooLarge = errors.New("the rules compile to too many instructions")

// programSize is about the number of instructions that re compiles to, as
// regexp/syntax's Simplify and Compile would make them: a repeat x{n,m} is
// n copies of x and m-n optional ones. It saturates at 2^40, far above any
// bound, so that it cannot overflow.
func programSize(re *syntax.Regexp) int {
	const most = 1 << 40
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, sub := range subs {
			n = min(n+programSize(sub), most)
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return max(len(re.Rune), 1)
	case syntax.OpCapture:
		return min(2+sum(re.Sub), most)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return min(1+sum(re.Sub), most)
	case syntax.OpRepeat:
		sub := sum(re.Sub)
		n := min(re.Min*sub, most)
		if re.Max < 0 {
			return min(n+sub+1, most)
		}
		return min(n+(re.Max-re.Min)*(sub+1), most)
	case syntax.OpConcat:
		return sum(re.Sub)
	case syntax.OpAlternate:
		return min(sum(re.Sub)+len(re.Sub), most)
	}
	return 1
}

type compiled struct {
	p   aggregator.Pattern
	err error
}

// regexpReason is the part of a regexp error that says what is wrong:
// "missing closing )" of "error parsing regexp: missing closing ): `(a`".
func regexpReason(err error) string {
	s := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
	if i := strings.Index(s, ": `"); i >= 0 {
		s = s[:i]
	}
	return s
}
