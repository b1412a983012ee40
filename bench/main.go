// Command bench measures the aggregator against the floors its libraries
// set, on loopback, with its own feed server, and prints one table of
// ratios to baselines measured in the same run (medians of -runs runs):
//
//	go run ./bench            # the suite, a few minutes
//	go run ./bench -short     # one small run: catches breakage, judges nothing
//	go run ./bench -scale     # 10,000 sources, render at 500k items, disk per item
//	go run ./bench -freshness # WebSub: a push from a source's hub to a reader of ours
//
// The daemon is the real binary, built from ./cmd/aggregator and run as a
// child process (`aggregator fetch` for a pass, `aggregator serve` for
// serving), so wall time, CPU and peak RSS are those of the process, from
// its rusage. The baselines run as children of this program the same way.
// See BENCHMARKS.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

type options struct {
	runs, sources, items, concurrency, clients int
	duration                                   time.Duration
	short, scale, hostile, freshnessOnly       bool
	pushes                                     int
	scaleSources                               int
	keep                                       bool
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "runs of each measurement; the table shows medians")
	flag.IntVar(&o.sources, "sources", 1000, "sources in the ingest benchmarks")
	flag.IntVar(&o.items, "items", 50, "items per source")
	flag.IntVar(&o.concurrency, "concurrency", 8, "fetches in flight, for the daemon and the baseline")
	flag.IntVar(&o.clients, "clients", 64, "concurrent keep-alive clients in the serving benchmark")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of each serving measurement")
	flag.BoolVar(&o.hostile, "hostile", true, "measure peak RSS on hostile feeds")
	flag.BoolVar(&o.short, "short", false, "one run at small sizes, to catch breakage (CI)")
	flag.BoolVar(&o.scale, "scale", false, "run the scale benchmarks instead (slow)")
	flag.IntVar(&o.scaleSources, "scale-sources", 10000, "sources in the large planet of -scale")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (databases, configs)")
	flag.BoolVar(&o.freshnessOnly, "freshness", false, "run the WebSub freshness benchmark alone")
	flag.IntVar(&o.pushes, "pushes", 100, "pushes in the freshness benchmark")
	child := flag.String("child", "", "internal: run as a baseline child (baseline or bare)")
	childBase := flag.String("child-base", "", "internal: feed server URL")
	childPlain := flag.String("child-plain", "", "internal: file of the plain body")
	childGzip := flag.String("child-gzip", "", "internal: file of the gzip body")
	childType := flag.String("child-type", "", "internal: Content-Type")
	flag.Parse()

	var err error
	switch *child {
	case "baseline":
		err = baselinePass(*childBase, o.sources, o.concurrency)
	case "bare":
		err = bareServer("127.0.0.1:0", *childPlain, *childGzip, *childType)
	case "":
		err = bench(o)
	default:
		err = fmt.Errorf("unknown -child %q", *child)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func bench(o options) error {
	if o.short {
		o.runs, o.sources, o.duration, o.hostile, o.scaleSources = 1, 40, 200*time.Millisecond, false, 80
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "aggregator-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "aggregator")
	progress("building ./cmd/aggregator")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/planetgo/aggregator/cmd/aggregator").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s, %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if o.scale {
		return scale(o, bin, self, dir)
	}
	if o.freshnessOnly {
		took, err := freshness(bin, dir, o.pushes)
		if err != nil {
			return err
		}
		t := &table{}
		t.freshness(took)
		t.print(os.Stdout)
		return nil
	}
	return suite(o, bin, self, dir)
}

// suite runs the ingest, serving and hostile-memory benchmarks and prints
// their table.
func suite(o options, bin, self, dir string) error {
	p, err := newPlanet(filepath.Join(dir, "planet"), o.sources, o.items, o.concurrency)
	if err != nil {
		return err
	}
	defer p.close()
	fmt.Printf("workload: %d sources × %d items (%s of XML), concurrency %d; %d runs, medians\n\n",
		o.sources, o.items, mib(feedBytes(p)), o.concurrency, o.runs)

	var runs []ingestRun
	for r := range o.runs {
		progress("ingest run %d/%d", r+1, o.runs)
		ir, err := p.ingest(bin, self, o.concurrency, r)
		if err != nil {
			return err
		}
		runs = append(runs, ir)
	}

	progress("serving: %d clients, %s per measurement", o.clients, o.duration)
	srv, err := serving(o, bin, self, dir, p)
	if err != nil {
		return err
	}

	var rules []rulesRun
	for r := range o.runs {
		progress("rules run %d/%d", r+1, o.runs)
		rr, err := p.rulesPair(bin, r)
		if err != nil {
			return err
		}
		rules = append(rules, rr)
	}

	var peaks []int64
	if o.hostile {
		progress("hostile feeds")
		if peaks, err = hostile(bin, dir); err != nil {
			return err
		}
	}
	if o.short {
		o.pushes = 10
	}
	progress("freshness: %d pushes", o.pushes)
	took, err := freshness(bin, dir, o.pushes)
	if err != nil {
		return err
	}
	t := &table{}
	t.ingest(runs)
	t.serving(srv, o.clients)
	t.hostile(peaks)
	t.rulesRows(rules, o.sources*o.items)
	t.freshness(took)
	t.print(os.Stdout)
	return nil
}

// feedBytes is the size of every feed of p at its first version.
func feedBytes(p *planet) int64 {
	var n int64
	for i := range p.feeds.Sources {
		n += int64(len(p.feeds.Feed(i, 0)))
	}
	return n
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// memTotal is the machine's memory, from /proc/meminfo.
func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	var kb int64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err != nil {
		return "memory unknown"
	}
	return fmt.Sprintf("%.1f GiB memory", float64(kb)/(1<<20))
}
