package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// raw is the file as written. Decoding into it with KnownFields finds the
// unknown keys and the values of the wrong type; the lists and the sections
// are then read node by node (see checker.build), so that each keeps its line.
// Durations and sizes are strings here, parsed by the checker, which knows
// the key's name for its messages.
type raw struct {
	Title       string                `yaml:"title"`
	Description string                `yaml:"description"`
	BaseURL     string                `yaml:"base_url"`
	Listen      string                `yaml:"listen"`
	Database    string                `yaml:"database"`
	Schedule    string                `yaml:"schedule"`
	Fetch       rawFetch              `yaml:"fetch"`
	Publish     rawPublish            `yaml:"publish"`
	Retention   rawRetention          `yaml:"retention"`
	Sections    map[string]rawSection `yaml:"sections"`
	Sources     []rawSource           `yaml:"sources"`
}

// Ints are pointers so that an explicit 0 is told from a missing key.
type rawFetch struct {
	Timeout     string `yaml:"timeout"`
	Concurrency *int   `yaml:"concurrency"`
	PerHost     *int   `yaml:"per_host"`
	MaxBytes    string `yaml:"max_bytes"`
	UserAgent   string `yaml:"user_agent"`
}

type rawPublish struct {
	Items *int `yaml:"items"`
}

type rawRetention struct {
	MaxItems *int   `yaml:"max_items"`
	MaxAge   string `yaml:"max_age"`
}

type rawSection struct {
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
}

type rawSource struct {
	URL      string   `yaml:"url"`
	Name     string   `yaml:"name"`
	Title    string   `yaml:"title"`
	Sections []string `yaml:"sections"`
	Schedule string   `yaml:"schedule"`
}

// maxFileSize is the largest config file Load reads.
const maxFileSize = 1 << 20

// maxKeys is the most keys one mapping may have. yaml.v3 looks for repeated
// keys in quadratic time, so a 1 MiB mapping would take it minutes.
const maxKeys = 1000

// readFile returns the first maxFileSize+1 bytes of the file at path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize+1))
}

// decode parses data, records its mistakes and returns what it says, with
// ck.doc set to its root mapping. It returns false when data is not a YAML
// mapping that decodes well enough to be checked further.
func (ck *checker) decode(data []byte) (*raw, bool) {
	if !ck.isText(data) {
		return nil, false
	}
	root, ok := ck.parse(data)
	if !ok || !ck.isSane(root) {
		return nil, false
	}
	var r raw
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := safely(func() error { return dec.Decode(&r) })
	var typeErr *yaml.TypeError
	switch {
	case errors.As(err, &typeErr):
		for _, msg := range typeErr.Errors {
			ok = ck.typeError(root, msg) && ok
		}
	case err != nil:
		ck.yamlError(err)
		return nil, false
	}
	if root.Kind != yaml.MappingNode {
		return nil, false // a type error said so
	}
	ck.doc = root
	return &r, ok
}

// isText records a mistake and returns false unless data is small UTF-8 text.
func (ck *checker) isText(data []byte) bool {
	if len(data) > maxFileSize {
		ck.errorf(0, "file is larger than 1 MiB; a config is a few KiB")
		return false
	}
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		ck.errorf(0, "file is UTF-16 text; save it as UTF-8")
		return false
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		ck.errorf(lineAtOffset(data, i), "file contains a NUL byte: it is binary, not YAML text")
		return false
	}
	if !utf8.Valid(data) {
		i := 0
		for {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		ck.errorf(lineAtOffset(data, i), "file is not UTF-8 text (invalid byte 0x%02x); save it as UTF-8", data[i])
		return false
	}
	return true
}

// lineAtOffset returns the line of data[i], counting from 1.
func lineAtOffset(data []byte, i int) int {
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// parse returns the content of the single YAML document in data.
func (ck *checker) parse(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := safely(func() error { return dec.Decode(&doc) })
	if err != nil && !errors.Is(err, io.EOF) {
		ck.yamlError(err)
		return nil, false
	}
	if err != nil || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		ck.errorf(0, "empty config: at least one source is needed")
		return nil, false
	}
	// Look past the first document: a later one would be silently ignored.
	for {
		var next yaml.Node
		err := safely(func() error { return dec.Decode(&next) })
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ck.yamlError(err)
			return nil, false
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			ck.errorf(next.Line, "a second YAML document starts here; a config is one document")
			break
		}
	}
	return doc.Content[0], true
}

// safely calls decode and returns its error, or a panic in yaml.v3 as an
// error: whatever the file holds, Load must not crash.
func safely(decode func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("yaml: the YAML parser crashed: %v", v)
		}
	}()
	return decode()
}

// isSane records a mistake and returns false if the document below root
// would cost yaml.v3 too much to decode: a mapping with more than maxKeys
// keys, or aliases that expand to more than maxExpanded nodes.
func (ck *checker) isSane(root *yaml.Node) bool {
	memo := make(map[*yaml.Node]int)
	expanded := 0
	var visit func(n *yaml.Node) bool
	visit = func(n *yaml.Node) bool {
		switch {
		case n.Kind == yaml.MappingNode && len(n.Content)/2 > maxKeys:
			ck.errorf(n.Line, "mapping has %d keys; at most %d are allowed", len(n.Content)/2, maxKeys)
			return false
		case n.Kind == yaml.AliasNode:
			expanded += expandedSize(n, memo)
			if expanded > maxExpanded {
				ck.errorf(n.Line, "aliases (*name) expand to more than %d values; is this a \"billion laughs\" file?", maxExpanded)
				return false
			}
		}
		for _, c := range n.Content {
			if !visit(c) {
				return false
			}
		}
		return true
	}
	return visit(root)
}

// maxExpanded is the most nodes the aliases in a file may stand for: many
// more than a config needs, far fewer than a "billion laughs" file holds.
const maxExpanded = 100_000

// expandedSize returns how many nodes n stands for once its aliases are
// expanded, up to maxExpanded+1. memo holds the sizes found so far; an alias
// inside the node it names counts as too many.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if size, ok := memo[n]; ok {
		return size
	}
	memo[n] = maxExpanded + 1
	size := 1
	for _, c := range n.Content {
		size = min(size+expandedSize(c, memo), maxExpanded+1)
	}
	memo[n] = size
	return size
}

// yamlError records an error from yaml.v3 other than a *yaml.TypeError, such
// as "yaml: line 3: mapping values are not allowed in this context".
func (ck *checker) yamlError(err error) {
	line, msg := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
	if msg == "document contains excessive aliasing" {
		msg = `aliases (*name) expand too much; is this a "billion laughs" file?`
	}
	ck.errorf(line, "invalid YAML: %s", msg)
}

// splitLine splits "line 4: msg" into 4 and "msg"; line is 0 when msg has no
// such prefix.
func splitLine(s string) (line int, msg string) {
	num, msg, ok := strings.Cut(strings.TrimPrefix(s, "line "), ": ")
	if n, err := strconv.Atoi(num); ok && err == nil && strings.HasPrefix(s, "line ") {
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
			key := ck.keyOn(root, line, tag, value)
			if key != "" {
				key += ": "
			}
			ck.errorf(line, "%swant %s, got %s", key, want(rest[i+len(" into "):]), got(tag, value))
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
		{"retention", reflect.TypeFor[rawRetention]()},
		{"a section", reflect.TypeFor[rawSection]()},
		{"a source", reflect.TypeFor[rawSource]()},
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
	case "string":
		return "text"
	case "[]string":
		return "a list of names"
	case reflect.TypeFor[[]rawSource]().String():
		return "a list of sources (- url: ...)"
	case reflect.TypeFor[map[string]rawSection]().String():
		return "a mapping of section names to sections"
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
	case value != "":
		return strconv.Quote(value)
	}
	return tag
}

// maxPairsOnLine bounds the work of keyOn, which is called for each type
// error, on a file that crams thousands of keys into one line.
const maxPairsOnLine = 100

// keyOn returns the key whose value is on line and fits tag and shown value,
// when exactly one does; otherwise "".
func (ck *checker) keyOn(root *yaml.Node, line int, tag, value string) string {
	if ck.pairs == nil {
		ck.pairs = make(map[int][][2]*yaml.Node)
		indexPairs(root, ck.pairs)
	}
	if len(ck.pairs[line]) > maxPairsOnLine {
		return ""
	}
	key := ""
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
		if fits && key != "" {
			return ""
		}
		if fits {
			key = kv[0].Value
		}
	}
	return key
}

// indexPairs adds each key and value below n to pairs, under the line of the
// value. It does not follow aliases, so that it takes one pass over the
// document however much that expands.
func indexPairs(n *yaml.Node, pairs map[int][][2]*yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			v := n.Content[i+1]
			pairs[v.Line] = append(pairs[v.Line], [2]*yaml.Node{n.Content[i], v})
		}
	}
	for _, c := range n.Content {
		indexPairs(c, pairs)
	}
}

// lookup returns the node at path below n, where each step is a mapping key
// (string) or a sequence index (int), resolving aliases on the way. If the
// path is not all there, it returns the deepest node found and false.
func lookup(n *yaml.Node, path ...any) (*yaml.Node, bool) {
	for _, step := range path {
		m := resolve(n)
		var next *yaml.Node
		switch step := step.(type) {
		case string:
			if m.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(m.Content) && next == nil; i += 2 {
					if resolve(m.Content[i]).Value == step {
						next = m.Content[i+1]
					}
				}
			}
		case int:
			if m.Kind == yaml.SequenceNode && step < len(m.Content) {
				next = m.Content[step]
			}
		}
		if next == nil {
			return n, false
		}
		n = next
	}
	return n, true
}

// resolve returns the node n stands for: n, or the node an alias n names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull reports whether n is empty, as in "key:" or "~".
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
