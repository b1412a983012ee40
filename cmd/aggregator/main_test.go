package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
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
