package main

import (
	"fmt"
	"io"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/publish"
)

// runTheme runs "aggregator theme export DIR": the built-in theme written
// into DIR, a starting point for one's own.
func runTheme(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "export" {
		fmt.Fprint(stderr, "aggregator theme: want export DIR\n"+usage)
		return exitConfig
	}
	dir := args[1]
	if err := publish.ExportTheme(dir); err != nil {
		fmt.Fprintf(stderr, "aggregator theme export: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote the built-in theme to %s: set theme: %s in the config, edit, and run aggregator check\n", dir, dir)
	return exitOK
}

// loadTheme loads cfg's theme: nil for the built-in one. Its mistakes are
// *publish.ThemeError values, joined.
func loadTheme(cfg *config.Config) (*publish.Theme, error) {
	if cfg.Theme == "" {
		return nil, nil
	}
	return publish.LoadTheme(cfg.Theme)
}
