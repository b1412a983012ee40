package main

import (
	"fmt"
	"strings"
)

// rulesRun is one run of the rules benchmark: a first pass without rules
// and one with ten at each level, from an empty database each, then the
// sources command (which counts every stored item the rules hide, as a
// daemon does once at start) with and without them.
type rulesRun struct {
	plain, rules             usage // first passes
	sourcesPlain, sourcesRun usage // the sources command without and with rules
	hidden                   int   // items the rules hide, from every feed, summed over the sources
}

// rulesPair runs one rulesRun, the pass without rules first on even runs.
func (p *planet) rulesPair(bin string, run int) (rulesRun, error) {
	var r rulesRun
	want := fmt.Sprintf("new %d", p.feeds.Items)
	order := []bool{false, true}
	if run%2 == 1 {
		order = []bool{true, false}
	}
	for _, rules := range order {
		if err := p.reset(); err != nil {
			return r, err
		}
		config, u := p.config, &r.plain
		if rules {
			config, u = p.rules, &r.rules
		}
		var err error
		if *u, err = p.passWith(bin, config, want); err != nil {
			return r, fmt.Errorf("first pass (rules %v): %w", rules, err)
		}
	}
	// The database of the last pass: counting reads it, whichever it was.
	var err error
	if r.sourcesPlain, err = runChild(bin, "sources", "-config", p.config); err != nil {
		return r, err
	}
	if r.sourcesRun, err = runChild(bin, "sources", "-config", p.rules); err != nil {
		return r, err
	}
	if r.hidden, err = hiddenTotal(r.sourcesRun.stdout, p.feeds.Sources); err != nil {
		return r, err
	}
	return r, nil
}

// hiddenTotal sums the HIDDEN column of the sources command's table,
// checking that it lists n sources.
func hiddenTotal(table string, n int) (int, error) {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != n+1 {
		return 0, fmt.Errorf("sources listed %d lines, want %d", len(lines)-1, n)
	}
	col := strings.Index(lines[0], "HIDDEN")
	if col < 0 {
		return 0, fmt.Errorf("sources printed no HIDDEN column: %q", lines[0])
	}
	total := 0
	for _, l := range lines[1:] {
		var h int
		if col >= len(l) {
			return 0, fmt.Errorf("short line %q", l)
		}
		if _, err := fmt.Sscan(l[col:], &h); err != nil {
			return 0, fmt.Errorf("HIDDEN of %q: %w", l, err)
		}
		total += h
	}
	return total, nil
}

// rulesRows adds the rules rows: the first pass with ten rules at each
// level against the same pass without, and the count of hidden items.
func (t *table) rulesRows(runs []rulesRun, items int) {
	var wall, cpu, count []float64
	var rw, pw, rc, pc, cw []float64
	for _, r := range runs {
		wall = append(wall, r.rules.wall.Seconds()/r.plain.wall.Seconds())
		cpu = append(cpu, r.rules.cpu.Seconds()/r.plain.cpu.Seconds())
		count = append(count, (r.sourcesRun.wall-r.sourcesPlain.wall).Seconds()/r.plain.wall.Seconds())
		rw, pw = append(rw, r.rules.wall.Seconds()), append(pw, r.plain.wall.Seconds())
		rc, pc = append(rc, r.rules.cpu.Seconds()), append(pc, r.plain.cpu.Seconds())
		cw = append(cw, r.sourcesRun.wall.Seconds()-r.sourcesPlain.wall.Seconds())
	}
	w, c := median(wall), median(cpu)
	t.add("7. first pass, 10 rules at each level vs none, wall", secs(median(rw)), secs(median(pw)), ratio(w), "≤ 1.05×", met(w <= 1.05))
	t.add("7. first pass, 10 rules at each level vs none, CPU", secs(median(rc)), secs(median(pc)), ratio(c), "≤ 1.05×", met(c <= 1.05))
	t.add(fmt.Sprintf("   counting the hidden of %d items (sources, rules − none)", items), secs(median(cw)), "first pass", pct(median(count)), "reported", "")
	t.add("   items the rules hide from every feed", fmt.Sprint(runs[0].hidden), "", "", "reported", "")
}
