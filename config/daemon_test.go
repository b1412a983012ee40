package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/planetgo/aggregator"
)

// The daemon under the shipped unit (which sets $STATE_DIRECTORY) and a
// command run by hand with the same config (which has none) open the same
// database; a database the config names stays.
func TestUseStateDirectory(t *testing.T) {
	t.Parallel()
	const want = "/var/lib/aggregator/aggregator.db"
	for _, env := range []string{"/var/lib/aggregator", "/var/lib/aggregator:/var/lib/other", ""} {
		cfg := &Config{File: "/etc/aggregator/config.yaml", Database: "/etc/aggregator/aggregator.db"}
		cfg.UseStateDirectory(env)
		if cfg.Database != want {
			t.Errorf("with STATE_DIRECTORY=%q: Database = %q, want %q", env, cfg.Database, want)
		}
	}
	cfg := &Config{Database: "/srv/planet.db", DatabaseSet: true}
	cfg.UseStateDirectory("/var/lib/aggregator")
	if cfg.Database != "/srv/planet.db" {
		t.Errorf("Database = %q, want the one the config names", cfg.Database)
	}
}

func TestStateDatabase(t *testing.T) {
	t.Parallel()
	etc, varLib, home := t.TempDir(), t.TempDir(), t.TempDir()
	tests := []struct {
		name      string
		file      string // the config file
		database  string // as Load resolved it
		set       bool   // the config names it
		stateDirs string
		want      string
	}{
		{"beside the config", filepath.Join(home, "config.yaml"), filepath.Join(home, "aggregator.db"), false, "", filepath.Join(home, "aggregator.db")},
		{"the unit's config dir", filepath.Join(etc, "config.yaml"), filepath.Join(etc, "aggregator.db"), false, "", filepath.Join(varLib, "aggregator.db")},
		{"the unit's config dir, under systemd", filepath.Join(etc, "config.yaml"), filepath.Join(etc, "aggregator.db"), false, varLib, filepath.Join(varLib, "aggregator.db")},
		{"a subdirectory of it", filepath.Join(etc, "sub", "config.yaml"), filepath.Join(etc, "sub", "aggregator.db"), false, "", filepath.Join(etc, "sub", "aggregator.db")},
		{"first state directory", filepath.Join(home, "config.yaml"), filepath.Join(home, "aggregator.db"), false, home + "/state:/other", filepath.Join(home, "state", "aggregator.db")},
		{"named in the config", filepath.Join(etc, "config.yaml"), "/srv/planet.db", true, varLib, "/srv/planet.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &Config{File: tt.file, Database: tt.database, DatabaseSet: tt.set}
			if got := cfg.stateDatabase(tt.stateDirs, etc, varLib); got != tt.want {
				t.Errorf("stateDatabase() = %q, want %q", got, tt.want)
			}
		})
	}
}

// listen and database keep the values in force, and are reported.
func TestKeepRestartSettings(t *testing.T) {
	t.Parallel()
	inForce := &Config{Listen: "127.0.0.1:8080", Database: "/a.db", Title: "old"}
	next := &Config{Listen: "127.0.0.1:9090", Database: "/b.db", Title: "new", DatabaseMax: 1 << 30}
	kept := KeepRestartSettings(inForce, next)
	if next.Listen != inForce.Listen || next.Database != inForce.Database || next.DatabaseMax != 0 || next.Title != "new" {
		t.Errorf("after KeepRestartSettings: %+v", next)
	}
	if len(kept) != 3 || kept[0] != (RestartSetting{"listen", "127.0.0.1:8080", "127.0.0.1:9090"}) ||
		kept[2] != (RestartSetting{"database_max_size", "none", "1073741824"}) {
		t.Errorf("kept %+v", kept)
	}
	if kept := KeepRestartSettings(inForce, next); len(kept) != 0 {
		t.Errorf("nothing differs, yet %+v reported", kept)
	}
}

// A file that sets no base_url has the base URL of the address the daemon
// listens on: a reload that changes listen, which needs a restart, keeps
// the base URL of the address in force.
func TestKeepRestartSettingsBaseURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load := func(text string) *Config {
		t.Helper()
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(text+"sources:\n  - {name: a, url: https://a.example/feed}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	inForce := load("listen: 127.0.0.1:8080\n")
	next := load("listen: 127.0.0.1:9090\ntitle: new\n")
	KeepRestartSettings(inForce, next)
	if next.Listen != "127.0.0.1:8080" || next.BaseURL != "http://127.0.0.1:8080" || next.Title != "new" {
		t.Errorf("after a reload that changed listen: listen %q, base_url %q, title %q; want 127.0.0.1:8080, http://127.0.0.1:8080, new", next.Listen, next.BaseURL, next.Title)
	}
	next = load("listen: 127.0.0.1:9090\nbase_url: https://planet.example\n")
	KeepRestartSettings(inForce, next)
	if next.BaseURL != "https://planet.example" {
		t.Errorf("a base_url the file sets became %q", next.BaseURL)
	}
}

func TestAdminAllows(t *testing.T) {
	t.Parallel()
	a := Admin{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}}
	for addr, want := range map[string]bool{
		"127.0.0.1:5555":       true,
		"[::ffff:10.1.2.3]:80": true,
		"10.2.0.1:80":          false,
		"[::1]:80":             false,
		"not an address":       false,
		"[fe80::1%eth0]:80":    false,
	} {
		if got := a.Allows(addr); got != want {
			t.Errorf("Allows(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestSelectAndSourceChanges(t *testing.T) {
	t.Parallel()
	c := &Config{File: "c.yaml"}
	next := &Config{}
	for _, n := range []string{"a", "b", "c"} {
		c.Sources = append(c.Sources, sourceNamed(n))
	}
	for _, n := range []string{"b", "c", "d"} {
		next.Sources = append(next.Sources, sourceNamed(n))
	}
	if got, err := c.Select([]string{"c", "a"}); err != nil || len(got) != 2 || got[0].Name != "c" {
		t.Errorf("Select(c, a) = %v, %v", got, err)
	}
	if _, err := c.Select([]string{"a", "x", "y"}); err == nil || err.Error() != "no source named x, y in c.yaml" {
		t.Errorf("Select of unknown names: %v", err)
	}
	added, removed := c.SourceChanges(next)
	if !slices.Equal(added, []string{"d"}) || !slices.Equal(removed, []string{"a"}) {
		t.Errorf("added %v, removed %v", added, removed)
	}
}

func sourceNamed(name string) aggregator.Source {
	return aggregator.Source{Name: name, URL: "https://" + name + ".example/feed"}
}

// preview's argument is a source's name or URL, else an http(s) or file
// URL of its own; anything else names nothing.
func TestSourceOrURL(t *testing.T) {
	t.Parallel()
	c := &Config{Sources: []aggregator.Source{sourceNamed("a"), sourceNamed("b")}}
	for _, tt := range []struct {
		arg      string
		name     string // "" for a source of its own
		url      string
		resolved bool
	}{
		{"b", "b", "https://b.example/feed", true},
		{"https://a.example/feed", "a", "https://a.example/feed", true},
		{"https://new.example/feed", "", "https://new.example/feed", true},
		{"http://new.example", "", "http://new.example", true},
		{"file:///tmp/feed.xml", "", "file:///tmp/feed.xml", true},
		{"new.example/feed", "", "", false},
		{"https:///feed", "", "", false},
		{"file://", "", "", false},
		{"ftp://new.example/feed", "", "", false},
		{"c", "", "", false},
	} {
		src, ok := c.SourceOrURL(tt.arg)
		if ok != tt.resolved || src.Name != tt.name || src.URL != tt.url {
			t.Errorf("SourceOrURL(%q) = %q %q %v, want %q %q %v", tt.arg, src.Name, src.URL, ok, tt.name, tt.url, tt.resolved)
		}
	}
}
