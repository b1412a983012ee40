package config_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestLoadErrors checks each rule: the file is refused with one error, on
// the line of the mistake. Messages are matched only by a telling fragment,
// to be sure the error is the one the case is about.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	const src = "sources:\n  - url: https://go.dev/blog/feed.atom\n" // lines 1 and 2 of a case
	tests := []struct {
		name string
		yaml string
		line int
		msg  string // a fragment of the message
	}{
		// Keys and types, found by yaml.v3 and put in the admin's terms.
		{"unknown key", "intervall: 10m\n" + minimal, 1, `unknown key "intervall" (want one of title,`},
		{"unknown fetch key", "fetch:\n  timeot: 30s\n" + minimal, 2, `unknown key "timeot" in fetch (want one of timeout,`},
		{"negative per_source", "publish: {per_source: -1}\n" + minimal, 1, `publish.per_source must be 0 (no limit) or more`},
		{"bad publish max_age", "publish:\n  max_age: soon\n" + minimal, 2, `publish.max_age "soon"`},
		{"bad identity", src + "    identity: uuid\n", 3, `identity "uuid" is not guid, link or hash`},
		{"dedup not a bool", src + "    dedup: maybe\n", 3, `dedup: want true or false, got "maybe"`},
		{"internal not a bool", src + "    internal: yes please\n", 3, `internal: want true or false, got "yes please"`},
		{"internal file", "sources:\n  - url: ./feed.xml\n    internal: true\n", 3, `source "feed": internal is for http(s) sources, not a local file`},
		{"empty text for a number", "fetch: {concurrency: ''}\n" + minimal, 1, `concurrency: want a whole number, got ""`},
		{"long value shown whole", "fetch:\n  per_host: twelve-and-a-half\n" + minimal, 2, `per_host: want a whole number, got "twelve-and-a-half"`},
		{"unknown publish key", "publish: {item: 5}\n" + minimal, 1, `unknown key "item" in publish (want one of items, per_source, max_age)`},
		{"unknown retention key", "retention:\n  max_iems: 5\n" + minimal, 2, `unknown key "max_iems" in retention`},
		{"unknown section key", "sections:\n  go: {titel: Go}\n" + minimal, 2, `unknown key "titel" in a section (want one of title, description, filters)`},
		{"unknown source key", src + "    sectoins: [go]\n", 3, `unknown key "sectoins" in a source`},
		{"int expected", "fetch:\n  concurrency: eight\n" + minimal, 2, `concurrency: want a whole number, got "eight"`},
		{"mapping expected", "fetch: 30s\n" + minimal, 1, `fetch: want a mapping with keys timeout,`},
		{"text expected", "title: [a, b]\n" + minimal, 1, "title: want text, got a list"},
		{"source list expected", "sources: https://go.dev/blog/feed.atom\n", 1, "want a list of sources"},
		{"source mapping expected", "sources:\n  - https://go.dev/blog/feed.atom\n", 2, `want a mapping with keys url,`},
		{"source as a bare URL", "sources:\n  - https://go.dev/blog/feed.atom\n", 2, `got "https://go.dev/blog/feed.atom" (write - url: https://go.dev/blog/feed.atom)`},
		{"section list expected", src + "    sections: go\n", 3, `sections: want a list of names, got "go"`},
		{"repeated key", "title: a\ntitle: b\n" + minimal, 2, `key "title" is already set at line 1`},
		{"repeated source key", src + "    url: https://go.dev/\n", 3, `key "url" is already set at line 2`},
		{"renamed_from a configured name", src + "    name: go\n    renamed_from: [blog]\n  - url: https://go.dev/x\n    name: blog\n", 4, `source "go": renamed_from "blog" is the name of the source at line 6`},
		{"renamed_from claimed twice", src + "    name: go\n    renamed_from: [old]\n  - url: https://go.dev/x\n    renamed_from:\n      - old\n", 7, `renamed_from "old" is claimed by source "go" at line 4 too`},
		{"renamed_from own name", src + "    name: go\n    renamed_from: [go]\n", 4, `renamed_from lists its own name`},
		{"renamed_from not a name", src + "    renamed_from: [\"Old Name\"]\n", 3, `renamed_from "Old Name"`},
		{"renamed_from listed twice", src + "    renamed_from: [a, a]\n", 3, `renamed_from "a" is listed twice`},
		{"renamed_from not a list", src + "    renamed_from: old\n", 3, `renamed_from`},

		// Pages and themes.
		{"zero page items", "page: {items: 0}\n" + minimal, 1, `page.items must be greater than 0`},
		{"zero pages", "page:\n  pages: 0\n" + minimal, 2, `page.pages must be greater than 0`},
		{"unknown time zone", "page:\n  timezone: Europe/Atlantis\n" + minimal, 2, `page.timezone "Europe/Atlantis" is not an IANA time zone`},
		{"local time zone", "page:\n  timezone: Local\n" + minimal, 2, `page.timezone "Local" is not an IANA time zone`},
		{"time zone as a path", "page:\n  timezone: ../../etc/passwd\n" + minimal, 2, `is not an IANA time zone`},
		{"unknown page key", "page: {item: 5}\n" + minimal, 1, `unknown key "item" in page`},
		{"missing theme", "theme: ./nowhere\n" + minimal, 1, `theme "./nowhere": no such file or directory`},
		{"theme not a directory", "theme: config.yaml\n" + minimal, 1, `theme "config.yaml" is not a directory`},
		{"image not http", src + "    image: ftp://x.example/a.png\n", 3, `image "ftp://x.example/a.png" is neither an http(s) URL nor a path`},
		{"image path without theme", src + "    image: faces/a.png\n", 3, `no theme: is set`},
		{"image path outside static", src + "    image: ../config.yaml\n", 3, `must be a relative path below the theme's static/`},
		{"image absolute path", src + "    image: /etc/passwd\n", 3, `must be a relative path below the theme's static/`},

		{"websub hub not a URL", "websub:\n  hubs: [hub.example.org]\n" + minimal, 2, `websub.hubs: "hub.example.org" is not an absolute http(s) URL`},
		{"websub lease bounds crossed", "websub:\n  lease: {min: 2d, max: 1d}\n" + minimal, 2, `websub.lease.min (48h0m0s) is longer than websub.lease.max`},
		{"websub zero poll interval", "websub:\n  poll_interval: 0\n" + minimal, 2, `websub.poll_interval must be longer than 0`},
		{"unknown websub key", "websub:\n  hubb: true\n" + minimal, 2, `unknown key "hubb" in websub`},

		// Durations.
		{"duration without unit", "fetch:\n  timeout: 30\n" + minimal, 2, `fetch.timeout "30" is not a duration`},
		{"negative duration", "fetch:\n  timeout: -5s\n" + minimal, 2, `fetch.timeout "-5s" is negative`},
		{"zero timeout", "fetch:\n  timeout: 0\n" + minimal, 2, "fetch.timeout must be longer than 0"},
		{"negative days", "retention:\n  max_age: -1d\n" + minimal, 2, `retention.max_age "-1d" is negative`},
		{"fractional days", "retention:\n  max_age: 1.5d\n" + minimal, 2, "is not a duration"},
		{"days in words", "retention:\n  max_age: 7 days\n" + minimal, 2, "is not a duration"},
		{"too many days", "retention:\n  max_age: 999999999d\n" + minimal, 2, "is too long"},
		{"too many hours", "retention:\n  max_age: 1d2562047h\n" + minimal, 2, "is too long"},
		{"removed_after not a duration", "retention:\n  max_items: 5\n  removed_after: a month\n" + minimal, 3, `retention.removed_after "a month" is not a duration`},

		// Sizes.
		{"unknown unit", "fetch:\n  max_bytes: 10MiBs\n" + minimal, 2, `fetch.max_bytes "10MiBs" is not a size`},
		{"terabytes", "fetch:\n  max_bytes: 1TB\n" + minimal, 2, "is not a size"},
		{"fractional size", "fetch:\n  max_bytes: 1.5MB\n" + minimal, 2, "is not a size"},
		{"negative size", "fetch:\n  max_bytes: -1\n" + minimal, 2, "is negative"},
		{"zero size", "fetch:\n  max_bytes: 0KiB\n" + minimal, 2, "fetch.max_bytes must be greater than 0"},
		{"size overflow", "fetch:\n  max_bytes: 99999999999GiB\n" + minimal, 2, "is too large"},

		// Counts.
		{"zero concurrency", "fetch:\n  concurrency: 0\n" + minimal, 2, "fetch.concurrency must be greater than 0, not 0"},
		{"negative per_host", "fetch:\n  per_host: -1\n" + minimal, 2, "fetch.per_host must be greater than 0"},
		{"zero items", "publish:\n  items: 0\n" + minimal, 2, "publish.items must be greater than 0"},
		{"zero max_items", "retention:\n  max_items: 0\n" + minimal, 2, "retention.max_items must be greater than 0"},

		// Schedules.
		{"interval in words", "schedule: every 5m\n" + minimal, 1, `schedule "every 5m" is not a cron spec (try "*/5 * * * *" or "@every 5m")`},
		{"bare interval", "schedule: 2h\n" + minimal, 1, `(try "0 */2 * * *" or "@every 2h")`},
		{"time zone alone", "schedule: TZ=UTC\n" + minimal, 1, `schedule "TZ=UTC" is not a cron spec`},
		{"minute out of range", `schedule: "61 * * * *"` + "\n" + minimal, 1, "is not a cron spec: "},
		{"six fields", `schedule: "0 */5 * * * *"` + "\n" + minimal, 1, "is not a cron spec: "},
		{"unknown time zone", `schedule: "TZ=Mars/Olympus 0 * * * *"` + "\n" + minimal, 1, "is not a cron spec: "},
		{"February 30", `schedule: "0 0 30 2 *"` + "\n" + minimal, 1, "never fires"},
		{"negative interval", `schedule: "@every -5m"` + "\n" + minimal, 1, "repeats more often than every second"},
		{"source schedule", src + "    schedule: hourly\n", 3, `source "go-dev-blog-feed-atom": schedule "hourly" is not a cron spec`},

		// The other settings.
		{"base_url without scheme", "base_url: localhost:8080\n" + minimal, 1, `base_url "localhost:8080" is not an absolute http(s) URL`},
		{"base_url ftp", "base_url: ftp://example.org\n" + minimal, 1, "is not an absolute http(s) URL"},
		{"base_url path only", "base_url: /planet\n" + minimal, 1, "is not an absolute http(s) URL"},
		{"base_url query", "base_url: https://example.org/?a=1\n" + minimal, 1, "must not have a query or fragment"},
		{"listen port only", "listen: 8080\n" + minimal, 1, `listen "8080" is not host:port`},
		{"listen named port", "listen: localhost:http\n" + minimal, 1, "is not host:port"},
		{"listen port too big", "listen: localhost:99999\n" + minimal, 1, "is not host:port"},
		{"user agent of two lines", `fetch: {user_agent: "a\nb"}` + "\n" + minimal, 1, "fetch.user_agent must be one line"},
		{"database in home", "database: ~/planet.db\n" + minimal, 1, "~ is not expanded"},

		// Sources.
		{"no sources", "title: Planet\n", 0, "no sources"},
		{"empty sources", "sources: []\n", 1, "no sources"},
		{"null sources", "title: x\nsources:\n", 2, "no sources"},
		{"empty source", "sources:\n  -\n", 2, "empty source"},
		{"url missing", "sources:\n  - name: go\n", 2, `source "go": url is required`},
		{"url without scheme", "sources:\n  - url: blog.golang.org/feed.atom\n    name: go-blog\n", 2,
			`source "go-blog": url "blog.golang.org/feed.atom" has no scheme (write https://... or, for a local file, ./path)`},
		{"url host and port", "sources:\n  - url: localhost:8080/feed\n", 2, "has no scheme"},
		{"url home", "sources:\n  - url: ~/feeds/a.atom\n", 2, "has no scheme"},
		{"url ftp", "sources:\n  - url: ftp://example.org/feed\n", 2, `has the scheme "ftp"`},
		{"url without host", "sources:\n  - url: http:///feed\n", 2, "has no host"},
		{"url invalid", "sources:\n  - url: https://exa mple.org/\n", 2, "is not a valid URL"},
		{"file url with host", "sources:\n  - url: file://server/a.atom\n", 2, `names host "server"`},
		{"file url without path", "sources:\n  - url: 'file:'\n", 2, "has no path"},
		{"name from nothing", "sources:\n  - url: ./.atom\n", 2, "no name can be made"},
		{"invalid name", src + "    name: Go Blog\n", 3, `source name "Go Blog" is not a valid name`},
		{"name with leading dash", src + "    name: -go\n", 3, "is not a valid name"},
		{"duplicate names", src + "    name: go\n  - url: https://go.dev/feed\n    name: go\n", 5, `source "go": the name is already used by the source at line 3`},
		{"duplicate derived names", src + "  - url: https://go.dev/blog/feed.atom?lang=en#x\n", 3, "set name: to tell them apart"},
		{"duplicate file names", "sources:\n  - url: ./a/feed.xml\n  - url: ./b/feed.xml\n", 3, `source "feed": the name is already used by the source at line 2`},
		{"same source twice", src + "  - url: https://go.dev/blog/feed.atom\n", 3, `url "https://go.dev/blog/feed.atom" is already used by source "go-dev-blog-feed-atom" at line 2`},
		{"duplicate urls", src + "    name: a\n  - name: b\n    url: https://go.dev/blog/feed.atom\n", 5, `url "https://go.dev/blog/feed.atom" is already used by source "a" at line 2`},
		{"undefined section", "sections:\n  go: {}\n" + src + "    sections:\n      - go\n      - gp\n", 7, `section "gp" is not defined (defined: go)`},
		{"no sections defined", src + "    sections: [go]\n", 3, "no sections are defined"},
		{"section listed twice", "sections:\n  go:\n" + src + "    sections:\n      - go\n      - go\n", 7, `section "go" is listed twice`},
		{"invalid section name", "sections:\n  Go: {}\n" + minimal, 2, `section name "Go" is not a valid name`},

		// The file itself.
		{"empty file", "", 0, "empty config: at least one source is needed"},
		{"only comments", "# nothing yet\n", 0, "empty config"},
		{"empty document", "---\n", 0, "empty config"},
		{"too large", "title: x\n# " + strings.Repeat("x", 1<<20) + "\n", 0, "larger than 1 MiB"},
		{"NUL byte", "title: x\nsources: \x00\n", 2, "NUL byte"},
		{"invalid UTF-8", "title: planet\ndescription: caf\xe9\n", 2, "not UTF-8"},
		{"UTF-16", "\xff\xfet\x00i\x00", 0, "UTF-16"},
		{"two documents", minimal + "---\ntitle: x\n", 3, "a second YAML document"},
		{"syntax error", "title: [Planet\n" + minimal, 2, "invalid YAML: "},
		// yaml.v3 gives the line where the list began, not of the stray key.
		{"bad indentation", "sources:\n  - url: https://go.dev/\n   name: go\n", 2, "invalid YAML: "},
		{"tab indentation", "sources:\n\t- url: https://go.dev/\n", 2, "invalid YAML: "},
		{"unknown anchor", "title: *nope\n" + minimal, 1, "invalid YAML: unknown anchor 'nope' referenced"},
		{"unknown anchor among others", "title: &nope2 x\ndescription: *nope2\nsources: [{url: *nope}]\n", 3, "unknown anchor 'nope'"},
		{"control character", "title: x\ndescription: a\x07b\n" + minimal, 2, "invalid YAML: control characters are not allowed"},
		{"escape sequence", "title: x\n\x1b[31mx: 1\n" + minimal, 2, "control characters"},
		{"value against its tag", "description: x\ntitle: !!int T\n" + minimal, 2, "cannot decode !!str `T` as a !!int"},
		{"tag of our own", "title: !planet T\n" + minimal, 1, `tag "!planet" is not supported`},
		{"list at the top", "- url: https://go.dev/\n", 1, "want a mapping with keys title,"},
		{"text at the top", "just some text\n", 1, `got "just some text"`},
		{"billion laughs", laughs(9), 6, `"billion laughs"`}, // a5 holds 9^6 strings
		{"alias in itself", "a: &a [*a]\n" + minimal, 1, `"billion laughs"`},
		{"too many keys", "sections:\n" + manyKeys(1001) + minimal, 2, "at most 1000"},
		{"too deep", "title: " + strings.Repeat("[", 20_000) + "\n" + minimal, 0, "invalid YAML: exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := loadErrors(t, tt.yaml)
			if len(errs) != 1 {
				t.Fatalf("Load() returned %d errors, want 1:\n%s", len(errs), errorList(errs))
			}
			if errs[0].Line != tt.line {
				t.Errorf("Line = %d, want %d (%s)", errs[0].Line, tt.line, errs[0])
			}
			if !strings.Contains(errs[0].Msg, tt.msg) {
				t.Errorf("Msg = %q, want it to say %q", errs[0].Msg, tt.msg)
			}
		})
	}
}

// laughs returns a "billion laughs" file: levels lines of anchors, each an
// alias to the one before nine times, then sources that use the last.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString(`a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	fmt.Fprintf(&b, "sources: [{url: https://go.dev/, sections: *a%d}]\n", levels-1)
	return b.String()
}

// manyKeys returns n mapping entries, one a line, indented by two spaces.
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  s%d:\n", i)
	}
	return b.String()
}
