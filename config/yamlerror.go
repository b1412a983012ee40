package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlError records an error from yaml.v3 other than a *yaml.TypeError, such
// as "yaml: line 3: mapping values are not allowed in this context". For
// the errors yaml.v3 gives without a line, it looks for the line in data,
// the file, or in root, the document, when it was parsed (else nil).
func (ck *checker) yamlError(err error, data []byte, root *yaml.Node) {
	line, msg := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
	if isParserError(msg) {
		// yaml.v3 counts lines from 0 for these, unlike its scanner's
		// errors (decode.go, parser.fail).
		line++
	}
	if line == 0 {
		line = lineOfError(msg, data, root)
	}
	if msg == "document contains excessive aliasing" {
		msg = `aliases (*name) expand too much; is this a "billion laughs" file?`
	}
	ck.errorf(line, "invalid YAML: %s", msg)
}

// lineOfError returns the line of what the yaml.v3 error msg, which has
// none, is about; 0 when it cannot tell.
func lineOfError(msg string, data []byte, root *yaml.Node) int {
	if rest, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name, _, _ := strings.Cut(rest, "'")
		return lineOfAlias(data, name)
	}
	if msg == "control characters are not allowed" {
		for i, r := range string(data) {
			if !isPrintable(r) {
				return lineAtOffset(data, i)
			}
		}
	}
	// "cannot decode !!str `T` as a !!int", from "title: !!int T".
	if rest, ok := strings.CutPrefix(msg, "cannot decode "); ok && root != nil {
		if _, rest, ok := strings.Cut(rest, " `"); ok {
			if value, tag, ok := strings.Cut(rest, "` as a "); ok {
				if n := findNode(root, func(n *yaml.Node) bool {
					return n.Kind == yaml.ScalarNode && n.ShortTag() == tag && strings.HasPrefix(n.Value, strings.TrimSuffix(value, "..."))
				}); n != nil {
					return n.Line
				}
			}
		}
	}
	return 0
}

// lineOfAlias returns the line of the first alias *name in data: the name
// after a "*" that no name character comes before or after.
func lineOfAlias(data []byte, name string) int {
	isNameByte := func(b byte) bool { return b > ' ' && !strings.ContainsRune(",[]{}", rune(b)) }
	token := "*" + name
	for i := 0; ; {
		j := strings.Index(string(data[i:]), token)
		if j < 0 {
			return 0
		}
		at, end := i+j, i+j+len(token)
		if (at == 0 || !isNameByte(data[at-1])) && (end == len(data) || !isNameByte(data[end])) {
			return lineAtOffset(data, at)
		}
		i = at + 1
	}
}

// isPrintable reports whether YAML allows r in a file (YAML 1.2, 5.1).
func isPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r < 0x20 || r == 0x7f || r <= 0x9f && r >= 0x80:
		return false
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe || r == 0xffff:
		return false
	}
	return true
}

// findNode returns the first node below n, in file order, that ok accepts;
// nil when none does. It does not follow aliases.
func findNode(n *yaml.Node, ok func(*yaml.Node) bool) *yaml.Node {
	if ok(n) {
		return n
	}
	for _, c := range n.Content {
		if found := findNode(c, ok); found != nil {
			return found
		}
	}
	return nil
}

// isParserError reports whether msg is one of the errors of yaml.v3's parser
// (parserc.go) rather than of its scanner.
func isParserError(msg string) bool {
	for _, prefix := range []string{
		"did not find expected ",
		"found undefined tag handle",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found duplicate %TAG directive",
	} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// splitLine splits "line 4: msg" into 4 and "msg"; line is 0 when msg has no
// such prefix.
func splitLine(s string) (line int, msg string) {
	rest, isLine := strings.CutPrefix(s, "line ")
	num, msg, hasMsg := strings.Cut(rest, ": ")
	if n, err := strconv.Atoi(num); isLine && hasMsg && err == nil {
		return n, msg
	}
	return 0, s
}

// typeError records one message of a *yaml.TypeError, such as "line 4: field
// intervall not found in type config.raw", in the admin's terms. It returns
// false for a repeated key: yaml.v3 then skips the whole mapping, so that
// checking what was decoded would report mistakes that are not there.
func (ck *checker) typeError(root *yaml.Node, s string) bool {
	line, msg := splitLine(s)
	if rest, ok := strings.CutPrefix(msg, "field "); ok {
		if key, typ, ok := strings.Cut(rest, " not found in type "); ok {
			b := blockOf(typ)
			ck.errorf(line, "unknown key %q%s (want %s)", key, b.where(), orList(b.keys()))
			return true
		}
		if key, _, ok := strings.Cut(rest, " already set in type "); ok {
			ck.errorf(line, "key %q is set twice", key)
			return false
		}
	}
	if rest, ok := strings.CutPrefix(msg, "mapping key "); ok {
		if key, first, ok := strings.Cut(rest, " already defined at line "); ok {
			ck.errorf(line, "key %s is already set at line %s", key, first)
			return false
		}
	}
	if rest, ok := strings.CutPrefix(msg, "cannot unmarshal "); ok {
		if i := strings.LastIndex(rest, " into "); i >= 0 {
			tag, value, _ := strings.Cut(rest[:i], " ")
			value = strings.Trim(value, "`")
			into := rest[i+len(" into "):]
			key, node := ck.keyOn(root, line, tag, value)
			if key != "" {
				key += ": "
			}
			if node != nil {
				value = node.Value // yaml.v3 cuts it to 7 bytes
			}
			hint := ""
			if into == reflect.TypeFor[rawSource]().String() && tag == "!!str" {
				hint = fmt.Sprintf(" (write - url: %s)", clip(value))
			}
			ck.errorf(line, "%swant %s, got %s%s", key, want(into), got(tag, value), phrase(hint))
			return true
		}
	}
	ck.errorf(line, "%s", msg)
	return true
}

// block is a mapping in the file as the admin knows it, and the Go type it
// is decoded into.
type block struct {
	name string // "fetch"; "" at the top level
	typ  reflect.Type
}

func blockOf(typeName string) block {
	for _, b := range []block{
		{"", reflect.TypeFor[raw]()},
		{"fetch", reflect.TypeFor[rawFetch]()},
		{"publish", reflect.TypeFor[rawPublish]()},
		{"page", reflect.TypeFor[rawPage]()},
		{"retention", reflect.TypeFor[rawRetention]()},
		{"admin", reflect.TypeFor[rawAdmin]()},
		{"websub", reflect.TypeFor[rawWebSub]()},
		{"websub.lease", reflect.TypeFor[rawLease]()},
		{"a section", reflect.TypeFor[rawSection]()},
		{"a source", reflect.TypeFor[rawSource]()},
		{"filters", reflect.TypeFor[rawFilters]()},
		{"a rule", reflect.TypeFor[rawRule]()},
	} {
		if b.typ.String() == typeName {
			return b
		}
	}
	return block{}
}

// where returns " in fetch", or "" at the top level.
func (b block) where() string {
	if b.name == "" {
		return ""
	}
	return " in " + b.name
}

// keys returns the keys b accepts, in the order of its fields.
func (b block) keys() []string {
	if b.typ == nil {
		return nil
	}
	var keys []string
	for f := range b.typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		keys = append(keys, name)
	}
	return keys
}

// orList returns "a", "a or b", or "one of a, b, c".
func orList(words []string) phrase {
	switch len(words) {
	case 0:
		return "no keys here"
	case 1:
		return phrase(words[0])
	case 2:
		return phrase(words[0] + " or " + words[1])
	}
	return phrase("one of " + strings.Join(words, ", "))
}

// want describes the Go type named typeName as what the file should hold.
func want(typeName string) phrase {
	switch typeName {
	case "int", "int64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "string":
		return "text"
	case "[]string":
		return "a list of names"
	case reflect.TypeFor[[]rawSource]().String():
		return "a list of sources (- url: ...)"
	case reflect.TypeFor[map[string]rawSection]().String():
		return "a mapping of section names to sections"
	case reflect.TypeFor[[]rawRule]().String():
		return "a list of rules (- title: REGEXP)"
	}
	if b := blockOf(typeName); b.typ != nil {
		return phrase("a mapping with keys " + strings.Join(b.keys(), ", "))
	}
	return phrase(typeName)
}

// got describes a YAML value of the given tag, shown (maybe cut short) as value.
func got(tag, value string) string {
	switch {
	case tag == "!!seq":
		return "a list"
	case tag == "!!map":
		return "a mapping"
	case tag == "!!null":
		return "nothing"
	case value != "" || tag == "!!str":
		return strconv.Quote(value)
	}
	return "a value tagged " + tag
}

// maxPairsOnLine bounds the work of keyOn, which is called for each type
// error, on a file that crams thousands of keys into one line.
const maxPairsOnLine = 100

// keyOn returns the key whose value is on line and fits tag and shown value,
// and that value, when exactly one does; otherwise "" and nil. The key is ""
// for an item of a list.
func (ck *checker) keyOn(root *yaml.Node, line int, tag, value string) (string, *yaml.Node) {
	if ck.pairs == nil {
		ck.pairs = map[int][][2]*yaml.Node{root.Line: {{nil, root}}}
		indexPairs(root, ck.pairs)
	}
	if len(ck.pairs[line]) > maxPairsOnLine {
		return "", nil
	}
	key := ""
	var found *yaml.Node
	for _, kv := range ck.pairs[line] {
		v := kv[1]
		var fits bool
		switch tag {
		case "!!seq":
			fits = v.Kind == yaml.SequenceNode
		case "!!map":
			fits = v.Kind == yaml.MappingNode
		default:
			fits = v.Kind == yaml.ScalarNode && strings.HasPrefix(v.Value, strings.TrimSuffix(value, "..."))
		}
		if fits && found != nil {
			return "", nil
		}
		if fits {
			found = v
			if kv[0] != nil {
				key = kv[0].Value
			}
		}
	}
	return key, found
}

// indexPairs adds each key and value below n to pairs, under the line of the
// value, and each item of a list with a nil key. It does not follow aliases,
// so that it takes one pass over the document however much that expands.
func indexPairs(n *yaml.Node, pairs map[int][][2]*yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			v := n.Content[i+1]
			pairs[v.Line] = append(pairs[v.Line], [2]*yaml.Node{n.Content[i], v})
		}
	case yaml.SequenceNode:
		for _, v := range n.Content {
			pairs[v.Line] = append(pairs[v.Line], [2]*yaml.Node{nil, v})
		}
	}
	for _, c := range n.Content {
		indexPairs(c, pairs)
	}
}
