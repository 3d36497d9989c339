package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// listeningPorts returns the TCP ports this process listens on: the LISTEN sockets of
// /proc/self/net/tcp{,6} whose inodes are among the process's open descriptors.
func listeningPorts(t testing.TB) map[int]int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read descriptors: %v", err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	ports := map[int]int{}
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatalf("read sockets: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !mine[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if err != nil {
				t.Fatalf("%s: local address %q", table, f[1])
			}
			ports[int(port)]++
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
	}
	return ports
}

// newListeners returns the ports listened on now and not in before, with their counts.
func newListeners(t testing.TB, before map[int]int) map[int]int {
	out := map[int]int{}
	for p, n := range listeningPorts(t) {
		if n > before[p] {
			out[p] = n - before[p]
		}
	}
	return out
}

// hammer sends random API calls on a few proxy names from many goroutines: creates,
// updates (enable, disable, move, re-point), populates, resets, deletes, down toxics with
// and without a TTL or a lease. It returns when every goroutine has sent its calls.
func hammer(t *testing.T, h http.Handler, seed uint64, ports []int, workers, calls int) {
	names := []string{"a", "b", "c"}
	listens := []string{"127.0.0.1:0"}
	for _, p := range ports {
		listens = append(listens, fmt.Sprintf("127.0.0.1:%d", p))
	}
	upstreams := []string{"127.0.0.1:1", "127.0.0.1:2"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			pick := func(s []string) string { return s[r.IntN(len(s))] }
			proxy := func() string {
				return fmt.Sprintf(`{"name":%q,"listen":%q,"upstream":%q,"enabled":%t}`,
					pick(names), pick(listens), pick(upstreams), r.IntN(3) > 0)
			}
			for range calls {
				n := pick(names)
				var method, path, body string
				switch r.IntN(11) {
				case 0, 1:
					method, path, body = "POST", "/proxies", proxy()
				case 2:
					method, path, body = "POST", "/proxies/"+n, fmt.Sprintf(`{"enabled":%t}`, r.IntN(2) == 0)
				case 3:
					method, path, body = "PATCH", "/proxies/"+n, fmt.Sprintf(`{"listen":%q,"upstream":%q,"enabled":%t}`,
						pick(listens), pick(upstreams), r.IntN(3) > 0)
				case 4:
					method, path, body = "POST", "/populate", "["+proxy()+","+proxy()+"]"
				case 5:
					method, path = "POST", "/reset"
				case 6, 7:
					method, path = "DELETE", "/proxies/"+n
				case 8:
					method, path, body = "POST", "/proxies/"+n+"/toxics", fmt.Sprintf(`{"type":"down","ttl_ms":%d}`, r.IntN(3))
				case 9:
					method, path = "DELETE", "/proxies/"+n+"/toxics/down_downstream"
				case 10:
					var l Lease
					if do(t, h, "POST", "/leases", fmt.Sprintf(`{"ttl_ms":%d}`, 1+r.IntN(3)), &l) != http.StatusCreated {
						continue // the server is closed
					}
					method, path, body = "POST", "/proxies/"+n+"/toxics", fmt.Sprintf(`{"name":"leased","type":"down","lease":%q}`, l.ID)
				}
				// Any answer will do, a conflict on a port included: what is checked is the
				// state the calls leave.
				do(t, h, method, path, body, nil)
			}
		})
	}
	wg.Wait()
}

// settled reports whether no timer is left that could change a proxy: no lease, no toxic
// with a TTL or a lease.
func settled(t *testing.T, h http.Handler) bool {
	var leases []Lease
	do(t, h, "GET", "/leases", "", &leases)
	if len(leases) > 0 {
		return false
	}
	var all map[string]struct {
		Toxics []struct {
			Lease     string     `json:"lease"`
			ExpiresAt *time.Time `json:"expires_at"`
		} `json:"toxics"`
	}
	do(t, h, "GET", "/proxies", "", &all)
	for _, p := range all {
		for _, tox := range p.Toxics {
			if tox.Lease != "" || tox.ExpiresAt != nil {
				return false
			}
		}
	}
	return true
}

// wantListening returns the ports GET /proxies says are listened on: those of the
// proxies enabled and not held down by a down toxic.
func wantListening(t *testing.T, h http.Handler) map[int]int {
	var all map[string]json.RawMessage
	if code := do(t, h, "GET", "/proxies", "", &all); code != http.StatusOK {
		t.Fatalf("GET /proxies: %d", code)
	}
	want := map[int]int{}
	for name, raw := range all {
		var p struct {
			Listen  string `json:"listen"`
			Enabled bool   `json:"enabled"`
			Toxics  []struct {
				Type string `json:"type"`
			} `json:"toxics"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("proxy %s: %v in %s", name, err, raw)
		}
		down := false
		for _, tox := range p.Toxics {
			down = down || tox.Type == "down"
		}
		if !p.Enabled || down {
			continue
		}
		_, port, err := net.SplitHostPort(p.Listen)
		n, err2 := strconv.Atoi(port)
		if err != nil || err2 != nil || n == 0 {
			t.Fatalf("proxy %s is enabled and listed on %q, not a bound address", name, p.Listen)
		}
		want[n]++
	}
	return want
}

func portList(m map[int]int) string {
	var out []string
	for p, n := range m {
		out = append(out, fmt.Sprintf("%d×%d", p, n))
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}

// Whatever the interleaving of API calls on a proxy, every socket the daemon listens on
// belongs to exactly one proxy GET /proxies lists, and every proxy listed as enabled (and
// not held down) listens on its address; once all are deleted, nothing listens.
func TestListenersOwnedUnderConcurrentCalls(t *testing.T) {
	before := listeningPorts(t)
	ports := testenv.Ports(t, 3)
	const rounds, workers, calls = 20, 8, 60
	for round := range rounds {
		seed := uint64(time.Now().UnixNano())
		s := NewServer(nil)
		h := s.Handler()
		hammer(t, h, seed, ports, workers, calls)
		testenv.WaitFor(t, "leases and toxic TTLs run out", 10*time.Second, func() bool { return settled(t, h) })
		got, want := newListeners(t, before), wantListening(t, h)
		if portList(got) != portList(want) {
			t.Errorf("round %d (seed %d): the process listens on %s, GET /proxies lists %s", round, seed, portList(got), portList(want))
		}
		var all map[string]json.RawMessage
		do(t, h, "GET", "/proxies", "", &all)
		for name := range all {
			if code := do(t, h, "DELETE", "/proxies/"+name, "", nil); code != http.StatusNoContent {
				t.Errorf("DELETE /proxies/%s: %d", name, code)
			}
		}
		if left := newListeners(t, before); len(left) > 0 {
			t.Errorf("round %d (seed %d): every proxy deleted, the process still listens on %s", round, seed, portList(left))
		}
		for i, p := range ports {
			body := fmt.Sprintf(`{"name":"again%d","listen":"127.0.0.1:%d","upstream":"127.0.0.1:1"}`, i, p)
			if code := do(t, h, "POST", "/proxies", body, nil); code != http.StatusCreated {
				t.Errorf("round %d (seed %d): re-creating a proxy on port %d: %d", round, seed, p, code)
			}
		}
		s.Close()
		if left := newListeners(t, before); len(left) > 0 {
			t.Fatalf("round %d (seed %d): server closed, the process still listens on %s", round, seed, portList(left))
		}
		if t.Failed() {
			return
		}
	}
}

// Closing the daemon's server while calls are in flight leaves nothing listening, and
// nothing made after the close listens either.
func TestListenersClosedWithServer(t *testing.T) {
	before := listeningPorts(t)
	ports := testenv.Ports(t, 3)
	for round := range 20 {
		seed := uint64(time.Now().UnixNano())
		s := NewServer(nil)
		h := s.Handler()
		var wg sync.WaitGroup
		wg.Go(func() { hammer(t, h, seed, ports, 4, 40) })
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // close at a random point of the calls
			s.Close()
		})
		wg.Wait()
		testenv.WaitFor(t, "leases and toxic TTLs run out", 10*time.Second, func() bool { return settled(t, h) })
		if left := newListeners(t, before); len(left) > 0 {
			t.Fatalf("round %d (seed %d): server closed, the process still listens on %s", round, seed, portList(left))
		}
	}
}

// Two calls on one proxy, raced many times: after each race, what the process listens on
// is what GET /proxies lists.
func TestListenersOwnedWhenTwoCallsRace(t *testing.T) {
	populate := func(listen string) string {
		return fmt.Sprintf(`[{"name":"p","listen":%q,"upstream":"127.0.0.1:1"}]`, listen)
	}
	type call struct{ method, path, body string }
	disabled := call{"POST", "/proxies", `{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":false}`}
	// A reset over many proxies takes long enough for a delete of the last to fit in.
	var many []call
	for i := range 20 {
		many = append(many, call{"POST", "/proxies", fmt.Sprintf(`{"name":"p%02d","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":false}`, i)})
	}
	// 127.0.0.1:0 and localhost:0 are other addresses than the one a proxy is bound to:
	// populating either replaces the proxy, and moving to either restarts it.
	// Each side of a race is a sequence of calls; the two set off together.
	tests := []struct {
		name       string
		setup      []call
		one, other []call
	}{
		{"delete racing enable", []call{disabled},
			[]call{{"DELETE", "/proxies/p", ""}},
			[]call{{"POST", "/proxies/p", `{"enabled":true}`}}},
		{"delete racing a move", []call{disabled},
			[]call{{"DELETE", "/proxies/p", ""}},
			[]call{{"PATCH", "/proxies/p", `{"listen":"localhost:0","enabled":true}`}}},
		{"two populates of one name", []call{{"POST", "/populate", populate("127.0.0.1:0")}},
			[]call{{"POST", "/populate", populate("127.0.0.1:0")}},
			[]call{{"POST", "/populate", populate("localhost:0")}}},
		{"populate racing enable", []call{{"POST", "/populate", populate("127.0.0.1:0")}},
			[]call{{"POST", "/populate", populate("localhost:0")}},
			[]call{{"POST", "/proxies/p", `{"enabled":true}`}}},
		// The GET lets the reset begin first, so the delete falls within it more often.
		{"reset racing delete", many,
			[]call{{"POST", "/reset", ""}},
			[]call{{"GET", "/proxies", ""}, {"DELETE", "/proxies/p19", ""}}},
	}
	const tries = 200
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := listeningPorts(t)
			failed := 0
			for range tries {
				before := listeningPorts(t)
				s := NewServer(nil)
				h := s.Handler()
				for _, c := range tt.setup {
					if code := do(t, h, c.method, c.path, c.body, nil); code >= 300 {
						t.Fatalf("%s %s %s: %d", c.method, c.path, c.body, code)
					}
				}
				var wg sync.WaitGroup
				set := make(chan struct{})
				for _, calls := range [][]call{tt.one, tt.other} {
					wg.Go(func() {
						<-set
						for _, c := range calls {
							do(t, h, c.method, c.path, c.body, nil)
						}
					})
				}
				close(set)
				wg.Wait()
				got, want := newListeners(t, before), wantListening(t, h)
				s.Close()
				if portList(got) != portList(want) {
					failed++
					if failed == 1 {
						t.Errorf("the process listens on %s, GET /proxies lists %s", portList(got), portList(want))
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d tries failed", failed, tries)
			}
			if left := newListeners(t, start); len(left) > 0 {
				t.Errorf("every server closed, the process still listens on %s", portList(left))
			}
		})
	}
}

// When the daemon stops, whatever calls are in flight, nothing it opened still listens.
func TestServeStopsEveryListener(t *testing.T) {
	before := listeningPorts(t)
	path := filepath.Join(t.TempDir(), "proxies.json")
	config := `[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"},{"name":"b","listen":"localhost:0","upstream":"127.0.0.1:1"}]`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	api := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{API: "127.0.0.1:0", Config: path, Ready: func(a string) { api <- a }})
	}()
	url := "http://" + <-api
	if got := len(newListeners(t, before)); got != 3 {
		t.Fatalf("serving with two proxies, the process listens on %d new ports, want 3 (the API and two proxies)", got)
	}
	// Calls over HTTP while the daemon stops: creates and enables, answered or refused.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ctx.Err() == nil && j < 200; j++ {
				body := fmt.Sprintf(`{"name":"c%d-%d","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}`, i, j)
				if resp, err := http.Post(url+"/proxies", "application/json", strings.NewReader(body)); err == nil {
					resp.Body.Close()
				}
				if resp, err := http.Post(url+"/reset", "application/json", nil); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	testenv.WaitFor(t, "calls make proxies", 10*time.Second, func() bool { return len(newListeners(t, before)) > 5 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	wg.Wait()
	if left := newListeners(t, before); len(left) > 0 {
		t.Errorf("the daemon stopped, the process still listens on %s", portList(left))
	}
}

// bindable reports whether a socket without SO_REUSEADDR — as an outgoing connection's,
// or another program's that does not ask for reuse — can bind addr now.
func bindable(t *testing.T, addr string) bool {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	if err != nil && err != unix.EADDRINUSE {
		t.Fatal(err)
	}
	return err == nil
}

// echoes reports whether a connection to addr is taken and echoes what is written.
func echoes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "ping"
}

// TestDownKeepsThePort: a proxy held down, or disabled, refuses connections but keeps its
// port — a port the system picked for it too — so that nothing else is given it before
// the proxy comes back, on the same address, however many times. A new listen address
// frees the old port, and Close frees the port.
func TestDownKeepsThePort(t *testing.T) {
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.Addr()
	held := func(how string) {
		t.Helper()
		if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			t.Fatalf("%s: a connection to %s was taken", how, addr)
		}
		if bindable(t, addr) {
			t.Fatalf("%s: port %s is free for anyone", how, addr)
		}
	}
	serves := func(how string) {
		t.Helper()
		if got := p.Addr(); got != addr {
			t.Fatalf("%s: listens on %s, was %s", how, got, addr)
		}
		if !echoes(addr) {
			t.Fatalf("%s: the proxy does not carry a connection", how)
		}
	}
	serves("started")
	for i := range 3 {
		if _, err := p.AddToxic(Toxic{Name: "d", Type: "down", Stream: "downstream", Toxicity: 1, Attributes: &Down{}}); err != nil {
			t.Fatal(err)
		}
		held(fmt.Sprintf("down, time %d", i+1))
		if err := p.RemoveToxic("d"); err != nil {
			t.Fatal(err)
		}
		serves(fmt.Sprintf("down toxic removed, time %d", i+1))
	}
	p.Stop()
	held("disabled")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	serves("enabled again")

	other := testenv.Ports(t, 1)[0]
	if err := p.Update(fmt.Sprintf("127.0.0.1:%d", other), p.Info().Upstream, true); err != nil {
		t.Fatal(err)
	}
	if !bindable(t, addr) {
		t.Errorf("moved to port %d: the old port %s is still held", other, addr)
	}
	addr = p.Addr()
	serves("moved")
	p.Close()
	if !bindable(t, addr) {
		t.Errorf("closed: port %s is still held", addr)
	}
}

// TestDownPortTakenMeanwhile: a program that asks for reuse can still listen on a down
// proxy's port; the proxy then cannot come back, says so (a conflict) and is disabled,
// and comes back once the port is free again.
func TestDownPortTakenMeanwhile(t *testing.T) {
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.Addr()
	if _, err := p.AddToxic(Toxic{Name: "d", Type: "down", Stream: "downstream", Toxicity: 1, Attributes: &Down{}}); err != nil {
		t.Fatal(err)
	}
	intruder, err := net.Listen("tcp", addr) // Go's listeners ask for SO_REUSEADDR
	if err != nil {
		t.Fatal(err)
	}
	err = p.RemoveToxic("d")
	if !shakedown.IsKind(err, shakedown.KindConflict) {
		t.Fatalf("down toxic removed with the port taken: %v, want a conflict", err)
	}
	if info := p.Info(); info.Enabled || len(info.Toxics) != 0 {
		t.Fatalf("after the failed restart: enabled %v, toxics %v; want disabled, none", info.Enabled, info.Toxics)
	}
	intruder.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr || !echoes(addr) {
		t.Fatalf("started again: listens on %s (was %s) or carries nothing", p.Addr(), addr)
	}
}
