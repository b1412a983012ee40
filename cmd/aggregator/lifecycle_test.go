package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator/internal/promtest"
	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
)

// notifySocket is a fake systemd NOTIFY_SOCKET: it records every datagram
// the daemon sends.
type notifySocket struct {
	path string
	conn *net.UnixConn
	done chan struct{}
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	// A socket path must fit in 108 bytes: t.TempDir() may be too deep.
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "sock"), done: make(chan struct{})}
	n.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.done)
		buf := make([]byte, 4096)
		for {
			k, err := n.conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		n.conn.Close()
		<-n.done
	})
	return n
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// flush waits until the reader has taken every datagram sent so far: it
// sends one of its own and polls, with a deadline, until it arrives
// (a unix datagram socket keeps their order).
func (n *notifySocket) flush(t *testing.T) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("TEST_FLUSH=1")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); n.index("TEST_FLUSH=1", 0) < 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the notify socket's reader took nothing for 5 s")
		}
	}
}

// index is the position of the first message at or after from that holds
// state, or -1.
func (n *notifySocket) index(state string, from int) int {
	msgs := n.messages()
	for i := from; i < len(msgs); i++ {
		if slices.Contains(strings.Split(msgs[i], "\n"), state) {
			return i
		}
	}
	return -1
}

// process is `aggregator serve` running as a child process.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(buildAggregator(t), args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits for the process to end, and fails unless it exits 0
// within limit.
func (p *process) waitExit(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("still running %v after the signal:\n%s", limit, p.stderr)
	}
	if p.err != nil {
		t.Fatalf("serve: %v\n%s", p.err, p.stderr)
	}
	return time.Since(start)
}

// eventually polls cond until it holds, failing the test after a deadline
// or if the process exits.
func (p *process) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case <-p.exited:
			t.Fatalf("waiting for %s: serve exited (%v):\n%s", what, p.err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out:\n%s", what, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getOK returns the body of url, or nil when it cannot be had with a 200.
func getOK(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return body
}

// statusNames returns the sources /status.json lists, with their results.
func statusResults(t *testing.T, base string) map[string]string {
	t.Helper()
	body := getOK(base + "/status.json")
	if body == nil {
		return nil
	}
	var doc struct{ Sources []poll.Status }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	out := make(map[string]string)
	for _, s := range doc.Sources {
		out[s.Name] = s.Result
	}
	return out
}

// scrape parses the daemon's /metrics.
func scrape(t *testing.T, base string) promtest.Families {
	t.Helper()
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return promtest.Parse(t, body)
}

const lifecycleConfig = `title: Planet Test
listen: %[1]s
schedule: "@every 1h"
fetch: {timeout: 5s, concurrency: 2}
sources:
%[2]s`

// TestServeLifecycle runs `aggregator serve` as a child process under a
// fake systemd: READY and WATCHDOG on its notify socket, the database in
// $STATE_DIRECTORY, /metrics, /healthz and /health.atom; then SIGHUP with
// a valid config (a source removed, a failing one added, the rest not
// refetched) and with an invalid one (kept running on the old, each
// problem logged with its line); then SIGTERM (STOPPING, exit 0).
func TestServeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	src := newSourceServer(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	configPath := filepath.Join(dir, "config.yaml")
	writeSources := func(sources string) {
		t.Helper()
		if err := os.WriteFile(configPath, fmt.Appendf(nil, lifecycleConfig, addr, sources), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSources(fmt.Sprintf("  - {name: blog, url: %[1]s/blog.atom}\n  - {name: news, url: %[1]s/news.rss}\n", src.URL))
	sock := listenNotify(t)
	p := startProcess(t, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=200000", "STATE_DIRECTORY=" + stateDir},
		"serve", "-config", configPath)

	p.eventually(t, "READY", func() bool { return sock.index("READY=1", 0) >= 0 })
	p.eventually(t, "WATCHDOG", func() bool { return sock.index("WATCHDOG=1", 0) >= 0 })
	p.eventually(t, "three items", func() bool {
		f, err := gofeed.NewParser().Parse(bytes.NewReader(getOK(base + "/feed.atom")))
		return err == nil && len(f.Items) == 3
	})
	if _, err := os.Stat(filepath.Join(stateDir, "aggregator.db")); err != nil {
		t.Errorf("database not in $STATE_DIRECTORY: %v", err)
	}
	if body := getOK(base + "/healthz"); string(body) != "ok\n" {
		t.Errorf("GET /healthz = %q, want ok", body)
	}

	m := scrape(t, base)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aggregator_fetches_total", []string{"source", "blog", "result", "changed"}, 1},
		{"aggregator_items_stored_total", []string{"source", "blog", "change", "new"}, 2},
		{"aggregator_fetch_duration_seconds", nil, 2},
		{"aggregator_sources", nil, 2},
		{"aggregator_sources_failing", nil, 0},
		{"aggregator_http_requests_total", []string{"route", "/healthz", "code", "200"}, 1},
		{"aggregator_config_last_reload_successful", nil, 1},
	} {
		if got, ok := m.Value(tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%q = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"aggregator_source_last_success_timestamp_seconds", "aggregator_db_size_bytes",
		"aggregator_fetch_bytes_total", "go_goroutines", "process_resident_memory_bytes"} {
		if v, ok := m.Value(name); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}

	// A valid config: news leaves, broken (a 404) comes in.
	writeSources(fmt.Sprintf("  - {name: blog, url: %[1]s/blog.atom}\n  - {name: broken, url: %[1]s/missing.atom}\n", src.URL))
	readyBefore := len(sock.messages())
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "broken fetched after reload", func() bool {
		r := statusResults(t, base)
		_, hasNews := r["news"]
		return strings.HasPrefix(r["broken"], "error") && !hasNews
	})
	p.eventually(t, "news out of the feed", func() bool {
		f, err := gofeed.NewParser().Parse(bytes.NewReader(getOK(base + "/feed.atom")))
		return err == nil && len(f.Items) == 2
	})
	sock.flush(t)
	if i := sock.index("RELOADING=1", readyBefore); i < 0 || sock.index("READY=1", i) < 0 {
		t.Errorf("no RELOADING then READY around the reload: %q", sock.messages()[readyBefore:])
	}
	// The source's state is stored before the pass renders: wait for the
	// render that shows it.
	var health []byte
	p.eventually(t, "health.atom to show the failing source", func() bool {
		health = getOK(base + "/health.atom")
		return bytes.Contains(health, []byte("broken: failing (http status 404)"))
	})
	validateAtom(t, health)
	m = scrape(t, base)
	if v, _ := m.Value("aggregator_fetches_total", "source", "blog"); v != 1 {
		t.Errorf("blog fetched %v times, want 1: a reload must not refetch it", v)
	}
	if v, _ := m.Value("aggregator_sources_failing"); v != 1 {
		t.Errorf("aggregator_sources_failing = %v, want 1", v)
	}
	if v, _ := m.Value("aggregator_fetch_errors_total", "source", "broken", "kind", "http status 404"); v != 1 {
		t.Errorf("aggregator_fetch_errors_total{broken, 404} = %v, want 1", v)
	}
	for _, name := range []string{"aggregator_fetches_total", "aggregator_fetch_bytes_total", "aggregator_items_stored_total", "aggregator_source_consecutive_failures"} {
		if _, ok := m.Value(name, "source", "news"); ok {
			t.Errorf("%s still has a series for news, which left the config", name)
		}
	}

	// An invalid config: logged with its lines, and the old one kept.
	if err := os.WriteFile(configPath, fmt.Appendf(nil, "listen: %s\nschedule: every 5m\nsources:\n  - {name: blog, url: nowhere}\n", addr), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	p.eventually(t, "the invalid config logged", func() bool {
		return strings.Contains(p.stderr.String(), "config.yaml:2: schedule") && strings.Contains(p.stderr.String(), "config.yaml:4: ")
	})
	if r := statusResults(t, base); len(r) != 2 || r["broken"] == "" || r["blog"] == "" {
		t.Errorf("after an invalid reload, status = %q, want blog and broken still", r)
	}
	m = scrape(t, base)
	if v, ok := m.Value("aggregator_config_last_reload_successful"); !ok || v != 0 {
		t.Errorf("aggregator_config_last_reload_successful = %v, want 0", v)
	}
	if v, _ := m.Value("aggregator_config_reloads_total", "result", "invalid"); v != 1 {
		t.Errorf("aggregator_config_reloads_total{invalid} = %v, want 1", v)
	}

	p.signal(t, syscall.SIGTERM)
	took := p.waitExit(t, 10*time.Second)
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	sock.flush(t)
	if sock.index("STOPPING=1", 0) < 0 {
		// The daemon logs a notification that failed: its log says why.
		t.Errorf("no STOPPING: %q\ndaemon's log:\n%s", sock.messages(), p.stderr.String())
	}
}

// hangingFeeds answers nothing until the request is cancelled, and tells
// started of each request.
func hangingFeeds(t *testing.T, started chan<- string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- r.URL.Path:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// TestStopDuringSlowPass sends SIGTERM while a pass waits on sources that
// never answer: the daemon cancels them after -grace, exits 0, records
// nothing for them, and leaves a database that verifies.
func TestStopDuringSlowPass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it")
	}
	t.Parallel()
	src := newSourceServer(t)
	started := make(chan string, 4)
	slow := hangingFeeds(t, started)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "a.db")
	configPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(lifecycleConfig, freeAddr(t), fmt.Sprintf(
		"  - {name: blog, url: %s/blog.atom}\n  - {name: slow1, url: %s/one}\n  - {name: slow2, url: %s/two}\n",
		src.URL, slow.URL, slow.URL))
	cfg = strings.Replace(cfg, "fetch: {timeout: 5s, concurrency: 2}", "database: "+dbPath+"\nfetch: {timeout: 60s, concurrency: 3, per_host: 2}", 1)
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const grace = 500 * time.Millisecond
	p := startProcess(t, nil, "serve", "-config", configPath, "-grace", grace.String())
	for range 2 {
		select {
		case <-started:
		case <-p.exited:
			t.Fatalf("serve exited:\n%s", p.stderr)
		case <-time.After(20 * time.Second):
			t.Fatalf("the slow sources were never asked:\n%s", p.stderr)
		}
	}
	p.signal(t, syscall.SIGTERM)
	took := p.waitExit(t, grace+10*time.Second) // the grace, then at most 5 s for open requests
	t.Logf("stopped in %v with a pass in flight (grace %v)", took.Round(time.Millisecond), grace)
	if took < grace {
		t.Errorf("stopped in %v, before the grace of %v", took, grace)
	}

	store, err := storage.Open(dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Verify(ctx); err != nil {
		t.Errorf("database after SIGTERM: %v", err)
	}
	states, err := store.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"slow1", "slow2"} {
		if st := states[name]; st.LastAttempt != (time.Time{}) || st.Result() != "" {
			t.Errorf("%s: recorded %q after a cancelled fetch, want nothing", name, st.Result())
		}
	}
	if st := states["blog"]; st.LastSuccess.IsZero() {
		t.Errorf("blog: %+v, want its fetch committed", st)
	}
}
