package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
)

// listSources prints each configured source with its state: from the
// running daemon's /status.json when one holds the database, else from the
// database. Where it came from goes to stderr.
func listSources(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	list, from, err := sourceStatuses(ctx, cfg)
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

// sourceStatuses returns the state of cfg's sources and where it was read.
func sourceStatuses(ctx context.Context, cfg *config.Config) ([]poll.Status, string, error) {
	if _, err := os.Stat(cfg.Database); errors.Is(err, fs.ErrNotExist) {
		return poll.Statuses(cfg.Sources, nil, time.Now()), "the config (no database yet at " + cfg.Database + ")", nil
	}
	store, err := storage.Open(cfg.Database, storage.Options{LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, storage.ErrLocked) {
		url := "http://" + localAddr(cfg.Listen) + "/status.json"
		list, err := poll.ReadStatus(ctx, url)
		if err != nil {
			return nil, "", fmt.Errorf("a daemon holds %s, but its status is unavailable: %w", cfg.Database, err)
		}
		return list, "the running daemon, " + url, nil
	}
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	states, err := store.States(ctx)
	if err != nil {
		return nil, "", err
	}
	hidden, err := store.Hidden(ctx, cfg.Rules, cfg.Sources)
	if err != nil {
		return nil, "", err
	}
	list := poll.Statuses(cfg.Sources, states, time.Now())
	poll.AddHidden(list, hidden)
	return list, "the database " + cfg.Database, nil
}

// localAddr is where this host reaches a daemon listening on listen.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
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
