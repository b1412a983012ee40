//go:build unix

package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/planetgo/aggregator/config"
)

// TestLoadNotRegular checks that Load refuses what is not a regular file
// without opening it: opening a FIFO for reading waits for a writer, for
// ever, and SIGTERM did not end `aggregator check -config FIFO`.
func TestLoadNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, link, dir, os.DevNull} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := config.Load(path)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				// Let the blocked open return, so that the test ends.
				if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
				t.Fatalf("Load(%s) still blocked after 10s", path)
			}
			var pathErr *fs.PathError
			if !errors.Is(err, config.ErrNotRegular) || !errors.As(err, &pathErr) || pathErr.Path != path {
				t.Errorf("Load(%s) error = %v, want a *fs.PathError of ErrNotRegular", path, err)
			}
		})
	}
}
