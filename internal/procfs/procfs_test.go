package procfs

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	line := "1234 (we) (ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100 18446744073709551615"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != 1234 || s.Comm != "we) (ird) name" || s.State != 'S' || s.PPID != 1 || s.StartTime != 98765 {
		t.Errorf("ParseStat = %+v", s)
	}
	// A line cut after the fields shakedown reads, with a comm ending in "))".
	line = "24511 (a) b (c)) R 24507 24507 7193 0 -1 4194304 124 0 0 0 0 0 0 0 20 0 1 0 75246 3133440 410"
	if s, err := ParseStat([]byte(line)); err != nil || s.StartTime != 75246 {
		t.Errorf("ParseStat(%q) start time = %d, %v; want 75246", line, s.StartTime, err)
	}
	for _, bad := range []string{"", "1234 S 1", "x (c) S 1 2 3", "1234 (c) S 1 1234"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted", bad)
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

func TestParseCgroups(t *testing.T) {
	got := ParseCgroups([]byte("12:freezer:/a\n11:cpu,cpuacct:/b\n1:name=systemd:/c\n6:blkio:/x y\n0::/d\n"))
	want := map[string]string{"cgroup.freezer": "/a", "cgroup.cpu": "/b", "cgroup.cpuacct": "/b", "cgroup.blkio": "/x y", "cgroup": "/d"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseCgroups (-want +got):\n%s", d)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err == nil && s.PID <= 0 {
			t.Errorf("ParseStat(%q) gave pid %d", b, s.PID)
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
