package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/remote"
)

// testbed is the SSH test bed that testbed/ssh.sh started (SHAKEDOWN_TEST_SSH_TESTBED).
type testbed struct {
	dir string
	inv remote.Inventory
	env map[string]string // testbed.env: BRIDGE, SUBNET, GATEWAY, SILENT, POOL, N
}

func needTestbed(t testing.TB) testbed {
	t.Helper()
	dir := testenv.NeedEnv(t, "SHAKEDOWN_TEST_SSH_TESTBED")
	inv, err := remote.ReadInventory(filepath.Join(dir, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "testbed.env"))
	if err != nil {
		t.Fatalf("the test bed in %s is not running: %v", dir, err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return testbed{dir: dir, inv: inv, env: env}
}

// host returns how to reach the i-th host of the test bed (0-based).
func (tb testbed) host(t testing.TB, i int) remote.Host {
	t.Helper()
	if i >= len(tb.inv.Hosts) {
		t.Skipf("skipped: the test bed has %d hosts, this test needs %d", len(tb.inv.Hosts), i+1)
	}
	h, err := tb.inv.Host(tb.inv.Hosts[i].Name)
	if err != nil {
		t.Fatal(err)
	}
	h.AgentSocket = "-"
	return h
}

func dial(t testing.TB, h remote.Host) *remote.Client {
	t.Helper()
	c, err := remote.Dial(context.Background(), h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Address, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialRun(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 0)
	c := dial(t, h)
	ctx := context.Background()

	out, err := c.Run(ctx, []string{"sh", "-c", `echo "$SSH_CONNECTION"; id -u`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Stdout)), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[2] != h.Address || lines[1] != "0" {
		t.Errorf("SSH_CONNECTION and id -u on %s: %q, want the host's address and uid 0", h.Address, out.Stdout)
	}

	out, err = c.Run(ctx, []string{"cat"}, strings.NewReader("through stdin\n"))
	if err != nil || string(out.Stdout) != "through stdin\n" {
		t.Errorf("cat with stdin: %q, %v", out.Stdout, err)
	}

	out, err = c.Run(ctx, []string{"sh", "-c", "echo to stderr >&2; exit 3"}, nil)
	var ee *remote.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || out.Code != 3 || out.Stderr != "to stderr" {
		t.Errorf("exit 3: %+v, %v; want an ExitError with code 3 and its stderr", out, err)
	}
	if !shakedown.IsKind(err, shakedown.KindInternal) {
		t.Errorf("exit 3: kind %v, want internal", shakedown.KindOf(err))
	}

	if _, err := c.Run(ctx, []string{"/no/such/program"}, nil); !errors.As(err, &ee) || ee.Code != 127 {
		t.Errorf("a missing program: %v, want exit 127", err)
	}
	if _, err := c.Run(ctx, nil, nil); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("an empty command: %v, want invalid", err)
	}
}

// hostile are arguments a shell would expand, split, redirect or choke on, were they not
// quoted.
var hostile = []string{
	"", " ", "  two  spaces ", "'", "''", `"`, `\`, `\'`, `'\''`, "$HOME", "${HOME}", "$(id -u)",
	"`id -u`", "a;touch /tmp/shakedown-pwned", "&&", "||", "|", ">", ">/tmp/shakedown-pwned", "<",
	"*", "?", "[a-z]*", "~", "~root", "#comment", "!", "!!", "-n", "--", "-e", "%s", "%%", "\n",
	"line\nbreak", "\t", "\r", "\x01\x7f\x1b[31m", "é ü 雪 🙂", "\xff\xfe", "{a,b}", "a=b", "IFS=x",
	"$'\\n'", "\\$HOME", "'$HOME'", `"$HOME"`, strings.Repeat("'", 100), strings.Repeat("x", 8000),
}

// TestQuoteLocalShell checks Quote against the machine's own /bin/sh, without a test bed.
func TestQuoteLocalShell(t *testing.T) {
	line, err := remote.Quote(append([]string{"printf", `%s\0`}, hostile...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command("/bin/sh", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	checkNULList(t, "/bin/sh", got, hostile)
}

func TestHostileArguments(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 1)
	for _, sudo := range []bool{false, true} {
		if sudo {
			testenv.NeedCommand(t, "sudo")
		}
		h.Sudo = sudo
		c := dial(t, h)
		out, err := c.Run(context.Background(), append([]string{"printf", `%s\0`}, hostile...), nil)
		if err != nil {
			t.Fatalf("sudo %v: %v", sudo, err)
		}
		checkNULList(t, h.Address, out.Stdout, hostile)
	}
	if _, err := os.Stat("/tmp/shakedown-pwned"); err == nil {
		t.Error("/tmp/shakedown-pwned exists: an argument ran as a command")
	}
	c := dial(t, tb.host(t, 1))
	if _, err := c.Run(context.Background(), []string{"echo", "a\x00b"}, nil); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("an argument with a NUL byte: %v, want invalid", err)
	}
}

func checkNULList(t *testing.T, where string, got []byte, want []string) {
	t.Helper()
	parts := strings.Split(string(got), "\x00")
	if len(parts) != len(want)+1 || parts[len(parts)-1] != "" {
		t.Fatalf("on %s: %d arguments came back, want %d", where, len(parts)-1, len(want))
	}
	for i, w := range want {
		if parts[i] != w {
			t.Errorf("on %s: argument %d came back as %q, want %q", where, i, parts[i], w)
		}
	}
}

// knownHostsWith writes a known_hosts file that lists address with key.
func knownHostsWith(t *testing.T, address string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := address + " " + string(ssh.MarshalAuthorizedKey(key))
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostKey is a test bed host's ed25519 key, the one its known_hosts lists.
func hostKey(t *testing.T, tb testbed, name string) ssh.PublicKey {
	t.Helper()
	return hostKeyFile(t, tb, name, "ssh_host_ed25519_key.pub")
}

func hostKeyFile(t *testing.T, tb testbed, name, file string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tb.dir, "hosts", name, file))
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHostKeyAlgorithm: a host with an ECDSA and an ed25519 key is asked for the one
// known_hosts lists, whichever it is.
func TestHostKeyAlgorithm(t *testing.T) {
	tb := needTestbed(t)
	tb.host(t, 9) // skips on a smaller test bed
	name := tb.inv.Hosts[9].Name
	for _, file := range []string{"ssh_host_ed25519_key.pub", "ssh_host_ecdsa_key.pub"} {
		key := hostKeyFile(t, tb, name, file)
		h := tb.host(t, 9)
		h.KnownHosts = knownHostsWith(t, h.Address, key)
		c, err := remote.Dial(context.Background(), h)
		if err != nil {
			t.Errorf("dial with only the %s key in known_hosts: %v", key.Type(), err)
			continue
		}
		c.Close()
	}
}

func TestHostKeyMismatch(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 2)
	own := hostKey(t, tb, tb.inv.Hosts[2].Name)
	other := hostKey(t, tb, tb.inv.Hosts[3].Name)
	h.KnownHosts = knownHostsWith(t, h.Address, other)

	_, err := remote.Dial(context.Background(), h)
	var he *remote.HostKeyError
	if !errors.As(err, &he) {
		t.Fatalf("dial with another host's key in known_hosts: %v, want a HostKeyError", err)
	}
	if !shakedown.IsKind(err, shakedown.KindPermission) || shakedown.KindOf(err).ExitCode() != 5 {
		t.Errorf("kind %v, want permission denied (exit 5)", shakedown.KindOf(err))
	}
	want, offered := ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(own)
	if he.Offered != offered || len(he.Want) != 1 || !strings.HasPrefix(he.Want[0], want) {
		t.Errorf("HostKeyError %+v, want %s expected and %s offered", he, want, offered)
	}
	// What a user reads names the host and both fingerprints.
	for _, s := range []string{h.Address, want, offered} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not name %s", err, s)
		}
	}
}

func TestUnknownHost(t *testing.T) {
	tb := needTestbed(t)
	h := tb.host(t, 2)
	// known_hosts knows host 3's key, under host 3's address only.
	h.KnownHosts = knownHostsWith(t, tb.inv.Hosts[3].Address, hostKey(t, tb, tb.inv.Hosts[3].Name))
	_, err := remote.Dial(context.Background(), h)
	var he *remote.HostKeyError
	if !errors.As(err, &he) || len(he.Want) != 0 || !shakedown.IsKind(err, shakedown.KindPermission) {
		t.Fatalf("dial a host known_hosts does not list: %v, want a permission HostKeyError with no known key", err)
	}
	// The host has an ed25519 and an ECDSA key; with nothing known, either may be offered.
	var keys []string
	for _, file := range []string{"ssh_host_ed25519_key.pub", "ssh_host_ecdsa_key.pub"} {
		keys = append(keys, ssh.FingerprintSHA256(hostKeyFile(t, tb, tb.inv.Hosts[2].Name, file)))
	}
	if !slices.Contains(keys, he.Offered) || !strings.Contains(err.Error(), he.Offered) {
		t.Errorf("offered %s, want one of %s, named", he.Offered, keys)
	}

	// insecure_ignore_host_key lets the same host in.
	h.InsecureIgnoreHostKey = true
	c := dial(t, h)
	if _, err := c.Run(context.Background(), []string{"true"}, nil); err != nil {
		t.Error(err)
	}

	// No known_hosts at all, and no insecure_ignore_host_key: refused before dialling.
	h.InsecureIgnoreHostKey, h.KnownHosts = false, ""
	if _, err := remote.Dial(context.Background(), h); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("no known_hosts: %v, want invalid", err)
	}
}

func TestUnreachable(t *testing.T) {
	tb := needTestbed(t)
	for _, tc := range []struct{ name, address string }{
		{"nothing at the address", tb.env["SILENT"]},
		{"nothing listening on the port", tb.inv.Hosts[0].Address + ":2222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tb.host(t, 0)
			h.Address = tc.address
			h.ConnectTimeout = time.Second
			start := time.Now()
			_, err := remote.Dial(context.Background(), h)
			took := time.Since(start)
			if !shakedown.IsKind(err, shakedown.KindUnavailable) || shakedown.KindOf(err).ExitCode() != 5 {
				t.Errorf("dial %s: %v, want unavailable (exit 5)", tc.address, err)
			}
			// The connect timeout bounds the dial (its own second, and the time to return).
			if took > h.ConnectTimeout+2*time.Second {
				t.Errorf("dial %s took %v with a connect timeout of %v", tc.address, took, h.ConnectTimeout)
			}
		})
	}
	// A context that ends first ends the dial: cancelled is aborted.
	h := tb.host(t, 0)
	h.Address = tb.env["SILENT"]
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := remote.Dial(ctx, h); !shakedown.IsKind(err, shakedown.KindAborted) {
		t.Errorf("dial cancelled: %v, want aborted", err)
	}
}

func TestRunCancel(t *testing.T) {
	tb := needTestbed(t)
	for _, sudo := range []bool{false, true} {
		t.Run(fmt.Sprintf("sudo=%v", sudo), func(t *testing.T) {
			if sudo {
				testenv.NeedCommand(t, "sudo")
			}
			h := tb.host(t, 4)
			h.Sudo = sudo
			c := dial(t, h)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			// The sleep is a child of the command, not the command itself.
			go func() {
				_, err := c.Run(ctx, []string{"sh", "-c", "sleep 31.4159; echo after"}, nil)
				done <- err
			}()
			running := func() bool { return processRunning(t, "sleep", "31.4159") }
			testenv.WaitFor(t, "the remote sleep to start", 10*time.Second, running)
			cancel()
			if err := <-done; !shakedown.IsKind(err, shakedown.KindAborted) {
				t.Errorf("Run cancelled: %v, want aborted", err)
			}
			// Run returns once every process of the command's session on the host has been
			// sent SIGKILL; on a busy machine the sleep may take a moment to go, never 31 s.
			testenv.WaitFor(t, "the remote sleep to end after its Run was cancelled", 3*time.Second, func() bool { return !running() })
			// The connection still serves.
			if _, err := c.Run(context.Background(), []string{"true"}, nil); err != nil {
				t.Errorf("after a cancelled run: %v", err)
			}
		})
	}
}

func TestKeepaliveClosesLostConnection(t *testing.T) {
	tb := needTestbed(t)
	testenv.NeedRoot(t)
	i := len(tb.inv.Hosts) - 1
	h := tb.host(t, i)
	h.Keepalive = 100 * time.Millisecond
	c := dial(t, h)
	ns := "shakedown-ssh" + tb.env["POOL"] + "-" + strings.TrimPrefix(tb.inv.Hosts[i].Name[len("host-"):], "0")
	ipNS := func(state string) {
		if out, err := exec.Command("ip", "-n", ns, "link", "set", "eth0", state).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s link set eth0 %s: %v: %s", ns, state, err, out)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), []string{"sleep", "27.1828"}, nil)
		done <- err
	}()
	testenv.WaitFor(t, "the remote sleep to start", 10*time.Second, func() bool {
		return processRunning(t, "sleep", "27.1828")
	})
	ipNS("down")
	t.Cleanup(func() { ipNS("up") })
	select {
	case err := <-done:
		if !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("Run on a host whose link went down: %v, want unavailable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run on a host whose link went down did not end: keepalives do not close the connection")
	}
}

func TestStage(t *testing.T) {
	tb := needTestbed(t)
	c := dial(t, tb.host(t, 5))
	ctx := context.Background()
	// A script of this test's own, so that no earlier run has staged it.
	local := filepath.Join(t.TempDir(), "staged")
	mark := t.Name() + "-" + time.Now().Format(time.RFC3339Nano)
	if err := os.WriteFile(local, []byte("#!/bin/sh\necho "+mark+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) string {
		t.Helper()
		out, err := c.Run(ctx, argv, nil)
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		return strings.TrimSpace(string(out.Stdout))
	}

	path, err := c.Stage(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Fields(string(must(exec.Command("sha256sum", local).Output())))[0]
	if want := "/tmp/shakedown-0/" + sum[:16] + "/staged"; path != want {
		t.Errorf("staged at %s, want %s", path, want)
	}
	if got := run(path); got != mark {
		t.Errorf("the staged script printed %q, want %q", got, mark)
	}
	if got := run("stat", "-c", "%a", "/tmp/shakedown-0"); got != "700" {
		t.Errorf("mode of /tmp/shakedown-0: %s, want 700", got)
	}
	if got := run("stat", "-c", "%a", filepath.Dir(path)); got != "700" {
		t.Errorf("mode of %s: %s, want 700", filepath.Dir(path), got)
	}
	mtime := run("stat", "-c", "%y %i", path)

	// Staged again: no upload (same inode, same modification time).
	if again, err := c.Stage(ctx, local); err != nil || again != path {
		t.Fatalf("stage again: %s, %v", again, err)
	}
	if got := run("stat", "-c", "%y %i", path); got != mtime {
		t.Errorf("staging the same file again rewrote it: %s, then %s", mtime, got)
	}

	// A copy that was altered on the host is replaced.
	run("sh", "-c", `printf 'echo tampered\n' >>"$1"`, "sh", path)
	if again, err := c.Stage(ctx, local); err != nil || again != path {
		t.Fatalf("stage over an altered copy: %s, %v", again, err)
	}
	if got := run("sha256sum", path); !strings.HasPrefix(got, sum) {
		t.Errorf("after restaging an altered copy: %s, want %s", got, sum)
	}
	if got := run(path); got != mark {
		t.Errorf("the restaged script printed %q, want %q", got, mark)
	}

	// The local file changed: a new copy, beside the old one.
	if err := os.WriteFile(local, []byte("#!/bin/sh\necho changed-"+mark+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := c.Stage(ctx, local)
	if err != nil || changed == path {
		t.Fatalf("stage a changed file: %s, %v; want a path other than %s", changed, err, path)
	}
	if got := run(changed); got != "changed-"+mark {
		t.Errorf("the changed script printed %q", got)
	}

	if _, err := c.Stage(ctx, filepath.Join(t.TempDir(), "missing")); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("stage a missing file: %v, want invalid", err)
	}
}

// TestStageRefusesForeignDirectory: a /tmp/shakedown-<uid> that is a link (planted by
// another user) is not written through.
func TestStageRefusesForeignDirectory(t *testing.T) {
	tb := needTestbed(t)
	c := dial(t, tb.host(t, 6))
	ctx := context.Background()
	if _, err := c.Run(ctx, []string{"sh", "-c", "rm -rf /tmp/shakedown-0 && mkdir -p /tmp/elsewhere && ln -s /tmp/elsewhere /tmp/shakedown-0"}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Run(ctx, []string{"rm", "-rf", "/tmp/shakedown-0", "/tmp/elsewhere"}, nil) })
	local := filepath.Join(t.TempDir(), "staged")
	os.WriteFile(local, []byte("x"), 0o600)
	if _, err := c.Stage(ctx, local); err == nil {
		t.Fatal("staged through a link at /tmp/shakedown-0")
	}
	if out, _ := c.Run(ctx, []string{"ls", "-A", "/tmp/elsewhere"}, nil); len(bytes.TrimSpace(out.Stdout)) != 0 {
		t.Errorf("the link's target got %q", out.Stdout)
	}
}

// processRunning reports whether a process of this machine (the test bed's hosts share its
// processes) runs exactly argv.
func processRunning(t *testing.T, argv ...string) bool {
	t.Helper()
	want := strings.Join(argv, "\x00") + "\x00"
	paths, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && string(b) == want {
			return true
		}
	}
	return false
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
