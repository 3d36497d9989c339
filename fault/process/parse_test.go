package process

import (
	"syscall"
	"testing"

	"github.com/shakedown-dev/shakedown/internal/procfs"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"KILL", syscall.SIGKILL},
		{"SIGKILL", syscall.SIGKILL},
		{"kill", syscall.SIGKILL},
		{"sigterm", syscall.SIGTERM},
		{" TERM ", syscall.SIGTERM},
		{"9", syscall.SIGKILL},
		{"15", syscall.SIGTERM},
		{"STOP", syscall.SIGSTOP},
		{"CONT", syscall.SIGCONT},
		{"HUP", syscall.SIGHUP},
		{"USR1", syscall.SIGUSR1},
		{"64", syscall.Signal(64)},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-9", "9x", "SIG", "NOPE", "SIGSIGKILL", "kill me", "0x9"} {
		if got, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"KILL", "SIGTERM", "9", "64", "0", "sigcont", " STOP", "SIGRTMIN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			return
		}
		if sig < 1 || sig > maxSignal {
			t.Fatalf("ParseSignal(%q) = %d, outside 1..%d", s, sig, maxSignal)
		}
		// The name it is shown by reads back as the same signal.
		if back, err := ParseSignal(procfs.SignalName(sig)); err != nil || back != sig {
			t.Fatalf("ParseSignal(SignalName(%d) = %q) = %v, %v", sig, procfs.SignalName(sig), back, err)
		}
	})
}
