package demo

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// TestReplicaHeaderLimit: a demo replica is held to the limits of every server shakedown
// starts: a header past httplimit.MaxHeader gets 431, not net/http's megabyte.
func TestReplicaHeaderLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrFile := filepath.Join(t.TempDir(), "addr")
	done := make(chan error, 1)
	go func() {
		done <- ReplicaMain(ctx, []string{"-listen", "127.0.0.1:0", "-addr-file", addrFile, "-cache", "127.0.0.1:1"}, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = string(b)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the replica ended: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica wrote no address within 10s")
		}
	}
	for _, tc := range []struct {
		size     int
		tooLarge bool
	}{
		{1 << 10, false},
		{httplimit.MaxHeader + 8<<10, true},
		{512 << 10, true},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("a header of %d bytes: %v", tc.size, err)
			continue
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge; got != tc.tooLarge {
			t.Errorf("a header of %d bytes: status %d, want 431: %t", tc.size, resp.StatusCode, tc.tooLarge)
		}
	}
}
