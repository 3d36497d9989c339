package shakedown

// Verdict is how a run ended. Each verdict has one exit code.
type Verdict string

// The verdicts, with their exit codes.
const (
	VerdictPassed      Verdict = "passed"       // 0: the hypothesis held, expectations met, everything reverted
	VerdictFailed      Verdict = "failed"       // 1: a steady-state check or an expectation did not hold
	VerdictInvalid     Verdict = "invalid"      // 2: bad usage or experiment file; nothing was injected
	VerdictAborted     Verdict = "aborted"      // 3: a stop condition fired or the run was cancelled; faults were reverted
	VerdictNotRestored Verdict = "not_restored" // 4: a revert failed or the system did not recover
	VerdictError       Verdict = "error"        // 5: the tool or the environment failed
	VerdictNotSteady   Verdict = "not_steady"   // 6: the baseline did not hold; nothing was injected
	VerdictRegressed   Verdict = "regressed"    // 7: passed, but a figure got worse than its reference runs (run --gate regressions)
)

// Verdicts lists every verdict in exit-code order.
var Verdicts = []Verdict{VerdictPassed, VerdictFailed, VerdictInvalid, VerdictAborted,
	VerdictNotRestored, VerdictError, VerdictNotSteady, VerdictRegressed}

// ExitCode returns the process exit code of the verdict.
func (v Verdict) ExitCode() int {
	switch v {
	case VerdictPassed:
		return 0
	case VerdictFailed:
		return 1
	case VerdictInvalid:
		return 2
	case VerdictAborted:
		return 3
	case VerdictNotRestored:
		return 4
	case VerdictNotSteady:
		return 6
	case VerdictRegressed:
		return 7
	default:
		return 5
	}
}

// Meaning returns the one-line meaning of the verdict, as the exit-code table gives it.
func (v Verdict) Meaning() string {
	switch v {
	case VerdictPassed:
		return "the hypothesis held, expectations met, everything reverted"
	case VerdictFailed:
		return "a steady-state check or an expectation did not hold"
	case VerdictInvalid:
		return "bad usage or experiment file; nothing was injected"
	case VerdictAborted:
		return "a stop condition fired, or the run was cancelled; faults were reverted"
	case VerdictNotRestored:
		return "a revert failed or the system did not recover; `shakedown recover` printed"
	case VerdictNotSteady:
		return "the baseline did not hold; nothing was injected"
	case VerdictRegressed:
		return "passed its own checks, but a figure is significantly and materially worse than in its reference runs (--gate regressions)"
	default:
		return "the tool or the environment failed (target not found, injection failed)"
	}
}

// severity orders verdicts for a suite: 4 > 5 > 3 > 1 > 7 > 6 > 0, with invalid above all
// (it is reported before anything runs). A regression ranks below a failure (the run did not
// hold at all) and above not_steady (nothing was tried).
func (v Verdict) severity() int {
	switch v {
	case VerdictInvalid:
		return 8
	case VerdictNotRestored:
		return 7
	case VerdictError:
		return 6
	case VerdictAborted:
		return 5
	case VerdictFailed:
		return 4
	case VerdictRegressed:
		return 3
	case VerdictNotSteady:
		return 2
	case VerdictPassed:
		return 1
	default:
		return 6 // an unknown verdict counts as an error
	}
}

// Worst returns the most severe of the verdicts, VerdictPassed for none.
func Worst(vs ...Verdict) Verdict {
	w := VerdictPassed
	for _, v := range vs {
		if v.severity() > w.severity() {
			w = v
		}
	}
	return w
}
