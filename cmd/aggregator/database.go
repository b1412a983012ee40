package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/planetgo/aggregator/config"
)

// Where the shipped unit (contrib/systemd/aggregator.service) keeps the
// config (ConfigurationDirectory=aggregator) and the database
// (StateDirectory=aggregator).
const (
	unitConfigDir = "/etc/aggregator"
	unitStateDir  = "/var/lib/aggregator"
)

// useStateDirectory puts the database, when the config does not name it,
// where the daemon under the shipped unit keeps it, so that a command run
// by hand with the daemon's config opens the daemon's database: see
// defaultDatabase.
func useStateDirectory(cfg *config.Config) {
	cfg.Database = defaultDatabase(cfg, os.Getenv("STATE_DIRECTORY"), unitConfigDir, unitStateDir)
}

// defaultDatabase is the database of cfg: the one it names; else in
// systemd's state directory (stateDirs, $STATE_DIRECTORY, one path per
// StateDirectory= entry) when systemd runs the command; else in stateDir
// when the config file is in configDir, the unit's, as for the command
// run by hand, which systemd gives no $STATE_DIRECTORY (a database beside
// the config would be in /etc, which the unit makes read-only); else
// beside the config, where config.Load put it.
func defaultDatabase(cfg *config.Config, stateDirs, configDir, stateDir string) string {
	if cfg.DatabaseSet {
		return cfg.Database
	}
	name := filepath.Base(cfg.Database)
	if stateDirs != "" {
		dir, _, _ := strings.Cut(stateDirs, ":")
		return filepath.Join(dir, name)
	}
	if cfg.File != "" {
		if abs, err := filepath.Abs(cfg.File); err == nil && filepath.Dir(abs) == filepath.Clean(configDir) {
			return filepath.Join(stateDir, name)
		}
	}
	return cfg.Database
}
