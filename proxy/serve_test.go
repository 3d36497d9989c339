package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
	"github.com/shakedown-dev/shakedown/internal/testenv"
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
	testenv.HeaderLimit(t, "http://"+api+"/proxies", httplimit.MaxHeader)
}

// TestServeStopsWithoutWaitingForClients: once its context ends, Serve closes what is still
// open after httplimit.ShutdownTimeout — a client in the middle of a request that will never
// end, here — rather than wait for it: net/http's Shutdown would wait as long as the client
// holds out (before, 5 s), and a command has Grace to end after a signal.
func TestServeStopsWithoutWaitingForClients(t *testing.T) {
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
	// One request answered, so the daemon serves this connection; then one whose body
	// never comes: the connection stays busy, never idle.
	br := bufio.NewReader(c)
	if _, err := c.Write([]byte("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := c.Write([]byte("POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Serve returned %v after its context ended: it waited for the client", took.Round(time.Millisecond))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still serving 10s after its context ended")
	}
}
