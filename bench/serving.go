package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a child process serving HTTP: the daemon or the bare baseline.
type server struct {
	cmd *exec.Cmd
	url string // of the merged Atom feed
}

// startDaemon starts `aggregator serve` on p's database and waits until it
// serves the merged feed.
func startDaemon(bin string, p *planet) (*server, error) {
	cmd := exec.Command(bin, "serve", "-config", p.config, "-log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + p.listen + "/feed.atom"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url)
		if err == nil {
			_, err = discard(resp.Body)
			if resp.StatusCode == http.StatusOK && err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("aggregator serve: no feed at %s after a minute", s.url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startBare starts the bare baseline server with the daemon's bytes.
func startBare(self, dir string, plain, gz []byte, contentType string) (*server, error) {
	plainFile, gzFile := filepath.Join(dir, "feed.atom"), filepath.Join(dir, "feed.atom.gz")
	if err := os.WriteFile(plainFile, plain, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(gzFile, gz, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", "bare", "-child-plain", plainFile, "-child-gzip", gzFile, "-child-type", contentType)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("bare server: %w", err)
	}
	return &server{cmd: cmd, url: "http://" + strings.TrimSpace(addr) + "/feed.atom"}, nil
}

// stop asks the server to stop and waits for it.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	err := s.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // killed by the signal, or exited on it
	}
	return err
}

// getFeed returns the body at url and its Content-Type, gzip-encoded or not.
func getFeed(url string, gzip bool) ([]byte, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	if got := resp.Header.Get("Content-Encoding") == "gzip"; got != gzip {
		return nil, "", fmt.Errorf("%s: Content-Encoding %q with gzip=%v", url, resp.Header.Get("Content-Encoding"), gzip)
	}
	b, err := io.ReadAll(resp.Body)
	return b, resp.Header.Get("Content-Type"), err
}

// loadResult is what a load run measured.
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
}

// load sends GETs for url from clients keep-alive connections for d after
// a warm-up, each client waiting for its response before the next request,
// and checks that each body is wantLen bytes.
func load(url string, gzip bool, clients int, d time.Duration, wantLen int) (loadResult, error) {
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
	}
	defer tr.CloseIdleConnections()
	warm := max(d/5, 100*time.Millisecond)
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+d)
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			for {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs[c] = err
					return
				}
				n, err := discard(resp.Body)
				t1 := time.Now()
				if err != nil || resp.StatusCode != http.StatusOK || n != int64(wantLen) {
					errs[c] = fmt.Errorf("GET %s: %s, %d bytes (want %d), %v", url, resp.Status, n, wantLen, err)
					return
				}
				if !t0.Before(from) && !t1.After(until) {
					lat[c] = append(lat[c], t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return loadResult{}, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("GET %s: no request completed in %s", url, d)
	}
	slices.Sort(all)
	return loadResult{
		rps: float64(len(all)) / d.Seconds(),
		p50: all[len(all)/2],
		p99: all[len(all)*99/100],
	}, nil
}
