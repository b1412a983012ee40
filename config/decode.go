package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	DBMaxSize   string                `yaml:"database_max_size"`
	Schedule    string                `yaml:"schedule"`
	Fetch       rawFetch              `yaml:"fetch"`
	Publish     rawPublish            `yaml:"publish"`
	Page        rawPage               `yaml:"page"`
	Theme       string                `yaml:"theme"`
	Retention   rawRetention          `yaml:"retention"`
	Admin       rawAdmin              `yaml:"admin"`
	WebSub      rawWebSub             `yaml:"websub"`
	Sections    map[string]rawSection `yaml:"sections"`
	Sources     []rawSource           `yaml:"sources"`
	Filters     rawFilters            `yaml:"filters"`
}

// Ints are pointers so that an explicit 0 is told from a missing key.
type rawFetch struct {
	Timeout     string `yaml:"timeout"`
	Concurrency *int   `yaml:"concurrency"`
	PerHost     *int   `yaml:"per_host"`
	MaxBytes    string `yaml:"max_bytes"`
	UserAgent   string `yaml:"user_agent"`

	HeaderTimeout string `yaml:"header_timeout"`
	HostInterval  string `yaml:"host_interval"`
	MaxInterval   string `yaml:"max_interval"`
	Jitter        string `yaml:"jitter"`

	AllowPrivateRedirects bool `yaml:"allow_private_redirects"`
}

type rawPublish struct {
	Items     *int   `yaml:"items"`
	PerSource *int   `yaml:"per_source"`
	MaxAge    string `yaml:"max_age"`
}

type rawWebSub struct {
	Hubs                  []string `yaml:"hubs"`
	Hub                   bool     `yaml:"hub"`
	Lease                 rawLease `yaml:"lease"`
	AllowPrivateCallbacks bool     `yaml:"allow_private_callbacks"`
	AllowHTTPCallbacks    bool     `yaml:"allow_http_callbacks"`
	Subscribe             bool     `yaml:"subscribe"`
	PollInterval          string   `yaml:"poll_interval"`
}

type rawLease struct {
	Min string `yaml:"min"`
	Max string `yaml:"max"`
}

type rawAdmin struct {
	Allow []string `yaml:"allow"`
}

type rawRetention struct {
	MaxItems     *int   `yaml:"max_items"`
	MaxAge       string `yaml:"max_age"`
	RemovedAfter string `yaml:"removed_after"`
}

type rawSection struct {
	Title       string     `yaml:"title"`
	Description string     `yaml:"description"`
	Filters     rawFilters `yaml:"filters"`
}

// rawFilters are the rules of one level; checker.filter reads them node
// by node, for their lines.
type rawFilters struct {
	Include []rawRule `yaml:"include"`
	Exclude []rawRule `yaml:"exclude"`
}

// rawRule is one rule: an RE2 expression for each field it matches.
type rawRule struct {
	Title    string `yaml:"title"`
	Content  string `yaml:"content"`
	Author   string `yaml:"author"`
	Category string `yaml:"category"`
	Link     string `yaml:"link"`
}

type rawSource struct {
	URL      string   `yaml:"url"`
	Name     string   `yaml:"name"`
	Title    string   `yaml:"title"`
	Sections []string `yaml:"sections"`
	Schedule string   `yaml:"schedule"`
	Identity string   `yaml:"identity"`
	Image    string   `yaml:"image"`
	Dedup    *bool    `yaml:"dedup"`
	Internal bool     `yaml:"internal"`
	// RenamedFrom is decoded by checker.renamedFrom, which keeps lines.
	RenamedFrom []string   `yaml:"renamed_from"`
	Filters     rawFilters `yaml:"filters"`
}

// maxFileSize is the largest config file Load reads.
const maxFileSize = 1 << 20

// maxKeys is the most keys one mapping may have. yaml.v3 looks for repeated
// keys in quadratic time, so a 1 MiB mapping would take it minutes.
const maxKeys = 1000

// ErrNotRegular is the reason Load gives, in a *fs.PathError, for a path
// that is not a regular file, such as a directory, a FIFO or a device.
var ErrNotRegular = errors.New("not a regular file (a directory, a pipe or a device?); a config is a YAML file")

// readFile returns the first maxFileSize+1 bytes of the file at path. It
// refuses anything but a regular file before opening it for reading: opening
// a FIFO blocks until a writer comes, for ever, and a device may never end.
func readFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The path may have been replaced since Stat: look again at what is open.
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
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
	ck.noCustomTags(root)
	if !ck.expandMerges(root) {
		// The decoder would say it again, with no line.
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
		ck.yamlError(err, data, root)
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
		ck.yamlError(err, data, nil)
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
			ck.yamlError(err, data, nil)
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

// noCustomTags records each tag other than YAML's own (!foo) below root,
// which yaml.v3 would ignore. Aliases are not followed: each node is
// visited once, where it is written.
func (ck *checker) noCustomTags(root *yaml.Node) {
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		if n.Kind != yaml.AliasNode && !yamlTags[n.ShortTag()] {
			ck.errorf(n.Line, "tag %q is not supported: a config's values are text, numbers, true or false, lists and mappings", n.Tag)
		}
		for _, c := range n.Content {
			visit(c)
		}
	}
	visit(root)
}

// expandMerges writes out, in every mapping below root, the keys its merge
// keys (<<) bring in, as yaml.v3 does when it decodes a mapping into a
// struct: the mapping's own keys first, then those of the merged mappings
// in the order written, the first one to give a key winning. The lists, the
// sections and the filters are read node by node, and would otherwise miss
// what a merge brings in (a merged source's sections, say). A merged key
// keeps the line where it is written. A merge whose value is not a mapping,
// or a list of them, is recorded, and expandMerges returns false.
func (ck *checker) expandMerges(root *yaml.Node) bool {
	ok := true
	done := make(map[*yaml.Node]bool)
	var expand func(n *yaml.Node)
	expand = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil || done[n] {
			return
		}
		done[n] = true
		for _, c := range n.Content {
			expand(c)
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		var own, merged []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			if key.Kind != yaml.ScalarNode || key.ShortTag() != "!!merge" {
				own = append(own, key, value)
				continue
			}
			sources := []*yaml.Node{value}
			if resolve(value).Kind == yaml.SequenceNode {
				sources = resolve(value).Content
			}
			for _, src := range sources {
				if m := resolve(src); m.Kind == yaml.MappingNode {
					expand(m)
					merged = append(merged, m.Content...)
				} else {
					ck.errorf(key.Line, "merge key (<<): want a mapping or a list of mappings, got %s", got(m.ShortTag(), m.Value))
					ok = false
				}
			}
		}
		if merged == nil {
			return
		}
		has := make(map[string]bool, len(own)/2)
		for i := 0; i < len(own); i += 2 {
			has[resolve(own[i]).Value] = true
		}
		for i := 0; i+1 < len(merged); i += 2 {
			if k := resolve(merged[i]).Value; !has[k] {
				has[k] = true
				own = append(own, merged[i], merged[i+1])
			}
		}
		n.Content = own
	}
	expand(root)
	return ok
}

// yamlTags are the tags of YAML's core schema that yaml.v3 resolves.
var yamlTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!seq": true, "!!map": true, "!!merge": true, "!!binary": true, "!!timestamp": true,
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
