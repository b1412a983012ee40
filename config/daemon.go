package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/planetgo/aggregator"
)

// What the daemon and the commands ask of a loaded config.

// Where the shipped unit (contrib/systemd/aggregator.service) keeps the
// config (ConfigurationDirectory=aggregator) and the database
// (StateDirectory=aggregator).
const (
	UnitConfigDir = "/etc/aggregator"
	UnitStateDir  = "/var/lib/aggregator"
)

// UseStateDirectory puts the database, when the config does not name it,
// where the daemon under the shipped unit keeps it, so that a command run
// by hand with the daemon's config opens the daemon's database. stateDirs
// is $STATE_DIRECTORY (one path per StateDirectory= entry), which systemd
// sets for the daemon: see stateDatabase.
func (c *Config) UseStateDirectory(stateDirs string) {
	c.Database = c.stateDatabase(stateDirs, UnitConfigDir, UnitStateDir)
}

// stateDatabase is the database of c: the one it names; else in the first
// of stateDirs when systemd runs the command; else in stateDir when the
// config file is in configDir, the unit's, as for the command run by hand,
// which systemd gives no $STATE_DIRECTORY (a database beside the config
// would be in /etc, which the unit makes read-only); else beside the
// config, where Load put it.
func (c *Config) stateDatabase(stateDirs, configDir, stateDir string) string {
	if c.DatabaseSet {
		return c.Database
	}
	name := filepath.Base(c.Database)
	if stateDirs != "" {
		dir, _, _ := strings.Cut(stateDirs, ":")
		return filepath.Join(dir, name)
	}
	if c.File != "" {
		if abs, err := filepath.Abs(c.File); err == nil && filepath.Dir(abs) == filepath.Clean(configDir) {
			return filepath.Join(stateDir, name)
		}
	}
	return c.Database
}

// Allows reports whether remoteAddr, a request's host:port, is in one of
// the networks of a.Allow.
func (a Admin) Allows(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap().WithZone("")
	for _, p := range a.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Select returns the configured sources with the given names, all of them
// when names is empty; an error names those it does not have.
func (c *Config) Select(names []string) ([]aggregator.Source, error) {
	if len(names) == 0 {
		return c.Sources, nil
	}
	var out []aggregator.Source
	var unknown []string
	for _, name := range names {
		src, ok := c.Source(name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		out = append(out, src)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no source named %s in %s", strings.Join(unknown, ", "), c.File)
	}
	return out, nil
}

// SourceOrURL returns the source arg names, as `aggregator preview` takes
// it: a configured source by its name or its URL, else a source of its own,
// with no name, for an http(s) or file URL.
func (c *Config) SourceOrURL(arg string) (aggregator.Source, bool) {
	if src, ok := c.Source(arg); ok {
		return src, true
	}
	for _, src := range c.Sources {
		if src.URL == arg {
			return src, true
		}
	}
	u, err := url.Parse(arg)
	if err != nil || !strings.Contains(arg, "://") {
		return aggregator.Source{}, false
	}
	switch {
	case (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "":
	case u.Scheme == "file" && u.Path != "":
	default:
		return aggregator.Source{}, false
	}
	return aggregator.Source{URL: arg}, true
}

// SourceChanges names the sources next has that c has not, and the other
// way round.
func (c *Config) SourceChanges(next *Config) (added, removed []string) {
	for _, src := range next.Sources {
		if _, ok := c.Source(src.Name); !ok {
			added = append(added, src.Name)
		}
	}
	for _, src := range c.Sources {
		if _, ok := next.Source(src.Name); !ok {
			removed = append(removed, src.Name)
		}
	}
	return added, removed
}

// RestartSetting is a setting a running daemon cannot change, as in force
// and as in the file.
type RestartSetting struct {
	Key, InForce, InFile string
}

// KeepRestartSettings puts back in next the settings a running daemon
// cannot change (listen, database, database_max_size: the file is opened
// with its limit), and returns those that differed.
func KeepRestartSettings(inForce, next *Config) []RestartSetting {
	var kept []RestartSetting
	for _, s := range []struct {
		key             string
		inForce, inFile *string
	}{
		{"listen", &inForce.Listen, &next.Listen},
		{"database", &inForce.Database, &next.Database},
	} {
		if *s.inForce != *s.inFile {
			kept = append(kept, RestartSetting{s.key, *s.inForce, *s.inFile})
			*s.inFile = *s.inForce
		}
	}
	if !next.BaseURLSet {
		// The base URL a file that sets none has is the listen address in
		// force, not the one the daemon is not listening on.
		next.BaseURL = listenBaseURL(next.Listen)
	}
	if inForce.DatabaseMax != next.DatabaseMax {
		kept = append(kept, RestartSetting{"database_max_size", sizeSetting(inForce.DatabaseMax), sizeSetting(next.DatabaseMax)})
		next.DatabaseMax = inForce.DatabaseMax
	}
	return kept
}

// sizeSetting is a database_max_size as a log shows it: bytes, or "none".
func sizeSetting(n int64) string {
	if n == 0 {
		return "none"
	}
	return strconv.FormatInt(n, 10)
}
