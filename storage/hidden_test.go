package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func mustRule(t *testing.T, field, expr string) aggregator.Rule {
	t.Helper()
	p, err := aggregator.NewPattern(field, expr)
	if err != nil {
		t.Fatal(err)
	}
	return aggregator.NewRule(1, p)
}

// TestQueryRulesWithDedup: a copy the rules hide neither wins over nor
// hides another source's published copy of the article, and is not
// credited by it; an item the rules hide in a section is still published
// in the merged feed.
func TestQueryRulesWithDedup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, c := newStore(t)
	planet := aggregator.Source{Name: "planet", URL: "http://planet.example/feed", Sections: []string{"go"}}
	if err := s.SyncSources(ctx, []aggregator.Source{blog, planet}); err != nil {
		t.Fatal(err)
	}
	// The blog's copy is first seen, and from the article's origin: it
	// wins the dedup when both are shown.
	orig := item(blog, "post", t0.Add(-2*time.Hour))
	orig.Link = "http://blog.example/post"
	orig.Title = "Sponsored: a post"
	save(t, s, blog, orig)
	c.Add(time.Hour)
	copied := item(planet, "planet-copy", t0.Add(-time.Hour))
	copied.Link = "http://blog.example/post?utm_source=planet"
	save(t, s, planet, copied, item(planet, "planet-own", t0.Add(-90*time.Minute)))
	origin := func(source, link string) bool { return source == "blog" }

	q := Query{Limit: 10, Dedup: true, Origin: origin}
	items, err := s.Items(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[1].ID != "post" || fmt.Sprint(items[1].AlsoIn) != "[planet]" {
		t.Fatalf("without rules: %v, want planet-own and the blog's post crediting planet", items)
	}

	// The blog's own rules exclude its sponsored post: the planet's copy
	// is published, in its own place, crediting no one.
	q.Rules = &aggregator.Rules{Sources: map[string]aggregator.Filter{
		"blog": {Exclude: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `^Sponsored`)}},
	}}
	items, err = s.Items(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "planet-copy" || items[0].AlsoIn != nil || items[1].ID != "planet-own" {
		t.Errorf("blog's copy excluded: %v, want planet-copy (no credit), planet-own", items)
	}

	// A section rule applies in the section alone.
	sectionRules := &aggregator.Rules{Sections: map[string]aggregator.Filter{
		"go": {Include: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `own`)}},
	}}
	wantQuery(t, s, Query{Section: "go", Limit: 10, Dedup: true, Origin: origin, Rules: sectionRules}, "planet-own")
	wantQuery(t, s, Query{Limit: 10, Dedup: true, Origin: origin, Rules: sectionRules}, "planet-own", "post")
}

// TestQueryRulesWithCap: a per-source cap counts the published items, so
// a source whose newest items are hidden still shows its N newest
// published ones.
func TestQueryRulesWithCap(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var items []aggregator.Item
	for i := range 10 {
		it := item(news, fmt.Sprintf("n%d", i), t0.Add(-time.Duration(i)*time.Minute))
		if i < 5 {
			it.Categories = []string{"ads"}
		}
		items = append(items, it)
	}
	save(t, s, news, items...)
	save(t, s, blog, item(blog, "b1", t0.Add(-time.Hour)))
	rules := &aggregator.Rules{All: aggregator.Filter{Exclude: []aggregator.Rule{mustRule(t, aggregator.FieldCategory, `^ads$`)}}}
	wantQuery(t, s, Query{Limit: 10, PerSource: 3, Rules: rules}, "n5", "n6", "n7", "b1")
	wantQuery(t, s, Query{Limit: 2, Rules: rules}, "n5", "n6")
}

// TestHiddenCounts: the counts follow the items stored and pruned and the
// rules asked about, and are kept between calls that nothing changed.
func TestHiddenCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	sponsored := func(id string, ago time.Duration) aggregator.Item {
		it := item(blog, id, t0.Add(-ago))
		it.Title = "Sponsored " + id
		return it
	}
	save(t, s, blog, sponsored("s1", time.Hour), item(blog, "p1", t0.Add(-2*time.Hour)), sponsored("s2", 3*time.Hour))
	save(t, s, news, item(news, "n1", t0.Add(-time.Hour)))
	rules := &aggregator.Rules{
		All:      aggregator.Filter{Exclude: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `^Sponsored`)}},
		Sections: map[string]aggregator.Filter{"news": {Include: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `nothing`)}}},
	}
	sources := []aggregator.Source{blog, news}
	want := func(blogAll, newsAll, newsSection int) {
		t.Helper()
		got, err := s.Hidden(ctx, rules, sources)
		if err != nil {
			t.Fatal(err)
		}
		if got["blog"].All != blogAll || got["blog"].Sections != nil || got["news"].All != newsAll || got["news"].In("news") != newsSection {
			t.Errorf("Hidden() = %+v, want blog %d, news %d (%d in its section)", got, blogAll, newsAll, newsSection)
		}
	}
	want(2, 0, 1)
	// Kept: a call with nothing changed reads nothing (an item the
	// store does not have, slipped into what the count knows, stays).
	s.hidden.mu.Lock()
	s.hidden.entries["blog"].hidden["not an item"] = 1
	s.hidden.mu.Unlock()
	want(3, 0, 1)
	// A new item is counted, and only it is read.
	save(t, s, blog, sponsored("s3", 30*time.Minute))
	want(4, 0, 1)
	s.hidden.mu.Lock()
	delete(s.hidden.entries["blog"].hidden, "not an item")
	s.hidden.mu.Unlock()
	// An edit that makes an item sponsored is counted.
	p1 := item(blog, "p1", t0.Add(-2*time.Hour))
	p1.Title = "Sponsored now"
	save(t, s, blog, p1)
	want(4, 0, 1)
	// Pruning takes the oldest two (s2, p1) away.
	if _, err := s.Prune(ctx, Retention{MaxItems: 2}); err != nil {
		t.Fatal(err)
	}
	want(2, 0, 1)
	// Other rules: counted anew.
	rules = &aggregator.Rules{All: aggregator.Filter{Include: []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `s3`)}}}
	want(1, 1, 1)
	if got, err := s.Hidden(ctx, nil, sources); err != nil || len(got) != 0 {
		t.Errorf("Hidden(no rules) = %v, %v, want nothing", got, err)
	}
}

// TestHiddenCountsDuringSaves: counts made while saves and pruning commit
// end up where a count from scratch is.
func TestHiddenCountsDuringSaves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	exclude := []aggregator.Rule{mustRule(t, aggregator.FieldTitle, `odd`)}
	rules := &aggregator.Rules{All: aggregator.Filter{Exclude: exclude}}
	sources := []aggregator.Source{blog, news}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			src := sources[i%2]
			it := item(src, fmt.Sprintf("i%03d", i), t0.Add(time.Duration(i)*time.Minute))
			if i%3 == 1 {
				it.Title = "odd " + it.Title
			}
			if _, err := s.Save(ctx, src, []aggregator.Item{it}, aggregator.SourceState{Name: src.Name}); err != nil {
				t.Error(err)
				return
			}
			if i%40 == 39 {
				if _, err := s.Prune(ctx, Retention{MaxItems: 30}); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for counting := true; counting; {
		select {
		case <-done:
			counting = false
		default:
		}
		if _, err := s.Hidden(ctx, rules, sources); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Hidden(ctx, rules, sources)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Hidden(ctx, &aggregator.Rules{All: aggregator.Filter{Exclude: exclude}}, sources)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(fresh) || fresh["blog"].All == 0 {
		t.Errorf("counts kept up to date = %v, counted from scratch = %v", got, fresh)
	}
}
