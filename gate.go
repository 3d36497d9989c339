package shakedown

// GateSpec is an experiment's gate: block: how the regression gate judges its runs against
// their reference runs, where the defaults do not fit it. Zero fields keep the defaults
// (package regress).
type GateSpec struct {
	MinRuns   int                // fewer reference runs never regress
	MaxRuns   int                // the newest this many reference runs are used
	Tolerance *float64           // relative tolerance: 0.2 is 20 % worse than the references
	Floors    map[string]float64 // absolute noise floor per figure unit ("ms", "ratio", "rps", "" for a plain number)
	Ignore    []string           // figures not judged: patterns (path.Match) of names or keys
	Pos       Pos
}

// GateRecord is what the regression gate judged, in a run record: the reference runs, the
// rule's settings and every figure's judgement. It is absent when the run was not gated.
type GateRecord struct {
	Reference string `json:"reference"` // the branch whose runs were the reference
	// References are the ids of the reference runs, newest first.
	References []string           `json:"reference_runs"`
	MinRuns    int                `json:"min_runs"`
	MaxRuns    int                `json:"max_runs"`
	Tolerance  float64            `json:"tolerance"`
	Floors     map[string]float64 `json:"floors"`
	Alpha      float64            `json:"alpha"`
	Ignore     []string           `json:"ignore,omitempty"`
	// Judged is false when the run was not judged: its own verdict was not passed, or there
	// were too few reference runs (Note says which).
	Judged      bool         `json:"judged"`
	Regressions []string     `json:"regressions,omitempty"` // keys of the figures that regressed, the most worse first
	Note        string       `json:"note,omitempty"`        // "not enough history (3 of 5)"
	Figures     []GateFigure `json:"figures,omitempty"`
}

// GateFigure is the judgement of one figure against the reference runs.
type GateFigure struct {
	Name        string  `json:"name"`
	Phase       Phase   `json:"phase,omitempty"`
	Unit        string  `json:"unit,omitempty"`
	Value       float64 `json:"value"`
	N           int     `json:"n"`              // reference runs that hold the figure
	Median      float64 `json:"median"`         // of the reference values
	Scale       float64 `json:"scale"`          // their robust spread, floored
	Change      float64 `json:"change"`         // Value − Median
	P           float64 `json:"p"`              // one-sided p-value of a change at least this much worse
	Significant bool    `json:"significant"`    // P < Alpha
	Material    bool    `json:"material"`       // beyond the tolerance and the unit's floor
	Regressed   bool    `json:"regressed"`      // both
	Note        string  `json:"note,omitempty"` // why it was not judged
	// Missing says the run does not hold the figure its reference runs hold: Value is 0,
	// not the run's, and the figure was not judged.
	Missing bool `json:"missing,omitempty"`
}
