package main

import (
	"path/filepath"
	"testing"

	"github.com/planetgo/aggregator/config"
)

// The daemon under the shipped unit (which sets $STATE_DIRECTORY) and a
// command run by hand with the same config (which has none) open the same
// database. Before, the command opened /etc/aggregator/aggregator.db.
func TestCommandsFindTheUnitsDatabase(t *testing.T) {
	const want = "/var/lib/aggregator/aggregator.db"
	for _, env := range []string{"/var/lib/aggregator", ""} {
		t.Setenv("STATE_DIRECTORY", env)
		cfg := &config.Config{File: "/etc/aggregator/config.yaml", Database: "/etc/aggregator/aggregator.db"}
		useStateDirectory(cfg)
		if cfg.Database != want {
			t.Errorf("with STATE_DIRECTORY=%q: Database = %q, want %q", env, cfg.Database, want)
		}
	}
}

func TestDefaultDatabase(t *testing.T) {
	t.Parallel()
	etc, varLib, home := t.TempDir(), t.TempDir(), t.TempDir()
	tests := []struct {
		name      string
		file      string // the config file
		database  string // as config.Load resolved it
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
			cfg := &config.Config{File: tt.file, Database: tt.database, DatabaseSet: tt.set}
			if got := defaultDatabase(cfg, tt.stateDirs, etc, varLib); got != tt.want {
				t.Errorf("defaultDatabase() = %q, want %q", got, tt.want)
			}
		})
	}
}
