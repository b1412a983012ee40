// Package pipenet is an in-memory network of HTTP servers for tests inside
// a testing/synctest bubble. Only tests import it.
package pipenet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Trickle returns a handler that sends body one byte a second, until the
// client goes away: on a Net inside a synctest bubble the seconds are fake.
func Trickle(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, b := range body {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// Net is an in-memory network of HTTP servers, one per host name: its
// connections are net.Pipes, so that inside a testing/synctest bubble the
// fake clock advances while a server sleeps or trickles. It counts the
// connections open to each host, at most and now.
type Net struct {
	mu      sync.Mutex
	servers map[string]*pipeServer
	wg      sync.WaitGroup
}

type pipeServer struct {
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	open  int
	peak  int
}

// New returns an empty network.
func New() *Net {
	return &Net{servers: make(map[string]*pipeServer)}
}

// Handle serves host with h.
func (n *Net) Handle(host string, h http.Handler) {
	// close waits for handlers too: a synctest bubble ends only when
	// every goroutine in it has.
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.wg.Add(1)
		defer n.wg.Done()
		h.ServeHTTP(w, r)
	})
	s := &pipeServer{srv: &http.Server{Handler: counted}, conns: make(chan net.Conn), done: make(chan struct{})}
	n.mu.Lock()
	n.servers[host] = s
	n.mu.Unlock()
	n.wg.Go(func() { s.srv.Serve(pipeListener{s}) })
}

// Client returns an HTTP client whose connections go to n's servers.
func (n *Net) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.Dial}}
}

// Dial connects to the server of addr's host, as net.Dialer.DialContext.
func (n *Net) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	s, ok := n.servers[host]
	n.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	client, server := net.Pipe()
	select {
	case s.conns <- &countedConn{Conn: server, n: n, s: s}:
	case <-s.done:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	n.mu.Unlock()
	return client, nil
}

// Peak returns the most connections that were open to host at once.
func (n *Net) Peak(host string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.servers[host].peak
}

// Close stops every server and waits for them and their handlers.
func (n *Net) Close() {
	n.mu.Lock()
	servers := make([]*pipeServer, 0, len(n.servers))
	for _, s := range n.servers {
		servers = append(servers, s)
	}
	n.mu.Unlock()
	for _, s := range servers {
		close(s.done)
		s.srv.Close()
	}
	n.wg.Wait()
}

type pipeListener struct{ s *pipeServer }

func (l pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.conns:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}

func (l pipeListener) Close() error   { return nil }
func (l pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// countedConn is the server's end of a connection.
type countedConn struct {
	net.Conn
	n    *Net
	s    *pipeServer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		c.s.open--
		c.n.mu.Unlock()
	})
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
