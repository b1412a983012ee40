package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
	bolt "go.etcd.io/bbolt"
)

// A database with bits flipped in random pages, as a failing disk or a bad
// copy leaves it: `serve` and then `fetch` (whose pass reads every item)
// either run as usual (the bits hit free space or an item's text) or stop
// with one error that names the file and says what to do, and exit status
// 65, which the unit does not restart on;
// never a panic or a signal (19 of 40 trials crashed before). `salvage`
// then writes a database that `verify` passes.
func TestCorruptDatabase(t *testing.T) {
	t.Parallel()
	bin := buildAggregator(t)
	dir := t.TempDir()
	// Each feed lists the items stored, with other content: a fetch reads
	// every stored item to compare it.
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(testRSS("s"+strings.TrimPrefix(r.URL.Path, "/f"), 200, base, 100))
	}))
	t.Cleanup(srv.Close)

	addr := freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: %s\ndatabase: db/aggregator.db\nsections: {all: {}}\nsources:\n", addr)
	var sources []aggregator.Source
	for i := range 8 {
		src := aggregator.Source{Name: fmt.Sprintf("s%d", i), URL: fmt.Sprintf("%s/f%d", srv.URL, i), Sections: []string{"all"}}
		sources = append(sources, src)
		fmt.Fprintf(&cfg, "  - {name: %s, url: %q, sections: [all]}\n", src.Name, src.URL)
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dbPath := loadConfig(t, configPath).Database
	if err := os.Mkdir(filepath.Dir(dbPath), 0o700); err != nil {
		t.Fatal(err)
	}
	whole := corpusDatabase(t, filepath.Join(dir, "orig.db"), sources)

	rng := rand.New(rand.NewPCG(6, 13))
	page := os.Getpagesize()
	refused := 0
	for trial := range 40 {
		b := append([]byte(nil), whole...)
		var hit []int
		for range 1 + rng.IntN(3) {
			p := 2 + rng.IntN(len(b)/page-2) // the meta pages have a checksum
			hit = append(hit, p)
			for range 1 + rng.IntN(4) {
				off := rng.IntN(page)
				if rng.IntN(2) == 0 {
					off = rng.IntN(256) // the page header and element table
				}
				b[p*page+off] ^= 1 << rng.IntN(8)
			}
		}
		os.RemoveAll(filepath.Dir(dbPath))
		os.Mkdir(filepath.Dir(dbPath), 0o700)
		if err := os.WriteFile(dbPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		code, stderr := serveUntilFeed(t, bin, configPath, "http://"+addr)
		if code == exitOK {
			code, _, stderr = runBinary(t, bin, false, "fetch", "-config", configPath)
		}
		switch code {
		case exitOK:
			continue
		case exitCorrupt:
			refused++
			if !strings.Contains(stderr, dbPath) || !strings.Contains(stderr, "aggregator salvage -config") {
				t.Errorf("trial %d (pages %v): exit %d with\n%s\nwant the file named and salvage suggested", trial, hit, code, stderr)
			}
		default:
			t.Errorf("trial %d (pages %v): exit %d, want 0 or %d; stderr:\n%s", trial, hit, code, exitCorrupt, stderr)
			continue
		}
		saved := filepath.Join(filepath.Dir(dbPath), "new.db")
		code, stdout, stderr := runBinary(t, bin, false, "salvage", "-config", configPath, "-o", saved)
		if code != exitOK || !strings.Contains(stdout, "copied 8 sources") {
			t.Errorf("trial %d (pages %v): salvage exited %d, printed\n%s%s", trial, hit, code, stdout, stderr)
			continue
		}
		if err := os.Rename(saved, dbPath); err != nil {
			t.Fatal(err)
		}
		if code, stdout, stderr := runBinary(t, bin, false, "verify", "-config", configPath); code != exitOK {
			t.Errorf("trial %d (pages %v): verify of the salvaged database exited %d:\n%s%s", trial, hit, code, stdout, stderr)
		}
	}
	t.Logf("%d of 40 refused as corrupt", refused)
	if refused == 0 {
		t.Error("no trial hit a page that matters: the test tests nothing")
	}
}

// serveUntilFeed runs `serve` until it serves its feed, then stops it with
// SIGTERM, and returns its exit status and stderr; or, if it stops by
// itself, what it returned. It fails the test if serve crashes.
func serveUntilFeed(t *testing.T, bin, configPath, base string) (int, string) {
	t.Helper()
	var stderr syncBuffer
	cmd := exec.Command(bin, "serve", "-config", configPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	deadline := time.After(20 * time.Second)
	for up := false; !up; {
		select {
		case <-exited:
			up = true
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("serve neither served nor stopped:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
			if resp, err := http.Get(base + "/feed.atom"); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("/feed.atom: %s", resp.Status)
				}
				cmd.Process.Signal(syscall.SIGTERM)
				<-exited
				up = true
			}
		}
	}
	if s := stderr.String(); strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:") || strings.Contains(s, "goroutine ") {
		t.Fatalf("serve crashed:\n%s", s)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("serve died of %v:\n%s", ws.Signal(), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// corpusDatabase writes a database of about 2 MB for sources through the
// store at path and returns its bytes.
func corpusDatabase(t *testing.T, path string, sources []aggregator.Source) []byte {
	t.Helper()
	s, err := storage.Open(path, storage.Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, src := range sources {
		var items []aggregator.Item
		for i := range 200 {
			items = append(items, aggregator.Item{
				ID: fmt.Sprintf("%s-%d", src.Name, i), SourceID: src.Name, Title: fmt.Sprintf("%s #%d", src.Name, i),
				Link: fmt.Sprintf("http://%s.example/%d", src.Name, i), Published: base.Add(-time.Duration(i) * time.Minute),
				Content: strings.Repeat(fmt.Sprintf("<p>words of %d</p>", i), 50),
			})
		}
		if _, err := s.Save(context.Background(), src, items, aggregator.SourceState{Name: src.Name, URL: src.URL, LastOutcome: aggregator.OutcomeStored}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A daemon whose pass finds a stored record damaged keeps serving, and
// /healthz says so (503); before, it stayed 200 and only the log told.
func TestHealthzRedOnDamagedRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(testRSS("s0", 200, base, 100))
	}))
	t.Cleanup(srv.Close)
	addr := freeAddr(t)
	cfg := writeAndLoadConfig(t, dir, fmt.Sprintf("listen: %s\ndatabase: test.db\npage: {pages: 1}\nsections: {all: {}}\nsources:\n  - {name: s0, url: %q, sections: [all]}\n", addr, srv.URL+"/f0"))
	corpusDatabase(t, cfg.Database, []aggregator.Source{{Name: "s0", URL: srv.URL + "/f0", Sections: []string{"all"}}})
	// Damage the record of the oldest item, which the pages served at
	// start do not show (one page of 50), but the pass reads.
	db, err := bolt.Open(cfg.Database, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket([]byte("items"))
		var key []byte
		items.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte("s0-199")) {
				key = bytes.Clone(k)
			}
			return nil
		})
		if key == nil {
			return errors.New("no record of item s0-199")
		}
		return items.Put(key, []byte{1})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	d := startServe(t, cfg.File)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never turned red:\n%s", d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := get(t, "http://"+addr+"/feed.atom"); resp.StatusCode != http.StatusOK {
		t.Errorf("/feed.atom: %s, want the feeds still served", resp.Status)
	}
	d.stop(t)
}
