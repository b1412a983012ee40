package config_test

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/planetgo/aggregator/config"
)

// fileURL returns the file:// URL of the absolute path p.
func fileURL(p string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
}

func TestLoadDefaultBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		listen string
		want   string
	}{
		{"host and port", "127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"name", "planet.internal:80", "http://planet.internal:80"},
		{"no host", ":8080", "http://localhost:8080"},
		{"all IPv4", "0.0.0.0:8080", "http://localhost:8080"},
		{"all IPv6", "[::]:8080", "http://localhost:8080"},
		{"IPv6", "[::1]:8080", "http://[::1]:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, "listen: \""+tt.listen+"\"\n"+minimal)
			if cfg.BaseURL != tt.want {
				t.Errorf("BaseURL = %q, want %q", cfg.BaseURL, tt.want)
			}
		})
	}
}

func TestLoadBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, baseURL, want string
	}{
		{"as is", "https://planet.example.org", "https://planet.example.org"},
		{"trailing slash", "https://planet.example.org/", "https://planet.example.org"},
		{"path", "http://example.org/planet/", "http://example.org/planet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, "base_url: "+tt.baseURL+"\n"+minimal)
			if cfg.BaseURL != tt.want {
				t.Errorf("BaseURL = %q, want %q", cfg.BaseURL, tt.want)
			}
		})
	}
}

func TestLoadDatabase(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "elsewhere.db")
	tests := []struct {
		name     string
		database string
		want     func(dir string) string
	}{
		{"default", "", func(dir string) string { return filepath.Join(dir, "aggregator.db") }},
		{"relative", "state/planet.db", func(dir string) string { return filepath.Join(dir, "state", "planet.db") }},
		{"dot", "./planet.db", func(dir string) string { return filepath.Join(dir, "planet.db") }},
		{"parent", "../planet.db", func(dir string) string { return filepath.Join(filepath.Dir(dir), "planet.db") }},
		{"absolute", abs, func(string) string { return abs }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := minimal
			if tt.database != "" {
				text = "database: " + tt.database + "\n" + text
			}
			path := writeConfig(t, text)
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load() error: %v", err)
			}
			if want := tt.want(filepath.Dir(path)); cfg.Database != want {
				t.Errorf("Database = %q, want %q", cfg.Database, want)
			}
			if !filepath.IsAbs(cfg.Database) {
				t.Errorf("Database = %q, want an absolute path", cfg.Database)
			}
		})
	}
}

// TestLoadRelativeToConfigFile checks that paths are resolved against the
// config file's directory, not the working directory, when Load is given a
// relative path.
func TestLoadRelativeToConfigFile(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("testdata/nested/config.yaml")
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	dir, err := filepath.Abs("testdata/nested")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "planet.db"); cfg.Database != want {
		t.Errorf("Database = %q, want %q", cfg.Database, want)
	}
	if want := fileURL(filepath.Join(dir, "feeds", "sample.atom")); cfg.Sources[0].URL != want {
		t.Errorf("Sources[0].URL = %q, want %q", cfg.Sources[0].URL, want)
	}
	if cfg.File != "testdata/nested/config.yaml" {
		t.Errorf("File = %q, want the path given to Load", cfg.File)
	}
}

func TestLoadSourceURL(t *testing.T) {
	t.Parallel()
	abs := t.TempDir()
	tests := []struct {
		name string
		url  string
		want func(dir string) string
	}{
		{"https", "https://go.dev/blog/feed.atom", nil},
		{"http with port and query", "http://localhost:8081/feed?lang=en", nil},
		{"mixed case kept", "HTTPS://Go.dev/Blog/feed.atom", nil},
		{"dot path", "./feeds/a.atom", func(dir string) string { return fileURL(filepath.Join(dir, "feeds", "a.atom")) }},
		{"parent path", "../a.atom", func(dir string) string { return fileURL(filepath.Join(filepath.Dir(dir), "a.atom")) }},
		{"absolute path", abs + "/a.atom", func(string) string { return fileURL(abs + "/a.atom") }},
		{"file URL", "file://" + abs + "/a.atom", func(string) string { return fileURL(abs + "/a.atom") }},
		{"file URL localhost", "file://localhost" + abs + "/a.atom", func(string) string { return fileURL(abs + "/a.atom") }},
		{"relative file URL", "file:feeds/a.atom", func(dir string) string { return fileURL(filepath.Join(dir, "feeds", "a.atom")) }},
		{"path with space", "./my feeds/a b.atom", func(dir string) string { return fileURL(filepath.Join(dir, "my feeds", "a b.atom")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, "sources:\n  - url: \""+tt.url+"\"\n    name: x\n")
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load() error: %v", err)
			}
			want := tt.url
			if tt.want != nil {
				want = tt.want(filepath.Dir(path))
			}
			if got := cfg.Sources[0].URL; got != want {
				t.Errorf("URL = %q, want %q", got, want)
			}
		})
	}
}

func TestLoadDerivesNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, want string
	}{
		{"https://go.dev/blog/feed.atom", "go-dev-blog-feed-atom"},
		{"https://Research.Swtch.com/feed.atom", "research-swtch-com-feed-atom"},
		{"https://blog.cloudflare.com/rss/", "blog-cloudflare-com-rss"},
		{"http://localhost:8081/feed?lang=en#top", "localhost-8081-feed"},
		{"https://example.org", "example-org"},
		{"https://example.org/~user/__feed__.xml", "example-org-user-feed-xml"},
		{"./testdata/local-sample.atom", "local-sample"},
		{"./Local Sample.ATOM", "local-sample"},
		{"/srv/feeds/blog.rss.xml", "blog-rss"},
		{"file:feeds/news", "news"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, "sources:\n  - url: \""+tt.url+"\"\n")
			if got := cfg.Sources[0].Name; got != tt.want {
				t.Errorf("Name = %q, want %q", got, tt.want)
			}
		})
	}
}
