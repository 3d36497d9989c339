package dashboard

import (
	"net/http"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestThrottleRefill: a client out of guesses waits WrongTokenRefill for the next one, and
// another client is not held up by it.
func TestThrottleRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var th throttle
		a, b := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/64")
		for range MaxWrongTokens {
			if w := th.wait(a); w != 0 {
				t.Fatalf("wait %v before the guesses ran out", w)
			}
			th.fail(a)
		}
		if w := th.wait(a); w != WrongTokenRefill {
			t.Errorf("out of guesses: wait %v, want %v", w, WrongTokenRefill)
		}
		if w := th.wait(b); w != 0 {
			t.Errorf("another client: wait %v, want 0", w)
		}
		time.Sleep(WrongTokenRefill)
		if w := th.wait(a); w != 0 {
			t.Errorf("after %v: wait %v, want 0", WrongTokenRefill, w)
		}
		th.fail(a)
		if w := th.wait(a); w != WrongTokenRefill {
			t.Errorf("out again: wait %v, want %v", w, WrongTokenRefill)
		}
	})
}

// TestClient: IPv4 clients are counted by address, IPv6 clients by their /64.
func TestClient(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:5000", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "2001:db8:1:2::/64"},
	} {
		r := &http.Request{RemoteAddr: tc.addr}
		if got := client(r).String(); got != tc.want {
			t.Errorf("client(%q) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}
