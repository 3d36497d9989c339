package stress

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
)

func TestPlanFill(t *testing.T) {
	const gib = 1 << 30
	st := FSStat{Total: 10 * gib, Free: 6 * gib, Avail: 5 * gib} // 40% used
	tests := []struct {
		name  string
		p     FillParams
		bytes uint64
		kind  shakedown.Kind // when it must fail
	}{
		{"percent", FillParams{Percent: 50, KeepFree: "256mib"}, 1 * gib, 0},
		{"size", FillParams{Size: "2gib", KeepFree: "256mib"}, 2 * gib, 0},
		{"already above", FillParams{Percent: 30, KeepFree: "256mib"}, 0, 0},
		{"under the floor", FillParams{Size: "4.9gib", KeepFree: "256mib"}, 0, shakedown.KindInvalid},
		{"more than free", FillParams{Percent: 100, KeepFree: "1mib"}, 0, shakedown.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanFill(st, "/d/f", &tt.p)
			if tt.kind != 0 {
				if !shakedown.IsKind(err, tt.kind) {
					t.Fatalf("PlanFill(%+v) error %v, want kind %v", tt.p, err, tt.kind)
				}
				return
			}
			if err != nil || got.Bytes != tt.bytes {
				t.Fatalf("PlanFill(%+v) = %d bytes, %v; want %d", tt.p, got.Bytes, err, tt.bytes)
			}
		})
	}
}

func TestFillValidate(t *testing.T) {
	for _, p := range []FillParams{
		{Path: "rel", Percent: 50, KeepFree: "1mib"},
		{Path: "/tmp", KeepFree: "1mib"},
		{Path: "/tmp", Percent: 50, Size: "1mib", KeepFree: "1mib"},
		{Path: "/tmp", Percent: 101, KeepFree: "1mib"},
		{Path: "/tmp", Percent: 50, KeepFree: "0"},
	} {
		if err := p.Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want kind invalid", p, err)
		}
	}
}

func TestPlanStressor(t *testing.T) {
	cg := map[string]string{"cgroup.cpu": "/app", "cgroup.cpuacct": "/app", "cgroup.memory": "/app/m", "cgroup.freezer": "/", "cgroup": "/"}
	got := PlanStressor("stress.memory", []string{"stress", "memory"}, "web", cg)
	want := map[string]string{"memory": filepath.Join(cgroupRoot, "memory/app/m")}
	if diff := cmp.Diff(want, got.Cgroups); diff != "" {
		t.Fatalf("memory stressor cgroups (-want +got):\n%s", diff)
	}
	if got := PlanStressor("stress.cpu", nil, "host", nil); len(got.Cgroups) != 0 {
		t.Fatalf("host stressor joins %v, want no cgroup", got.Cgroups)
	}
}

// TestIOValidate: stress.io's directory is absolute, like disk.fill's: its undo, replayed by
// a watchdog or `shakedown recover` started elsewhere, removes the files a killed worker left
// there by that name.
func TestIOValidate(t *testing.T) {
	for _, p := range []IOParams{
		{Path: "rel", Size: "1mib", Workers: 1},
		{Path: "./rel", Size: "1mib", Workers: 1},
		{Path: "/tmp", Size: "0", Workers: 1},
		{Path: "/tmp", Size: "1mib", Workers: 0},
	} {
		if err := p.Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want kind invalid", p, err)
		}
	}
	for _, p := range []IOParams{{Size: "1mib", Workers: 1}, {Path: "/tmp", Size: "1mib", Workers: 1}} {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", p, err)
		}
	}
}

// TestIODirIsAbsolute: with no path, stress.io writes in the temporary directory, named in
// its undo as an absolute folder even when $TMPDIR is relative.
func TestIODirIsAbsolute(t *testing.T) {
	t.Setenv("TMPDIR", "relative-tmp")
	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("stress.io")
	f, err := ft.New(shakedown.Env{RunID: "runiodir"}, &shakedown.FaultSpec{Name: "f", Type: ft.Name,
		Params: &IOParams{Size: "1mib", Workers: 1}}, []shakedown.Instance{{Kind: "host", ID: "host", Name: "host"}})
	if err != nil {
		t.Fatal(err)
	}
	if u := f.(*stressor).undo(); !filepath.IsAbs(u.Dir) {
		t.Errorf("stress.io undo names folder %q, want an absolute one", u.Dir)
	}
}

// TestCPUCoresAtMostTheMachines: stress.cpu loads at most every core there is. More burners
// than CPUs burn no more, but starve everything else — the runner's probes and load, and the
// watchdog that must end them if the runner dies — many times over (64 burners on 2 CPUs
// slowed 20 process starts from 0.3 s to 7 s); such a fault is refused before anything runs.
func TestCPUCoresAtMostTheMachines(t *testing.T) {
	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("stress.cpu")
	build := func(cores int) error {
		_, err := ft.New(shakedown.Env{RunID: "runcores"}, &shakedown.FaultSpec{Name: "f", Type: ft.Name,
			Params: &CPUParams{Percent: 50, Cores: cores}}, []shakedown.Instance{{Kind: "host", ID: "host", Name: "host"}})
		return err
	}
	for _, cores := range []int{0, 1, runtime.NumCPU()} {
		if err := build(cores); err != nil {
			t.Errorf("stress.cpu with cores %d on %d CPUs: %v", cores, runtime.NumCPU(), err)
		}
	}
	if err := build(runtime.NumCPU() + 1); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("stress.cpu with cores %d on %d CPUs: %v, want kind invalid", runtime.NumCPU()+1, runtime.NumCPU(), err)
	}
}
