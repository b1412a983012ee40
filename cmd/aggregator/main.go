// Command aggregator fetches the sources of a YAML config into a bbolt
// database and serves them as merged and per-section Atom, RSS and JSON
// feeds.
//
//	aggregator serve   -config FILE         run the daemon
//	aggregator fetch   -config FILE [NAME…] fetch every (or the named) source now
//	aggregator check   -config FILE         validate the config
//	aggregator compact -config FILE         shrink the database (daemon stopped)
//	aggregator verify  -config FILE         check the database
//	aggregator salvage -config FILE -o NEW  copy what is readable of a damaged database
//	aggregator sources -config FILE         each source with its state
//	aggregator preview [-format json] NAME|URL  what a source would publish, now
//	aggregator discover URL                 the feeds of a site, as sources: YAML
//	aggregator opml import [-section NAME] FILE   sources: YAML from an OPML file (sites' feeds discovered)
//	aggregator opml export -config FILE     the sources as OPML
//	aggregator theme export DIR             write the built-in theme into DIR
//	aggregator version                      print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // page.timezone wherever the host lacks the zone files

	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/storage"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or VCS revision is used.
var version = ""

// Exit codes: 2 is a usage or config mistake, exitCorrupt (65) a damaged
// database, 1 any other failure.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

const usage = `usage:
  aggregator serve   [-config FILE] [-log-format text|json] [-log-level LEVEL] [-grace DURATION]
  aggregator fetch   [-config FILE] [-log-format text|json] [-log-level LEVEL] [-force] [NAME...]
  aggregator check   [-config FILE]
  aggregator compact [-config FILE]
  aggregator verify  [-config FILE]
  aggregator salvage [-config FILE] -o NEW.db
  aggregator sources [-config FILE]
  aggregator preview [-config FILE] [-format text|json] NAME|URL
  aggregator discover [-config FILE] URL
  aggregator opml import [-config FILE] [-section NAME] FILE
  aggregator opml export [-config FILE]
  aggregator theme export DIR
  aggregator version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program but for the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "opml":
		return runOPML(ctx, args, stdout, stderr)
	case "preview":
		return runPreview(ctx, args, stdout, stderr)
	case "discover":
		return runDiscover(ctx, args, stdout, stderr)
	case "theme":
		return runTheme(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("aggregator "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "config.yaml", "config `file`")
	var logFormat, logLevel *string
	force := new(bool)
	grace := new(time.Duration)
	if cmd == "serve" {
		grace = fs.Duration("grace", defaultPassGrace, "on SIGTERM, how long a fetch pass may go on before its fetches are cancelled")
	}
	if cmd == "fetch" {
		force = fs.Bool("force", false, "fetch even from hosts whose Retry-After has not passed")
	}
	var salvageOut *string
	if cmd == "salvage" {
		salvageOut = fs.String("o", "", "the new database `file` to write")
	}
	if cmd == "serve" || cmd == "fetch" {
		logFormat = fs.String("log-format", "text", "log format: text or json")
		logLevel = fs.String("log-level", "info", "log level: debug, info, warn or error")
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "aggregator", versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "serve", "fetch", "check", "compact", "sources", "verify", "salvage":
	default:
		fmt.Fprintf(stderr, "aggregator: unknown command %q\n%s", cmd, usage)
		return exitConfig
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if cmd != "fetch" && fs.NArg() > 0 {
		fmt.Fprintf(stderr, "aggregator %s: unexpected arguments %q\n", cmd, fs.Args())
		return exitConfig
	}

	cfg, err := config.Load(*configPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return exitConfig
	}
	if cmd == "check" {
		// The theme too: every template executed against sample pages.
		if _, err := loadTheme(cfg); err != nil {
			printConfigErrors(stderr, err)
			return exitConfig
		}
		rules := ""
		if n := cfg.Rules.Len(); n > 0 {
			rules = fmt.Sprintf(", %d filter rules", n)
		}
		theme := ""
		if cfg.Theme != "" {
			theme = ", theme " + cfg.Theme
		}
		fmt.Fprintf(stdout, "%s: ok: %d sources in %d sections%s%s\n", *configPath, len(cfg.Sources), len(cfg.Sections), rules, theme)
		return exitOK
	}
	cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
	if logFormat == nil {
		logFormat, logLevel = new("text"), new("info")
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "aggregator %s: %v\n", cmd, err)
		return exitConfig
	}
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, serveOptions{passGrace: *grace}, logger)
	case "fetch":
		err = fetchNow(ctx, cfg, fs.Args(), *force, stdout, logger)
	case "compact":
		err = compact(cfg, stdout)
	case "sources":
		err = listSources(ctx, cfg, stdout, stderr)
	case "verify":
		err = verifyDatabase(ctx, cfg, stdout)
	case "salvage":
		err = salvage(cfg, *salvageOut, stdout)
	}
	if err != nil {
		var usageErr *usageError
		fmt.Fprintf(stderr, "aggregator %s: %v\n", cmd, err)
		if errors.As(err, &usageErr) {
			return exitConfig
		}
		if errors.Is(err, storage.ErrCorrupt) {
			fmt.Fprintf(stderr, "aggregator %s: "+corruptHelp, cmd, cfg.Database, *configPath, *configPath)
			return exitCorrupt
		}
		return exitFail
	}
	return exitOK
}

// usageError is a mistake on the command line, such as an unknown source.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// printConfigErrors prints each config problem on its own line, as
// FILE:LINE: message.
func printConfigErrors(w io.Writer, err error) {
	for _, e := range configErrors(err) {
		fmt.Fprintln(w, e)
	}
}

// configErrors splits what config.Load returned into its problems.
func configErrors(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel " + rev
}
