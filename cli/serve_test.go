package cli

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/journal"
)

// TestDashboardLiveRuns: serve lists the runs whose journals are locked, with the experiment once a
// fault has begun, and not those that ended.
func TestDashboardLiveRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	started := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
	live, err := journal.Open(dir, "01LIVE", journal.Meta{Experiment: "checkout", Started: started})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.Begin("pause-web", []shakedown.Undo{{Type: "process.resume", Data: []byte(`{"pid": 1}`), Summary: "SIGCONT pid 1"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	quiet, err := journal.Open(dir, "01QUIET", journal.Meta{Experiment: "search"})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	ended, err := journal.Open(dir, "01ENDED", journal.Meta{Experiment: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	ended.Close()

	got, err := dashboardLiveRuns(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "01LIVE" || got[0].Experiment != "checkout" || !got[0].Started.Equal(started) || got[1].ID != "01QUIET" {
		t.Errorf("dashboardLiveRuns = %+v, want 01LIVE (checkout, started %v) and 01QUIET", got, started)
	}
	if got, err := dashboardLiveRuns(filepath.Join(t.TempDir(), "none")); err != nil || len(got) != 0 {
		t.Errorf("dashboardLiveRuns of a state dir that does not exist = %v, %v", got, err)
	}
}
