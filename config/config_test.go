package config_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
)

// minimal is the smallest valid config; cases add to it.
const minimal = "sources:\n  - url: https://go.dev/blog/feed.atom\n"

// writeConfig writes text to config.yaml in a new directory and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads text as a config file and fails the test on any error.
func mustLoad(t *testing.T, text string) *config.Config {
	t.Helper()
	path := writeConfig(t, text)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load() error:\n%v", err)
	}
	return cfg
}

// configErrors returns the *config.Error values joined in err, failing the
// test if any is of another type.
func configErrors(t *testing.T, err error) []*config.Error {
	t.Helper()
	var errs []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var list []*config.Error
	for _, e := range errs {
		var ce *config.Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q is a %T, want a *config.Error", e, e)
		}
		list = append(list, ce)
	}
	return list
}

// loadErrors loads text, expecting it to fail, and returns its errors.
func loadErrors(t *testing.T, text string) []*config.Error {
	t.Helper()
	path := writeConfig(t, text)
	cfg, err := config.Load(path)
	if cfg != nil {
		t.Errorf("Load() = %+v, want nil with an error", cfg)
	}
	if err == nil {
		t.Fatal("Load() error = nil, want one")
	}
	errs := configErrors(t, err)
	for _, e := range errs {
		if e.File != path {
			t.Errorf("Error.File = %q, want %q", e.File, path)
		}
	}
	return errs
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, minimal)
	got, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	want := &config.Config{
		File:        path,
		Title:       "Planet",
		Description: "",
		BaseURL:     "http://127.0.0.1:8080",
		Listen:      "127.0.0.1:8080",
		Database:    filepath.Join(filepath.Dir(path), "aggregator.db"),
		Schedule:    "@every 15m",
		Fetch: config.Fetch{
			Timeout:     30 * time.Second,
			Concurrency: 8,
			PerHost:     2,
			MaxBytes:    10 << 20,
			UserAgent:   config.DefaultUserAgent,

			HeaderTimeout: 15 * time.Second,
			MaxInterval:   24 * time.Hour,
			Jitter:        time.Minute,
		},
		Publish:   config.Publish{Items: 50},
		Page:      config.Page{Items: 50, Pages: 10, TimeZone: time.UTC},
		Retention: config.Retention{MaxItems: 1000, MaxAge: 0, RemovedAfter: 30 * 24 * time.Hour},
		Admin:     config.Admin{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		WebSub:    config.WebSub{LeaseMin: time.Hour, LeaseMax: 10 * 24 * time.Hour, PollInterval: 6 * time.Hour},
		Sources: []aggregator.Source{
			{Name: "go-dev-blog-feed-atom", URL: "https://go.dev/blog/feed.atom"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadEveryKey(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
title: Planet Example
description: All the news
base_url: https://planet.example.org/news/
listen: 0.0.0.0:9000
database: data/planet.db
schedule: "*/30 * * * *"
fetch:
  timeout: 1m30s
  concurrency: 4
  per_host: 1
  max_bytes: 500KB
  user_agent: test/1
  header_timeout: 10s
  host_interval: 2s
  max_interval: 12h
  jitter: 0
  allow_private_redirects: true
publish:
  items: 20
page:
  items: 30
  pages: 4
  timezone: Europe/Berlin
  csp: "default-src 'self'"
theme: mytheme
retention:
  max_items: 300
  max_age: 30d
  removed_after: 90d
admin:
  allow: [10.0.0.0/8, 192.168.1.7, "fd00::/8"]
websub:
  hubs: [https://pubsubhubbub.appspot.com/]
  hub: true
  lease: {min: 10m, max: 7d}
  allow_private_callbacks: true
  allow_http_callbacks: true
  subscribe: true
  poll_interval: 12h
sections:
  go:
    title: Go
    description: News from the Go world
  infra: {}
sources:
  - url: https://go.dev/blog/feed.atom
    name: go-blog
    title: The Go Blog
    sections: [go, infra]
    schedule: "@hourly"
    image: https://go.dev/images/gopher.png
  - url: ./feeds/local.atom
    image: faces/local.png
`)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(filepath.Join(dir, "mytheme", "static", "faces"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mytheme", "static", "faces", "local.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	if got.Page.TimeZone.String() != "Europe/Berlin" {
		t.Errorf("page.timezone = %v, want Europe/Berlin", got.Page.TimeZone)
	}
	got.Page.TimeZone = nil // a *time.Location holds a cache of its own
	want := &config.Config{
		File:        path,
		Title:       "Planet Example",
		Description: "All the news",
		BaseURL:     "https://planet.example.org/news",
		BaseURLSet:  true,
		Listen:      "0.0.0.0:9000",
		Database:    filepath.Join(dir, "data", "planet.db"),
		DatabaseSet: true,
		Schedule:    "*/30 * * * *",
		Fetch: config.Fetch{
			Timeout:     90 * time.Second,
			Concurrency: 4,
			PerHost:     1,
			MaxBytes:    500_000,
			UserAgent:   "test/1",

			HeaderTimeout: 10 * time.Second,
			HostInterval:  2 * time.Second,
			MaxInterval:   12 * time.Hour,

			AllowPrivateRedirects: true,
		},
		Publish:   config.Publish{Items: 20},
		Page:      config.Page{Items: 30, Pages: 4, CSP: "default-src 'self'"},
		Theme:     filepath.Join(dir, "mytheme"),
		Retention: config.Retention{MaxItems: 300, MaxAge: 30 * 24 * time.Hour, RemovedAfter: 90 * 24 * time.Hour},
		Admin: config.Admin{Allow: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8"),
		}},
		WebSub: config.WebSub{
			Hubs: []string{"https://pubsubhubbub.appspot.com/"}, Hub: true,
			LeaseMin: 10 * time.Minute, LeaseMax: 7 * 24 * time.Hour,
			AllowPrivateCallbacks: true, AllowHTTPCallbacks: true,
			Subscribe: true, PollInterval: 12 * time.Hour,
		},
		Sections: []config.Section{
			{Name: "go", Title: "Go", Description: "News from the Go world"},
			{Name: "infra", Title: "infra"},
		},
		Sources: []aggregator.Source{
			{Name: "go-blog", URL: "https://go.dev/blog/feed.atom", Title: "The Go Blog", Sections: []string{"go", "infra"}, Schedule: "@hourly", Image: "https://go.dev/images/gopher.png"},
			{Name: "local", URL: fileURL(filepath.Join(dir, "feeds", "local.atom")), Image: "faces/local.png"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("../config.example.yaml")
	if err != nil {
		t.Fatalf("Load() error:\n%v", err)
	}
	if len(cfg.Sections) < 2 {
		t.Errorf("len(Sections) = %d, want at least 2", len(cfg.Sections))
	}
	for _, src := range cfg.Sources {
		u, err := url.Parse(src.URL)
		if err != nil {
			t.Fatalf("source %q: %v", src.Name, err)
		}
		if u.Scheme != "file" {
			continue
		}
		if _, err := os.Stat(filepath.FromSlash(u.Path)); err != nil {
			t.Errorf("source %q: local feed: %v", src.Name, err)
		}
		return
	}
	t.Errorf("no local source in the example, want one so that a first run works offline")
}

func TestLoadSections(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, `
sections:
  zeta: {title: Last letter}
  alpha:
  m.id_dle-1: {description: Kept in file order}
sources:
  - url: https://go.dev/blog/feed.atom
    sections: [alpha, zeta]
`)
	want := []config.Section{
		{Name: "zeta", Title: "Last letter"},
		{Name: "alpha", Title: "alpha"},
		{Name: "m.id_dle-1", Title: "m.id_dle-1", Description: "Kept in file order"},
	}
	if !reflect.DeepEqual(cfg.Sections, want) {
		t.Errorf("Sections = %+v, want %+v", cfg.Sections, want)
	}
	if got, want := cfg.Sources[0].Sections, []string{"alpha", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sources[0].Sections = %q, want %q", got, want)
	}
}

func TestConfigSectionAndSource(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, `
sections:
  go: {title: Go}
sources:
  - url: https://go.dev/blog/feed.atom
    name: go-blog
`)
	if s, ok := cfg.Section("go"); !ok || s.Title != "Go" {
		t.Errorf("Section(%q) = %+v, %v, want the section", "go", s, ok)
	}
	if s, ok := cfg.Section("rust"); ok {
		t.Errorf("Section(%q) = %+v, true, want false", "rust", s)
	}
	if s, ok := cfg.Source("go-blog"); !ok || s.URL != "https://go.dev/blog/feed.atom" {
		t.Errorf("Source(%q) = %+v, %v, want the source", "go-blog", s, ok)
	}
	if s, ok := cfg.Source("go-dev-blog-feed-atom"); ok {
		t.Errorf("Source(%q) = %+v, true, want false", "go-dev-blog-feed-atom", s)
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		got  func(*config.Config) any
		want any
	}{
		{"duration in days", "retention: {max_age: 7d}", func(c *config.Config) any { return c.Retention.MaxAge }, 7 * 24 * time.Hour},
		{"days and hours", "retention: {max_age: 1d12h}", func(c *config.Config) any { return c.Retention.MaxAge }, 36 * time.Hour},
		{"zero age", "retention: {max_age: 0}", func(c *config.Config) any { return c.Retention.MaxAge }, time.Duration(0)},
		{"removed sources kept for ever", "retention: {removed_after: 0}", func(c *config.Config) any { return c.Retention.RemovedAfter }, time.Duration(0)},
		{"Go duration", "fetch: {timeout: 1h30m}", func(c *config.Config) any { return c.Fetch.Timeout }, 90 * time.Minute},
		{"bytes", "fetch: {max_bytes: 1048576}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(1 << 20)},
		{"KB", "fetch: {max_bytes: 10KB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(10_000)},
		{"MB", "fetch: {max_bytes: 2MB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(2_000_000)},
		{"GB", "fetch: {max_bytes: 1GB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(1_000_000_000)},
		{"KiB", "fetch: {max_bytes: 64KiB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(64 << 10)},
		{"MiB with space", "fetch: {max_bytes: 5 MiB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(5 << 20)},
		{"GiB", "fetch: {max_bytes: 1GiB}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(1 << 30)},
		{"B", "fetch: {max_bytes: 100B}", func(c *config.Config) any { return c.Fetch.MaxBytes }, int64(100)},
		{"five-field schedule", `schedule: "0 */2 * * *"`, func(c *config.Config) any { return c.Schedule }, "0 */2 * * *"},
		{"descriptor", "schedule: '@daily'", func(c *config.Config) any { return c.Schedule }, "@daily"},
		{"time zone", `schedule: "CRON_TZ=Europe/Paris 0 6 * * *"`, func(c *config.Config) any { return c.Schedule }, "CRON_TZ=Europe/Paris 0 6 * * *"},
		{"empty means default", `title: ""`, func(c *config.Config) any { return c.Title }, "Planet"},
		{"empty section list", "sections: {}", func(c *config.Config) any { return len(c.Sections) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, tt.yaml+"\n"+minimal)
			if got := tt.got(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadReadError(t *testing.T) {
	t.Parallel()
	_, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load() error = %v, want fs.ErrNotExist", err)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "config.yaml", Line: 14, Msg: "no sources"}, "config.yaml:14: no sources"},
		{config.Error{File: "config.yaml", Msg: "empty config"}, "config.yaml: empty config"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestLoadAllErrorsAtOnce checks that every mistake is reported, sorted by
// line, like a compiler does.
func TestLoadAllErrorsAtOnce(t *testing.T) {
	t.Parallel()
	errs := loadErrors(t, `title: Planet
schedule: every 5m
fetch:
  intervall: 10m
sources:
  - url: https://go.dev/blog/feed.atom
    sections: [go]
  - url: blog.golang.org/feed.atom
  - url: https://research.swtch.com/feed.atom
    concurrency: 3
`)
	wantLines := []int{2, 4, 7, 8, 10}
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("error lines = %v, want %v; errors:\n%v", lines, wantLines, errorList(errs))
	}
}

// TestLoadFourMistakes is the case of the brief: four different mistakes,
// four errors, each on its line.
func TestLoadFourMistakes(t *testing.T) {
	t.Parallel()
	errs := loadErrors(t, `listen: 8080
fetch:
  concurrency: 0
sources:
  - url: https://go.dev/blog/feed.atom
    sections: [go]
  - url: ftp://example.org/feed
`)
	lines := make([]int, len(errs))
	for i, e := range errs {
		lines[i] = e.Line
	}
	if want := []int{1, 3, 6, 7}; !reflect.DeepEqual(lines, want) {
		t.Errorf("error lines = %v, want %v; errors:\n%v", lines, want, errorList(errs))
	}
}

// errorList formats errs one a line, for failure messages.
func errorList(errs []*config.Error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

func TestLoadItemKeys(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, `publish: {per_source: 5, max_age: 30d}
database_max_size: 1MiB
sources:
  - url: https://a.example/feed
    identity: link
    dedup: false
    internal: true
  - url: https://b.example/feed
`)
	if cfg.DatabaseMax != 1<<20 {
		t.Errorf("DatabaseMax = %d, want 1 MiB", cfg.DatabaseMax)
	}
	if cfg.Publish.PerSource != 5 || cfg.Publish.MaxAge != 30*24*time.Hour {
		t.Errorf("Publish = %+v, want per_source 5 and max_age 720h", cfg.Publish)
	}
	a, b := cfg.Sources[0], cfg.Sources[1]
	if a.Identity != aggregator.IdentityLink || !a.KeepDuplicates || !a.Internal {
		t.Errorf("source a = %+v, want identity link, duplicates kept, internal", a)
	}
	if b.Identity != "" || b.KeepDuplicates || b.Internal {
		t.Errorf("source b = %+v, want the defaults: automatic identity, deduplicated, not internal", b)
	}
}
