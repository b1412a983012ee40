package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
)

// runSources runs `aggregator sources`: each configured source with its
// state, from the running daemon's /status.json when one holds the
// database, else from the database. Where it came from goes to stderr.
func runSources(c *cli) error {
	cfg, err := c.load(0)
	if err != nil {
		return err
	}
	list, from, err := poll.LoadStatus(c.ctx, statusPlace(cfg))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "from %s\n", from)
	return poll.WriteStatusTable(c.stdout, list, time.Now(), !cfg.Rules.IsZero())
}

// statusPlace is where the status of cfg's sources is kept.
func statusPlace(cfg *config.Config) poll.StatusPlace {
	return poll.StatusPlace{Database: cfg.Database, Listen: cfg.Listen, Sources: cfg.Sources, Rules: cfg.Rules}
}

// isTerminal reports whether w is a terminal, for the progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress prints the result of each source of a pass and, on a terminal,
// a bar below them.
type progress struct {
	w           io.Writer
	tty         bool
	done, total int
}

// report prints the lines of a source done, and redraws the bar.
func (p *progress) report(lines string) {
	p.done++
	if !p.tty {
		fmt.Fprint(p.w, lines)
		return
	}
	const width = 30
	n := width * p.done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r\033[K%s[%s%s] %d/%d sources", lines, strings.Repeat("#", n), strings.Repeat(".", width-n), p.done, p.total)
}

// finish erases the bar.
func (p *progress) finish() {
	if p.tty && p.done > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
