package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
)

// listSources prints each configured source with its state: from the
// running daemon's /status.json when one holds the database, else from the
// database. Where it came from goes to stderr.
func listSources(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	list, from, err := poll.LoadStatus(ctx, statusPlace(cfg))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "from %s\n", from)
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	// The column of hidden items only with filters to hide them.
	filters := !cfg.Rules.IsZero()
	hiddenHead := ""
	if filters {
		hiddenHead = "HIDDEN\t"
	}
	fmt.Fprintf(tw, "NAME\tSTATE\tLAST SUCCESS\tNEXT ATTEMPT\t%sRESULT\n", hiddenHead)
	for _, s := range list {
		hidden := ""
		if filters {
			hidden = hiddenCell(s) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", s.Name, s.State(), ago(s.LastSuccess, now), ago(s.NextAttempt, now), hidden, s.Result)
	}
	return tw.Flush()
}

// hiddenCell is the items of s that filters hide from every feed, then,
// for each of its sections with filters of its own, those that section's
// hides: "3", "3 (go: 5)".
func hiddenCell(s poll.Status) string {
	cell := strconv.Itoa(s.Hidden)
	if len(s.HiddenInSections) == 0 {
		return cell
	}
	var in []string
	for _, sec := range slices.Sorted(maps.Keys(s.HiddenInSections)) {
		in = append(in, fmt.Sprintf("%s: %d", sec, s.HiddenInSections[sec]))
	}
	return cell + " (" + strings.Join(in, ", ") + ")"
}

// ago prints t relative to now, to the second: "3m20s ago", "in 12m0s".
func ago(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case t.After(now):
		return "in " + t.Sub(now).Round(time.Second).String()
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
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
