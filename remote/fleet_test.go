package remote_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/remote"
)

// TestDialAll dials every host of the test bed at once and checks each answers from its own
// address.
func TestDialAll(t *testing.T) {
	tb := needTestbed(t)
	hosts := tb.inv.All()
	if len(hosts) < 20 {
		testenv.Need(t, false, "the test bed has fewer than 20 hosts")
	}
	var g errgroup.Group
	for _, h := range hosts {
		h.AgentSocket = "-"
		g.Go(func() error {
			c, err := remote.Dial(context.Background(), h)
			if err != nil {
				return err
			}
			defer c.Close()
			out, err := c.Run(context.Background(), []string{"sh", "-c", `echo "$SSH_CONNECTION"`}, nil)
			if err != nil {
				return err
			}
			if f := strings.Fields(string(out.Stdout)); len(f) != 4 || f[2] != h.Address {
				t.Errorf("%s answered as %q", h.Address, out.Stdout)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// startAgent starts a real ssh-agent on a socket of the test's own and returns the socket.
// The agent holds the keys given.
func startAgent(t *testing.T, keys ...string) string {
	t.Helper()
	bin := testenv.NeedCommand(t, "ssh-agent")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The socket file is there from its bind, before the agent listens: wait for a connection.
	testenv.WaitFor(t, "ssh-agent to listen", 10*time.Second, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, k := range keys {
		add := exec.Command(testenv.NeedCommand(t, "ssh-add"), k)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v: %s", k, err, out)
		}
	}
	return sock
}

func TestAgentAuth(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 7)
	h.Identity = ""
	h.AgentSocket = startAgent(t, filepath.Join(tb.dir, "id_ed25519"))
	c := dial(t, h)
	if out, err := c.Run(context.Background(), []string{"echo", "by agent"}, nil); err != nil || string(out.Stdout) != "by agent\n" {
		t.Errorf("run over an agent's login: %q, %v", out.Stdout, err)
	}

	// $SSH_AUTH_SOCK is the agent when none is given.
	t.Setenv("SSH_AUTH_SOCK", h.AgentSocket)
	h.AgentSocket = ""
	dial(t, h)

	// An agent without the key: the host refuses the login.
	h.AgentSocket = startAgent(t)
	if _, err := remote.Dial(context.Background(), h); !shakedown.IsKind(err, shakedown.KindPermission) {
		t.Errorf("dial with an empty agent: %v, want permission denied", err)
	}

	// Neither a key file nor an agent.
	h.AgentSocket = "-"
	if _, err := remote.Dial(context.Background(), h); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("dial with no key: %v, want invalid", err)
	}
}

// TestEncryptedIdentity: a key file with a passphrase is refused with a hint to use an agent.
func TestEncryptedIdentity(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command(testenv.NeedCommand(t, "ssh-keygen"), "-q", "-t", "ed25519", "-N", "secret", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	h := remote.Host{Address: "127.0.0.1:1", Identity: key, AgentSocket: "-", InsecureIgnoreHostKey: true}
	if _, err := remote.Dial(context.Background(), h); !shakedown.IsKind(err, shakedown.KindInvalid) || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("dial with an encrypted key: %v, want invalid (encrypted)", err)
	}
}
