package websub

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// TestSubscriberEndsWhenSourceChanges: a subscription is ended (the hub
// asked to unsubscribe, the source sent back to its schedule, pushes to
// its callback refused) when its source's URL changes in the config, or
// when a fetch of the source names no hub; one for another topic
// replaces it, whose callback then answers 410.
func TestSubscriberEndsWhenSourceChanges(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	var lapsed atomic.Int32
	in := newIngested()
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, in, SubscriberOptions{
		Lapsed: func(aggregator.Source) { lapsed.Add(1) },
	})
	form := subscribed(t, s, hub, "")
	moved := aggregator.Source{Name: blogSource.Name, URL: "https://blog.example/new-feed"}
	s.Configure([]aggregator.Source{moved})
	if code := push(t, form.Get("hub.callback"), Sign(form.Get("hub.secret"), []byte("old")), "old"); code != http.StatusGone {
		t.Errorf("a push for the old URL's topic, before it is unsubscribed: %d, want 410", code)
	}
	un := hub.next(t)
	if un.Get("hub.mode") != "unsubscribe" || un.Get("hub.topic") != blogTopic || un.Get("hub.callback") != form.Get("hub.callback") {
		t.Errorf("after the source's URL changed: %v, want its unsubscription", un)
	}
	if s.Subscribed("blog") || !strings.HasPrefix(s.Status("blog"), "unsubscribing from") {
		t.Errorf("while unsubscribing: %v, %q", s.Subscribed("blog"), s.Status("blog"))
	}
	eventually(t, "Lapsed called", func() bool { return lapsed.Load() == 1 })
	if code := push(t, form.Get("hub.callback"), Sign(form.Get("hub.secret"), []byte("old")), "old"); code != http.StatusGone {
		t.Errorf("a push for the old URL's topic: %d, want 410", code)
	}
	if code, body := verifyAs(t, un, "unsubscribe", blogTopic, "bye", ""); code != 200 || body != "bye" {
		t.Errorf("unsubscription verified: %d %q", code, body)
	}
	if st := s.Status("blog"); st != "" {
		t.Errorf("after unsubscribing: %q", st)
	}

	// The new URL's feed names a hub: subscribed; then a fetch finds it
	// names none.
	form = subscribedAs(t, s, hub, moved, blogTopic, "")
	s.Discovered(moved, nil, "", moved.URL)
	if un := hub.next(t); un.Get("hub.mode") != "unsubscribe" || un.Get("hub.callback") != form.Get("hub.callback") {
		t.Errorf("after a fetch named no hub: %v, want its unsubscription", un)
	}
	if s.Subscribed("blog") {
		t.Errorf("still subscribed after a fetch named no hub")
	}
	if code, _ := verifyAs(t, form, "unsubscribe", blogTopic, "bye", ""); code != 200 {
		t.Errorf("unsubscription verified: %d", code)
	}

	// Another topic replaces the subscription: the old callback is gone.
	form = subscribedAs(t, s, hub, moved, blogTopic, "")
	s.Discovered(moved, []string{hub.URL}, blogTopic+"?v2", moved.URL)
	if req := hub.next(t); req.Get("hub.mode") != "subscribe" || req.Get("hub.topic") != blogTopic+"?v2" || req.Get("hub.callback") == form.Get("hub.callback") {
		t.Errorf("after the topic changed: %v, want a new subscription", req)
	}
	if code := push(t, form.Get("hub.callback"), Sign(form.Get("hub.secret"), []byte("old")), "old"); code != http.StatusGone {
		t.Errorf("a push for the old topic: %d, want 410", code)
	}
	in.none(t)
}

// TestSubscriberGivesUp: a subscription refused maxAttempts times in a
// row is asked for no more, and says so; a fetch that names its hub
// again starts it over, once giveUpFor has passed.
func TestSubscriberGivesUp(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	hub.code = http.StatusForbidden
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	failures := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.subs["blog"].Failures
	}
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	for i := 1; i <= maxAttempts; i++ {
		hub.next(t)
		eventually(t, "refusal recorded", func() bool { return failures() == i })
		clock.Advance(24 * time.Hour)
		s.Tick(t.Context())
	}
	hub.none(t)
	if st := s.Status("blog"); !strings.HasSuffix(st, "; given up after 10 attempts; polling on schedule") {
		t.Errorf("status %q", st)
	}
	clock.Advance(3 * 24 * time.Hour)
	s.Tick(t.Context())
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	hub.none(t)
	clock.Advance(4 * 24 * time.Hour)
	s.Discovered(blogSource, []string{hub.URL}, blogTopic, blogSource.URL)
	if req := hub.next(t); req.Get("hub.mode") != "subscribe" {
		t.Errorf("named again a week after giving up: %v, want a subscription request", req)
	}
}

// TestSubscriberRefusesPlainHTTPHubs: a hub over plain http gets no
// request (and so no hub.secret) for a topic over https (WebSub 5.1):
// the status says so, and an https hub the feed names is taken instead;
// for a topic over plain http it is asked as any other.
func TestSubscriberRefusesPlainHTTPHubs(t *testing.T) {
	t.Parallel()
	clock := newClock()
	plain, secure := newFakeSourceHubOver(t, false), newFakeSourceHub(t)
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	plainSrc := aggregator.Source{Name: "plain", URL: "http://plain.example/feed"}
	s.Configure([]aggregator.Source{blogSource, plainSrc})
	s.Discovered(blogSource, []string{plain.URL}, blogTopic, blogSource.URL)
	plain.none(t)
	if st := s.Status("blog"); s.Subscribed("blog") || !strings.Contains(st, "is plain http and the feed is not: not subscribed") {
		t.Errorf("status %q", st)
	}
	s.Discovered(blogSource, []string{plain.URL, secure.URL}, blogTopic, blogSource.URL)
	if req := secure.next(t); req.Get("hub.topic") != blogTopic {
		t.Errorf("request %v", req)
	}
	plain.none(t)
	s.Discovered(plainSrc, []string{plain.URL}, "", plainSrc.URL)
	if req := plain.next(t); req.Get("hub.topic") != plainSrc.URL || req.Get("hub.secret") == "" {
		t.Errorf("request for a plain http topic %v", req)
	}
}

// oldRecord is a subscription as the code before SourceURL was kept
// stored it.
func oldRecord(t *testing.T, hub, topic string, expires time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"Source": "blog", "Hub": hub, "Topic": topic, "Token": strings.Repeat("ab", 24), "Secret": strings.Repeat("cd", 32),
		"State": "active", "Requested": expires.Add(-10 * 24 * time.Hour), "Expires": expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeRecords writes recs as the subscriber's into the database at path.
func writeRecords(t *testing.T, path string, recs map[string][]byte) {
	t.Helper()
	store, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.PutRecords(context.Background(), subscriberRecords, recs); err != nil {
		t.Fatal(err)
	}
}

// TestSubscriberTakesUpOldRecords: a subscription stored before its
// source's URL was kept takes the URL configured, and ends when it
// changes; one stored at a plain http hub for an https topic is never
// renewed, and not live.
func TestSubscriberTakesUpOldRecords(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	path := filepath.Join(t.TempDir(), "sub.db")
	writeRecords(t, path, map[string][]byte{"blog": oldRecord(t, hub.URL, blogTopic, clock.Now().Add(5*24*time.Hour))})
	s, _ := testSubscriber(t, path, clock, newIngested(), SubscriberOptions{})
	if !s.Subscribed("blog") {
		t.Fatalf("an old record: %q", s.Status("blog"))
	}
	if sub, _ := storedSub(t, s, "blog"); sub.SourceURL != blogSource.URL {
		t.Errorf("stored source URL %q, want %q", sub.SourceURL, blogSource.URL)
	}
	hub.none(t)
	s.Configure([]aggregator.Source{{Name: "blog", URL: "https://blog.example/moved"}})
	if un := hub.next(t); un.Get("hub.mode") != "unsubscribe" {
		t.Errorf("after the URL changed: %v", un)
	}

	plain := newFakeSourceHubOver(t, false)
	path2 := filepath.Join(t.TempDir(), "sub.db")
	writeRecords(t, path2, map[string][]byte{"blog": oldRecord(t, plain.URL, blogTopic, clock.Now().Add(time.Hour))})
	s2, _ := testSubscriber(t, path2, clock, newIngested(), SubscriberOptions{})
	s2.Tick(t.Context())
	plain.none(t)
	if st := s2.Status("blog"); s2.Subscribed("blog") || !strings.Contains(st, "plain http") {
		t.Errorf("a stored subscription at a plain http hub: %v, %q", s2.Subscribed("blog"), st)
	}
}

// TestSubscriberRenewalRefusedBacksOff: a renewal the hub refuses is
// asked for again after the backoff, not at once, while the lease runs.
func TestSubscriberRenewalRefusedBacksOff(t *testing.T) {
	t.Parallel()
	clock := newClock()
	hub := newFakeSourceHub(t)
	s, _ := testSubscriber(t, filepath.Join(t.TempDir(), "sub.db"), clock, newIngested(), SubscriberOptions{})
	subscribed(t, s, hub, "36000") // 10 hours
	hub.mu.Lock()
	hub.code = http.StatusForbidden
	hub.mu.Unlock()
	clock.Advance(9*time.Hour + time.Minute)
	s.Tick(t.Context())
	hub.next(t)
	eventually(t, "refusal recorded", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.subs["blog"].Failures == 1
	})
	s.Tick(t.Context())
	hub.none(t)
	if !s.Subscribed("blog") {
		t.Errorf("a refused renewal ended a live lease: %q", s.Status("blog"))
	}
	clock.Advance(time.Minute)
	s.Tick(t.Context())
	if req := hub.next(t); req.Get("hub.mode") != "subscribe" {
		t.Errorf("after the backoff: %v, want the renewal again", req)
	}
}
