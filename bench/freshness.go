package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/planetgo/aggregator/poll"
	"github.com/planetgo/aggregator/storage"
	"github.com/planetgo/aggregator/websub"
)

// freshnessItems is the size of the pushed source's feed.
const freshnessItems = 50

// pushedFeed is the Atom feed of the pushed source after n pushes: its
// newest freshnessItems items, "Push n" first.
func pushedFeed(topic string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Pushed</title><id>tag:pushed.example,2026:feed</id>
<updated>%s</updated><link rel="self" href="%s"/><link rel="alternate" href="http://pushed.example/"/><author><name>Pusher</name></author>
`, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Minute).Format(time.RFC3339), topic)
	for i := n; i > n-freshnessItems; i-- {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(&b, `<entry><title>Push %d</title><id>tag:pushed.example,2026:%d</id><link href="http://pushed.example/%d"/>
<published>%s</published><updated>%s</updated><content type="html">&lt;p&gt;Item %d of the pushed source, with a paragraph of text to carry.&lt;/p&gt;</content></entry>
`, i, i, i, at, at, i)
	}
	b.WriteString("</feed>\n")
	return []byte(b.String())
}

// freshness measures, over pushes, the time from the pushed source's hub
// (a websub.Hub of its own, in this process) handing it a new version to
// a reader subscribed to our hub receiving our merged feed with the new
// item: the source's hub → our subscriber → store → render → our hub →
// the reader, all on loopback, with the daemon as a child process whose
// schedule (hourly) polls nothing meanwhile.
func freshness(bin, dir string, pushes int) ([]time.Duration, error) {
	dir = filepath.Join(dir, "freshness")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The source: its feed server and its hub.
	hubStore, err := storage.Open(filepath.Join(dir, "source-hub.db"), storage.Options{})
	if err != nil {
		return nil, err
	}
	defer hubStore.Close()
	feedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	topic := "http://" + feedLn.Addr().String() + "/feed.atom"
	hub, err := websub.NewHub(ctx, hubStore, websub.HubOptions{
		IsTopic:   func(u string) bool { return u == topic },
		AllowHTTP: true,
		Client:    websub.NewGuardedClient(websub.GuardOptions{AllowPrivate: true}),
	})
	if err != nil {
		return nil, err
	}
	var hubDone sync.WaitGroup
	hubDone.Go(func() { hub.Run(ctx) })
	defer hubDone.Wait()
	defer cancel()
	hubURL, stopHub, err := serveOn(hub)
	if err != nil {
		return nil, err
	}
	defer stopHub()
	var mu sync.Mutex
	body := pushedFeed(topic, freshnessItems)
	feedSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := body
		mu.Unlock()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="hub", <%s>; rel="self"`, hubURL, topic))
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Write(b)
	})}
	go feedSrv.Serve(feedLn)
	defer feedSrv.Close()

	// The reader, subscribed to our hub.
	received := make(chan []byte, 1000)
	verified := make(chan struct{}, 1)
	readerURL, stopReader, err := serveOn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			select {
			case verified <- struct{}{}:
			default:
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		received <- b
	}))
	if err != nil {
		return nil, err
	}
	defer stopReader()

	// Our daemon.
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + listen
	config := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`base_url: %s
listen: %s
database: %s
schedule: "@every 1h"
fetch: {jitter: 0}
websub: {hub: true, subscribe: true, allow_private_callbacks: true, allow_http_callbacks: true}
sources:
  - {name: pushed, url: %s}
`, base, listen, filepath.Join(dir, "planet.db"), topic)
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-config", config, "-log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	daemon := &server{cmd: cmd, url: base + "/feed.atom"}
	defer daemon.stop()
	if err := waitUntil("our subscription to the source's hub", func() bool {
		return strings.Contains(sourceWebSub(base), "subscribed at") && hub.Stats().Subscriptions == 1
	}); err != nil {
		return nil, err
	}
	resp, err := http.PostForm(base+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feed.atom"}, "hub.callback": {readerURL + "/cb"}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("reader's subscription: %s", resp.Status)
	}
	select {
	case <-verified:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("our hub never verified the reader's subscription")
	}
	if err := waitUntil("the reader's subscription", func() bool { return ourHubSubscriptions(base) == 1 }); err != nil {
		return nil, err
	}

	// Each push comes when the one before it is past the daemon's bounds
	// on a source's ingests and on the renders pushes ask for: the
	// freshness of a post, not of a burst, whose pushes wait (and are
	// coalesced) by design.
	gap := max(websub.DefaultIngestInterval, poll.DefaultPushRenderInterval) + 50*time.Millisecond
	var took []time.Duration
	var last time.Time
	for i := range pushes {
		time.Sleep(time.Until(last.Add(gap)))
		last = time.Now()
		n := freshnessItems + 1 + i
		next := pushedFeed(topic, n)
		mu.Lock()
		body = next
		mu.Unlock()
		want := []byte(fmt.Sprintf("<title>Push %d</title>", n))
		start := time.Now()
		hub.Publish([]websub.Content{{Topic: topic, ContentType: "application/atom+xml", Body: next}})
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case b := <-received:
				if bytes.Contains(b, want) {
					took = append(took, time.Since(start))
					break wait
				}
			case <-deadline:
				return nil, fmt.Errorf("push %d never reached the reader (source hub: %+v)", n, hub.Stats())
			}
		}
	}
	return took, nil
}

// serveOn serves h on a new loopback port; stop closes it.
func serveOn(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// waitUntil polls cond for a minute.
func waitUntil(what string, cond func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// statusJSON is the daemon's /status.json, "" when it does not answer.
func statusJSON(base string) string {
	resp, err := http.Get(base + "/status.json")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// ourHubSubscriptions is the number of subscriptions to our hub in
// /status.json.
func ourHubSubscriptions(base string) int {
	var doc struct {
		WebSub struct {
			Hub struct{ Subscriptions int }
		}
	}
	json.Unmarshal([]byte(statusJSON(base)), &doc)
	return doc.WebSub.Hub.Subscriptions
}

// sourceWebSub is the websub status of the first source in /status.json.
func sourceWebSub(base string) string {
	var doc struct {
		Sources []struct{ WebSub string }
	}
	if json.Unmarshal([]byte(statusJSON(base)), &doc) != nil || len(doc.Sources) == 0 {
		return ""
	}
	return doc.Sources[0].WebSub
}

// freshness adds the freshness rows: median and p99 of the pushes.
func (t *table) freshness(took []time.Duration) {
	if len(took) == 0 {
		return
	}
	s := slices.Clone(took)
	slices.Sort(s)
	p99 := s[min(len(s)-1, (len(s)*99+99)/100-1)]
	med := time.Duration(median(durations(s)))
	t.add(fmt.Sprintf("8. freshness, source's hub → reader via our hub, median of %d", len(s)), med.Round(100*time.Microsecond).String(),
		"poll: 15m + reader's", "", "≤ 100ms", met(med <= 100*time.Millisecond))
	t.add("8. freshness, p99", p99.Round(100*time.Microsecond).String(), "", "", "≤ 1s", met(p99 <= time.Second))
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}
