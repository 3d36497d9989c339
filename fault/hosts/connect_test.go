package hosts_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/hosts"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// TestConnectRefusesOneHostTwice: two names that reach one host (a DNS alias, here the same
// address, which Validate would have refused) are refused once dialled, before anything is
// staged or injected: a fault would otherwise be injected on the host twice.
func TestConnectRefusesOneHostTwice(t *testing.T) {
	bed := testenv.NeedEnv(t, "SHAKEDOWN_TEST_SSH_TESTBED")
	list, err := os.ReadFile(filepath.Join(bed, "hosts.list"))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.Fields(strings.Split(string(list), "\n")[2])[1]
	reg := shakedown.NewRegistry()
	hosts.Register(reg, hosts.Options{})
	kind, _ := reg.Target(hosts.Kind)
	p := &hosts.Params{SSH: []string{addr, addr + ":22"}, User: "root", Identity: filepath.Join(bed, "id_ed25519"),
		KnownHosts: filepath.Join(bed, "known_hosts")}
	ctx := context.Background()
	env := shakedown.Env{RunID: "onehosttwice", DryRun: true}
	all, err := kind.Resolve(ctx, env, p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, in := range all {
			if c, ok := shakedown.RefAs[*hosts.Conn](in); ok {
				c.Close()
			}
		}
	}()
	if err := kind.Connect(ctx, env, all); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("connect to %s under two names: %v, want invalid", addr, err)
	}
}
