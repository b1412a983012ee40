package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/planetgo/aggregator/bench/synth"
)

// sections is the number of sections the sources are spread over, so that a
// pass renders per-section outputs as a real planet's does.
const sections = 4

// planet is one benchmark planet: a feed server on loopback and a config
// for the daemon that fetches it.
type planet struct {
	feeds  *synth.Feeds
	base   string // the feed server's URL
	dir    string
	config string // path of config.yaml
	rules  string // path of config-rules.yaml: config.yaml with ten rules at each level
	db     string
	listen string // where aggregator serve listens
	srv    *http.Server
}

// newPlanet starts a feed server for n sources of items items and writes
// a config for them under dir.
func newPlanet(dir string, n, items, concurrency int) (*planet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &planet{
		feeds:  synth.New(n, items),
		base:   "http://" + ln.Addr().String(),
		dir:    dir,
		config: filepath.Join(dir, "config.yaml"),
		rules:  filepath.Join(dir, "config-rules.yaml"),
		db:     filepath.Join(dir, "planet.db"),
	}
	p.srv = &http.Server{Handler: p.feeds, IdleTimeout: time.Minute}
	go p.srv.Serve(ln)
	if p.listen, err = freeAddr(); err != nil {
		p.close()
		return nil, err
	}
	if err := os.WriteFile(p.config, []byte(p.yaml(concurrency, false)), 0o644); err != nil {
		p.close()
		return nil, err
	}
	if err := os.WriteFile(p.rules, []byte(p.yaml(concurrency, true)), 0o644); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *planet) close() { p.srv.Close() }

// yaml is the daemon's config: every source on the one loopback host, with
// as many requests in flight to it as the pass has in all (a real planet's
// sources are on many hosts), and a schedule that never fires during a run.
// With rules, the top level, each section and each source have ten rules
// (synth.Filters).
func (p *planet) yaml(concurrency int, rules bool) string {
	sectionFilters, sourceFilters := func(int) string { return "" }, func(int) string { return "" }
	if rules {
		sectionFilters = func(int) string { return ", filters: " + synth.Filters(synth.LevelSection, 0) }
		sourceFilters = func(i int) string { return ", filters: " + synth.Filters(synth.LevelSource, i) }
	}
	var b strings.Builder
	fmt.Fprintf(&b, `title: Bench Planet
base_url: http://%s
listen: %s
database: %s
schedule: "@every 12h"
fetch:
  concurrency: %d
  per_host: %d
  jitter: 0
publish:
  items: 50
`, p.listen, p.listen, p.db, concurrency, concurrency)
	if rules {
		fmt.Fprintf(&b, "filters: %s\n", synth.Filters(synth.LevelAll, 0))
	}
	b.WriteString("sections:\n")
	for s := range sections {
		fmt.Fprintf(&b, "  sec%d: {title: Section %d%s}\n", s, s, sectionFilters(s))
	}
	b.WriteString("sources:\n")
	for i := range p.feeds.Sources {
		fmt.Fprintf(&b, "  - {name: s%05d, url: %q, sections: [sec%d]%s}\n", i, p.base+p.feeds.Path(i), i%sections, sourceFilters(i))
	}
	return b.String()
}

// reset removes the database and puts every feed back at its first version.
func (p *planet) reset() error {
	p.feeds.Reset()
	if err := os.Remove(p.db); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// pass runs one `aggregator fetch` over every source and checks that each
// printed want.
func (p *planet) pass(bin, want string) (usage, error) {
	return p.passWith(bin, p.config, want)
}

// passWith is pass with the config at configPath.
func (p *planet) passWith(bin, configPath, want string) (usage, error) {
	u, err := runChild(bin, "fetch", "-config", configPath)
	if err != nil {
		return u, err
	}
	lines := strings.Split(strings.TrimSpace(u.stdout), "\n")
	got := 0
	for _, l := range lines {
		if _, result, _ := strings.Cut(l, ": "); result == want {
			got++
		}
	}
	if got != p.feeds.Sources {
		return u, fmt.Errorf("pass: %d of %d sources printed %q; first lines:\n%s", got, p.feeds.Sources, want, firstLines(u.stdout, 5))
	}
	return u, nil
}

// baseline runs the parsing floor over the same feeds in a child process.
func (p *planet) baseline(self string, concurrency int) (usage, error) {
	u, err := runChild(self, "-child", "baseline", "-child-base", p.base,
		"-sources", fmt.Sprint(p.feeds.Sources), "-concurrency", fmt.Sprint(concurrency))
	if err != nil {
		return u, err
	}
	if got, want := strings.TrimSpace(u.stdout), fmt.Sprint(p.feeds.Sources*p.feeds.Items); got != want {
		return u, fmt.Errorf("baseline parsed %s items, want %s", got, want)
	}
	return u, nil
}

// ingestRun is one run of the ingest benchmarks.
type ingestRun struct {
	baseline, first, unchanged, small usage
	changed                           int // sources that gained an item
}

// ingest runs the baseline and the three daemon passes once, from an empty
// database. Odd runs take the baseline last, so that neither side always
// runs on a warmer machine.
func (p *planet) ingest(bin, self string, concurrency, run int) (ingestRun, error) {
	var r ingestRun
	var err error
	if run%2 == 0 {
		if r.baseline, err = p.baseline(self, concurrency); err != nil {
			return r, err
		}
	}
	if err := p.reset(); err != nil {
		return r, err
	}
	if r.first, err = p.pass(bin, fmt.Sprintf("new %d", p.feeds.Items)); err != nil {
		return r, fmt.Errorf("first pass: %w", err)
	}
	if r.unchanged, err = p.unchanged(bin); err != nil {
		return r, err
	}
	r.changed = p.feeds.Bump(10)
	if r.small, err = p.smallChange(bin, r.changed); err != nil {
		return r, err
	}
	if run%2 == 1 {
		p.feeds.Reset()
		if r.baseline, err = p.baseline(self, concurrency); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (p *planet) unchanged(bin string) (usage, error) {
	u, err := p.pass(bin, "not modified")
	if err != nil {
		return u, fmt.Errorf("unchanged pass: %w", err)
	}
	return u, nil
}

// smallChange runs a pass after changed sources gained one item each.
func (p *planet) smallChange(bin string, changed int) (usage, error) {
	u, err := runChild(bin, "fetch", "-config", p.config)
	if err != nil {
		return u, fmt.Errorf("small-change pass: %w", err)
	}
	if n := strings.Count(u.stdout, ": new 1\n"); n != changed {
		return u, fmt.Errorf("small-change pass: %d sources printed \"new 1\", want %d; first lines:\n%s", n, changed, firstLines(u.stdout, 5))
	}
	return u, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// freeAddr returns a loopback address free at the time of asking.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
