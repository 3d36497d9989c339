// Package shakedown holds the vocabulary of resilience experiments: an Experiment names
// Targets, Loads, Checks, Faults and Expectations; a run of it ends in a Verdict that maps to
// an exit code; every Fault carries its own Undo so that nothing outlives the run.
//
// The package does no I/O. Adapters beside it (fault families, probes, the proxy, the load
// generator, reports) fill a Registry with what they provide, and the engine runs experiments
// from that Registry. Only the cli package wires adapters together.
package shakedown

import (
	"runtime/debug"
	"time"
)

// Version is the version of shakedown: set at build time with -ldflags -X, else the module
// version the Go command stamped into the binary (a tag for `go install …@v1.2.3`, a
// pseudo-version of the commit for a build in a checkout), else "dev".
var Version = "dev"

func init() {
	if Version != "dev" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
}

// Phase is one stage of a run.
type Phase string

// The phases of a run, in order.
const (
	PhaseBaseline Phase = "baseline" // steady state must hold, else nothing is injected
	PhaseInject   Phase = "inject"   // the fault graph runs, checks and stop conditions watched
	PhaseRevert   Phase = "revert"   // every injected fault is taken back, last in first out
	PhaseRecovery Phase = "recovery" // steady state must come back within the window
)

// Phases lists the phases in the order a run goes through them.
var Phases = []Phase{PhaseBaseline, PhaseInject, PhaseRevert, PhaseRecovery}

// Defaults used where an experiment says nothing.
const (
	DefaultBaseline   = 10 * time.Second
	DefaultRecovery   = 30 * time.Second
	DefaultEvery      = time.Second
	DefaultTTLMargin  = 30 * time.Second
	DefaultRevertWait = 30 * time.Second // how long a single revert may take
)

// DefaultStateDir is where runs keep their journals unless told otherwise (--state-dir).
const DefaultStateDir = ".shakedown"
