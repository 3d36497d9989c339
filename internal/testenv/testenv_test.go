package testenv

import (
	"net"
	"net/http"
	"strconv"
	"testing"
)

func TestStartVictimServes(t *testing.T) {
	v := StartVictim(t)
	resp, err := http.Get("http://" + v.Addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz of victim: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: status %d, want 200", resp.StatusCode)
	}
	if got := ReadPIDFile(v.PIDFile); got != v.PID {
		t.Fatalf("pidfile says %d, want %d", got, v.PID)
	}
}

func TestPortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	ports := Ports(t, 50)
	seen := make(map[int]bool)
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if p >= ephemeralLow() || p < 1024 {
			t.Fatalf("port %d outside [1024, %d)", p, ephemeralLow())
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		ln.Close()
	}
}
