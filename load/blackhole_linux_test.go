//go:build linux

package load

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// blackHole returns the address of a listener that never accepts, with the shortest
// backlog: past its first connection, the kernel drops connection attempts, as a target
// behind a black hole does.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// socketsTo counts this network namespace's TCP sockets to 127.0.0.1:port that a
// descriptor holds (/proc/self/net/tcp; an inode of 0 is a socket no descriptor holds any
// more, one the kernel is closing): other tests' descriptors, and the listener's side, do
// not count.
func socketsTo(t *testing.T, port int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	remote := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) > 9 && f[2] == remote && f[9] != "0" {
			n++
		}
	}
	return n
}

// TestBlackHoleHoldsNoMoreSocketsThanRequests: against a target whose connection attempts
// are dropped, a load holds no more sockets than MaxInFlight on any path — net/http goes
// on dialling for requests that gave up, and those dials must not pile up past the load's
// bound (at a high rate they would take every descriptor of the process) — and none once
// Run returns.
func TestBlackHoleHoldsNoMoreSocketsThanRequests(t *testing.T) {
	addr := blackHole(t)
	_, p, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	const maxInFlight = 5
	for _, scheme := range []string{"https", "http"} { // net/http's client; the event loop
		t.Run(scheme, func(t *testing.T) {
			g, err := New(&shakedown.LoadSpec{URL: scheme + "://" + addr + "/", Rate: 200, Timeout: 100 * time.Millisecond},
				Options{MaxInFlight: maxInFlight})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() { g.Run(ctx); close(done) }()
			most := 0
			for running := true; running; {
				select {
				case <-done:
					running = false
				case <-time.After(5 * time.Millisecond):
					most = max(most, socketsTo(t, port))
				}
			}
			if most > maxInFlight {
				t.Errorf("%d sockets to the black hole open at once for a load of at most %d requests in flight", most, maxInFlight)
			}
			if most == 0 {
				t.Error("no socket to the black hole seen open: the count reads nothing")
			}
			testenv.WaitFor(t, "the load's sockets closed", 5*time.Second, func() bool { return socketsTo(t, port) == 0 })
			rep := g.Report()
			if rep.Requests == 0 || rep.ErrorKinds["timeout"]+rep.ErrorKinds["not sent"] != rep.Requests {
				t.Errorf("%d requests, error kinds %v; want every one timed out or not sent", rep.Requests, rep.ErrorKinds)
			}
		})
	}
}
