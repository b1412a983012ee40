package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetgo/aggregator/bench/synth"
)

// BenchmarkFirstPass runs `aggregator fetch` in process over a fresh
// database and 1,000 synthetic sources of 50 items on loopback (fewer with
// -short), so that a CPU profile shows where a first pass spends its time:
//
//	go test -run '^$' -bench '^BenchmarkFirstPass$' -benchtime 1x -cpuprofile cpu.out ./cmd/aggregator
//	go tool pprof -top cpu.out
//
// The feed server runs in the same process: its functions (synth.*,
// net/http.(*conn).serve) are the benchmark's, not the daemon's. bench/
// measures the pass against its baseline; this is for the profile.
func BenchmarkFirstPass(b *testing.B) {
	configPath, db, sources, _ := benchPlanet(b)
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(db); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		benchFetch(b, configPath, ": new 50\n", sources)
	}
}

// BenchmarkFirstPassRules is BenchmarkFirstPass with ten rules at each
// level of the config (synth.Filters): the top level, each section, each
// source.
func BenchmarkFirstPassRules(b *testing.B) {
	configPath, db, sources, _ := benchPlanetWith(b, true)
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(db); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		benchFetch(b, configPath, ": new 50\n", sources)
	}
}

// BenchmarkCountHidden runs `aggregator sources` over the planet of
// BenchmarkFirstPassRules: a process that counts, cold, every stored item
// the rules hide, as a daemon does at its first render.
func BenchmarkCountHidden(b *testing.B) {
	configPath, _, sources, _ := benchPlanetWith(b, true)
	benchFetch(b, configPath, ": new 50\n", sources)
	for b.Loop() {
		var stdout strings.Builder
		if code := run(context.Background(), []string{"sources", "-config", configPath}, &stdout, io.Discard); code != exitOK {
			b.Fatalf("sources exited %d", code)
		}
	}
}

// BenchmarkUnchangedPass is BenchmarkFirstPass's planet fetched again: every
// source answers 304.
func BenchmarkUnchangedPass(b *testing.B) {
	configPath, _, sources, _ := benchPlanet(b)
	benchFetch(b, configPath, ": new 50\n", sources)
	for b.Loop() {
		benchFetch(b, configPath, ": not modified\n", sources)
	}
}

// BenchmarkSmallChangePass is BenchmarkFirstPass's planet fetched again
// after every tenth source gained one item.
func BenchmarkSmallChangePass(b *testing.B) {
	configPath, _, sources, feeds := benchPlanet(b)
	benchFetch(b, configPath, ": new 50\n", sources)
	for b.Loop() {
		b.StopTimer()
		changed := feeds.Bump(10)
		b.StartTimer()
		benchFetch(b, configPath, ": new 1\n", changed)
	}
}

// benchPlanet starts the feed server and writes the config of the
// benchmark planet: 1,000 sources of 50 items (20 with -short) in four
// sections.
func benchPlanet(b *testing.B) (configPath, db string, sources int, feeds *synth.Feeds) {
	return benchPlanetWith(b, false)
}

// benchPlanetWith is benchPlanet, with ten rules at each level when rules.
func benchPlanetWith(b *testing.B, rules bool) (configPath, db string, sources int, feeds *synth.Feeds) {
	sources = 1000
	if testing.Short() {
		sources = 20
	}
	feeds = synth.New(sources, 50)
	srv := httptest.NewServer(feeds)
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	db = filepath.Join(dir, "planet.db")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "database: %s\nfetch: {concurrency: 8, per_host: 8, jitter: 0}\n", db)
	sectionFilters, sourceFilters := func(int) string { return "" }, func(int) string { return "" }
	if rules {
		fmt.Fprintf(&cfg, "filters: %s\n", synth.Filters(synth.LevelAll, 0))
		sectionFilters = func(int) string { return ", filters: " + synth.Filters(synth.LevelSection, 0) }
		sourceFilters = func(i int) string { return ", filters: " + synth.Filters(synth.LevelSource, i) }
	}
	cfg.WriteString("sections:\n")
	for s := range 4 {
		fmt.Fprintf(&cfg, "  %c: {title: %c%s}\n", 'a'+s, 'A'+s, sectionFilters(s))
	}
	cfg.WriteString("sources:\n")
	for i := range sources {
		fmt.Fprintf(&cfg, "  - {name: s%05d, url: %q, sections: [%c]%s}\n", i, srv.URL+feeds.Path(i), 'a'+i%4, sourceFilters(i))
	}
	configPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return configPath, db, sources, feeds
}

// benchFetch runs `aggregator fetch` and checks that every source's result
// line ends in want.
func benchFetch(b *testing.B, configPath, want string, sources int) {
	var stdout strings.Builder
	if code := run(context.Background(), []string{"fetch", "-config", configPath, "-log-level", "warn"}, &stdout, io.Discard); code != exitOK {
		b.Fatalf("fetch exited %d", code)
	}
	if n := strings.Count(stdout.String(), want); n != sources {
		b.Fatalf("%d of %d sources: %q", n, sources, want)
	}
}
