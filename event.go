package shakedown

import "time"

// EventKind says what happened in a run.
type EventKind string

// The kinds of event a run emits, in the order they usually come.
const (
	EventRunStart EventKind = "run.start" // Detail: experiment file
	EventTargets  EventKind = "targets"   // Name: target; Detail: what was selected; Err when it cannot be used
	EventPhase    EventKind = "phase"     // Phase: the phase that starts; Remaining: its length (0 if open-ended)
	EventInject   EventKind = "inject"    // Name: fault; Err when it failed
	EventRevert   EventKind = "revert"    // Name: fault; Err when it failed; Detail how it ended otherwise ("lapsed: …")
	EventCheck    EventKind = "check"     // Name: check; Held; Detail: observed vs threshold (on a change of state, and each sample)
	EventStop     EventKind = "stop"      // Name: the stop condition that fired
	EventExpect   EventKind = "expect"    // Name: expectation; Held; Detail
	EventLoad     EventKind = "load"      // Name: load; Detail: one-second summary
	EventRunEnd   EventKind = "run.end"   // Verdict, Detail: reason
	EventLog      EventKind = "log"       // Detail: anything else worth a line
)

// Event is one thing that happened in a run, for live progress. Events are delivered in
// order from one goroutine at a time.
type Event struct {
	Time       time.Time
	Run        string `redact:"keep"` // the run's ID
	Experiment string
	Kind       EventKind
	Phase      Phase
	Name       string
	Held       bool
	Detail     string
	Err        string
	Remaining  time.Duration // for EventPhase: how long the phase lasts, if known
	Verdict    Verdict
}
