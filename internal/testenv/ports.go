package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Ports returns n distinct TCP ports, free on loopback a moment ago, for a program the test
// starts and that must be told its ports up front (a script, a server from a Debian package).
//
// They come from below the kernel's ephemeral range: a port taken with "listen on :0" and
// closed again is soon handed out to the next test that listens on :0 or dials out, which
// steals it from a program that binds it seconds later. Below the range, only another
// caller of Ports can pick the same port, and the random start makes that unlikely.
func Ports(t testing.TB, n int) []int {
	t.Helper()
	ports, err := FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// FreePorts is Ports for a caller that is not a test of its own (a script's command).
func FreePorts(n int) ([]int, error) {
	low, high := 20000, ephemeralLow()
	if high-low < 4*n {
		low = 1024
	}
	seen := make(map[int]bool)
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try > 100*n {
			return nil, fmt.Errorf("no %d free ports in [%d, %d)", n, low, high)
		}
		p := low + rand.IntN(high-low)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var lo, hi int
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 1024 {
		return 32768
	}
	return lo
}
