package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/config"
	"github.com/planetgo/aggregator/publish"
)

// opmlImport prints, for the subscriptions of the OPML file at path, the
// sources: YAML to paste into a config, each in section if it is not
// empty.
func opmlImport(path, section string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sources, err := config.ReadOPML(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(sources) == 0 {
		return &usageError{fmt.Sprintf("%s: no subscriptions (outlines with an http(s) xmlUrl)", path)}
	}
	return config.WriteSources(stdout, fmt.Sprintf("%d sources from %s", len(sources), path), sources, section)
}

// opmlExport prints cfg's sources as OPML, grouped by section: the list the
// daemon serves at /sources.opml, with the titles the feeds gave when the
// database or the daemon knows them.
func opmlExport(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	list, _, err := sourceStatuses(ctx, cfg)
	if err != nil {
		return err
	}
	states := make(map[string]aggregator.SourceState, len(list))
	for _, s := range list {
		states[s.Name] = aggregator.SourceState{Name: s.Name, FeedTitle: s.Title}
	}
	opts := siteOptions(cfg, slog.New(slog.DiscardHandler))
	site := publish.NewSite(statesOnly(states), opts)
	if err := site.Rebuild(ctx); err != nil {
		return err
	}
	rec := httptest.NewRecorder()
	site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sources.opml", nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("render OPML: %d %s", rec.Code, rec.Body)
	}
	_, err = stdout.Write(rec.Body.Bytes())
	return err
}

// statesOnly is a publish.Store with source states and no items.
type statesOnly map[string]aggregator.SourceState

func (s statesOnly) RecentItems(context.Context, string, int) ([]aggregator.Item, error) {
	return nil, nil
}

func (s statesOnly) States(context.Context) (map[string]aggregator.SourceState, error) {
	return s, nil
}

// runOPML runs `aggregator opml import|export`.
func runOPML(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export") {
		fmt.Fprint(stderr, "aggregator opml: want import or export\n"+usage)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("aggregator opml "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	section := fs.String("section", "", "put every source in section `NAME`")
	configPath := new(string)
	if sub == "export" {
		configPath = fs.String("config", "config.yaml", "config `file`")
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	var err error
	switch {
	case sub == "import" && fs.NArg() != 1:
		fmt.Fprintf(stderr, "aggregator opml import: want one OPML file\n%s", usage)
		return exitConfig
	case sub == "import":
		err = opmlImport(fs.Arg(0), *section, stdout)
	case fs.NArg() > 0 || *section != "":
		fmt.Fprintf(stderr, "aggregator opml export: unexpected arguments\n%s", usage)
		return exitConfig
	default:
		cfg, lerr := config.Load(*configPath)
		if lerr != nil {
			printConfigErrors(stderr, lerr)
			return exitConfig
		}
		cfg.UseStateDirectory(os.Getenv("STATE_DIRECTORY"))
		err = opmlExport(ctx, cfg, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "aggregator opml %s: %v\n", sub, err)
		var usageErr *usageError
		if errors.As(err, &usageErr) {
			return exitConfig
		}
		return exitFail
	}
	return exitOK
}
