package remote

import (
	"strings"
	"testing"
)

// TestSessionTail: the wrapper's first line is taken out of standard error however the
// writes split it, and what follows is kept.
func TestSessionTail(t *testing.T) {
	const stream = "shakedown-session 4242\nfirst error\nsecond error\n"
	for cut := 0; cut <= len(stream); cut++ {
		st := newSessionTail()
		for _, p := range []string{stream[:cut], stream[cut:]} {
			if n, err := st.Write([]byte(p)); n != len(p) || err != nil {
				t.Fatalf("cut %d: Write = %d, %v", cut, n, err)
			}
		}
		select {
		case <-st.known():
		default:
			t.Errorf("cut %d: the first line is in, but the session is not said to be known", cut)
		}
		if st.session() != 4242 || st.String() != "first error\nsecond error\n" {
			t.Errorf("cut %d: session %d, rest %q", cut, st.session(), st.String())
		}
	}
	// A first line that is not the wrapper's (it could not start) is kept, and names no session.
	st := newSessionTail()
	st.Write([]byte("sh: 1: cannot open /proc/1/stat\n"))
	if st.session() != 0 || !strings.Contains(st.String(), "cannot open") {
		t.Errorf("a foreign first line: session %d, rest %q", st.session(), st.String())
	}
}
