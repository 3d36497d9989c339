package demo

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/httplimit"
	"github.com/shakedown-dev/shakedown/internal/testenv"
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
	testenv.HeaderLimit(t, "http://"+addr+"/healthz", httplimit.MaxHeader)
}
