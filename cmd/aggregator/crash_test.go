package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator/storage"
)

// growingFeeds serves n feeds whose items grow by one on every request,
// each listing its newest 20, so that every fetch pass has items to write.
type growingFeeds struct {
	mu   sync.Mutex
	gens map[string]int
}

func (g *growingFeeds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.gens[r.URL.Path]++
	gen := g.gens[r.URL.Path]
	g.mu.Unlock()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><rss version="2.0"><channel><title>Feed %s</title><link>http://grow.example%s</link><description>d</description>`, r.URL.Path, r.URL.Path)
	for i := gen; i > max(0, gen-20); i-- {
		fmt.Fprintf(&b, `<item><title>Item %d</title><link>http://grow.example%s/%d</link><guid>%s-%d</guid><pubDate>%s</pubDate><description>&lt;p&gt;%s&lt;/p&gt;</description></item>`,
			i, r.URL.Path, i, r.URL.Path, i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), strings.Repeat("body ", 50))
	}
	b.WriteString(`</channel></rss>`)
	w.Write([]byte(b.String()))
}

// TestCrashSafety runs `serve` as a subprocess over a few hundred loopback
// sources and kills it with SIGKILL at random moments, restarting it each
// time: the database always opens and verifies, every item stored before a
// kill is still there after it, and the feeds served after every restart are
// valid.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a daemon several times")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := buildAggregator(t)
	srv := httptest.NewServer(&growingFeeds{gens: map[string]int{}})
	t.Cleanup(srv.Close)

	addr := freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: %s\ndatabase: %s\nschedule: \"@every 1s\"\nfetch: {concurrency: 16, per_host: 16}\nretention: {max_items: 100000}\nsections: {odd: {}, even: {}}\nsources:\n",
		addr, filepath.Join(dir, "crash.db"))
	for i := range 300 {
		fmt.Fprintf(&cfg, "  - {name: s%03d, url: %q, sections: [%s]}\n", i, fmt.Sprintf("%s/f%03d", srv.URL, i), []string{"even", "odd"}[i%2])
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	stored := map[string]bool{}
	for round := range 6 {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "serve", "-config", configPath)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// After a restart the feeds are served, and valid, at once.
		if round > 0 {
			checkServedFeeds(t, "http://"+addr, &stderr)
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond) // the random moment of the kill
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		now := storedItems(t, filepath.Join(dir, "crash.db"))
		for key := range stored {
			if !now[key] {
				t.Fatalf("round %d: item %s was stored before the kill and is gone after it", round, key)
			}
		}
		t.Logf("round %d: %d items stored (%d new)", round, len(now), len(now)-len(stored))
		stored = now
	}
	if len(stored) == 0 {
		t.Error("no item was ever stored: the kills came too early to test anything")
	}
}

// storedItems opens the database a killed daemon left, verifies it, and
// returns the keys of every item in it.
func storedItems(t *testing.T, path string) map[string]bool {
	t.Helper()
	s, err := storage.Open(path, storage.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("database after a kill: %v", err)
	}
	defer s.Close()
	if err := s.Verify(context.Background()); err != nil {
		t.Fatalf("database after a kill: %v", err)
	}
	items, err := s.RecentItems(context.Background(), "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	keys := make(map[string]bool, len(items))
	for _, it := range items {
		key := it.SourceID + "/" + it.ID
		if keys[key] {
			t.Fatalf("item %s stored twice", key)
		}
		keys[key] = true
	}
	return keys
}

// checkServedFeeds waits for the daemon to serve and checks that every
// format of the merged feed parses, and that the Atom one is valid.
func checkServedFeeds(t *testing.T, base string, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/feed.atom")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				validateAtom(t, body)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not serve after a restart: %v\n%s", err, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ext := range []string{".rss", ".json"} {
		_, body := get(t, base+"/feed"+ext)
		if _, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err != nil {
			t.Errorf("feed%s after a restart: %v", ext, err)
		}
	}
}

// validateAtom checks an Atom document with jing against RFC 4287's
// schema, when both are at hand, and with gofeed always.
func validateAtom(t *testing.T, doc []byte) {
	t.Helper()
	if _, err := gofeed.NewParser().Parse(bytes.NewReader(doc)); err != nil {
		t.Errorf("Atom does not parse: %v", err)
	}
	const schema = "../../../shared/schemas/atom.rnc"
	jing, err := exec.LookPath("jing")
	if err != nil {
		return
	}
	if _, err := os.Stat(schema); err != nil {
		return
	}
	path := filepath.Join(t.TempDir(), "feed.atom")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(jing, "-c", schema, path).CombinedOutput(); err != nil {
		t.Errorf("Atom is not valid: %v\n%s", err, out)
	}
}
