package websub

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// interopDir holds the subscriber written with an implementation of
// WebSub that is not ours (testdata/interop/subscriber.js, on the npm
// package pubsubhubbub); `npm ci` there installs it, as .ci/run does.
const interopDir = "testdata/interop"

// interopEvent is a line the subscriber prints.
type interopEvent struct {
	Event, Topic, Hub, ContentType, Body, Error string
}

// nodeSubscriber is subscriber.js running.
type nodeSubscriber struct {
	stdin  io.WriteCloser
	events chan interopEvent
}

// startNodeSubscriber runs subscriber.js against hub for topic. Without
// Node.js or the package it skips, unless WEBSUB_INTEROP is set (CI sets
// it), when it fails.
func startNodeSubscriber(t *testing.T, hub, topic, secret string) *nodeSubscriber {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(interopDir, "node_modules", "pubsubhubbub"))
	}
	if err != nil {
		if os.Getenv("WEBSUB_INTEROP") != "" {
			t.Fatalf("WEBSUB_INTEROP is set, but the subscriber cannot run: %v (npm ci --prefix websub/%s)", err, interopDir)
		}
		t.Skipf("no independent subscriber: %v (run npm ci --prefix websub/%s)", err, interopDir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "subscriber.js", hub, topic, secret)
	cmd.Dir = interopDir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &nodeSubscriber{stdin: stdin, events: make(chan interopEvent, 100)}
	go func() {
		defer close(s.events)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			var e interopEvent
			if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
				e = interopEvent{Event: "unreadable", Error: lines.Text()}
			}
			s.events <- e
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	return s
}

// next returns the next event named want, passing over others, and fails
// the test on an error, a denial, or after 20 s.
func (s *nodeSubscriber) next(t *testing.T, want string) interopEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("the subscriber exited waiting for %q", want)
			}
			if e.Event == "error" || e.Event == "denied" || e.Event == "unreadable" {
				t.Fatalf("waiting for %q, the subscriber said %+v", want, e)
			}
			if e.Event == want {
				return e
			}
		case <-timeout:
			t.Fatalf("no %q event from the subscriber in 20 s", want)
		}
	}
}

// quiet fails the test if the subscriber says anything for d.
func (s *nodeSubscriber) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Errorf("the subscriber said %+v, want nothing", e)
	case <-time.After(d):
	}
}

// TestInteropSubscriber runs our hub with a subscriber written by others
// (the npm package pubsubhubbub): its subscription, with a callback that
// has a query of its own and a hub.verify parameter of older hubs, is
// accepted (202) and verified; the content we deliver reaches it with a
// signature it checks (it drops a body whose signature fails); its
// unsubscription is verified and ends the deliveries.
func TestInteropSubscriber(t *testing.T) {
	t.Parallel()
	store := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
	const topic = "https://planet.example/feed.atom"
	hub, err := NewHub(t.Context(), store, HubOptions{
		IsTopic:   func(u string) bool { return u == topic },
		AllowHTTP: true,
		Client:    NewGuardedClient(GuardOptions{AllowPrivate: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { hub.Run(ctx); close(ran) }()
	t.Cleanup(func() { stop(); <-ran })
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)

	sub := startNodeSubscriber(t, srv.URL, topic, "the reader's secret")
	sub.next(t, "subscribed")
	if e := sub.next(t, "subscribe"); e.Topic != topic {
		t.Errorf("verified topic %q, want %q", e.Topic, topic)
	}
	for deadline := time.Now().Add(5 * time.Second); hub.Stats().Subscriptions != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hub stats %+v, want one subscription", hub.Stats())
		}
	}

	link := `<` + srv.URL + `>; rel="hub", <` + topic + `>; rel="self"`
	for _, body := range []string{"<feed>first version</feed>", "<feed>second version, ünïcode</feed>"} {
		hub.Publish([]Content{{Topic: topic, ContentType: "application/atom+xml", Body: []byte(body), Link: link}})
		e := sub.next(t, "feed")
		if e.Body != body || e.Topic != topic || !strings.HasPrefix(e.ContentType, "application/atom+xml") {
			t.Errorf("delivered %+v, want the body %q of topic %q as application/atom+xml", e, body, topic)
		}
	}

	io.WriteString(sub.stdin, "unsubscribe\n")
	sub.next(t, "unsubscribed")
	sub.next(t, "unsubscribe")
	for deadline := time.Now().Add(5 * time.Second); hub.Stats().Subscriptions != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hub stats %+v after the unsubscription, want none", hub.Stats())
		}
	}
	hub.Publish([]Content{{Topic: topic, ContentType: "application/atom+xml", Body: []byte("<feed>third</feed>"), Link: link}})
	sub.quiet(t, 500*time.Millisecond)
}
