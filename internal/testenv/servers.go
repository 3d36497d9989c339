package testenv

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Serve starts a TCP server on 127.0.0.1 that hands each connection to serve (closing it
// after), and returns its address. The test's cleanup stops it and waits for its handlers.
func Serve(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
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

// EchoServer starts a TCP server on 127.0.0.1 that echoes what it reads and half-closes
// when the client does, and returns its address.
func EchoServer(tb testing.TB) string {
	tb.Helper()
	return Serve(tb, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

// TCPPair returns both ends of a loopback TCP connection; the test's cleanup closes them.
func TCPPair(tb testing.TB) (client, server *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// HeaderLimit checks that the server at url answers a request with a 1 KiB header, and
// refuses with 431 those whose header passes max: by 8 KiB, and at 512 KiB (under net/http's
// own default of 1 MiB, so that it is the server's limit that refuses them).
func HeaderLimit(tb testing.TB, url string, max int) {
	tb.Helper()
	for _, size := range []int{1 << 10, max + 8<<10, 512 << 10} {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("X-Filler", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Errorf("a header of %d bytes: %v", size, err)
			continue
		}
		resp.Body.Close()
		if refused := resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge; refused != (size > max) {
			tb.Errorf("a header of %d bytes (limit %d): status %d", size, max, resp.StatusCode)
		}
	}
}
