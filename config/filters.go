package config

import (
	"fmt"
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
		if err != nil {
			ck.errorf(value.Line, "%s: %s %q is not a valid regular expression (RE2 syntax): %s", phrase(where), field, value.Value, phrase(regexpReason(err)))
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
func (ck *checker) pattern(field, expr string) (aggregator.Pattern, error) {
	key := [2]string{field, expr}
	if c, ok := ck.patterns[key]; ok {
		return c.p, c.err
	}
	p, err := aggregator.NewPattern(field, expr)
	if ck.patterns == nil {
		ck.patterns = make(map[[2]string]compiled)
	}
	ck.patterns[key] = compiled{p, err}
	return p, err
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
