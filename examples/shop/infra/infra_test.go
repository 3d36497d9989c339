package infra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/remote"
)

// needShop skips unless this machine can run the shop: root (namespaces), Go, and the
// Debian packages provision.sh uses.
func needShop(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	for _, c := range []string{"go", "redis-server", "haproxy", "prometheus", "curl", "ip", "ss", "flock", "psql", "runuser", "ssh-keygen", "/usr/sbin/sshd"} {
		testenv.NeedCommand(t, c)
	}
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	testenv.Need(t, len(pg) > 0, "postgresql is not installed")
}

type shop struct {
	t     *testing.T
	state string
	env   []string
}

// newShop prepares a state directory and settings of its own (ports, subnet, names), so the
// test does not collide with a pipeline running on the same machine.
func newShop(t *testing.T) *shop {
	dir, err := os.MkdirTemp("", "shop-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // PostgreSQL runs as its own user and must reach its data directory
	state := filepath.Join(dir, "state")
	p := testenv.Ports(t, 9)
	s := &shop{t: t, state: state, env: append(os.Environ(),
		"SHOP_STATE="+state, "SHOP_PREFIX=shopt", "SHOP_SUBNET=10.77.9", "SHOP_LOCKED=",
		"SHOP_PORT="+strconv.Itoa(p[0]), "SHOP_STATS_PORT="+strconv.Itoa(p[1]),
		"SHOP_PROM_PORT="+strconv.Itoa(p[2]), "SHOP_PROXY_API="+strconv.Itoa(p[3]),
		"SHOP_REDIS_PORT="+strconv.Itoa(p[4]), "SHOP_CACHE_PORT="+strconv.Itoa(p[5]),
		"SHOP_PG_PORT="+strconv.Itoa(p[6]), "SHOP_DB_PORT="+strconv.Itoa(p[7]),
	)}
	t.Cleanup(func() {
		s.run("teardown.sh")
		os.RemoveAll(dir)
	})
	return s
}

// run runs one of the scripts and returns its exit code and output.
func (s *shop) run(script string, args ...string) (int, string) {
	s.t.Helper()
	cmd := exec.Command("./"+script, args...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	s.t.Fatalf("run %s: %v", script, err)
	return -1, ""
}

// leftovers lists what of the shop still exists: processes naming the state directory,
// namespaces, links.
func (s *shop) leftovers() []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(s.state+"/")) {
			left = append(left, "process "+strings.ReplaceAll(string(b), "\x00", " "))
		}
		exe, err := os.Readlink(filepath.Join(filepath.Dir(f), "exe"))
		if err == nil && strings.HasPrefix(exe, s.state+"/") {
			left = append(left, "process "+exe)
		}
	}
	ns, _ := exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(ns), "\n") {
		if strings.HasPrefix(l, "shopt-") {
			left = append(left, "netns "+l)
		}
	}
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "shopt") {
			left = append(left, "link "+f[1])
		}
	}
	return left
}

func TestProvisionSmokeTeardown(t *testing.T) {
	needShop(t)
	s := newShop(t)

	if code, out := s.run("provision.sh", "v9"); code == 0 {
		t.Fatalf("provision.sh v9 (unknown version): exit 0, want non-zero\n%s", out)
	}

	// A port in use: a clear refusal before anything starts.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "SHOP_PROM_PORT="+strconv.Itoa(busy.Addr().(*net.TCPAddr).Port))
	if code, out := s.run("provision.sh", "v1"); code == 0 {
		t.Fatalf("provision.sh v1 with Prometheus's port in use: exit 0, want non-zero\n%s", out)
	}
	busy.Close()
	if left := s.leftovers(); len(left) > 0 {
		t.Fatalf("after a refused provision, left: %q", left)
	}
	s.env = s.env[:len(s.env)-1]

	if code, out := s.run("provision.sh", "v1"); code != 0 {
		t.Fatalf("provision.sh v1: exit %d\n%s", code, out)
	}
	if code, out := s.run("smoke.sh"); code != 0 {
		t.Fatalf("smoke.sh after provision: exit %d\n%s", code, out)
	}
	s.checkHosts()
	// Idempotent: a second provision keeps what runs.
	pid, _ := os.ReadFile(filepath.Join(s.state, "run", "web-1.pid"))
	if code, out := s.run("provision.sh", "v1"); code != 0 {
		t.Fatalf("second provision.sh v1: exit %d\n%s", code, out)
	}
	if pid2, _ := os.ReadFile(filepath.Join(s.state, "run", "web-1.pid")); string(pid2) != string(pid) {
		t.Errorf("second provision restarted web-1: pid %q, then %q", pid, pid2)
	}
	// A second pipeline while one holds the lock is refused.
	lock, err := os.OpenFile(s.state+".lock", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("take the lock: %v", err)
	}
	if code, out := s.run("update.sh", "v2"); code == 0 {
		t.Errorf("update.sh while the lock is held: exit 0, want non-zero\n%s", out)
	}
	lock.Close()
	if code, out := s.run("update.sh", "v3"); code != 0 {
		t.Fatalf("update.sh v3: exit %d\n%s", code, out)
	}
	if code, out := s.run("smoke.sh"); code != 0 {
		t.Fatalf("smoke.sh after update: exit %d\n%s", code, out)
	}

	// Leave a replica paused, as a cancelled experiment might: teardown must still end it.
	if b, err := os.ReadFile(filepath.Join(s.state, "run", "web-2.pid")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(p, syscall.SIGSTOP)
		}
	}
	if code, out := s.run("teardown.sh"); code != 0 {
		t.Fatalf("teardown.sh: exit %d\n%s", code, out)
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Fatalf("after teardown, left: %q", left)
	}
}

// checkHosts dials every replica host of the shop's inventory over SSH, its host key checked
// against the shop's known_hosts, and checks that each is the host it says: its eth0 has its
// address, and its replica serves on it.
func (s *shop) checkHosts() {
	t := s.t
	t.Helper()
	inv, err := remote.ReadInventory(filepath.Join(s.state, "ssh", "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := inv.All()
	if len(hosts) != 3 {
		t.Fatalf("inventory lists %d hosts, want 3", len(hosts))
	}
	for i, h := range hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := remote.Dial(ctx, h)
		if err != nil {
			cancel()
			t.Fatalf("dial %s: %v", h.Address, err)
		}
		out, err := c.Run(ctx, []string{"sh", "-c", `ip -o -4 addr show dev eth0 && curl -fsS -o /dev/null "http://$1:8080/healthz" && echo serving`, "sh", h.Address}, nil)
		c.Close()
		cancel()
		if err != nil {
			t.Fatalf("on %s: %v", h.Address, err)
		}
		if want := fmt.Sprintf("10.77.9.%d/24", 11+i); !strings.Contains(string(out.Stdout), want) || !strings.Contains(string(out.Stdout), "serving") {
			t.Errorf("host %d (%s) says %q, want its eth0 at %s and its replica serving", i+1, h.Address, out.Stdout, want)
		}
	}
}
