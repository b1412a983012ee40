package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/internal/pipenet"
)

// fixedClock is a Now for Options.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var clock0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		code       int
		retryAfter string
		want       time.Time
	}{
		{"429 seconds", 429, "120", clock0.Add(2 * time.Minute)},
		{"503 http date", 503, clock0.Add(time.Hour).Format(http.TimeFormat), clock0.Add(time.Hour)},
		{"429 capped", 429, "999999999", clock0.Add(24 * time.Hour)},
		{"503 without", 503, "", time.Time{}},
		{"503 in the past", 503, clock0.Add(-time.Hour).Format(http.TimeFormat), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int32
			srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
			})
			c := newClient(Options{Now: fixedClock(clock0)})
			_, err := c.Fetch(context.Background(), source(srv.URL+"/one"), aggregator.SourceState{})
			var serr *StatusError
			if !errors.As(err, &serr) || serr.Code != tt.code {
				t.Fatalf("Fetch() error = %v, want status %d", err, tt.code)
			}
			if !serr.RetryAfter.Equal(tt.want) {
				t.Errorf("RetryAfter = %v, want %v", serr.RetryAfter, tt.want)
			}
			if got := Kind(err); got != fmt.Sprintf("http status %d", tt.code) {
				t.Errorf("Kind = %q", got)
			}
			// Another source on the same host: no request before then.
			_, err = c.Fetch(context.Background(), source(srv.URL+"/two"), aggregator.SourceState{})
			var blocked *HostBlockedError
			if tt.want.IsZero() {
				if errors.As(err, &blocked) || requests.Load() != 2 {
					t.Errorf("no Retry-After: second fetch = %v after %d requests, want it sent", err, requests.Load())
				}
				return
			}
			if !errors.As(err, &blocked) || !blocked.Until.Equal(tt.want) || Kind(err) != "host blocked" {
				t.Errorf("second fetch error = %v, want the host blocked until %v", err, tt.want)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: none before Retry-After", n)
			}
			if got := c.BlockedUntil(Host(srv.URL)); !got.Equal(tt.want) {
				t.Errorf("BlockedUntil = %v, want %v", got, tt.want)
			}
			// Once the time has come, requests go again.
			later := newClient(Options{Now: fixedClock(tt.want)})
			later.BlockHost(Host(srv.URL), tt.want)
			if _, err := later.Fetch(context.Background(), source(srv.URL+"/two"), aggregator.SourceState{}); errors.As(err, &blocked) {
				t.Errorf("at Retry-After: %v", err)
			}
			// -force sends anyway.
			forced := newClient(Options{Now: fixedClock(clock0), IgnoreRetryAfter: true})
			forced.BlockHost(Host(srv.URL), tt.want)
			before := requests.Load()
			if _, err := forced.Fetch(context.Background(), source(srv.URL+"/two"), aggregator.SourceState{}); errors.As(err, &blocked) || requests.Load() != before+1 {
				t.Errorf("IgnoreRetryAfter: %v, want the request sent", err)
			}
		})
	}
}

func TestStatusKinds(t *testing.T) {
	t.Parallel()
	for _, code := range []int{404, 410, 500} {
		srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
		_, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
		var serr *StatusError
		if !errors.As(err, &serr) || serr.Code != code || Kind(err) != fmt.Sprintf("http status %d", code) {
			t.Errorf("status %d: error %v, kind %q", code, err, Kind(err))
		}
	}
}

// redirectServer serves the feed at /feed, and at /rN a redirect given by
// the chain: hop i redirects with chain[i] to the next hop, the last to /feed.
func redirectServer(t *testing.T, chain []int) *feedServer {
	body := readTestdata(t, "atom-relative-links.xml")
	return newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/feed" {
			w.Write(body)
			return
		}
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/r%d", &i); err != nil || i >= len(chain) {
			http.NotFound(w, r)
			return
		}
		next := "/feed"
		if i+1 < len(chain) {
			next = fmt.Sprintf("/r%d", i+1)
		}
		http.Redirect(w, r, next, chain[i])
	})
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		chain     []int
		permanent string // path
	}{
		{"301", []int{301}, "/feed"},
		{"301 then 308", []int{301, 308}, "/feed"},
		{"308 then 302", []int{308, 302}, "/r1"},
		{"302", []int{302}, ""},
		{"307 then 301", []int{307, 301}, ""},
		{"ten hops", []int{301, 301, 301, 301, 301, 301, 301, 301, 301, 301}, "/feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redirectServer(t, tt.chain)
			res, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL+"/r0"), aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.permanent != "" {
				want = srv.URL + tt.permanent
			}
			if res.PermanentRedirect != want {
				t.Errorf("PermanentRedirect = %q, want %q", res.PermanentRedirect, want)
			}
			if res.URL != srv.URL+"/feed" || len(res.Feed.Items) != 1 {
				t.Errorf("URL = %q with %d items, want the feed", res.URL, len(res.Feed.Items))
			}
		})
	}
	t.Run("eleven hops", func(t *testing.T) {
		t.Parallel()
		srv := redirectServer(t, []int{301, 302, 301, 302, 301, 302, 301, 302, 301, 302, 301})
		_, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL+"/r0"), aggregator.SourceState{})
		if !errors.Is(err, ErrTooManyRedirects) || Kind(err) != "too many redirects" {
			t.Errorf("error = %v (kind %q), want too many redirects", err, Kind(err))
		}
	})
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
			next := map[string]string{"/a": "/b", "/b": "/c", "/c": "/a"}[r.URL.Path]
			http.Redirect(w, r, next, http.StatusFound)
		})
		_, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL+"/a"), aggregator.SourceState{})
		if !errors.Is(err, ErrRedirectLoop) || Kind(err) != "redirect loop" {
			t.Errorf("error = %v (kind %q), want a redirect loop", err, Kind(err))
		}
		if n := len(srv.requests); n != 3 {
			t.Errorf("%d requests, want 3: the loop is seen before asking again", n)
		}
	})
}

func TestGzip(t *testing.T) {
	t.Parallel()
	feed := readTestdata(t, "rss-basic.xml")
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(feed)
	zw.Close()
	srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
	})
	res, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.lastRequest().Header.Get("Accept-Encoding"); got != "gzip" {
		t.Errorf("Accept-Encoding = %q, want gzip", got)
	}
	if len(res.Feed.Items) != 3 || res.Bytes != int64(len(feed)) {
		t.Errorf("%d items, %d bytes; want 3 items, %d bytes decoded", len(res.Feed.Items), res.Bytes, len(feed))
	}
}

// TestGzipBomb serves an endless gzip stream of zeros, about 1000:1: the
// limit counts decoded bytes, so the fetch stops after reading about
// MaxBytes/1000 from the network.
func TestGzipBomb(t *testing.T) {
	t.Parallel()
	const maxBytes = 1 << 20
	var sent atomic.Int64
	srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/rss+xml")
		zw, _ := gzip.NewWriterLevel(countingWriter{w, &sent}, gzip.BestCompression)
		zw.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>`))
		zeros := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := zw.Write(zeros); err != nil {
				return
			}
		}
	})
	_, err := newClient(Options{MaxBytes: maxBytes}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if !errors.Is(err, ErrTooLarge) || Kind(err) != "too large" {
		t.Fatalf("error = %v, want too large", err)
	}
	n := sent.Load()
	if n > 100*maxBytes/1000+1<<20 {
		t.Errorf("server sent %d compressed bytes: the limit did not cut the stream", n)
	}
	t.Logf("cut at %d decoded bytes after the server had sent %d compressed", maxBytes, n)
}

type countingWriter struct {
	w http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func TestEndlessBody(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("<item>"), 1000)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	_, err := newClient(Options{MaxBytes: 1 << 20}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error = %v, want too large", err)
	}
}

func TestTruncatedFeed(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, staticFeed(readTestdata(t, "rss-truncated.xml"), "application/rss+xml", "", ""))
	_, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	var perr *ParseError
	if !errors.As(err, &perr) || Kind(err) != "parse error" {
		t.Errorf("error = %v (kind %q), want a parse error", err, Kind(err))
	}
}

func TestCharsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, contentType string
		title, item       string
	}{
		{"rss-latin1-declared.xml", "application/rss+xml; charset=utf-8", "Café crème", "Déjà vu"},
		{"rss-latin1-declared.xml", "", "Café crème", "Déjà vu"},
		{"rss-latin1-undeclared.xml", "application/rss+xml; charset=iso-8859-1", "Café crème", "Déjà vu"},
		{"rss-latin1-undeclared.xml", "text/xml", "Café crème", "Déjà vu"},
		{"rss-windows-1251.xml", "text/xml", "Новости", "Привет, мир"},
		{"rss-shift-jis-undeclared.xml", "application/rss+xml; charset=Shift_JIS", "日本語のニュース", "こんにちは世界"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.contentType, func(t *testing.T) {
			t.Parallel()
			srv := newFeedServer(t, staticFeed(readTestdata(t, tt.file), tt.contentType, "", ""))
			res, err := newClient(Options{}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Feed.Title != tt.title || len(res.Feed.Items) != 1 || res.Feed.Items[0].Title != tt.item {
				t.Errorf("title %q, items %+v; want %q and %q", res.Feed.Title, res.Feed.Items, tt.title, tt.item)
			}
		})
	}
}

func TestRelativeLinkBases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, feedURL string
		links         []string
	}{
		{"atom-xml-base.xml", "https://feeds.example/base.atom", []string{"https://cdn.example/base/posts/one.html", "https://other.example/entries/two.html"}},
		{"rss-relative-channel-link.xml", "https://proxy.example/feeds/x.rss", []string{"https://site.example/blog/posts/one.html"}},
		{"rss-relative-no-link.xml", "https://nolink.example/feeds/x.rss", []string{"https://nolink.example/feeds/posts/one.html", "https://nolink.example/two.html"}},
		{"atom-relative-links.xml", "https://relative.example/blog/feed.atom", []string{"https://relative.example/posts/one.html"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := parseTestdata(t, tt.file, tt.feedURL, "")
			var got []string
			for _, it := range f.Items {
				got = append(got, it.Link)
			}
			if strings.Join(got, " ") != strings.Join(tt.links, " ") {
				t.Errorf("links %q, want %q", got, tt.links)
			}
		})
	}
}

func TestFreshFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  http.Header
		file    string
		want    time.Duration
		wantErr bool
	}{
		{"max-age", http.Header{"Cache-Control": {"public, max-age=3600"}}, "rss-basic.xml", time.Hour, false},
		{"no-cache wins", http.Header{"Cache-Control": {"no-cache, max-age=3600"}}, "rss-basic.xml", 0, false},
		{"expires", http.Header{"Expires": {clock0.Add(2 * time.Hour).Format(http.TimeFormat)}, "Date": {clock0.Format(http.TimeFormat)}}, "rss-basic.xml", 2 * time.Hour, false},
		{"expires 0", http.Header{"Expires": {"0"}}, "rss-basic.xml", 0, false},
		{"rss ttl", nil, "rss-ttl.xml", 3 * time.Hour, false},
		{"longest wins", http.Header{"Cache-Control": {"max-age=600"}}, "rss-ttl.xml", 3 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := readTestdata(t, tt.file)
			srv := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.Write(body)
			})
			res, err := newClient(Options{Now: fixedClock(clock0)}).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			if res.FreshFor != tt.want {
				t.Errorf("FreshFor = %v, want %v", res.FreshFor, tt.want)
			}
		})
	}
}

// TestTimeouts runs in a synctest bubble: the server sleeps and trickles on
// the fake clock, and the fetch must end exactly at its deadline.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	feed := readTestdata(t, "rss-basic.xml")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		took    time.Duration
	}{
		{"trickling body", pipenet.Trickle(feed), 30 * time.Second},
		{"no headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Hour):
			}
		}, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				n := pipenet.New()
				n.Handle("slow.test", tt.handler)
				n.Handle("fast.test", staticFeed(feed, "application/rss+xml", "", ""))
				hc := n.Client()
				defer n.Close()
				defer hc.CloseIdleConnections()
				c := NewClient(hc, Options{Timeout: 30 * time.Second, HeaderTimeout: 10 * time.Second})
				start := time.Now()
				var wg sync.WaitGroup
				wg.Go(func() {
					// The slow source blocks no other.
					if _, err := c.Fetch(t.Context(), source("http://fast.test/"), aggregator.SourceState{}); err != nil {
						t.Errorf("fast source: %v", err)
					}
					if took := time.Since(start); took != 0 {
						t.Errorf("fast source took %v beside the slow one", took)
					}
				})
				_, err := c.Fetch(t.Context(), source("http://slow.test/"), aggregator.SourceState{})
				wg.Wait()
				if !errors.Is(err, ErrTimeout) || Kind(err) != "timeout" {
					t.Errorf("error = %v, want a timeout", err)
				}
				if took := time.Since(start); took != tt.took {
					t.Errorf("took %v, want %v", took, tt.took)
				}
			})
		})
	}
}

// TestHostPoliteness runs many fetches to one host at once: never more than
// PerHost connections or requests, starts HostInterval apart, and another
// host is not held up.
func TestHostPoliteness(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		feed := readTestdata(t, "rss-basic.xml")
		var mu sync.Mutex
		var starts []time.Time
		inFlight, peak := 0, 0
		n := pipenet.New()
		n.Handle("busy.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			starts = append(starts, time.Now())
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			time.Sleep(3 * time.Second)
			w.Write(feed)
			mu.Lock()
			inFlight--
			mu.Unlock()
		}))
		n.Handle("other.test", staticFeed(feed, "application/rss+xml", "", ""))
		hc := n.Client()
		defer n.Close()
		defer hc.CloseIdleConnections()
		c := NewClient(hc, Options{PerHost: 2, HostInterval: 5 * time.Second})
		begin := time.Now()
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if _, err := c.Fetch(t.Context(), source(fmt.Sprintf("http://busy.test/%d", i)), aggregator.SourceState{}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			if _, err := c.Fetch(t.Context(), source("http://other.test/"), aggregator.SourceState{}); err != nil {
				t.Error(err)
			}
			if took := time.Since(begin); took != 0 {
				t.Errorf("other host waited %v", took)
			}
		})
		wg.Wait()
		if peak > 2 || n.Peak("busy.test") > 2 {
			t.Errorf("%d requests and %d connections at once, want at most 2", peak, n.Peak("busy.test"))
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < 5*time.Second {
				t.Errorf("requests %d and %d started %v apart, want at least 5s", i-1, i, gap)
			}
		}
		if len(starts) != 6 {
			t.Errorf("%d requests, want 6", len(starts))
		}
	})
}
