package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// buildShakedown builds the real binary once for the benchmarks, so that they measure what a
// user runs: the journal fsync, the watchdog's start and the process faults.
func buildShakedown(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "shakedown")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/shakedown-dev/shakedown/cmd/shakedown")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build shakedown: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkRunOverhead runs a whole experiment with the real binary — one 100 ms exec
// fault — and reports, as medians over b.N runs, the time from the run's start to the first
// inject beyond the baseline (goal ≤ 50 ms) and from the fault's end to its revert (goal
// ≤ 10 ms). With a zero baseline the watchdog's start is on that path; with a baseline it
// starts while the baseline runs.
func BenchmarkRunOverhead(b *testing.B) {
	bin := buildShakedown(b)
	for _, baseline := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run("baseline="+baseline.String(), func(b *testing.B) { benchRun(b, bin, baseline) })
	}
}

func benchRun(b *testing.B, bin string, baseline time.Duration) {
	dir := b.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	os.WriteFile(file, []byte(`version: 1
name: overhead
phases: {baseline: `+baseline.String()+`, recovery: 0s}
faults:
  - name: touch
    type: exec
    with: {inject: ["true"], revert: ["true"]}
    duration: 100ms
`), 0o644)
	var toInject, toRevert []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "run.json")
		cmd := exec.Command(bin, "run", "--progress", "none", "--state-dir", filepath.Join(dir, "state"), "--json", out, file)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("run: %v\n%s", err, o)
		}
		var rec shakedown.Record
		data, _ := os.ReadFile(out)
		if err := json.Unmarshal(data, &rec); err != nil {
			b.Fatal(err)
		}
		f := rec.Faults[0]
		toInject = append(toInject, f.InjectedAt.Sub(rec.StartedAt.Time)-baseline)
		toRevert = append(toRevert, f.RevertedAt.Sub(f.InjectedAt.Time)-100*time.Millisecond)
	}
	b.ReportMetric(ms(median(toInject)), "ms-to-inject")
	b.ReportMetric(ms(median(toRevert)), "ms-end-to-revert")
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
