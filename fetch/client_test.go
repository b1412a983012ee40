package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planetgo/aggregator/internal/pipenet"

	"github.com/planetgo/aggregator"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveFile serves body with contentType, honouring If-None-Match against
// etag, and records the requests it received.
type feedServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

func newFeedServer(t *testing.T, handler http.HandlerFunc) *feedServer {
	t.Helper()
	fs := &feedServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.requests = append(fs.requests, r.Clone(context.Background()))
		fs.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) lastRequest() *http.Request {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests[len(fs.requests)-1]
}

func staticFeed(body []byte, contentType, etag, lastModified string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if etag != "" && r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastModified != "" {
			w.Header().Set("Last-Modified", lastModified)
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

func newClient(opts Options) *Client {
	return NewClient(&http.Client{}, opts)
}

func source(url string) aggregator.Source {
	return aggregator.Source{Name: "test", URL: url}
}

func TestFetchRSS(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, staticFeed(readTestdata(t, "rss-basic.xml"), "application/rss+xml", `"v1"`, "Mon, 02 Nov 2026 10:00:00 GMT"))
	c := newClient(Options{UserAgent: "test-agent/1"})
	res, err := c.Fetch(context.Background(), source(srv.URL+"/feed"), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if res.NotModified || res.ETag != `"v1"` || res.LastModified != "Mon, 02 Nov 2026 10:00:00 GMT" || res.BodyHash == "" {
		t.Errorf("Result = %+v, want a modified feed with its validators", res)
	}
	req := srv.lastRequest()
	if ua := req.Header.Get("User-Agent"); ua != "test-agent/1" {
		t.Errorf("User-Agent = %q", ua)
	}
	if !strings.Contains(req.Header.Get("Accept"), "application/atom+xml") {
		t.Errorf("Accept = %q, want the feed types named", req.Header.Get("Accept"))
	}
	f := res.Feed
	if f.Title != "Basic & Plain" || f.SiteLink != "http://basic.example/" {
		t.Errorf("feed = %q %q", f.Title, f.SiteLink)
	}
	if len(f.Items) != 3 {
		t.Fatalf("%d items, want 3", len(f.Items))
	}
	it := f.Items[0]
	want := aggregator.Item{
		ID:         "basic-3",
		SourceID:   "test",
		Title:      "Third post",
		Link:       "http://basic.example/3",
		Summary:    "<p>Third <b>body</b></p>",
		Author:     "Ann Author",
		Categories: []string{"go", "release"},
		Enclosures: []aggregator.Enclosure{{URL: "http://basic.example/3.mp3", Type: "audio/mpeg", Length: 12345}},
		Published:  time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC),
	}
	if it.ID != want.ID || it.SourceID != want.SourceID || it.Title != want.Title || it.Link != want.Link ||
		it.Summary != want.Summary || it.Author != want.Author || !slices.Equal(it.Categories, want.Categories) ||
		!slices.Equal(it.Enclosures, want.Enclosures) || !it.Published.Equal(want.Published) || it.Published.Location() != time.UTC {
		t.Errorf("item =\n%+v\nwant\n%+v", it, want)
	}
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	srv := newFeedServer(t, staticFeed(readTestdata(t, "rss-basic.xml"), "application/rss+xml", `"v1"`, "Mon, 02 Nov 2026 10:00:00 GMT"))
	c := newClient(Options{})
	first, err := c.Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	prev := aggregator.SourceState{ETag: first.ETag, LastModified: first.LastModified, BodyHash: first.BodyHash}
	second, err := c.Fetch(context.Background(), source(srv.URL), prev)
	if err != nil {
		t.Fatal(err)
	}
	req := srv.lastRequest()
	if req.Header.Get("If-None-Match") != `"v1"` || req.Header.Get("If-Modified-Since") != "Mon, 02 Nov 2026 10:00:00 GMT" {
		t.Errorf("conditional request headers = %q, %q", req.Header.Get("If-None-Match"), req.Header.Get("If-Modified-Since"))
	}
	if !second.NotModified || len(second.Feed.Items) != 0 {
		t.Errorf("304: NotModified = %v with %d items, want true and none", second.NotModified, len(second.Feed.Items))
	}
	if second.ETag != `"v1"` || second.LastModified != prev.LastModified || second.BodyHash != prev.BodyHash {
		t.Errorf("304 lost the validators: %+v", second)
	}
}

func TestSameBodyIsNotModified(t *testing.T) {
	t.Parallel()
	// A server with no validators at all: the body hash tells.
	srv := newFeedServer(t, staticFeed(readTestdata(t, "rss-basic.xml"), "application/rss+xml", "", ""))
	c := newClient(Options{})
	first, err := c.Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Fetch(context.Background(), source(srv.URL), aggregator.SourceState{BodyHash: first.BodyHash})
	if err != nil {
		t.Fatal(err)
	}
	if !second.NotModified || len(second.Feed.Items) != 0 {
		t.Errorf("same body: NotModified = %v with %d items, want true and none", second.NotModified, len(second.Feed.Items))
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	big := []byte("<rss>" + strings.Repeat("x", 2000) + "</rss>")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    Options
		want    error
		kind    string
	}{
		{
			name:    "status 500",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) },
			want:    &StatusError{},
			kind:    "http status 500",
		},
		{
			name:    "status 404",
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			want:    &StatusError{},
			kind:    "http status 404",
		},
		{
			name:    "declared too large",
			handler: staticFeed(big, "application/rss+xml", "", ""),
			opts:    Options{MaxBytes: 1000},
			want:    ErrTooLarge,
			kind:    "too large",
		},
		{
			name: "chunked too large",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 10 {
					w.Write(big[:500])
					w.(http.Flusher).Flush()
				}
			},
			opts: Options{MaxBytes: 1000},
			want: ErrTooLarge,
			kind: "too large",
		},
		{
			name:    "not a feed",
			handler: staticFeed(readTestdata(t, "not-a-feed.html"), "text/html", "", ""),
			want:    ErrNotFeed,
			kind:    "not a feed",
		},
		{
			name:    "broken xml",
			handler: staticFeed([]byte(`<rss version="2.0"><channel><item><title>x</ti`), "text/xml", "", ""),
			want:    &ParseError{},
			kind:    "parse error",
		},
		{
			name: "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			opts: Options{Timeout: 50 * time.Millisecond},
			want: ErrTimeout,
			kind: "timeout",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFeedServer(t, tt.handler)
			_, err := newClient(tt.opts).Fetch(context.Background(), source(srv.URL), aggregator.SourceState{})
			switch want := tt.want.(type) {
			case *StatusError:
				var got *StatusError
				if !errors.As(err, &got) {
					t.Fatalf("Fetch() error = %v, want a StatusError", err)
				}
			case *ParseError:
				var got *ParseError
				if !errors.As(err, &got) {
					t.Fatalf("Fetch() error = %v, want a ParseError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Fetch() error = %v, want %v", err, want)
				}
			}
			if got := Kind(err); got != tt.kind {
				t.Errorf("Kind(%v) = %q, want %q", err, got, tt.kind)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := newClient(Options{}).Fetch(context.Background(), source(url), aggregator.SourceState{})
	if got := Kind(err); got != "connect" {
		t.Errorf("Kind(%v) = %q, want connect", err, got)
	}
}

// TestPerHostLimit: twelve fetches to one host keep exactly PerHost
// requests in flight while the server holds them, no more (a client
// without the limit fails) and no fewer (a serial one fails), in a
// synctest bubble, so that "every goroutine is waiting" is certain rather
// than slept for.
func TestPerHostLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := readTestdata(t, "rss-basic.xml")
		var mu sync.Mutex
		inFlight, peak, served := 0, 0, 0
		release := make(chan struct{})
		n := pipenet.New()
		n.Handle("one.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			<-release
			w.Write(body)
			mu.Lock()
			inFlight--
			served++
			mu.Unlock()
		}))
		hc := n.Client()
		defer n.Close()
		defer hc.CloseIdleConnections()
		c := NewClient(hc, Options{PerHost: 2})
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				if _, err := c.Fetch(t.Context(), source(fmt.Sprintf("http://one.test/%d", i)), aggregator.SourceState{}); err != nil {
					t.Error(err)
				}
			})
		}
		for round := 0; ; round++ {
			synctest.Wait() // every fetch is held by the server or waits for a slot
			mu.Lock()
			now, done := inFlight, served
			mu.Unlock()
			if done == 12 {
				break
			}
			if want := min(2, 12-done); now != want {
				t.Fatalf("round %d: %d requests in flight with %d served, want %d", round, now, done, want)
			}
			release <- struct{}{}
		}
		wg.Wait()
		if peak != 2 {
			t.Errorf("peak of %d requests in flight, want 2", peak)
		}
	})
}

func TestLocalFile(t *testing.T) {
	t.Parallel()
	path, err := filepath.Abs(filepath.Join("testdata", "rss-basic.xml"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(Options{})
	res, err := c.Fetch(context.Background(), source("file://"+path), aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Feed.Items) != 3 || res.LastModified == "" {
		t.Errorf("local file: %d items, Last-Modified %q", len(res.Feed.Items), res.LastModified)
	}
	again, err := c.Fetch(context.Background(), source("file://"+path), aggregator.SourceState{BodyHash: res.BodyHash})
	if err != nil || !again.NotModified {
		t.Errorf("unchanged local file: NotModified = %v, err = %v", again.NotModified, err)
	}
	_, err = c.Fetch(context.Background(), source("file:///nonexistent/feed.xml"), aggregator.SourceState{})
	if !errors.Is(err, os.ErrNotExist) || Kind(err) != "file" {
		t.Errorf("missing file: %v (kind %q)", err, Kind(err))
	}
}

// Given no http.Client, NewClient builds its own transport, whose
// connections Options.Dial opens when set.
func TestNewClientBuildsItsTransport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(readTestdata(t, "rss-basic.xml"))
	}))
	defer srv.Close()
	var dialled atomic.Int32
	var d net.Dialer
	c := NewClient(nil, Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled.Add(1)
		return d.DialContext(ctx, network, addr)
	}})
	res, err := c.Fetch(context.Background(), aggregator.Source{Name: "s", URL: srv.URL + "/feed"}, aggregator.SourceState{})
	if err != nil {
		t.Fatal(err)
	}
	if dialled.Load() != 1 || len(res.Feed.Items) == 0 {
		t.Errorf("%d connections through Options.Dial, %d items; want 1 and the feed's items", dialled.Load(), len(res.Feed.Items))
	}
}
