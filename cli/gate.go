package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/regress"
)

// GateRegressions is the one gate `run --gate` knows.
const GateRegressions = "regressions"

// gateFlags are run's flags for the regression gate.
type gateFlags struct {
	gate      string // "" or GateRegressions
	reference string // the branch whose runs are the reference; the run's own when empty
}

func (g *gateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&g.gate, "gate", "", `"regressions": exit 7 when a figure is significantly and materially worse than in the reference runs`)
	cmd.Flags().StringVar(&g.reference, "reference", "", "with --gate: the branch whose last passing runs are the reference (default: the run's own branch)")
}

// check refuses gate flags that make no sense, before anything runs.
func (g *gateFlags) check() error {
	switch {
	case g.gate != "" && g.gate != GateRegressions:
		return shakedown.Errorf(shakedown.KindInvalid, "--gate %q: want %s", g.gate, GateRegressions)
	case g.gate == "" && g.reference != "":
		return shakedown.Errorf(shakedown.KindInvalid, "--reference %s: only with --gate %s", g.reference, GateRegressions)
	}
	return nil
}

// gate is the regression gate of one suite: its store, open from before the first run
// until the last is judged.
type gate struct {
	store     *history.Store
	reference string
}

// openGate checks the gate flags and opens the store the gate reads (the suite's history),
// and reads it once for every experiment, before anything is injected: an unreachable or
// unreadable store is an error now (exit 5), not after the faults ran. It returns nil when
// the suite is not gated. The history closes the store.
func (a *app) openGate(ctx context.Context, g gateFlags, hist *runHistory, exps []*shakedown.Experiment) (*gate, error) {
	if err := g.check(); err != nil || g.gate == "" {
		return nil, err
	}
	if hist.dsn.Off() {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "--gate %s reads the history, and --history is off", GateRegressions)
	}
	st, err := hist.open(ctx)
	if err != nil {
		// Whatever the store's trouble (unreachable, damaged, newer), the gate cannot judge:
		// that is the environment failing, before anything was injected.
		return nil, shakedown.Wrap(shakedown.KindUnavailable, "--gate "+GateRegressions, err)
	}
	gt := &gate{store: st, reference: g.reference}
	for _, exp := range exps {
		branch, err := gt.branch(a, exp)
		if err != nil {
			return nil, err
		}
		if _, err := st.Reference(ctx, exp.Name, branch, "", 1); err != nil {
			return nil, shakedown.Wrap(shakedown.KindUnavailable, "--gate "+GateRegressions, err)
		}
	}
	return gt, nil
}

// branch is the branch whose runs are exp's reference: --reference, else the branch of the
// commit under test.
func (g *gate) branch(a *app, exp *shakedown.Experiment) (string, error) {
	if g.reference != "" {
		return g.reference, nil
	}
	if c := commitInfo(a.getenv, filepath.Dir(exp.File)); c != nil && c.Branch != "" {
		return c.Branch, nil
	}
	return "", shakedown.Errorf(shakedown.KindInvalid,
		"--gate %s: the branch of %s is unknown (no GITHUB_REF_NAME or CI_COMMIT_REF_NAME, and not on a git branch): give --reference BRANCH", GateRegressions, exp.File)
}

// judge reads the reference runs of rec and judges it (package regress), changing its
// verdict to regressed when a figure regressed. A store that fails or stalls now (each read is
// bounded: history.Timeout) is said on stderr, and a run that passed its own checks ends in
// error (exit 5, the environment failed): a gate that could not judge must not pass. The
// faults are reverted and the run's evidence is whole; its gate note says what happened.
func (g *gate) judge(ctx context.Context, a *app, exp *shakedown.Experiment, rec *shakedown.Record) {
	opts := regress.Defaults().With(exp.Gate)
	branch := g.reference
	if branch == "" && rec.Commit != nil {
		branch = rec.Commit.Branch
	}
	if rec.Verdict != shakedown.VerdictPassed {
		regress.Gate(rec, nil, branch, opts) // not judged: its own verdict stands
		return
	}
	refs, err := g.store.Reference(ctx, exp.Name, branch, rec.ID, max(opts.MaxRuns, opts.MinRuns))
	if err != nil {
		fmt.Fprintf(a.stderr, "shakedown: the regression gate could not read the reference runs: %v\n", err)
		regress.Gate(rec, nil, branch, opts)
		rec.Gate.Note = "not judged: the reference runs could not be read"
		rec.Verdict = shakedown.VerdictError
		rec.ExitCode = rec.Verdict.ExitCode()
		rec.Reason = fmt.Sprintf("passed its own checks, but the regression gate could not read its reference runs (%v)", err)
		return
	}
	regress.Gate(rec, refs, branch, opts)
}
