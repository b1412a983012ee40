package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// servingRuns holds, per encoding, one load result per run for the daemon
// and for the bare server.
type servingRuns struct {
	daemon, bare map[bool][]loadResult // by gzip
	sizes        map[bool]int          // body bytes, by gzip
}

// serving loads the merged Atom feed of p's database, served by the daemon
// and by the bare baseline, plain and gzip, alternating which goes first.
func serving(o options, bin, self, dir string, p *planet) (servingRuns, error) {
	res := servingRuns{daemon: map[bool][]loadResult{}, bare: map[bool][]loadResult{}, sizes: map[bool]int{}}
	daemon, err := startDaemon(bin, p)
	if err != nil {
		return res, err
	}
	defer daemon.stop()
	plain, ct, err := getFeed(daemon.url, false)
	if err != nil {
		return res, err
	}
	gz, _, err := getFeed(daemon.url, true)
	if err != nil {
		return res, err
	}
	res.sizes[false], res.sizes[true] = len(plain), len(gz)
	bare, err := startBare(self, dir, plain, gz, ct)
	if err != nil {
		return res, err
	}
	defer bare.stop()
	for r := range o.runs {
		for _, gzip := range []bool{false, true} {
			order := []*server{daemon, bare}
			if r%2 == 1 {
				order = []*server{bare, daemon}
			}
			for _, s := range order {
				lr, err := load(s.url, gzip, o.clients, o.duration, res.sizes[gzip])
				if err != nil {
					return res, err
				}
				if s == daemon {
					res.daemon[gzip] = append(res.daemon[gzip], lr)
				} else {
					res.bare[gzip] = append(res.bare[gzip], lr)
				}
			}
		}
	}
	return res, nil
}

// table is the report: one row per figure.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tours\tbaseline\tratio\ttarget\tmet")
	fmt.Fprintln(tw, "-------\t----\t--------\t-----\t------\t---")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// ingest adds the ingest rows: ratios are medians of the per-run ratios.
func (t *table) ingest(runs []ingestRun) {
	pick := func(f func(ingestRun) float64) []float64 {
		var out []float64
		for _, r := range runs {
			out = append(out, f(r))
		}
		return out
	}
	sec := func(d time.Duration) float64 { return d.Seconds() }
	firstWall := pick(func(r ingestRun) float64 { return sec(r.first.wall) })
	baseWall := pick(func(r ingestRun) float64 { return sec(r.baseline.wall) })
	firstCPU := pick(func(r ingestRun) float64 { return sec(r.first.cpu) })
	baseCPU := pick(func(r ingestRun) float64 { return sec(r.baseline.cpu) })
	wallRatio := median(pick(func(r ingestRun) float64 { return sec(r.first.wall) / sec(r.baseline.wall) }))
	t.add("1. first pass, wall", secs(median(firstWall)), secs(median(baseWall)), ratio(wallRatio), "≤ 1.30×", met(wallRatio <= 1.3))
	cpuRatio := median(pick(func(r ingestRun) float64 { return sec(r.first.cpu) / sec(r.baseline.cpu) }))
	t.add("1. first pass, CPU", secs(median(firstCPU)), secs(median(baseCPU)), ratio(cpuRatio), "≤ 1.50×", met(cpuRatio <= 1.5))
	t.add("1. first pass, peak RSS", mib(int64(median(pick(func(r ingestRun) float64 { return float64(r.first.maxRSS) })))),
		mib(int64(median(pick(func(r ingestRun) float64 { return float64(r.baseline.maxRSS) })))), "", "reported", "")
	un := median(pick(func(r ingestRun) float64 { return sec(r.unchanged.wall) / sec(r.first.wall) }))
	t.add("2. unchanged pass (all 304), wall", secs(median(pick(func(r ingestRun) float64 { return sec(r.unchanged.wall) }))),
		"first pass", pct(un), "≤ 5%", met(un <= 0.05))
	sm := median(pick(func(r ingestRun) float64 { return sec(r.small.wall) / sec(r.first.wall) }))
	t.add(fmt.Sprintf("3. small change (%d sources +1 item), wall", runs[0].changed),
		secs(median(pick(func(r ingestRun) float64 { return sec(r.small.wall) }))), "first pass", pct(sm), "≤ 15%", met(sm <= 0.15))
	t.add("   unchanged / small change, CPU", secs(median(pick(func(r ingestRun) float64 { return sec(r.unchanged.cpu) })))+" / "+
		secs(median(pick(func(r ingestRun) float64 { return sec(r.small.cpu) }))), "", "", "reported", "")
}

// serving adds the serving rows: req/s ratio and p99 per encoding.
func (t *table) serving(s servingRuns, clients int) {
	for _, gzip := range []bool{false, true} {
		name := "plain"
		if gzip {
			name = "gzip"
		}
		d, b := s.daemon[gzip], s.bare[gzip]
		var ratios, rps, brps, p99, bp99 []float64
		for i := range d {
			ratios = append(ratios, d[i].rps/b[i].rps)
			rps, brps = append(rps, d[i].rps), append(brps, b[i].rps)
			p99, bp99 = append(p99, float64(d[i].p99)), append(bp99, float64(b[i].p99))
		}
		r := median(ratios)
		t.add(fmt.Sprintf("4. serve /feed.atom %s (%s), %d clients, req/s", name, kib(s.sizes[gzip]), clients),
			fmt.Sprintf("%.0f", median(rps)), fmt.Sprintf("%.0f", median(brps)), ratio(r), "≥ 0.90×", met(r >= 0.9))
		t.add(fmt.Sprintf("   %s p99 latency", name), dur(median(p99)), dur(median(bp99)),
			ratio(median(p99)/median(bp99)), "reported", "")
	}
}

// hostile adds the peak RSS of each hostile feed against its bound.
func (t *table) hostile(peaks []int64) {
	for i, p := range peaks {
		h := hostileFeeds[i]
		bound := h.boundMiB << 20
		t.add("6. peak RSS, "+h.name, mib(p), "bound "+mib(bound), ratio(float64(p)/float64(bound)), "≤ 1.00×", met(p <= bound))
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func ratio(r float64) string { return fmt.Sprintf("%.2f×", r) }
func pct(r float64) string   { return fmt.Sprintf("%.1f%%", r*100) }
func secs(s float64) string  { return fmt.Sprintf("%.3f s", s) }
func dur(ns float64) string  { return time.Duration(ns).Round(10 * time.Microsecond).String() }
func mib(b int64) string     { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
func kib(b int) string       { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }
