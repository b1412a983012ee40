package config_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator/config"
)

// FuzzLoad checks that Load never panics or hangs, and returns either a
// config that keeps the rules or *config.Error values, never both.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		minimal,
		"",
		"title: x\nsources: [{url: ./a.atom, sections: [go]}]\nsections: {go: {title: Go}}\n",
		"fetch: {timeout: 7d, max_bytes: 10MiB, concurrency: 0}\nschedule: TZ=UTC\n" + minimal,
		"sources:\n  - url: https://go.dev/\n    name: a\n  - url: https://go.dev/\n    name: a\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nsources: [{url: 'file:x', sections: *b}]\n",
		"- [\n",
		minimal + "---\n" + minimal,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Load() = %v, %v; want a config or an error", cfg, err)
		}
		if err != nil {
			for _, e := range configErrors(t, err) {
				if e.File != path || e.Line < 0 || e.Msg == "" {
					t.Errorf("bad error %#v", e)
				}
			}
			return
		}
		checkInvariants(t, cfg)
	})
}

// checkInvariants fails t unless cfg keeps the rules Load promises.
func checkInvariants(t *testing.T, cfg *config.Config) {
	t.Helper()
	if len(cfg.Sources) == 0 {
		t.Error("no sources")
	}
	if cfg.Fetch.Timeout <= 0 || cfg.Fetch.Concurrency <= 0 || cfg.Fetch.PerHost <= 0 || cfg.Fetch.MaxBytes <= 0 ||
		cfg.Publish.Items <= 0 || cfg.Retention.MaxItems <= 0 || cfg.Retention.MaxAge < 0 || cfg.Retention.RemovedAfter < 0 {
		t.Errorf("a setting is out of range: %+v %+v %+v", cfg.Fetch, cfg.Publish, cfg.Retention)
	}
	if !filepath.IsAbs(cfg.Database) {
		t.Errorf("Database = %q, want an absolute path", cfg.Database)
	}
	if strings.HasSuffix(cfg.BaseURL, "/") {
		t.Errorf("BaseURL = %q, want no trailing slash", cfg.BaseURL)
	}
	sections := make(map[string]bool)
	for _, s := range cfg.Sections {
		if sections[s.Name] || s.Title == "" {
			t.Errorf("section %+v is repeated or has no title", s)
		}
		sections[s.Name] = true
	}
	names := make(map[string]bool)
	for _, src := range cfg.Sources {
		u, err := url.Parse(src.URL)
		if names[src.Name] || src.Name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
			t.Errorf("source %+v has a bad or repeated name or url", src)
		}
		names[src.Name] = true
		for _, s := range src.Sections {
			if !sections[s] {
				t.Errorf("source %q: section %q is not defined", src.Name, s)
			}
		}
	}
}
