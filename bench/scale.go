package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// scaleRun is what -scale measured of one planet size.
type scaleRun struct {
	sources             int
	first, unchanged    usage
	baseline            usage
	dbBytes             int64
	renderMerged, rebld float64 // ns per render, median
}

// scale runs a first pass, an unchanged pass and the baseline on a planet of
// o.sources and one of o.scaleSources, then times renders on both
// databases, and prints their table.
func scale(o options, bin, self, dir string) error {
	var res []scaleRun
	for _, n := range []int{o.sources, o.scaleSources} {
		p, err := newPlanet(filepath.Join(dir, fmt.Sprintf("planet%d", n)), n, o.items, o.concurrency)
		if err != nil {
			return err
		}
		r := scaleRun{sources: n}
		progress("scale: %d sources, first pass", n)
		if r.first, err = p.pass(bin, fmt.Sprintf("new %d", o.items)); err != nil {
			p.close()
			return fmt.Errorf("%d sources: first pass: %w", n, err)
		}
		progress("scale: %d sources, unchanged pass", n)
		if r.unchanged, err = p.unchanged(bin); err != nil {
			p.close()
			return err
		}
		progress("scale: %d sources, baseline", n)
		if r.baseline, err = p.baseline(self, o.concurrency); err != nil {
			p.close()
			return err
		}
		p.close()
		fi, err := os.Stat(p.db)
		if err != nil {
			return err
		}
		r.dbBytes = fi.Size()
		progress("scale: %d sources, render", n)
		if r.renderMerged, r.rebld, err = renderTimes(p.config, o.runs); err != nil {
			return err
		}
		res = append(res, r)
	}
	small, large := res[0], res[1]
	k := float64(large.sources) / float64(small.sources)
	fmt.Printf("workload: %d and %d sources × %d items, concurrency %d; one pass each, renders median of %d\n\n",
		small.sources, large.sources, o.items, o.concurrency, max(o.runs, 5))
	t := &table{}
	growth := large.first.wall.Seconds() / small.first.wall.Seconds() / k
	t.add(fmt.Sprintf("5. first pass wall, %d vs %d sources, per source", large.sources, small.sources),
		secs(large.first.wall.Seconds()), secs(small.first.wall.Seconds()), ratio(growth), "≤ 1.00× (linear)", met(growth <= 1))
	for _, r := range res {
		t.add(fmt.Sprintf("   %d sources: first pass vs baseline, wall / CPU", r.sources),
			secs(r.first.wall.Seconds())+" / "+secs(r.first.cpu.Seconds()),
			secs(r.baseline.wall.Seconds())+" / "+secs(r.baseline.cpu.Seconds()),
			ratio(r.first.wall.Seconds()/r.baseline.wall.Seconds())+" / "+ratio(r.first.cpu.Seconds()/r.baseline.cpu.Seconds()), "reported", "")
		t.add(fmt.Sprintf("   %d sources: unchanged pass, wall", r.sources), secs(r.unchanged.wall.Seconds()),
			"first pass", pct(r.unchanged.wall.Seconds()/r.first.wall.Seconds()), "≤ 5%", met(r.unchanged.wall <= r.first.wall/20))
	}
	items := func(r scaleRun) int { return r.sources * o.items }
	mr := large.renderMerged / small.renderMerged
	t.add(fmt.Sprintf("5. render merged feed, %dk vs %dk items stored", items(large)/1000, items(small)/1000),
		dur(large.renderMerged), dur(small.renderMerged), ratio(mr), "≤ 1.50×", met(mr <= 1.5))
	t.add(fmt.Sprintf("   full Rebuild (%d sections, pages, OPML), %dk vs %dk", sections, items(large)/1000, items(small)/1000),
		dur(large.rebld), dur(small.rebld), ratio(large.rebld/small.rebld), "reported", "")
	t.add(fmt.Sprintf("5. peak RSS through the pass, %d sources", large.sources), mib(large.first.maxRSS), "512 MiB",
		ratio(float64(large.first.maxRSS)/(512<<20)), "≤ 1.00×", met(large.first.maxRSS <= 512<<20))
	t.add(fmt.Sprintf("   peak RSS, %d sources", small.sources), mib(small.first.maxRSS), "", "", "reported", "")
	for _, r := range res {
		t.add(fmt.Sprintf("5. bytes on disk per item, %d items", items(r)), strconv.FormatInt(r.dbBytes/int64(items(r)), 10)+" B",
			"file "+mib(r.dbBytes), "", "reported", "")
	}
	t.print(os.Stdout)
	return nil
}

// renderTimes runs cmd/aggregator's BenchmarkRebuild on the database of
// config and returns the median ns per render of the merged feed alone and
// of the full Rebuild.
func renderTimes(config string, runs int) (merged, all float64, err error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkRebuild$", "-benchtime", "20x",
		"-count", strconv.Itoa(max(runs, 5)), "github.com/planetgo/aggregator/cmd/aggregator")
	cmd.Env = append(os.Environ(), "AGGREGATOR_BENCH_CONFIG="+config)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("BenchmarkRebuild: %w\n%s", err, out)
	}
	times := map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkRebuild/") || f[3] != "ns/op" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(f[0], "BenchmarkRebuild/"), "-")
		ns, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("BenchmarkRebuild: %q: %w", sc.Text(), err)
		}
		times[name] = append(times[name], ns)
	}
	if len(times["merged"]) == 0 || len(times["all"]) == 0 {
		return 0, 0, fmt.Errorf("BenchmarkRebuild printed no times:\n%s", out)
	}
	return median(times["merged"]), median(times["all"]), nil
}
