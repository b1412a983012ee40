package fetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/internal/loopback"
)

func TestIsPrivate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fc00::1", true}, {"fd12:3456::1", true},
		{"0.0.0.0", true}, {"0.1.2.3", true}, {"::", true}, {"100.64.0.1", true}, {"100.127.255.254", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"64:ff9b::a00:1", true}, {"2002:7f00:1::", true},
		{"224.0.0.1", true}, {"255.255.255.255", true}, {"ff02::1", true}, {"198.18.0.1", true},
		{"fec0::1", true}, {"feff::1", true}, // site-local
		{"::7f00:1", true}, {"::a00:1", true}, {"::808:808", true}, // IPv4-compatible, deprecated
		{"::ffff:0:7f00:1", true}, {"::ffff:0:a9fe:a9fe", true}, // IPv4-translated
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true}, {"2001::1", true}, // Teredo
		{"2001:2::1", true}, {"64:ff9b:1::a00:1", true}, {"64:ff9b:1:ffff::808:808", true}, // benchmarking, local-use NAT64
		{"93.184.216.34", false}, {"100.63.255.255", false}, {"100.128.0.1", false}, {"8.8.8.8", false},
		{"2606:4700::1111", false}, {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false}, {"2002:808:808::", false},
		{"::ffff:0:808:808", false}, {"2001:4860:4860::8888", false}, {"2001:1::1", false}, {"fe00::1", false},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			if got := IsPrivate(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("IsPrivate(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// publicInTests is IsPrivate, except that 127.0.0.2 stands for a public
// address.
func publicInTests(addr netip.Addr) bool {
	return addr != netip.MustParseAddr("127.0.0.2") && IsPrivate(addr)
}

// TestRedirectToPrivateRefused: a feed on a public address that redirects
// to a private one is refused on the address dialled, whatever the name in
// the Location and even when a connection to that address is pooled; a
// source on a private address redirects where it likes, and so does any
// with AllowPrivateRedirects.
func TestRedirectToPrivateRefused(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "rss-basic.xml")
	var internalRequests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalRequests.Add(1)
		w.Write(body)
	}))
	port := internal.URL[strings.LastIndexByte(internal.URL, ':'):]
	redirector := func(ip string) *httptest.Server {
		return loopback.Serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/feed" {
				w.Write(body)
				return
			}
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		}))
	}
	public, private := redirector("127.0.0.2"), redirector("127.0.0.1")
	for _, tt := range []struct {
		name    string
		from    string
		to      string
		opts    Options
		pooled  bool // fetch the internal server directly first, leaving a connection in the pool
		refused bool
	}{
		{name: "address", from: public.URL, to: internal.URL + "/feed", refused: true},
		{name: "address, dialer", from: public.URL, to: internal.URL + "/feed", opts: Options{Dialer: &net.Dialer{}}, refused: true},
		{name: "name resolved", from: public.URL, to: "http://localhost" + port + "/feed", opts: Options{Dialer: &net.Dialer{}}, refused: true},
		{name: "mapped", from: public.URL, to: "http://[::ffff:127.0.0.1]" + port + "/feed", refused: true},
		{name: "pooled connection", from: public.URL, to: internal.URL + "/feed", pooled: true, refused: true},
		{name: "pooled connection, dialer", from: public.URL, to: internal.URL + "/feed", opts: Options{Dialer: &net.Dialer{}}, pooled: true, refused: true},
		{name: "allowed", from: public.URL, to: internal.URL + "/feed", opts: Options{AllowPrivateRedirects: true}},
		{name: "private source", from: private.URL, to: internal.URL + "/feed"},
		{name: "public to public", from: public.URL, to: public.URL + "/feed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.IsPrivate = publicInTests
			c := NewClient(&http.Client{Transport: &http.Transport{}}, tt.opts)
			before := internalRequests.Load()
			if tt.pooled {
				if _, err := c.Fetch(context.Background(), source(internal.URL+"/feed"), aggregator.SourceState{}); err != nil {
					t.Fatalf("the private source itself: %v", err)
				}
			}
			direct := internalRequests.Load() - before
			res, err := c.Fetch(context.Background(), source(tt.from+"/go?to="+tt.to), aggregator.SourceState{})
			redirected := internalRequests.Load() - before - direct
			if !tt.refused {
				if err != nil || len(res.Feed.Items) == 0 {
					t.Fatalf("Fetch() = %d items, %v; want the feed redirected to", len(res.Feed.Items), err)
				}
				return
			}
			if !errors.Is(err, ErrPrivateRedirect) || Kind(err) != "private redirect" {
				t.Errorf("Fetch() error = %v (kind %q), want ErrPrivateRedirect", err, Kind(err))
			}
			if redirected != 0 {
				t.Errorf("the private server got %d requests from the redirect", redirected)
			}
		})
	}
}

// TestIsInternal: a source is internal when the config says so, or when its
// URL names a private address outright or localhost; never for a name that
// only resolves to one.
func TestIsInternal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url      string
		internal bool // Source.Internal
		want     bool
	}{
		{url: "http://10.0.0.5/rss", want: true},
		{url: "http://[::1]:8080/feed.xml", want: true},
		{url: "http://[fe80::1%25eth0]/feed", want: true},
		{url: "http://169.254.169.254/latest/meta-data/", want: true},
		{url: "http://localhost:8080/feed.xml", want: true},
		{url: "http://LocalHost./feed", want: true},
		{url: "http://feeds.localhost/feed", want: true},
		{url: "https://user:pass@127.0.0.1:8443/feed", want: true},
		{url: "http://intranet.example/feed", internal: true, want: true},
		{url: "http://intranet/feed", want: false},
		{url: "http://localhost.example.com/feed", want: false},
		{url: "http://127.0.0.1.example.com/feed", want: false},
		{url: "http://93.184.216.34/feed", want: false},
		{url: "https://example.com/feed", want: false},
		{url: "http://[::1", want: false},
	} {
		t.Run(tt.url, func(t *testing.T) {
			src := aggregator.Source{URL: tt.url, Internal: tt.internal}
			if got := IsInternal(src); got != tt.want {
				t.Errorf("IsInternal(%+v) = %v, want %v", src, got, tt.want)
			}
		})
	}
}

// TestPrivateAddressRefused: a source whose name resolves to a private
// address (an intranet name, or a public name pointed inward: DNS
// rebinding) is refused before a byte reaches it, as "private address",
// unless the admin marked it internal; then it is fetched, and its
// redirects are followed inward. A discovery of such a name is refused
// alike.
func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "rss-basic.xml")
	var requests atomic.Int32
	internal := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/feed" {
			http.Redirect(w, r, "/admin/feed", http.StatusFound)
			return
		}
		w.Write(body)
	}))
	// Every name under .test resolves to the internal server.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.Contains(addr, ".test:") {
			addr = strings.TrimPrefix(internal.URL, "http://")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	for _, tt := range []struct {
		name    string
		src     aggregator.Source
		opts    Options
		refused bool
	}{
		{name: "name resolving inward", src: aggregator.Source{URL: "http://rebound.test/feed"}, refused: true},
		{name: "marked internal", src: aggregator.Source{URL: "http://intranet.test/feed", Internal: true}},
		{name: "address written out", src: aggregator.Source{URL: internal.URL + "/feed"}},
		{name: "checks off", src: aggregator.Source{URL: "http://rebound.test/feed"}, opts: Options{AllowPrivateRedirects: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dial, tt.opts.IsPrivate = dial, publicInTests
			c := NewClient(nil, tt.opts)
			before := requests.Load()
			res, err := c.Fetch(context.Background(), tt.src, aggregator.SourceState{})
			reached := requests.Load() - before
			if !tt.refused {
				if err != nil || len(res.Feed.Items) == 0 || reached != 2 {
					t.Fatalf("Fetch() = %d items, %v, %d requests; want the feed, redirect followed", len(res.Feed.Items), err, reached)
				}
				return
			}
			if !errors.Is(err, ErrPrivateAddress) || Kind(err) != "private address" || !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("Fetch() error = %v (kind %q), want ErrPrivateAddress naming the address", err, Kind(err))
			}
			if reached != 0 {
				t.Errorf("the internal server got %d requests", reached)
			}
			if _, err := c.Discover(context.Background(), tt.src.URL); !errors.Is(err, ErrPrivateAddress) || requests.Load() != before {
				t.Errorf("Discover() error = %v, %d requests; want ErrPrivateAddress and none", err, requests.Load()-before)
			}
		})
	}
}

// TestProxiedSourceNotRefused: through an HTTP proxy, every connection is
// to the proxy, whatever its address; the proxy decides where the request
// goes, and the source is fetched.
func TestProxiedSourceNotRefused(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "rss-basic.xml")
	var asked atomic.Value
	proxy := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.URL.String())
		w.Write(body)
	}))
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {Dialer: &net.Dialer{}}} {
		c := NewClient(&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}, opts)
		res, err := c.Fetch(context.Background(), source("http://feeds.example/feed"), aggregator.SourceState{})
		if err != nil || len(res.Feed.Items) == 0 || asked.Load() != "http://feeds.example/feed" {
			t.Errorf("Fetch() through a proxy on loopback = %d items, %v (the proxy was asked %v)", len(res.Feed.Items), err, asked.Load())
		}
	}
}

// BenchmarkFetchGuarded is the cost of the private-address guard on a
// request: a conditional fetch answered 304, from a source that is not
// internal (its connections checked) and from one that is.
func BenchmarkFetchGuarded(b *testing.B) {
	srv := func(ip string) string {
		return loopback.Serve(b, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		})).URL + "/feed"
	}
	for _, bb := range []struct{ name, url string }{{"public", srv("127.0.0.2")}, {"internal", srv("127.0.0.1")}} {
		b.Run(bb.name, func(b *testing.B) {
			c := NewClient(nil, Options{IsPrivate: publicInTests})
			prev := aggregator.SourceState{ETag: `"v1"`}
			for b.Loop() {
				if res, err := c.Fetch(context.Background(), source(bb.url), prev); err != nil || !res.NotModified {
					b.Fatalf("Fetch() = %+v, %v", res, err)
				}
			}
		})
	}
}
