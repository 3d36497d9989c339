package process

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLinuxSignalsAreLinuxs holds the portable table of signal names equal to what
// golang.org/x/sys/unix knows on Linux, name for name and number for number.
func TestLinuxSignalsAreLinuxs(t *testing.T) {
	for name, want := range linuxSignals {
		if got := unix.SignalNum(name); got != want {
			t.Errorf("unix.SignalNum(%q) = %d, table says %d", name, got, want)
		}
	}
	for n := syscall.Signal(1); n <= 31; n++ {
		name := unix.SignalName(n)
		if got, ok := linuxSignals[name]; !ok || got != n {
			t.Errorf("signal %d (%s): table has %d, %v", n, name, got, ok)
		}
	}
	if sigStop != syscall.SIGSTOP || sigCont != syscall.SIGCONT {
		t.Errorf("sigStop, sigCont = %d, %d; want %d, %d", sigStop, sigCont, syscall.SIGSTOP, syscall.SIGCONT)
	}
}
