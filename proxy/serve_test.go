package proxy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shakedown-dev/shakedown"
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
