package main

import (
	"fmt"

	"github.com/planetgo/aggregator/publish"
)

// runThemeExport runs `aggregator theme export DIR`: the built-in theme
// written into DIR, a starting point for one's own.
func runThemeExport(c *cli) error {
	if err := c.parse(1); err != nil {
		return err
	}
	dir := c.fs.Arg(0)
	if err := publish.ExportTheme(dir); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote the built-in theme to %s: set theme: %s in the config, edit, and run aggregator check\n", dir, dir)
	return nil
}

// runCheck runs `aggregator check`: the config, and its theme with every
// template executed against sample pages.
func runCheck(c *cli) error {
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	if _, err := publish.LoadTheme(cfg.Theme); err != nil {
		return &configError{err}
	}
	rules := ""
	if n := cfg.Rules.Len(); n > 0 {
		rules = fmt.Sprintf(", %d filter rules", n)
	}
	theme := ""
	if cfg.Theme != "" {
		theme = ", theme " + cfg.Theme
	}
	fmt.Fprintf(c.stdout, "%s: ok: %d sources in %d sections%s%s\n", *c.configPath, len(cfg.Sources), len(cfg.Sections), rules, theme)
	return nil
}
