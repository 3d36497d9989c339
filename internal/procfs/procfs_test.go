package procfs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown/internal/procfs/procfstest"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Stat
	}{
		{"plain", procfstest.StatLine(1234, "shop-web", 'S', 1, 1234, 4194560, 98765), Stat{PID: 1234, Comm: "shop-web", State: 'S', PPID: 1, Session: 1234, Flags: 4194560, StartTime: 98765}},
		{"spaces", procfstest.StatLine(7, "tmux: server", 'R', 1, 7, 0, 5), Stat{PID: 7, Comm: "tmux: server", State: 'R', PPID: 1, Session: 7, StartTime: 5}},
		{"parentheses", procfstest.StatLine(8, ") (x) 1 2 (", 'T', 2, 3, 0, 99), Stat{PID: 8, Comm: ") (x) 1 2 (", State: 'T', PPID: 2, Session: 3, StartTime: 99}},
		{"empty comm", procfstest.StatLine(9, "", 'Z', 1, 1, 0, 1), Stat{PID: 9, State: 'Z', PPID: 1, Session: 1, StartTime: 1}},
		{"kernel thread", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 24 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			Stat{PID: 2, Comm: "kthreadd", State: 'S', Flags: 2129984, StartTime: 24}},
		{"real machine line", "1049 (sh) S 1 1049 1049 34816 1050 4194304 139 0 0 0 0 0 0 0 20 0 1 0 1234567 2637824 220 18446744073709551615 1 1 0 0 0 0 0 0 65536 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			Stat{PID: 1049, Comm: "sh", State: 'S', PPID: 1, Session: 1049, Flags: 4194304, StartTime: 1234567}},
		{"comm with parentheses and spaces", "1234 (we) (ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100 18446744073709551615",
			Stat{PID: 1234, Comm: "we) (ird) name", State: 'S', PPID: 1, Session: 1234, Flags: 4194560, StartTime: 98765}},
		{"comm ending in two parentheses, line cut short", "24511 (a) b (c)) R 24507 24507 7193 0 -1 4194304 124 0 0 0 0 0 0 0 20 0 1 0 75246 3133440 410",
			Stat{PID: 24511, Comm: "a) b (c)", State: 'R', PPID: 24507, Session: 7193, Flags: 4194304, StartTime: 75246}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseStat(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseStat(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if got := (Stat{Flags: 2129984}).KernelThread(); !got {
		t.Errorf("kthreadd flags: KernelThread() = false, want true")
	}
}

func TestParseStatRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"1234",
		"1234 S 1",
		"1234 (x",
		"x) (y) S",
		"x (c) S 1 2 3",
		"1234 (c) S 1 1234",
		"abc (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0",
		"0 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0",
		"12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",         // too short
		"12 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0",    // bad state
		"12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0",    // negative start time
		"12 (x) S one 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0",   // bad ppid
		"12 (x) S 1 1 1 0 -1 flags 0 0 0 0 0 0 0 0 20 0 1 0 5 0", // bad flags
	} {
		if got, err := ParseStat([]byte(in)); err == nil {
			t.Errorf("ParseStat(%q) = %+v, want an error", in, got)
		}
	}
}

func TestOwnProcess(t *testing.T) {
	start, err := StartTime(os.Getpid())
	if err != nil || start == 0 {
		t.Fatalf("StartTime(self) = %d, %v", start, err)
	}
	if !Alive(os.Getpid(), start) || Alive(os.Getpid(), start+1) {
		t.Errorf("Alive does not tell this process by its start time")
	}
}

func TestOwnPIDAndCmdline(t *testing.T) {
	all, err := PIDs(Root)
	if err != nil || !slices.Contains(all, os.Getpid()) || !slices.IsSorted(all) {
		t.Fatalf("PIDs(%s) = %d pids, %v; want them sorted, this process among them", Root, len(all), err)
	}
	argv, err := ReadCmdline(Root, os.Getpid())
	if err != nil || len(argv) != len(os.Args) || argv[0] != os.Args[0] {
		t.Errorf("ReadCmdline(self) = %q, %v; want %q", argv, err, os.Args)
	}
}

func TestParseCgroups(t *testing.T) {
	got := ParseCgroups([]byte("12:freezer:/a\n11:cpu,cpuacct:/b\n1:name=systemd:/c\n6:blkio:/x y\n0::/d\n"))
	want := map[string]string{"cgroup.freezer": "/a", "cgroup.cpu": "/b", "cgroup.cpuacct": "/b", "cgroup.blkio": "/x y", "cgroup": "/d"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseCgroups (-want +got):\n%s", d)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(procfstest.StatLine(1234, "shop-web", 'S', 1, 1234, 0, 98765)))
	f.Add([]byte(procfstest.StatLine(8, ") (x) 1 2 (", 'T', 2, 3, 0, 99)))
	f.Add([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 24 0"))
	f.Add([]byte("1 ((() S"))
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err != nil {
			return
		}
		if s.PID <= 0 {
			t.Fatalf("ParseStat(%q) accepted pid %d", b, s.PID)
		}
		// Whatever comm was read, writing it back and parsing again gives the same Stat.
		again, err := ParseStat([]byte(procfstest.StatLine(s.PID, s.Comm, s.State, s.PPID, s.Session, s.Flags, s.StartTime)))
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", s, err)
		}
		if diff := cmp.Diff(s, again); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", b, diff)
		}
	})
}
func FuzzParseCgroups(f *testing.F) {
	f.Add([]byte("6:freezer:/\n0::/u\n"))
	f.Add([]byte("9:name=systemd:/\n2:cpu,cpuacct:/a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range ParseCgroups(b) {
			if k != "cgroup" && !strings.HasPrefix(k, "cgroup.") || strings.HasPrefix(k, "cgroup.name=") {
				t.Fatalf("ParseCgroups(%q) gave key %q", b, k)
			}
		}
	})
}
