package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator/config"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// goroutine the daemon starts has an owner that waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(code int) {
			if builtBin != "" {
				os.RemoveAll(filepath.Dir(builtBin))
			}
			os.Exit(code)
		}),
		// Keep-alive connections of the tests' own HTTP clients.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// openApp opens the database and builds the fetcher and the site for cfg.
func openApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*app, error) {
	return openAppWith(ctx, cfg, logger, appOptions{})
}

// README's list of commands is the one usage prints.
func TestUsageIsREADMEs(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Commands\n\n```\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatal("README.md has no ## Commands code block")
	}
	want := "usage:\n" + strings.ReplaceAll("  "+strings.TrimSuffix(block, "\n"), "\n", "\n  ") + "\n"
	if got := usage(); got != want {
		t.Errorf("usage:\n%s\nREADME's Commands:\n%s", got, want)
	}
}
