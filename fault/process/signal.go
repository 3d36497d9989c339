package process

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxSignal is the highest signal number Linux knows (SIGRTMAX).
const maxSignal = 64

// ParseSignal reads a signal as a name with or without its SIG prefix ("KILL", "SIGKILL",
// "term"), or as a number from 1 to 64 ("9"). Signal 0 sends nothing and is refused.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty signal")
	}
	if t[0] >= '0' && t[0] <= '9' {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxSignal {
			return 0, fmt.Errorf("invalid signal %q: a number must lie in 1..%d", s, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q (want e.g. KILL, TERM, STOP, 9)", s)
	}
	return sig, nil
}
