package fetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
		{"93.184.216.34", false}, {"100.63.255.255", false}, {"100.128.0.1", false}, {"8.8.8.8", false},
		{"2606:4700::1111", false}, {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false}, {"2002:808:808::", false},
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
