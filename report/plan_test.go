package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func samplePlan() *Plan {
	var pods []string
	for i := range 24 {
		pods = append(pods, fmt.Sprintf("shop/web-7d9f8-%02d", i))
	}
	return &Plan{
		Experiment: "checkout-tolerates-slow-cache",
		File:       "experiments/checkout-slow-cache.yaml",
		Baseline:   20 * time.Second,
		Recovery:   30 * time.Second,
		Targets: []PlanTarget{
			{Name: "cache", Kind: "proxy", Selection: "all",
				Matched:  []string{"127.0.0.1:16379 -> 127.0.0.1:6379"},
				Selected: []string{"127.0.0.1:16379 -> 127.0.0.1:6379"}},
			{Name: "web", Kind: "process", Selection: "count(1)",
				Matched:  []string{"pid 4121 shop-web", "pid 4122 shop-web", "pid 4123 shop-web"},
				Selected: []string{"pid 4122 shop-web"}},
			{Name: "pods", Kind: "pods", Selection: "percent(10)", Matched: pods,
				Selected: []string{pods[3], pods[17], pods[22]}},
		},
		Faults: []PlanFault{
			{Name: "slow-cache", Type: "proxy.latency", Target: "cache", Start: 0, End: 60 * time.Second,
				Lines: []string{"add 200ms ±20ms to every connection through 127.0.0.1:16379 (upstream 127.0.0.1:6379)",
					"revert: remove the latency toxic"}},
			{Name: "pause-one-web", Type: "process.pause", Target: "web", After: []string{"slow-cache"},
				Start: 20 * time.Second, End: 30 * time.Second,
				Lines: []string{"SIGSTOP pid 4122 (shop-web)", "revert: SIGCONT pid 4122"}},
			{Name: "delete-pods", Type: "pod.delete", Target: "pods", After: []string{"pause-one-web"},
				Start: 40 * time.Second, End: 40 * time.Second,
				Lines: []string{"delete 3 pods with a 30s grace period; the deployment replaces them"}},
		},
		Loads: []string{"checkout: GET http://127.0.0.1:8080/checkout at 50/s, timeout 5s"},
		Checks: []string{"checkout p99 under 400ms (metric checkout.latency.p99 max 400ms)",
			"healthz answers (http GET http://127.0.0.1:8080/healthz, status 200, every 1s)",
			"stop if error storm (checkout.errors max 20% for 5s)"},
		Notes: []string{"the baseline runs before anything is injected; if it does not hold the run stops there"},
	}
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name string
		plan *Plan
	}{
		{"plan.txt", samplePlan()},
		{"plan-empty.txt", &Plan{Experiment: "only-exec", Baseline: 10 * time.Second, Recovery: 30 * time.Second}},
		{"plan-one-shot.txt", &Plan{Experiment: "kill-one", Baseline: 10 * time.Second, Recovery: 30 * time.Second,
			Faults: []PlanFault{{Name: "kill", Type: "process.kill", Target: "web", Lines: []string{"SIGKILL pid 4122"}}}}},
		{"plan-unusable-targets.txt", &Plan{Experiment: "two-find-nothing", Baseline: 10 * time.Second, Recovery: 30 * time.Second,
			Targets: []PlanTarget{
				{Name: "web", Kind: "process", Selection: "count(1)", Error: "target web resolved to nothing (process name=shop-web)"},
				{Name: "cache", Kind: "proxy", Matched: []string{"127.0.0.1:16379 -> 127.0.0.1:6379"}, Selected: []string{"127.0.0.1:16379 -> 127.0.0.1:6379"}},
				{Name: "db", Kind: "process", Error: "target db resolved to nothing (process name=postgres)"},
			},
			Notes: []string{"a run would stop before injecting anything: target web resolved to nothing (process name=shop-web) (exit 5)",
				"a run would stop before injecting anything: target db resolved to nothing (process name=postgres) (exit 5)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WritePlan(&b, tt.plan); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b.Bytes())
			if !strings.HasSuffix(b.String(), "\nnothing was injected\n") {
				t.Errorf("plan does not end with %q", "nothing was injected")
			}
		})
	}
}

// Each timeline row covers the inject phase in planBarWidth cells, # exactly where the fault
// is injected.
func TestGanttRows(t *testing.T) {
	tests := []struct {
		start, end time.Duration
		want       string // "from-to" cells filled, or "*N" for a one-shot
	}{
		{0, 60 * time.Second, "0-60"},
		{30 * time.Second, 60 * time.Second, "30-60"},
		{15 * time.Second, 30 * time.Second, "15-30"},
		{60 * time.Second, 60 * time.Second, "*59"},
		{0, 0, "*0"},
	}
	for _, tt := range tests {
		p := &Plan{Faults: []PlanFault{{Name: "f", Start: tt.start, End: tt.end},
			{Name: "span", Start: 0, End: 60 * time.Second}}}
		var b bytes.Buffer
		if err := WritePlan(&b, p); err != nil {
			t.Fatal(err)
		}
		var row string
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, "  f    |") {
				row = l[strings.Index(l, "|")+1 : strings.LastIndex(l, "|")]
			}
		}
		if len(row) != planBarWidth {
			t.Fatalf("fault %v-%v: no row of %d cells in\n%s", tt.start, tt.end, planBarWidth, b.String())
		}
		var got string
		if i := strings.IndexByte(row, '*'); i >= 0 {
			got = fmt.Sprintf("*%d", i)
		} else {
			first, last := strings.IndexByte(row, '#'), strings.LastIndexByte(row, '#')
			got = fmt.Sprintf("%d-%d", first, last+1)
			if strings.Count(row, "#") != last+1-first {
				got += " with gaps"
			}
		}
		if got != tt.want {
			t.Errorf("fault %v-%v over 60s: row %q is %s, want %s", tt.start, tt.end, row, got, tt.want)
		}
	}
}
