package poll

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
	"github.com/planetgo/aggregator/internal/loopback"
)

// publicInTests is fetch.IsPrivate, except that 127.0.0.2 stands for a
// public address.
func publicInTests(addr netip.Addr) bool {
	return addr != netip.MustParseAddr("127.0.0.2") && fetch.IsPrivate(addr)
}

// A feed that gets a move recorded to a name it controls, then points
// that name at an internal address (DNS rebinding), gets no request to it:
// the moved URL is fetched as the configured one would be, refused on a
// private address as "private address", which the public sees as a
// network error and `aggregator fetch` explains.
func TestMovedSourceRebound(t *testing.T) {
	t.Parallel()
	var internalRequests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalRequests.Add(1)
		w.Write(rss("secret"))
	}))
	public := loopback.Serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/feed" {
			http.Redirect(w, r, "http://moved.test/v1/kv/secret?x=1", http.StatusMovedPermanently)
			return
		}
		w.Write(rss("a"))
	}))
	// Each request on a new connection, so that each one resolves anew.
	public.Config.SetKeepAlivesEnabled(false)
	// The attacker's DNS: feed.test and moved.test at the public server,
	// until moved.test is not.
	var mu sync.Mutex
	movedTo := strings.TrimPrefix(public.URL, "http://")
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch {
		case strings.HasPrefix(addr, "feed.test:"):
			addr = strings.TrimPrefix(public.URL, "http://")
		case strings.HasPrefix(addr, "moved.test:"):
			mu.Lock()
			addr = movedTo
			mu.Unlock()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := &clock{t: t0}
	client := fetch.NewClient(nil, fetch.Options{Dial: dial, IsPrivate: publicInTests, Now: c.Now, Timeout: 5 * time.Second})
	src := aggregator.Source{Name: "hostile", URL: "http://feed.test/feed"}
	p, store := newPoller(t, c, Settings{Sources: []aggregator.Source{src}, Schedule: "@every 15m", MaxInterval: time.Hour, Client: client}, Options{})
	ctx := context.Background()
	for range movedAfter {
		if err := p.Refresh(ctx, []aggregator.Source{src}, nil); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Hour)
	}
	st, err := store.State(ctx, src.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.MovedTo != "http://moved.test/v1/kv/secret?x=1" || st.LastError != "" {
		t.Fatalf("after %d permanent redirects: moved to %q, error %q", movedAfter, st.MovedTo, st.LastError)
	}

	mu.Lock()
	movedTo = strings.TrimPrefix(internal.URL, "http://")
	mu.Unlock()
	var got Outcome
	if err := p.Refresh(ctx, []aggregator.Source{src}, func(o Outcome) { got = o }); err != nil {
		t.Fatal(err)
	}
	if n := internalRequests.Load(); n != 0 {
		t.Errorf("the internal server got %d requests", n)
	}
	if !errors.Is(got.Err, fetch.ErrPrivateAddress) || got.State.ErrorKind != "private address" {
		t.Errorf("the moved source after its name was pointed inward: %v (kind %q), want a private address refused", got.Err, got.State.ErrorKind)
	}
	if public := PublicState(got.State); public.LastError != "network error" {
		t.Errorf("the public sees %q, want network error", public.LastError)
	}
	var text bytes.Buffer
	got.WriteText(&text)
	if !strings.Contains(text.String(), "internal: true") {
		t.Errorf("aggregator fetch says:\n%s\nwant the hint to mark an internal source", text.String())
	}
}

// A source marked internal (an intranet name) is fetched from its private
// address, while the same name unmarked is refused; the mark names the
// host, so it stays with a move on that host.
func TestInternalSourceByName(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/new" {
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		w.Write(rss("a"))
	}))
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.Contains(addr, ".test:") {
			addr = strings.TrimPrefix(internal.URL, "http://")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := &clock{t: t0}
	client := fetch.NewClient(nil, fetch.Options{Dial: dial, IsPrivate: publicInTests, Now: c.Now, Timeout: 5 * time.Second})
	intranet := aggregator.Source{Name: "intranet", URL: "http://wiki.test/feed", Internal: true}
	unmarked := aggregator.Source{Name: "unmarked", URL: "http://other.test/feed"}
	srcs := []aggregator.Source{intranet, unmarked}
	p, store := newPoller(t, c, Settings{Sources: srcs, Schedule: "@every 15m", MaxInterval: time.Hour, Client: client}, Options{})
	ctx := context.Background()
	for range movedAfter + 1 {
		if err := p.Refresh(ctx, srcs, nil); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Hour)
	}
	states, err := store.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := states["intranet"]; st.LastError != "" || st.MovedTo != "http://wiki.test/new" || st.LastSuccess.IsZero() {
		t.Errorf("intranet: error %q, moved to %q, last success %v; want fetched from /new", st.LastError, st.MovedTo, st.LastSuccess)
	}
	if st := states["unmarked"]; st.ErrorKind != "private address" || st.ConsecutiveFailures != movedAfter+1 {
		t.Errorf("unmarked: %q after %d failures, want private address each time", st.ErrorKind, st.ConsecutiveFailures)
	}
	// 3 passes of a redirect and the feed, then the feed at once.
	if n := requests.Load(); n != 2*movedAfter+1 {
		t.Errorf("the internal server got %d requests, want %d, all the intranet source's", n, 2*movedAfter+1)
	}
}

// A move is recorded, and followed, only when the fetcher trusts the new
// URL as it trusts the configured one: a public source never moves to an
// address written out or localhost (nor follows such a move an older
// state recorded), and an internal source is internal only on the host
// the config names.
func TestMovesKeepTheConfiguredTrust(t *testing.T) {
	t.Parallel()
	p := testPolicy(t, "@every 15m")
	tick := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		src      aggregator.Source
		to       string
		moved    bool
		internal bool // the moved source's fetchTarget
	}{
		{name: "public to public", src: aggregator.Source{URL: "https://a.test/feed"}, to: "https://b.test/feed", moved: true},
		{name: "public to loopback", src: aggregator.Source{URL: "https://a.test/feed"}, to: "http://127.0.0.1:8500/v1/kv/x"},
		{name: "public to metadata", src: aggregator.Source{URL: "https://a.test/feed"}, to: "http://169.254.169.254/latest/"},
		{name: "public to localhost", src: aggregator.Source{URL: "https://a.test/feed"}, to: "http://localhost:8500/"},
		{name: "internal within its host", src: aggregator.Source{URL: "http://wiki.test/feed", Internal: true}, to: "https://wiki.test:8443/new", moved: true, internal: true},
		{name: "internal to another host", src: aggregator.Source{URL: "http://wiki.test/feed", Internal: true}, to: "http://elsewhere.test/feed"},
		{name: "address to address", src: aggregator.Source{URL: "http://10.0.0.5/rss"}, to: "http://10.0.0.6/rss", moved: true},
		{name: "address to a name", src: aggregator.Source{URL: "http://10.0.0.5/rss"}, to: "http://feeds.test/rss"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.Name = "s"
			st := StateFor(tt.src, aggregator.SourceState{})
			for range movedAfter {
				st = p.Succeeded(tt.src, st, fetch.Result{PermanentRedirect: tt.to, NotModified: true}, tick, tick)
			}
			if moved := st.MovedTo == tt.to && FetchURL(tt.src, st) == tt.to; moved != tt.moved {
				t.Errorf("after %d permanent redirects: moved to %q, fetched from %s; want moved %v", movedAfter, st.MovedTo, FetchURL(tt.src, st), tt.moved)
			}
			// A move an older version recorded is followed on the same terms.
			old := aggregator.SourceState{URL: tt.src.URL, MovedTo: tt.to}
			target := fetchTarget(tt.src, old)
			if moved := target.URL == tt.to; moved != tt.moved || (moved && target.Internal != tt.internal) {
				t.Errorf("fetchTarget(%q moved to %q) = %q, internal %v; want moved %v, internal %v", tt.src.URL, tt.to, target.URL, target.Internal, tt.moved, tt.internal)
			}
			if !tt.moved && (target.URL != tt.src.URL || target.Internal != tt.src.Internal) {
				t.Errorf("fetchTarget() = %+v, want the configured source", target)
			}
		})
	}
}
