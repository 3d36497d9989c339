//go:build !linux

package stress

import (
	"context"
	"os"

	"github.com/shakedown-dev/shakedown"
)

// Stressors run in cgroups found through /proc, the freezer is a cgroup v1 controller, and a
// fill is fallocate(2): all Linux. Elsewhere the types are registered (validate and plan read
// them) and preparing, starting or undoing any of them refuses, before anything is injected.

func refuse() error { return shakedown.NeedsLinux("stress and disk faults (cgroups, /proc)") }

// StressMain refuses: see above.
func StressMain(context.Context, []string) error { return refuse() }

// Sweep finds nothing: no stressor or fill can have been started on this system.
func Sweep(context.Context, func(string) bool) ([]string, error) { return nil, nil }

func start(context.Context, string, StressorPlan) (*started, error) { return nil, refuse() }

func killGroup(StressorUndo) error { return refuse() }

func removeStressors(StressorUndo) error { return refuse() }

func statFS(string) (FSStat, error) { return FSStat{}, refuse() }

func allocate(context.Context, *os.File, int64) error { return refuse() }
