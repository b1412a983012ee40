package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mmcdole/gofeed"
)

// The baselines run in child processes of their own, as the daemon does, so
// that both sides are measured the same way (wall time to exit, rusage) and
// neither shares a process with the feed server or the load generator.

// baselinePass is the parsing floor: fetch every feed with plain net/http
// and parse it with gofeed, as fast as gofeed goes (no content image scan),
// storing nothing, with the same concurrency as the daemon. It prints the
// number of items parsed.
func baselinePass(base string, sources, concurrency int) error {
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	p := gofeed.NewParser()
	p.RSSTranslator = &gofeed.DefaultRSSTranslator{DisableContentImageScan: true}
	jobs := make(chan int)
	var items atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range jobs {
				n, err := baselineFetch(client, p, base+"/feeds/"+strconv.Itoa(i)+".xml")
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				items.Add(int64(n))
			}
		})
	}
	for i := range sources {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println(items.Load())
	return nil
}

func baselineFetch(client *http.Client, p *gofeed.Parser, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := p.Parse(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	return len(f.Items), nil
}

// bareServer is the serving floor: a bare net/http handler writing the same
// bytes the daemon serves, from memory, gzip or not as the client asks. It
// prints its address, then serves until SIGINT or SIGTERM.
func bareServer(listen, plainFile, gzipFile, contentType string) error {
	plain, err := os.ReadFile(plainFile)
	if err != nil {
		return err
	}
	gz, err := os.ReadFile(gzipFile)
	if err != nil {
		return err
	}
	plainLen, gzLen := strconv.Itoa(len(plain)), strconv.Itoa(len(gz))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", gzLen)
			w.Write(gz)
			return
		}
		h.Set("Content-Length", plainLen)
		w.Write(plain)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, ln.Addr().String())
	out.Flush()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// discard drains and closes a response body.
func discard(body io.ReadCloser) (int64, error) {
	n, err := io.Copy(io.Discard, body)
	body.Close()
	return n, err
}
