package config

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/planetgo/aggregator"
)

// checker turns one config file into a Config, collecting its mistakes.
type checker struct {
	file string     // the path given to Load, for messages
	dir  string     // the file's absolute directory, for relative paths
	doc  *yaml.Node // the mapping at the root of the file
	errs []*Error

	themeDir string // Config.Theme, for the sources' images

	pairs map[int][][2]*yaml.Node // keys and values by the line of the value; see keyOn

	sourceFilters map[string]aggregator.Filter // each source's filters, by name, as ck.sources found them
	patterns      map[[2]string]compiled       // by field and expression; see pattern

	programs         int  // the size of the expressions compiled so far; see pattern
	programsReported bool // whether the file's expressions were found too large in all
}

// line returns the line of the value at key, a dotted path such as
// "fetch.timeout", or of the nearest thing above it that is there.
func (ck *checker) line(key string) int {
	n, _ := lookup(ck.doc, keyPath(key)...)
	return n.Line
}

// keyPath splits a dotted key for lookup.
func keyPath(key string) []any {
	var path []any
	for k := range strings.SplitSeq(key, ".") {
		path = append(path, k)
	}
	return path
}

// build returns the Config r describes, with defaults applied, recording
// every mistake in it.
func (ck *checker) build(r *raw) *Config {
	c := &Config{
		Title:       cmp.Or(r.Title, defaultTitle),
		Description: r.Description,
		Listen:      ck.listen(r.Listen),
		Database:    ck.database(r.Database),
		DatabaseSet: r.Database != "",
		DatabaseMax: ck.size("database_max_size", r.DBMaxSize, 0, 0, ""),
		Schedule:    cmp.Or(r.Schedule, defaultSchedule),
		Fetch: Fetch{
			Timeout:     ck.atLeast("fetch.timeout", ck.duration("fetch.timeout", r.Fetch.Timeout, defaultTimeout, false), time.Second),
			Concurrency: ck.positive("fetch.concurrency", r.Fetch.Concurrency, defaultConcurrency, maxConcurrency),
			PerHost:     ck.positive("fetch.per_host", r.Fetch.PerHost, defaultPerHost, maxConcurrency),
			MaxBytes:    ck.size("fetch.max_bytes", r.Fetch.MaxBytes, defaultMaxBytes, maxBodyBytes, "1GiB"),
			UserAgent:   ck.userAgent(r.Fetch.UserAgent),

			HeaderTimeout: ck.atLeast("fetch.header_timeout", ck.duration("fetch.header_timeout", r.Fetch.HeaderTimeout, defaultHeaderTime, false), 100*time.Millisecond),
			HostInterval:  ck.duration("fetch.host_interval", r.Fetch.HostInterval, 0, true),
			MaxInterval:   ck.duration("fetch.max_interval", r.Fetch.MaxInterval, defaultMaxInterval, false),
			Jitter:        ck.duration("fetch.jitter", r.Fetch.Jitter, defaultJitter, true),

			AllowPrivateRedirects: r.Fetch.AllowPrivateRedirects,
		},
		Admin:  Admin{Allow: ck.adminAllow(r.Admin.Allow)},
		WebSub: ck.webSub(r.WebSub),
		Publish: Publish{
			Items:     ck.positive("publish.items", r.Publish.Items, defaultItems, maxItems),
			PerSource: ck.nonNegative("publish.per_source", r.Publish.PerSource),
			MaxAge:    ck.duration("publish.max_age", r.Publish.MaxAge, 0, true),
		},
		Retention: Retention{
			MaxItems: ck.positive("retention.max_items", r.Retention.MaxItems, defaultMaxItems, maxKept),
			MaxAge:   ck.duration("retention.max_age", r.Retention.MaxAge, 0, true),
			// A pass of the config before may still store a source that
			// left it: it must not be deleted meanwhile.
			RemovedAfter: ck.atLeast("retention.removed_after", ck.duration("retention.removed_after", r.Retention.RemovedAfter, defaultRemoved, true), time.Hour),
		},
	}
	c.Page = ck.page(r.Page, c.Publish.Items)
	c.Theme = ck.theme(r.Theme)
	ck.themeDir = c.Theme
	c.BaseURL, c.BaseURLSet = ck.baseURL(r.BaseURL, c.Listen), r.BaseURL != ""
	if err := checkSchedule(c.Schedule); err != nil {
		ck.errorf(ck.line("schedule"), "schedule %q %v", c.Schedule, err)
	}
	c.Sections = ck.sections()
	c.Sources = ck.sources(c.Sections)
	c.Rules = ck.rules(ck.sourceFilters)
	return c
}

// webSub returns the websub settings, with their defaults.
func (ck *checker) webSub(r rawWebSub) WebSub {
	w := WebSub{
		Hub:                   r.Hub,
		LeaseMin:              ck.duration("websub.lease.min", r.Lease.Min, defaultLeaseMin, false),
		LeaseMax:              ck.duration("websub.lease.max", r.Lease.Max, defaultLeaseMax, false),
		AllowPrivateCallbacks: r.AllowPrivateCallbacks,
		AllowHTTPCallbacks:    r.AllowHTTPCallbacks,
		Subscribe:             r.Subscribe,
		PollInterval:          ck.atLeast("websub.poll_interval", ck.duration("websub.poll_interval", r.PollInterval, defaultPushPoll, false), time.Minute),
	}
	if w.LeaseMin > w.LeaseMax {
		ck.errorf(ck.line("websub.lease.min"), "websub.lease.min (%v) is longer than websub.lease.max (%v)", w.LeaseMin, w.LeaseMax)
	}
	listed := make(map[string]int)
	for i, s := range r.Hubs {
		n, _ := lookup(ck.doc, "websub", "hubs", i)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			ck.errorf(n.Line, "websub.hubs: %q is not an absolute http(s) URL", s)
			continue
		}
		if first, ok := listed[s]; ok {
			ck.errorf(n.Line, "websub.hubs: %q is listed twice (first at line %d)", s, first)
			continue
		}
		listed[s] = n.Line
		w.Hubs = append(w.Hubs, s)
	}
	return w
}

func (ck *checker) userAgent(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		ck.errorf(ck.line("fetch.user_agent"), "fetch.user_agent must be one line of text")
	}
	return cmp.Or(s, DefaultUserAgent)
}

func (ck *checker) listen(s string) string {
	if s == "" {
		return defaultListen
	}
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		ck.errorf(ck.line("listen"), `listen %q is not host:port (e.g. "127.0.0.1:8080" or ":8080")`, s)
	}
	return s
}

// baseURL returns s without its trailing slash, or, when s is empty, the
// URL of listen, with localhost for a listen address that names no host.
func (ck *checker) baseURL(s, listen string) string {
	if s == "" {
		return listenBaseURL(listen)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
		ck.errorf(ck.line("base_url"), `base_url %q is not an absolute http(s) URL (e.g. "https://planet.example.org")`, s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		ck.errorf(ck.line("base_url"), "base_url %q must not have a query or fragment", s)
	case u.User != nil:
		ck.errorf(ck.line("base_url"), "base_url must not hold credentials (user:password@): it is published in every feed and page; write %q", aggregator.RedactURL(s))
	case !isPort(u.Port()):
		ck.errorf(ck.line("base_url"), "base_url %q has a port out of range (1 to 65535)", s)
	}
	return strings.TrimRight(s, "/")
}

// listenBaseURL is the base_url of a config that sets none: the address
// it listens on, with localhost for an unspecified host.
func listenBaseURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen // listen's mistake is recorded
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// database returns the absolute path of the database file s, or of the
// default file beside the config.
func (ck *checker) database(s string) string {
	if strings.HasPrefix(s, "~") {
		ck.errorf(ck.line("database"), "database %q: ~ is not expanded; write an absolute path or one relative to the config file", s)
	}
	p := cmp.Or(s, defaultDatabase)
	if !filepath.IsAbs(p) {
		p = filepath.Join(ck.dir, p)
	}
	p = filepath.Clean(p)
	if info, err := os.Stat(p); err == nil && info.IsDir() {
		ck.errorf(ck.line("database"), "database %q is a directory; name the file (e.g. %s)", s, filepath.Join(s, defaultDatabase))
	}
	return p
}

// sections returns the sections in file order.
func (ck *checker) sections() []Section {
	n, ok := lookup(ck.doc, "sections")
	if !ok || resolve(n).Kind != yaml.MappingNode {
		return nil // none, or a type error said what is wrong
	}
	n = resolve(n)
	var list []Section
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := resolve(n.Content[i]), n.Content[i+1]
		name := key.Value
		switch {
		case key.ShortTag() == "!!merge":
			continue // noMergeKeys said so
		case key.Kind != yaml.ScalarNode:
			continue // a type error said so
		case !isName(name):
			ck.errorf(key.Line, "section name %q %s", name, nameRule)
			continue
		}
		var rs rawSection
		if !isNull(value) {
			if resolve(value).Kind != yaml.MappingNode {
				continue // a type error said so
			}
			_ = safely(func() error { return value.Decode(&rs) }) // decode reported its errors
		}
		list = append(list, Section{Name: name, Title: cmp.Or(rs.Title, name), Description: rs.Description})
	}
	return list
}

// sources returns the sources in file order.
func (ck *checker) sources(sections []Section) []aggregator.Source {
	defined := newSectionSet(sections)
	n, ok := lookup(ck.doc, "sources")
	if !ok {
		ck.errorf(0, "no sources: add a sources: list with at least one url")
		return nil
	}
	seq := resolve(n)
	if isNull(n) || seq.Kind == yaml.SequenceNode && len(seq.Content) == 0 {
		ck.errorf(n.Line, "no sources: the list needs at least one url")
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		return nil // a type error said so
	}
	type seen struct {
		name string
		line int
	}
	byName := make(map[string]seen)
	byURL := make(map[string]seen)
	var list []aggregator.Source
	var renames []rename
	for _, item := range seq.Content {
		src, nameLine, derived, ok := ck.source(item, defined)
		if !ok {
			continue
		}
		urlLine := lineOf(item, "url")
		if first, dup := byURL[src.URL]; dup {
			ck.errorf(urlLine, "source %q: url %q is already used by source %q at line %d", src.Name, aggregator.RedactURL(src.URL), first.name, first.line)
			if derived {
				continue // so is the name made from it; one error is enough
			}
		} else {
			byURL[src.URL] = seen{src.Name, urlLine}
		}
		if first, dup := byName[src.Name]; dup {
			var hint phrase
			if derived {
				hint = " (the name comes from the url; set name: to tell them apart)"
			}
			ck.errorf(nameLine, "source %q: the name is already used by the source at line %d%s", src.Name, first.line, hint)
		} else {
			byName[src.Name] = seen{src.Name, nameLine}
		}
		rs := ck.renamedFrom(item, src.Name)
		for _, r := range rs {
			src.RenamedFrom = append(src.RenamedFrom, r.old)
		}
		renames = append(renames, rs...)
		if f := ck.sourceFilter(item, src.Name); !f.IsZero() {
			if ck.sourceFilters == nil {
				ck.sourceFilters = make(map[string]aggregator.Filter)
			}
			ck.sourceFilters[src.Name] = f
		}
		list = append(list, src)
	}
	claimed := make(map[string]rename)
	for _, r := range renames {
		if other, ok := byName[r.old]; ok {
			ck.errorf(r.line, "source %q: renamed_from %q is the name of the source at line %d; a name can be renamed from only once it is gone", r.source, r.old, other.line)
		} else if first, ok := claimed[r.old]; ok {
			ck.errorf(r.line, "source %q: renamed_from %q is claimed by source %q at line %d too", r.source, r.old, first.source, first.line)
		} else {
			claimed[r.old] = r
		}
	}
	return list
}

// rename is one name of a source's renamed_from list.
type rename struct {
	source, old string
	line        int
}

// renamedFrom returns the names item's renamed_from lists, recording those
// that are no names, the source's own, or listed twice.
func (ck *checker) renamedFrom(item *yaml.Node, name string) []rename {
	n, ok := lookup(item, "renamed_from")
	if !ok || resolve(n).Kind != yaml.SequenceNode {
		return nil // none, or a type error said what is wrong
	}
	var out []rename
	listed := make(map[string]bool)
	for _, s := range resolve(n).Content {
		old := resolve(s).Value
		switch {
		case resolve(s).Kind != yaml.ScalarNode || isNull(s):
		case !isName(old):
			ck.errorf(s.Line, "source %q: renamed_from %q %s", name, old, nameRule)
		case old == name:
			ck.errorf(s.Line, "source %q: renamed_from lists its own name", name)
		case listed[old]:
			ck.errorf(s.Line, "source %q: renamed_from %q is listed twice", name, old)
		default:
			listed[old] = true
			out = append(out, rename{source: name, old: old, line: s.Line})
		}
	}
	return out
}

// source returns the source item describes, the line of its name and whether
// the name was derived. It returns false when the source is too broken to be
// compared with the others.
func (ck *checker) source(item *yaml.Node, defined sectionSet) (src aggregator.Source, nameLine int, derived, ok bool) {
	if isNull(item) {
		ck.errorf(item.Line, "empty source: want url: and maybe name:, title:, sections:, schedule:, identity:, dedup:, internal:, renamed_from:, filters:, image:")
		return src, 0, false, false
	}
	if resolve(item).Kind != yaml.MappingNode {
		return src, 0, false, false // a type error said so
	}
	var rs rawSource
	_ = safely(func() error { return item.Decode(&rs) }) // decode reported its errors
	src = aggregator.Source{Name: rs.Name, Title: rs.Title, Schedule: rs.Schedule, Identity: rs.Identity, Internal: rs.Internal}
	if rs.Dedup != nil {
		src.KeepDuplicates = !*rs.Dedup
	}
	label := "source"
	if rs.Name != "" {
		label = fmt.Sprintf("source %q", rs.Name)
	}
	var err error
	ok = rs.URL != ""
	if !ok {
		ck.errorf(item.Line, "%s: url is required", label)
	} else if src.URL, err = sourceURL(rs.URL, ck.dir); err != nil {
		ck.errorf(lineOf(item, "url"), "%s: url %q %v", label, aggregator.RedactURL(rs.URL), err)
		ok = false
	}
	nameLine = lineOf(item, "name")
	switch {
	case src.Name == "" && ok:
		src.Name, derived, nameLine = deriveName(src.URL), true, item.Line
		if src.Name == "" {
			ck.errorf(item.Line, "%s: no name can be made from url %q; set name:", label, aggregator.RedactURL(rs.URL))
			ok = false
		}
		label = fmt.Sprintf("source %q", src.Name)
	case src.Name != "" && !isName(src.Name):
		ck.errorf(nameLine, "source name %q %s", src.Name, nameRule)
	}
	if src.Schedule != "" {
		if err := checkSchedule(src.Schedule); err != nil {
			ck.errorf(lineOf(item, "schedule"), "%s: schedule %q %v", label, src.Schedule, err)
		}
	}
	switch src.Identity {
	case "", aggregator.IdentityGUID, aggregator.IdentityLink, aggregator.IdentityHash:
	default:
		ck.errorf(lineOf(item, "identity"), "%s: identity %q is not guid, link or hash", label, src.Identity)
	}
	if src.Internal && ok && !strings.HasPrefix(src.URL, "http") {
		ck.errorf(lineOf(item, "internal"), "%s: internal is for http(s) sources, not a local file", label)
	}
	src.Sections = ck.sourceSections(item, label, defined)
	src.Image = ck.sourceImage(item, label, rs.Image, ck.themeDir)
	return src, nameLine, derived, ok
}

// sourceSections returns the names of the sections a source's item lists,
// recording those that are not defined or are listed twice.
func (ck *checker) sourceSections(item *yaml.Node, label string, defined sectionSet) []string {
	n, ok := lookup(item, "sections")
	if !ok || resolve(n).Kind != yaml.SequenceNode {
		return nil // none, or a type error said what is wrong
	}
	var names []string
	listed := make(map[string]bool)
	for _, s := range resolve(n).Content {
		name := resolve(s).Value
		switch {
		case resolve(s).Kind != yaml.ScalarNode || isNull(s):
			// a type error said so, or there is nothing to check
		case !defined.has[name]:
			ck.errorf(s.Line, "%s: section %q is not defined (%s)", label, name, defined)
		case listed[name]:
			ck.errorf(s.Line, "%s: section %q is listed twice", label, name)
		default:
			listed[name] = true
			names = append(names, name)
		}
	}
	return names
}

// sectionSet is the sections defined, for checking the lists of sources.
type sectionSet struct {
	names []string // in file order
	has   map[string]bool
}

func newSectionSet(sections []Section) sectionSet {
	set := sectionSet{has: make(map[string]bool)}
	for _, s := range sections {
		set.names = append(set.names, s.Name)
		set.has[s.Name] = true
	}
	return set
}

// String lists the sections for a message.
func (set sectionSet) String() string {
	const shown = 10
	switch n := len(set.names); {
	case n == 0:
		return "no sections are defined"
	case n > shown:
		return "defined: " + strings.Join(set.names[:shown], ", ") + fmt.Sprintf(" and %d more", n-shown)
	}
	return "defined: " + strings.Join(set.names, ", ")
}

// lineOf returns the line of the value at key in the mapping item, or of
// item when key is not there.
func lineOf(item *yaml.Node, key string) int {
	n, _ := lookup(item, key)
	return n.Line
}
