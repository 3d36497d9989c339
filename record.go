package shakedown

import (
	"encoding/json"
	"math"
	"time"
)

// RecordSchema is the schema name of a run record. The record only grows: fields are added,
// never renamed or removed, without a new schema name.
const RecordSchema = "shakedown.run/v1"

// Record is everything needed to explain a run's verdict afterwards. Every report (JSON,
// JUnit, Markdown) and the history read it.
type Record struct {
	Schema       string              `json:"schema" redact:"keep"`
	ID           string              `json:"id" redact:"keep"`
	Experiment   ExperimentRef       `json:"experiment"`
	Commit       *Commit             `json:"commit,omitempty"`
	StartedAt    Time                `json:"started_at"`
	EndedAt      Time                `json:"ended_at"`
	Seed         int64               `json:"seed"`
	Version      string              `json:"shakedown_version" redact:"keep"`
	Host         string              `json:"host"`
	Verdict      Verdict             `json:"verdict"`
	ExitCode     int                 `json:"exit_code"`
	Reason       string              `json:"reason"`
	Phases       []PhaseRecord       `json:"phases"`
	Targets      []TargetRecord      `json:"targets"`
	Faults       []FaultRecord       `json:"faults"`
	Checks       []CheckRecord       `json:"checks"`
	Expectations []ExpectationRecord `json:"expectations"`
	Loads        []LoadRecord        `json:"loads"`
	Recovery     RecoveryRecord      `json:"recovery"`
	Recover      string              `json:"recover,omitempty"` // the command that reverts what is left, when not restored
	// Unguarded lists the times the run held faults while no watchdog lived (one died and
	// another took over, or none could): a run with any never passes.
	Unguarded []string `json:"unguarded,omitempty"`
	// Redacted lists the fields of the experiment whose values are secrets
	// ("load.checkout.url", "faults[0].with.env.TOKEN"): they are written as xxxxx here and
	// in every report, and so is any other text that held one.
	Redacted []string `json:"redacted,omitempty" redact:"keep"`
	// Gate is what the regression gate (run --gate regressions) judged: the reference runs,
	// the rule's settings and each figure's judgement; absent when the run was not gated.
	Gate *GateRecord `json:"gate,omitempty"`
}

// ExperimentRef identifies the experiment a record is of.
type ExperimentRef struct {
	Name        string            `json:"name"`
	File        string            `json:"file"`
	SHA256      string            `json:"sha256" redact:"keep"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Commit is the commit under test, when known.
type Commit struct {
	SHA    string `json:"sha" redact:"keep"`
	Branch string `json:"branch,omitempty"`
	Source string `json:"source" redact:"keep"` // "GITHUB_SHA", "CI_COMMIT_SHA", "git"
}

// PhaseRecord is when a phase ran.
type PhaseRecord struct {
	Name  Phase `json:"name"`
	Start Time  `json:"start"`
	End   Time  `json:"end"`
}

// TargetRecord is what a target resolved to and which of that was selected.
type TargetRecord struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Selection string   `json:"selection"`
	Matched   []string `json:"matched"`
	Selected  []string `json:"selected"`
	// Warnings are what the target's settings say people must know (host keys not checked).
	Warnings []string `json:"warnings,omitempty"`
	// Error is why the target could not be used (it resolved to nothing, its selection is
	// above the blast-radius cap, it could not be reached); empty when it could.
	Error string `json:"error,omitempty"`
}

// FaultRecord is one fault's life.
type FaultRecord struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Target      string `json:"target,omitempty"`
	Params      any    `json:"params,omitempty"`
	InjectedAt  *Time  `json:"injected_at,omitempty"`
	RevertedAt  *Time  `json:"reverted_at,omitempty"`
	Error       string `json:"error,omitempty"`
	RevertError string `json:"revert_error,omitempty"`
	// RevertNote says how a revert that did not fail ended otherwise than by taking the fault
	// back: "lapsed: …" when what it injected could not be reached and ended by itself.
	RevertNote string `json:"revert_note,omitempty"`
}

// CheckRecord is one check's result over the run.
type CheckRecord struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "metric", "http", "tcp", "exec", …
	Role string `json:"role"` // "steady_state" or "stop_if"
	// Metric is the load metric a metric check measures ("checkout.latency.p99"); empty for
	// a probe and in records written before it was recorded.
	Metric   string                      `json:"metric,omitempty"`
	Held     bool                        `json:"held"`
	Detail   string                      `json:"detail,omitempty"` // why it did not hold
	PerPhase map[Phase]*CheckPhaseRecord `json:"phases"`
}

// CheckPhaseRecord is one check's result in one phase.
type CheckPhaseRecord struct {
	Held      bool   `json:"held"`
	Observed  string `json:"observed"`
	Threshold string `json:"threshold"`
	// Max and Min are the check's bounds in this phase as numbers, in the metric's base unit
	// (seconds, a fraction, per second), when known: an absolute bound, or a bound relative to
	// the baseline once the baseline's value is. Absent for a probe.
	Max     *float64 `json:"max,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Samples []Sample `json:"samples"`
	// Significant says, for a baseline-relative check, whether the difference from the
	// baseline is real given the samples; nil when not judged.
	Significant *bool  `json:"significant,omitempty"`
	Note        string `json:"note,omitempty"` // e.g. "too few samples to judge"
}

// Sample is one observation of a check.
type Sample struct {
	At       Time     `json:"t"`
	Held     bool     `json:"held"`
	Value    *float64 `json:"value,omitempty"` // metric value in its base unit
	Observed string   `json:"observed,omitempty"`
}

// ExpectationRecord is one expectation's result.
type ExpectationRecord struct {
	Name          string  `json:"name"`
	Held          bool    `json:"held"`
	Detail        string  `json:"detail,omitempty"`
	FiredAt       *Time   `json:"fired_at,omitempty"`
	ResolvedAt    *Time   `json:"resolved_at,omitempty"`
	TimeToDetect  *Millis `json:"time_to_detect,omitempty"`
	TimeToRecover *Millis `json:"time_to_recover,omitempty"`
}

// LoadRecord is one load's measurements.
type LoadRecord struct {
	Name     string               `json:"name"`
	URL      string               `json:"url"`
	Rate     float64              `json:"rate"`
	PerPhase map[Phase]*LoadStats `json:"phases"`
	Timeline []TimelineRow        `json:"timeline"`
}

// LoadStats sums up a load over one phase.
type LoadStats struct {
	Count      int64   `json:"count"`
	Errors     int64   `json:"errors"`
	Late       int64   `json:"late"` // sends that left later than scheduled
	P50        Millis  `json:"p50"`
	P90        Millis  `json:"p90"`
	P95        Millis  `json:"p95"`
	P99        Millis  `json:"p99"`
	Max        Millis  `json:"max"`
	Mean       Millis  `json:"mean"`
	Throughput float64 `json:"throughput"`
}

// TimelineRow is one second of a load.
type TimelineRow struct {
	T      Time   `json:"t"`
	Count  int64  `json:"count"`
	Errors int64  `json:"errors"`
	P50    Millis `json:"p50"`
	P99    Millis `json:"p99"`
}

// RecoveryRecord says how long the steady state took to come back after the revert.
type RecoveryRecord struct {
	TimeToRecover *Millis `json:"time_to_recover,omitempty"`
}

// Millis is a duration written in the record as milliseconds.
type Millis float64

// Ms converts d to Millis, to microsecond precision.
func Ms(d time.Duration) Millis { return Millis(math.Round(float64(d)/1e3) / 1e3) }

// MsPtr returns a pointer to Ms(d).
func MsPtr(d time.Duration) *Millis { m := Ms(d); return &m }

// Duration converts back.
func (m Millis) Duration() time.Duration { return time.Duration(float64(m) * 1e6) }

// Time is a time written in the record as RFC 3339 with milliseconds, in UTC.
type Time struct{ time.Time }

// TimeLayout is how record times are written.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// AtPtr returns a pointer to At(t).
func AtPtr(t time.Time) *Time { return &Time{t} }

// MarshalJSON writes the time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(TimeLayout))
}

// UnmarshalJSON reads RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}
