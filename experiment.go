package shakedown

import (
	"fmt"
	"strings"
	"time"
)

// Pos is a position in an experiment file.
type Pos struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Experiment is one decoded, validated experiment file. The spec package makes it; the
// engine runs it. Slices keep the order of the file.
type Experiment struct {
	Version     int
	Name        string
	Description string
	Labels      map[string]string
	File        string // the path it was read from
	SHA256      string // hex SHA-256 of the file's bytes, before --var substitution

	Targets     []*TargetSpec
	Loads       []*LoadSpec
	SteadyState []*Check
	Baseline    time.Duration // phases.baseline; DefaultBaseline when unset
	Recovery    time.Duration // phases.recovery; DefaultRecovery when unset
	Faults      []*FaultSpec
	StopIf      []*Check
	Expect      []*Expectation
	BlastRadius BlastRadius
	Gate        *GateSpec // the gate: block; nil when the file has none
	// Lock names a lease the run takes in the history store before it injects anything, so
	// that runs on one shared environment wait for each other ("" takes none).
	Lock string
}

// Target returns the target called name, or nil.
func (e *Experiment) Target(name string) *TargetSpec {
	for _, t := range e.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Fault returns the fault called name, or nil.
func (e *Experiment) Fault(name string) *FaultSpec {
	for _, f := range e.Faults {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// BlastRadius caps how much a run may touch. Zero fields mean no cap. A selection beyond a
// cap is refused before anything is injected.
type BlastRadius struct {
	MaxTargets int     // instances selected by any one target
	MaxPercent float64 // percent of a target's matched instances
}

// TargetSpec is a named target as the file declares it.
type TargetSpec struct {
	Name   string
	Kind   string // the key naming its kind: "process", "proxy", "netns", "container", …
	Params any    // the kind's parameter struct (TargetKind.Params), decoded and validated
	Select Selection
	// Share lets other runs on this machine hold faults on the target's instances while this
	// run does, when both runs allow it and every fault involved stacks (FaultType.Stacks).
	Share bool
	Pos   Pos
}

// LoadSpec is one named stream of built-in HTTP traffic that runs through every phase.
type LoadSpec struct {
	Name    string
	URL     string
	Method  string            // GET when empty
	Headers map[string]string //
	Body    string
	Rate    Rate          // requests per second, open model
	Ramp    time.Duration // the rate rises linearly from zero over this long at the start
	Timeout time.Duration // per request; 0 means DefaultRequestTimeout
	Pos     Pos
}

// DefaultRequestTimeout bounds a load request whose LoadSpec sets no timeout.
const DefaultRequestTimeout = 5 * time.Second

// Check is one clause of the steady state or one stop condition: either a metric of a load
// with a tolerance, or a probe sampled every Every.
type Check struct {
	Name    string
	Metric  string     // "<load>.latency.p99", "<load>.errors", "<load>.throughput"; empty for a probe
	Probe   *ProbeSpec // nil for a metric check
	Min     *Tolerance // lower bound, for a metric check
	Max     *Tolerance // upper bound, for a metric check
	For     time.Duration
	Window  NofM          // flake resistance: N of the last M samples must breach
	Every   time.Duration // sampling interval; DefaultEvery when unset
	Timeout time.Duration // bounds one probe sample; ProbeTimeout(Every) when unset
	Phases  []Phase       // the phases it applies to; all when empty
	Pos     Pos
}

// AppliesTo reports whether the check is watched in phase p.
func (c *Check) AppliesTo(p Phase) bool {
	if len(c.Phases) == 0 {
		return true
	}
	for _, q := range c.Phases {
		if q == p {
			return true
		}
	}
	return false
}

// ProbeTimeout is how long one probe sample may take when a check sets no timeout: its
// sampling interval, but at least a second, so that a probe sampled often is not failed by a
// busy machine's scheduling delays. A sample that overruns delays the next one.
func ProbeTimeout(every time.Duration) time.Duration { return max(every, time.Second) }

// ProbeSpec is a probe of a registered ProbeType with its decoded parameters.
type ProbeSpec struct {
	Type   string // "http", "tcp", "exec", "prometheus", …
	Params any
}

// FaultSpec is one fault as the file declares it.
type FaultSpec struct {
	Name     string
	Type     string // a registered FaultType
	Target   string // a TargetSpec's name; empty for faults that take no target
	Params   any    // the type's parameter struct, decoded and validated
	Duration time.Duration
	After    []string      // faults that must have been injected before this one starts
	Delay    time.Duration // wait this long after the faults of After (or the inject phase's start)
	Pos      Pos
}

// Expectation is a detection or recovery expectation.
type Expectation struct {
	Name           string
	Alert          *AlertSpec // an alert that must fire and resolve
	Probe          *ProbeSpec // a probe that must hold again after the revert
	FiresWithin    time.Duration
	ResolvesWithin time.Duration
	RecoversWithin time.Duration // with Probe: it must hold again within this long after the revert
	Pos            Pos
}

// AlertSpec names an alert in Prometheus (/api/v1/alerts) or Alertmanager (/api/v2/alerts).
type AlertSpec struct {
	Prometheus   string            `json:"prometheus,omitempty"`
	Alertmanager string            `json:"alertmanager,omitempty"`
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// FormatDuration writes a duration as an experiment file does: 1m, 1h30m, 30s, 1.5s, 250ms.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
