package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

// TestLoadRefusesSilentlyWrong checks values that Load once took without a
// word, dropping, defaulting or misreading them: each is now refused, every
// mistake on its line and all of them at once. want lists "LINE: fragment",
// one per error, in order; LINE * is any line.
func TestLoadRefusesSilentlyWrong(t *testing.T) {
	t.Parallel()
	const src = "sources:\n  - url: https://go.dev/blog/feed.atom\n" // lines 1 and 2 of a case
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		// Merge keys: what they bring in is checked as if written out.
		{"merged source fields", src + "    <<: {sections: [nowhere], renamed_from: [go]}\n", []string{`3: source "go-dev-blog-feed-atom": section "nowhere" is not defined`}},
		{"merged fetch", "fetch: {<<: {concurrency: -4}}\n" + minimal, []string{"1: fetch.concurrency must be greater than 0, not -4"}},
		{"merged page", "fetch: &f\n  timeout: 5s\npage:\n  <<: *f\n" + minimal, []string{`2: unknown key "timeout" in page`}},
		{"merge of a value", "publish: {<<: 5}\n" + minimal, []string{`1: merge key (<<): want a mapping or a list of mappings, got "5"`}},

		// Numbers past what the code downstream can add or multiply.
		{"huge publish.items", "publish: {items: 9223372036854775807}\n" + minimal, []string{"1: publish.items must be at most 100000, not 9223372036854775807"}},
		{"huge max_bytes", `fetch: {max_bytes: "9223372036854775807"}` + "\n" + minimal, []string{"1: fetch.max_bytes must be at most 1GiB"}},
		{"max_bytes over 1GiB", "fetch: {max_bytes: 1025MiB}\n" + minimal, []string{"1: fetch.max_bytes must be at most 1GiB"}},
		{"huge pages", "page: {items: 100000000000, pages: 100000000}\n" + minimal,
			[]string{"1: page.items must be at most 100000", "1: page.pages must be at most 1000"}},
		{"huge page.items", "page:\n  items: 100001\n" + minimal, []string{"2: page.items must be at most 100000, not 100001"}},
		{"huge max_items", "retention: {max_items: 10000001}\n" + minimal, []string{"1: retention.max_items must be at most 10000000"}},
		{"huge concurrency", "fetch: {concurrency: 2305843009213693952}\n" + minimal, []string{"1: fetch.concurrency must be at most 1000"}},
		{"huge per_host", "fetch: {per_host: 1001}\n" + minimal, []string{"1: fetch.per_host must be at most 1000"}},

		// Decimals, which yaml.v3 cuts to whole numbers.
		{"decimal items", "publish: {items: 1.5}\n" + minimal, []string{`1: publish.items: want a whole number, got "1.5"`}},
		{"decimal whole items", "publish:\n  items: 2.0\n" + minimal, []string{`2: publish.items: want a whole number, got "2.0"`}},
		{"exponent max_items", "retention: {max_items: 5e2}\n" + minimal, []string{`1: retention.max_items: want a whole number, got "5e2"`}},
		{"decimal concurrency", "fetch: {concurrency: 4.0}\n" + minimal, []string{`1: fetch.concurrency: want a whole number, got "4.0"`}},
		{"decimal per_source", "publish: {per_source: 0.5}\n" + minimal, []string{`1: publish.per_source: want a whole number, got "0.5"`}},
		{"minus infinity pages", "page: {pages: -.inf}\n" + minimal, []string{`1: page.pages: want a whole number, got "-.inf"`}},
		{"number too large for yaml.v3", "publish: {items: 1e30}\n" + minimal, []string{`1: items: want a whole number, got "1e30"`}},

		// admin.allow entries that never match, or not what they say.
		{"mapped address", "admin: {allow: ['::ffff:10.0.0.1']}\n" + minimal, []string{`1: admin.allow "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address, which never matches: write 10.0.0.1`}},
		{"mapped prefix", "admin:\n  allow:\n    - ::ffff:10.0.0.0/104\n" + minimal, []string{`3: admin.allow "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 network, which never matches: write 10.0.0.0/8`}},
		{"host bits", "admin: {allow: [10.1.2.3/8]}\n" + minimal, []string{`1: admin.allow "10.1.2.3/8" has bits set past its prefix length (did you mean 10.0.0.0/8?)`}},
		{"host bits of everything", "admin: {allow: [1.2.3.4/0]}\n" + minimal, []string{`1: (did you mean 0.0.0.0/0?)`}},
		{"IPv6 host bits", "admin: {allow: ['2001:db8::1/32']}\n" + minimal, []string{`1: (did you mean 2001:db8::/32?)`}},
		{"zone", "admin: {allow: ['fe80::1%eth0']}\n" + minimal, []string{`1: admin.allow "fe80::1%eth0" names a zone (%eth0)`}},

		// Values that meant something else than they said.
		{"url without scheme but slashes", "sources:\n  - url: //example.org/feed\n", []string{`2: source: url "//example.org/feed" has no scheme`}},
		{"url port out of range", "sources:\n  - url: https://example.org:99999/feed\n", []string{`2: source: url "https://example.org:99999/feed" has a port out of range`}},
		{"url port not a number", "sources:\n  - url: https://example.org:/feed\n    name: x\n  - url: https://example.org:0/feed\n    name: y\n", []string{`4: source "y": url "https://example.org:0/feed" has a port out of range`}},
		{"base_url port out of range", "base_url: https://planet.example.org:70000\n" + minimal, []string{`1: base_url "https://planet.example.org:70000" has a port out of range`}},
		{"base_url credentials", "base_url: https://admin:secret@planet.example.org\n" + minimal, []string{`1: base_url must not hold credentials (user:password@): it is published in every feed and page; write "https://planet.example.org"`}},
		{"schedule in local time", `schedule: "TZ=Local 0 * * * *"` + "\n" + minimal, []string{`1: schedule "TZ=Local 0 * * * *" names the host's zone`}},
		{"source schedule in local time", src + "    schedule: CRON_TZ=Local @hourly\n", []string{`3: source "go-dev-blog-feed-atom": schedule "CRON_TZ=Local @hourly" names the host's zone`}},
		{"hub twice", "websub:\n  hubs:\n    - https://hub.example.org/\n    - https://hub.example.org/\n" + minimal, []string{`4: websub.hubs: "https://hub.example.org/" is listed twice (first at line 3)`}},
		{"timeout of a nanosecond", "fetch: {timeout: 1ns}\n" + minimal, []string{`1: fetch.timeout must be at least 1s, not 1ns`}},
		{"header timeout of a millisecond", "fetch: {header_timeout: 99ms}\n" + minimal, []string{`1: fetch.header_timeout must be at least 100ms, not 99ms`}},
		{"poll interval of a second", "websub: {poll_interval: 59s}\n" + minimal, []string{`1: websub.poll_interval must be at least 1m, not 59s`}},
		{"removed sources kept a minute", "retention: {removed_after: 1m}\n" + minimal, []string{`1: retention.removed_after must be at least 1h, not 1m0s`}},
		{"database the root", "database: /\n" + minimal, []string{`1: database "/" is a directory`}},
		{"database the config's directory", "database: .\n" + minimal, []string{`1: database "." is a directory`}},

		// Rules whose compiled form is too large.
		{"rule too large", "filters:\n  include:\n    - title: '\\pL{1000}N'\n" + minimal, []string{`3: filters.include rule 1: title "\\pL{1000}N" is too large: it compiles to about 1001 instructions, at most 1000`}},
		{"rules too large together", "filters:\n  exclude:\n" + manyRules(300, `\pL{900}`) + minimal, []string{`*: filters.exclude rule 277: the rules of the file compile to more than 250000 instructions`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := loadErrors(t, tt.yaml)
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%d: %s", e.Line, e.Msg))
			}
			ok := len(errs) == len(tt.want)
			for i := 0; ok && i < len(errs); i++ {
				line, frag, _ := strings.Cut(tt.want[i], ": ")
				ok = (line == "*" || line == fmt.Sprint(errs[i].Line)) && strings.Contains(errs[i].Msg, frag)
			}
			if !ok {
				t.Errorf("Load() errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// manyRules returns n include or exclude rules on title, each expr with a
// different literal after it, one a line.
func manyRules(n int, expr string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "    - title: '%s%d'\n", expr, i)
	}
	return b.String()
}

// TestLoadKeepsValidConfigs checks that what the refusals above refuse is
// only what they are about: values next to them still load as before.
func TestLoadKeepsValidConfigs(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, "publish: {items: 100000, per_source: 1000000}\npage: {pages: 1000}\n"+
		"retention: {max_items: 10000000}\nfetch: {concurrency: 1000, per_host: 1000, max_bytes: 1GiB, timeout: 1s, header_timeout: 100ms}\n"+
		"websub: {poll_interval: 1m, hubs: [https://a.example/hub, https://b.example/hub]}\n"+
		"admin: {allow: [10.0.0.0/8, 10.0.0.1, '2001:db8::/32', '::1', '::/0']}\n"+
		"base_url: https://planet.example.org:8443/\nschedule: TZ=Europe/Berlin 0 * * * *\n"+
		"filters: {include: [{title: '\\pL{990}'}]}\n"+
		"sources:\n  - url: https://example.org:65535/feed\n    schedule: CRON_TZ=UTC @hourly\n  - {url: ./lt.atom, title: <<}\n")
	if cfg.Publish.Items != 100000 || cfg.Page.Items != 100000 || cfg.Page.Pages != 1000 || cfg.Retention.MaxItems != 10000000 || cfg.Fetch.MaxBytes != 1<<30 {
		t.Errorf("Load() = %+v %+v %+v %+v", cfg.Publish, cfg.Page, cfg.Retention, cfg.Fetch)
	}
	if len(cfg.Admin.Allow) != 5 || len(cfg.WebSub.Hubs) != 2 || len(cfg.Sources) != 2 {
		t.Errorf("Load() = %v %v %v", cfg.Admin.Allow, cfg.WebSub.Hubs, cfg.Sources)
	}
}

// TestMergeKeys: a merge key (<<) brings in the keys of the mappings it
// names everywhere, as the YAML decoder reads them, the mapping's own keys
// winning: a merged source takes the anchor's sections and filters too
// (they were dropped once, while its schedule and title were taken).
func TestMergeKeys(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `sections: {go: {}, news: {}}
fetch: {<<: {timeout: 5s, concurrency: 3}, concurrency: 2}
publish: {!!merge <<: [{items: 5}, {items: 7, per_source: 2}]}
sources:
  - &s
    url: https://a.example/1
    name: a
    sections: [go]
    schedule: "@hourly"
    filters: {exclude: [{title: x}]}
  - <<: *s
    url: https://a.example/2
    name: b
  - <<: *s
    url: https://a.example/3
    name: c
    sections: [news]
`)
	if c.Fetch.Timeout != 5*time.Second || c.Fetch.Concurrency != 2 || c.Publish.Items != 5 || c.Publish.PerSource != 2 {
		t.Errorf("fetch %+v, publish %+v: want the merged timeout, the own concurrency, the first list entry's items", c.Fetch, c.Publish)
	}
	want := map[string]string{"a": "go", "b": "go", "c": "news"}
	for _, src := range c.Sources {
		if len(src.Sections) != 1 || src.Sections[0] != want[src.Name] || src.Schedule != "@hourly" {
			t.Errorf("source %s: sections %q, schedule %q; want [%s] and @hourly", src.Name, src.Sections, src.Schedule, want[src.Name])
		}
		if _, hidden := c.Rules.Hides(&aggregator.Item{SourceID: src.Name, Title: "x"}, ""); !hidden {
			t.Errorf("source %s: the anchor's filter does not hide an item titled x", src.Name)
		}
	}
}
