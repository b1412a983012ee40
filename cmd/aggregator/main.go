// Command aggregator fetches the sources of a YAML config into a bbolt
// database and serves them as merged and per-section Atom, RSS and JSON
// feeds. Its commands are the table commands; `aggregator help` lists
// them, and README.md says what each does.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
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

// command is one of aggregator's commands: its name, what it takes, and
// what it does.
type command struct {
	name, args string
	run        func(c *cli) error
}

// commands are aggregator's commands, in the order usage lists them.
var commands = []command{
	{"serve", "[-config FILE] [-log-format text|json] [-log-level LEVEL] [-grace DURATION]", runServe},
	{"fetch", "[-config FILE] [-log-format text|json] [-log-level LEVEL] [-force] [NAME...]", runFetch},
	{"check", "[-config FILE]", runCheck},
	{"compact", "[-config FILE]", runCompact},
	{"verify", "[-config FILE]", runVerify},
	{"salvage", "[-config FILE] -o NEW.db", runSalvage},
	{"sources", "[-config FILE]", runSources},
	{"preview", "[-config FILE] [-format text|json] NAME|URL", runPreview},
	{"discover", "[-config FILE] URL", runDiscover},
	{"opml import", "[-config FILE] [-section NAME] FILE", runOPMLImport},
	{"opml export", "[-config FILE]", runOPMLExport},
	{"theme export", "DIR", runThemeExport},
	{"version", "", runVersion},
}

// usage lists the commands.
func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(fmt.Sprintf("aggregator %-7s %s", c.name, c.args)))
	}
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program but for the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitConfig
	}
	switch args[0] {
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	cmd, args, err := lookup(args)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n%s", err, usage())
		return exitConfig
	}
	c := &cli{ctx: ctx, cmd: cmd, args: args, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet("aggregator "+cmd.name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	return c.exit(cmd.run(c))
}

// lookup finds the command args start with: its name is one word or two
// ("opml import").
func lookup(args []string) (command, []string, error) {
	var subs []string
	for _, c := range commands {
		first, second, two := strings.Cut(c.name, " ")
		switch {
		case first != args[0]:
		case !two:
			return c, args[1:], nil
		case len(args) > 1 && args[1] == second:
			return c, args[2:], nil
		default:
			subs = append(subs, strings.TrimSpace(second+" "+c.args))
		}
	}
	if len(subs) > 1 {
		for i, sub := range subs {
			subs[i], _, _ = strings.Cut(sub, " ")
		}
	}
	if len(subs) > 0 {
		return command{}, nil, fmt.Errorf("aggregator %s: want %s", args[0], strings.Join(subs, " or "))
	}
	return command{}, nil, fmt.Errorf("aggregator: unknown command %q", args[0])
}

// cli is one run of a command: its flags and arguments, where it writes,
// and the config file it names.
type cli struct {
	ctx            context.Context
	cmd            command
	args           []string
	fs             *flag.FlagSet
	stdout, stderr io.Writer
	configPath     *string
	database       string // of the config loaded, for the help on a damaged one
}

// configFlag defines -config, described as what (the default description
// when "").
func (c *cli) configFlag(what string) {
	c.configPath = c.fs.String("config", "config.yaml", cmp.Or(what, "config `file`"))
}

// load defines -config unless the command did, parses the command line,
// which must leave n arguments (any number when n < 0), and loads the
// config.
func (c *cli) load(n int) (*config.Config, error) {
	if c.configPath == nil {
		c.configFlag("")
	}
	if err := c.parse(n); err != nil {
		return nil, err
	}
	return c.config()
}

// parse parses the command line, which must leave n arguments (any number
// when n < 0).
func (c *cli) parse(n int) error {
	if err := c.fs.Parse(c.args); err != nil {
		return &exitError{exitConfig} // the flag package printed why
	}
	switch got := c.fs.NArg(); {
	case n == 0 && got > 0:
		return &usageError{fmt.Sprintf("unexpected arguments %q", c.fs.Args())}
	case n > 0 && got != n:
		return &usageError{fmt.Sprintf("want %d argument, got %d\nusage: aggregator %s %s", n, got, c.cmd.name, c.cmd.args)}
	}
	return nil
}

// config loads the config file -config names, with the state directory
// systemd gives.
func (c *cli) config() (*config.Config, error) {
	cfg, err := config.Load(*c.configPath)
	if err != nil {
		return nil, &configError{err}
	}
	cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
	c.database = cfg.Database
	return cfg, nil
}

// optionalConfig is config, or the defaults when -config was not given
// and there is no config.yaml: for the commands that only need the
// fetcher's settings.
func (c *cli) optionalConfig() (*config.Config, error) {
	named := false
	c.fs.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	cfg, err := c.config()
	if !named && errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return cfg, err
}

// logger defines -log-format and -log-level, and returns the logger they
// ask for once parsed.
func (c *cli) logger() func() (*slog.Logger, error) {
	format := c.fs.String("log-format", "text", "log format: text or json")
	level := c.fs.String("log-level", "info", "log level: debug, info, warn or error")
	return func() (*slog.Logger, error) {
		l, err := newLogger(c.stderr, *format, *level)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		return l, nil
	}
}

// exit prints err, the command's failure, and returns the exit status.
func (c *cli) exit(err error) int {
	var usageErr *usageError
	var cfgErr *configError
	var exit *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &cfgErr):
		printConfigErrors(c.stderr, cfgErr.err)
		return exitConfig
	}
	fmt.Fprintf(c.stderr, "aggregator %s: %v\n", c.cmd.name, err)
	switch {
	case errors.As(err, &usageErr):
		return exitConfig
	case errors.Is(err, storage.ErrCorrupt):
		cfg := "config.yaml"
		if c.configPath != nil {
			cfg = *c.configPath
		}
		fmt.Fprintf(c.stderr, "aggregator %s: "+corruptHelp, c.cmd.name, c.database, cfg, cfg)
		return exitCorrupt
	}
	return exitFail
}

// usageError is a mistake on the command line, such as an unknown source.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// configError is what config.Load (or a theme) found wrong: printed as
// FILE:LINE: message lines, exit 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// exitError ends a command whose reason is printed already.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

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

// runVersion prints the version, whatever follows.
func runVersion(c *cli) error {
	fmt.Fprintln(c.stdout, "aggregator", versionString())
	return nil
}

// versionString is the -ldflags version, else the module's version as Go
// stamped it (a tag, or since Go 1.24 the pseudo-version of the commit
// built, +dirty when it had changes), else "devel" (go run, -buildvcs=false).
func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}
