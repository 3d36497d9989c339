// Package engine runs one experiment through its phases — baseline, inject, revert,
// recovery — and returns the run record with its verdict. It resolves and selects targets,
// builds faults from the registry, drives the fault graph (after:, delay:, parallel branches),
// samples checks and stop conditions, polls expectations, and reverts everything it injected
// on every path: success, failure, stop condition, cancellation, timeout and panic.
//
// The engine depends only on the root package. Loads, alert sources and the journal are
// small interfaces defined here; the cli wires real implementations in through Options.
package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Options configure a run. The zero value runs an experiment that has no loads, no alert
// expectations and no journal, with a random seed and no deadline.
type Options struct {
	Registry   *shakedown.Registry
	StateDir   string
	Seed       int64         // 0: pick one at random; the record keeps it
	Timeout    time.Duration // overall deadline for the run; 0: none. Past it the run is aborted (exit 3) and reverted.
	MaxTargets int           // blast-radius cap from flags, on top of exp.BlastRadius; 0: none
	MaxPercent float64       // blast-radius cap from flags, on top of exp.BlastRadius; 0: none

	NewLoad     func(spec *shakedown.LoadSpec) (Load, error)                   // nil: an experiment with loads is an error
	NewAlert    func(spec *shakedown.AlertSpec) (AlertSource, error)           // nil: alert expectations are an error
	OpenJournal func(runID string, exp *shakedown.Experiment) (Journal, error) // nil: no journal (tests); real runs always have one
	// Compare, when set, judges whether a baseline-relative check's observed samples differ
	// from its baseline samples beyond chance (the stats package provides it). nil: not judged.
	Compare Comparer

	// Claim, when set, registers what the run's faults will touch with the machine-wide
	// registry of held faults, once the targets are resolved and before the baseline. An
	// error (another live run holds one of the instances) ends the run before anything is
	// injected. release is called at the end, with whether something may be left injected
	// (then the claim stands until the journal is replayed).
	Claim func(runID string, claims []Claim) (release func(leftInjected bool), err error)
	// Held, when set, says for plan which of the claims another live run holds now.
	Held func(claims []Claim) ([]string, error)

	Events func(shakedown.Event) // progress; may be nil. Called from one goroutine at a time, in order.
	Commit *shakedown.Commit
	Host   string
	Now    func() time.Time // nil: time.Now (used for recorded times)
	Log    *slog.Logger     // what goes in no record (a panic's stack); nil: slog.Default()
}

// Claim is one fault of a run on one selected target instance.
type Claim struct {
	Instance            shakedown.Instance
	Target, Fault, Type string
	Share               bool // the target allows other runs at once
	Stacks              bool // the fault type's revert takes back only its own change
}

// Journal records each fault before it is injected, so that a watchdog or `shakedown
// recover` can revert it if the runner cannot. Opening it starts the watchdog.
type Journal interface {
	// Begin writes and syncs what is about to be injected and how to undo it. The engine
	// injects only after Begin returned nil.
	Begin(fault string, undos []shakedown.Undo, ttl time.Duration) (id int, err error)
	// Injected records that the fault's Inject returned (whether or not it failed): nothing
	// of the inject runs any more, so the undos marked Interrupt are not needed. It is not
	// called for an Inject that panicked.
	Injected(id int) error
	// Done records that the fault was reverted (revertErr nil) or that its revert failed.
	Done(id int, revertErr error) error
	// Close says the run ended; it stops the watchdog.
	Close() error
}

// Guarded is a Journal whose faults a watchdog guards, which can die. The engine watches
// Lost from the moment the journal is open: an error there means the guard is lost for good
// while faults are held, and the run reverts everything at once and ends in error. Lapses,
// read at the end, lists the times faults were held while no watchdog lived (one died and
// another took over): such a run never passes.
type Guarded interface {
	Lost() <-chan error
	Lapses() []string
}

// Load is one stream of built-in traffic, running through every phase.
type Load interface {
	Run(ctx context.Context) error // sends on schedule until ctx ends
	SetPhase(p shakedown.Phase)    // requests scheduled from now on belong to p
	// Value returns a metric (without the load prefix: "latency.p99", "errors",
	// "throughput") over the last window, or over the current phase so far when window is 0,
	// and the number of requests it is computed from. A window that holds fewer than least
	// requests reaches further back, as far as the current phase's start.
	Value(metric string, window time.Duration, least int) (v float64, n int)
	// AwaitPhase waits until the requests scheduled in phase p have completed (within the
	// load's timeout) or ctx ends; then PhaseValue and PhaseSamples of p count them all.
	AwaitPhase(ctx context.Context, p shakedown.Phase) error
	PhaseValue(p shakedown.Phase, metric string) (v float64, n int)
	PhaseSamples(p shakedown.Phase, metric string) []float64
	Record() shakedown.LoadRecord
}

// AlertSource says whether one alert is firing now.
type AlertSource interface {
	Firing(ctx context.Context) (bool, error)
}

// Comparer judges whether observed samples of a load metric ("latency.p99", "errors")
// differ from the baseline's beyond chance.
type Comparer func(metric string, baseline, observed []float64) Comparison

// Comparison is a Comparer's answer.
type Comparison struct {
	Enough      bool   // both sides had enough samples to judge
	Significant bool   // Enough, and the difference is beyond chance
	Note        string // for people: the difference and its interval, or why it cannot be judged
}

// MinBaselineSamples is the fewest requests a baseline must hold for a baseline-relative
// tolerance to be judged. With fewer, the check says "too few samples to judge" and the run
// does not pass on no evidence.
const MinBaselineSamples = 20

// maxStoredSamples caps the samples a check keeps per phase in the record; counts go on.
const maxStoredSamples = 600

// alertEvery is how often alert expectations are polled.
const alertEvery = time.Second
