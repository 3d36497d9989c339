package proxy

import (
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"testing"
)

// startAPI serves a new Server's API on 127.0.0.1.
func startAPI(t testing.TB) (*Server, string) {
	t.Helper()
	s := NewServer(nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts.URL
}

// pipeConn wires a conn of p between two net.Pipes and serves it; the test holds the
// client's and the upstream server's ends.
func pipeConn(p *Proxy) (client, server net.Conn, c *conn, done chan struct{}) {
	client, pc := net.Pipe()
	pu, server := net.Pipe()
	c = newConn(p, pc, pu)
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	done = make(chan struct{})
	go func() {
		c.serve()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		close(done)
	}()
	return client, server, c, done
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed)
}
