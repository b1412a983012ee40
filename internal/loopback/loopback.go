// Package loopback starts test HTTP servers on a chosen loopback address,
// such as 127.0.0.2, which tests of the private-address guard take for a
// public one. Only tests import it.
package loopback

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve starts h on ip (a loopback address) at a free port, and closes it
// when the test ends. It skips the test when the address cannot be
// listened on.
func Serve(t testing.TB, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
