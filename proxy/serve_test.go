package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// A --config file is read as strictly as POST /populate: what it cannot take whole, the
// daemon refuses to start with.
func TestServeRefusesABadConfig(t *testing.T) {
	tests := []struct{ name, config string }{
		{"data after the list", `[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}] x`},
		{"malformed listen", `[{"name":"a","listen":"127.0.0.1","upstream":"127.0.0.1:1"}]`},
		{"malformed upstream", `[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:http:80"}]`},
		{"name no route reaches", `[{"name":"..","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "proxies.json")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			ready := false
			err := Serve(context.Background(), Config{API: "127.0.0.1:0", Config: path, Ready: func(string) { ready = true }})
			if !errors.Is(err, &shakedown.Error{Kind: shakedown.KindInvalid}) || ready {
				t.Errorf("Serve with %s: %v (ready %t); want an invalid config before serving", tt.config, err, ready)
			}
		})
	}
}

// TestServeHeaderLimit: the daemon's API refuses a request whose header passes
// httplimit.MaxHeader with 431 (not net/http's megabyte), and answers one within it.
func TestServeHeaderLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, Config{API: "127.0.0.1:0", Ready: func(a string) { addr <- a }}) }()
	defer func() { cancel(); <-done }()
	var api string
	select {
	case api = <-addr:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	for _, tc := range []struct {
		size int
		want int
	}{
		{1 << 10, http.StatusOK},
		{httplimit.MaxHeader + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{512 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+api+"/proxies", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("a header of %d bytes: %v", tc.size, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a header of %d bytes: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

// TestServeStopsWithinGrace: a connection net/http lingers over does not hold the daemon up
// when it is told to stop. After refusing a header past the limit (431), net/http waits
// 500 ms before it closes the connection, and a Shutdown that waited for it outlived the
// 500 ms grace a signal gives the command, which then exited 3 instead of 0. Serve must
// return within httplimit.ShutdownTimeout (300 ms), well short of that.
func TestServeStopsWithinGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, Config{API: "127.0.0.1:0", Ready: func(a string) { addr <- a }}) }()
	var api string
	select {
	case api = <-addr:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	c, err := net.Dial("tcp", api)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /version HTTP/1.1\r\nHost: x\r\nX-Filler: " + strings.Repeat("a", httplimit.MaxHeader+8<<10) + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "431") {
		t.Fatalf("the oversized header: %q %v, want a 431", line, err)
	}
	start := time.Now()
	cancel()
	// The bound sits between what Serve takes (300 ms) and net/http's linger (500 ms): a
	// Serve that waits for the connection cannot meet it.
	const bound = 450 * time.Millisecond
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		if took := time.Since(start); took > bound {
			t.Errorf("Serve returned %v after its context ended, want within %v", took.Round(time.Millisecond), bound)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still serving 10s after its context ended")
	}
}
