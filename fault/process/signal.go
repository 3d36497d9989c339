package process

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// linuxSignals are Linux's signal names and numbers, as golang.org/x/sys/unix has them on
// Linux (a test there holds the two equal). Faults signal processes on Linux only, so a file
// names Linux's signals and validates the same on every system.
var linuxSignals = map[string]syscall.Signal{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
	"SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
	"SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
	"SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

// sigStop and sigCont pause and resume a process (Linux's numbers; see linuxSignals).
var sigStop, sigCont = linuxSignals["SIGSTOP"], linuxSignals["SIGCONT"]

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
	sig, ok := linuxSignals[name]
	if !ok {
		return 0, fmt.Errorf("unknown signal %q (want e.g. KILL, TERM, STOP, 9)", s)
	}
	return sig, nil
}
