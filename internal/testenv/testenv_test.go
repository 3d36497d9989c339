package testenv

import (
	"net/http"
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
