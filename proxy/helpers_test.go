package proxy

import (
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// echoServer starts a TCP server on 127.0.0.1 that echoes what it reads and half-closes
// when the client does.
func echoServer(t testing.TB) string {
	t.Helper()
	return sinkServer(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

// sinkServer accepts connections and hands each to serve.
func sinkServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	return ln.Addr().String()
}

// startAPI serves a new Server's API on 127.0.0.1.
func startAPI(t testing.TB) (*Server, string) {
	t.Helper()
	s := NewServer(nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts.URL
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
