package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
	"github.com/shakedown-dev/shakedown/hold"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/journal"
	"github.com/shakedown-dev/shakedown/load"
	"github.com/shakedown-dev/shakedown/monitor"
	"github.com/shakedown-dev/shakedown/report"
	"github.com/shakedown-dev/shakedown/stats"
	"github.com/shakedown-dev/shakedown/watchdog"
)

func (a *app) validateCommand() *cobra.Command {
	var vars []string
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check experiment files; report every problem with its position",
		Long: `Check experiment files; a directory's *.yaml, *.yml and *.json files are checked as
run would run them. Every problem of every file is printed as
file:line:column: field.path: message. Exit 0 when all are valid, 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			exps, err := a.loadArgs(cmd.Context(), args, vs)
			if err != nil {
				return err
			}
			for _, e := range exps {
				fmt.Fprintf(a.stdout, "%s: ok (%s: %d target%s, %d fault%s, %d check%s)\n", e.File, e.Name,
					len(e.Targets), words.Plural(len(e.Targets)), len(e.Faults), words.Plural(len(e.Faults)),
					len(e.SteadyState)+len(e.StopIf), words.Plural(len(e.SteadyState)+len(e.StopIf)))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "fill ${key} in the file with value (key=value, repeatable)")
	return cmd
}

// runFlags are the flags run and plan share.
type runFlags struct {
	vars       []string
	seed       int64
	stateDir   string
	maxTargets int
	maxPercent float64
	hist       historyRunFlags // run only (see history_run.go)
	gate       gateFlags       // run only (see gate.go)
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "fill ${key} in the files with value (key=value, repeatable)")
	cmd.Flags().Var(intFlag[int64]{v: &f.seed, lo: math.MinInt64, hi: math.MaxInt64}, "seed", "seed for random target selection (0: pick one; the record keeps it)")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", shakedown.DefaultStateDir, "where runs keep their journals")
	cmd.Flags().Var(intFlag[int]{v: &f.maxTargets, lo: 0, hi: maxInt}, "max-targets", "refuse to touch more than this many instances of any target (0: no cap)")
	cmd.Flags().Var(numberFlag{v: &f.maxPercent, lo: 0, hi: 100}, "max-percent", "refuse to touch more than this percent of any target's instances (0: no cap)")
}

func (a *app) options(f *runFlags, exp *shakedown.Experiment) engine.Options {
	host, _ := os.Hostname()
	return engine.Options{
		Registry:   a.reg,
		StateDir:   f.stateDir,
		Seed:       f.seed,
		MaxTargets: f.maxTargets,
		MaxPercent: f.maxPercent,
		Host:       host,
		Claim: func(runID string, cs []engine.Claim) (func(bool), error) {
			return a.claim(f.stateDir, runID, exp, cs)
		},
		Held: func(cs []engine.Claim) ([]string, error) { return a.held(f.stateDir, exp, cs) },
	}
}

// holds is the machine-wide registry of held faults (package hold).
func (a *app) holds() *hold.Registry {
	r := hold.Default(a.getenv)
	r.Live = holdIsLive
	return r
}

// holdIsLive says whether a run still holds what it registered: its runner lives, or its
// journal says something is still injected (or cannot be read: then it may be).
func holdIsLive(h *hold.Hold) bool {
	if h.PID > 0 && procfs.Alive(h.PID, h.Start) {
		return true
	}
	pending, err := journal.ScanRun(h.StateDir, h.JournalID())
	return err != nil || len(pending) > 0
}

// claim registers with the registry what run runID's faults will touch, or says which other
// live run holds what it would touch.
func (a *app) claim(stateDir, runID string, exp *shakedown.Experiment, cs []engine.Claim) (func(bool), error) {
	reg := a.holds()
	h := newHold(stateDir, runID, exp, cs)
	if err := reg.Claim(h); err != nil {
		return nil, err
	}
	return func(leftInjected bool) {
		if leftInjected {
			return // the journal keeps the hold live until the rest is undone
		}
		if err := reg.Release(runID); err != nil {
			fmt.Fprintf(a.stderr, "shakedown: %v\n", err)
		}
	}, nil
}

// held says, for plan, what of cs another live run holds now.
func (a *app) held(stateDir string, exp *shakedown.Experiment, cs []engine.Claim) ([]string, error) {
	conflicts, err := a.holds().Conflicts(newHold(stateDir, "plan", exp, cs))
	return hold.Describe(conflicts), err
}

// ownHold is a hold of this process's, from now, with no items yet.
func ownHold(run, experiment, file, stateDir string) *hold.Hold {
	start, _ := procfs.StartTime(os.Getpid())
	return &hold.Hold{Run: run, Experiment: experiment, File: file, StateDir: stateDir, PID: os.Getpid(), Start: start, Since: time.Now()}
}

func newHold(stateDir, runID string, exp *shakedown.Experiment, cs []engine.Claim) *hold.Hold {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	h := ownHold(runID, exp.Name, exp.File, abs)
	for _, c := range cs {
		h.Items = append(h.Items, hold.Item{Key: hold.Key(c.Instance), Name: c.Instance.Name, Target: c.Target,
			Fault: c.Fault, Type: c.Type, Share: c.Share, Stacks: c.Stacks})
	}
	return h
}

func (a *app) planCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Resolve targets and show what a run would touch; inject nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(f.vars)
			if err != nil {
				return err
			}
			exps, err := a.loadAll(cmd.Context(), args, vs)
			if err != nil {
				return err
			}
			exp := exps[0]
			p, err := engine.Plan(cmd.Context(), exp, a.options(&f, exp))
			if p == nil || len(p.Faults) == 0 {
				if err != nil {
					return err
				}
			}
			pr := planReport(exp, p)
			// Every problem on its own line (every target that cannot be used, say), with
			// the exit code the whole would end a run with.
			for _, perr := range shakedown.Unjoin(err) {
				pr.Notes = append(pr.Notes, fmt.Sprintf("a run would stop before injecting anything: %v (exit %d)", perr, shakedown.KindOf(err).ExitCode()))
			}
			a.red.Redact(pr)
			if werr := report.WritePlan(a.stdout, pr); werr != nil {
				return werr
			}
			return err
		},
	}
	f.register(cmd)
	return cmd
}

func planReport(exp *shakedown.Experiment, p *engine.PlanResult) *report.Plan {
	out := &report.Plan{
		Experiment: exp.Name,
		File:       exp.File,
		Baseline:   p.Baseline,
		Recovery:   p.Recovery,
	}
	for _, t := range p.Targets {
		out.Targets = append(out.Targets, report.PlanTarget{Name: t.Name, Kind: t.Kind, Selection: t.Selection,
			Matched: t.Matched, Selected: t.Selected, Error: t.Error})
	}
	for _, pf := range p.Faults {
		out.Faults = append(out.Faults, report.PlanFault{Name: pf.Name, Type: pf.Type, Target: pf.Target,
			Start: pf.Start, End: pf.End, After: pf.After, Lines: pf.Lines})
	}
	for _, l := range exp.Loads {
		out.Loads = append(out.Loads, describeLoad(l))
	}
	for _, c := range exp.SteadyState {
		out.Checks = append(out.Checks, "steady state: "+describeCheck(c))
	}
	for _, c := range exp.StopIf {
		out.Checks = append(out.Checks, "stop if: "+describeCheck(c))
	}
	for _, e := range exp.Expect {
		out.Checks = append(out.Checks, "expect: "+describeExpectation(e))
	}
	for _, h := range p.Held {
		out.Notes = append(out.Notes, "held by another run: "+h)
	}
	out.Notes = append(out.Notes, fmt.Sprintf("seed %d (pass --seed %d to run this selection)", p.Seed, p.Seed))
	return out
}

// describeLoad says what a load sends, for a plan: "checkout: GET http://…/ at 20/s,
// timeout 5s".
func describeLoad(l *shakedown.LoadSpec) string {
	method := l.Method
	if method == "" {
		method = http.MethodGet
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = shakedown.DefaultRequestTimeout
	}
	s := fmt.Sprintf("%s: %s %s at %s", l.Name, method, shakedown.RedactURL(l.URL), l.Rate)
	if l.Ramp > 0 {
		s += ", rising from 0 over " + l.Ramp.String()
	}
	return s + ", timeout " + timeout.String()
}

// describeCheck says what a check watches and its bounds, for a plan: "checkout p99 (
// checkout.latency.p99 max 250ms for 3s, every 1s)".
func describeCheck(c *shakedown.Check) string {
	var what []string
	if c.Metric != "" {
		w := c.Metric
		if c.Min != nil {
			w += " min " + c.Min.String()
		}
		if c.Max != nil {
			w += " max " + c.Max.String()
		}
		what = append(what, w)
	} else if c.Probe != nil {
		what = append(what, describeProbe(c.Probe))
	}
	if c.For > 0 {
		what = append(what, "for "+c.For.String())
	}
	if c.Window.M > 1 {
		what = append(what, "breaks on "+c.Window.String()+" samples")
	}
	every := c.Every
	if every == 0 {
		every = shakedown.DefaultEvery
	}
	what = append(what, "every "+every.String())
	if len(c.Phases) > 0 {
		var ps []string
		for _, p := range c.Phases {
			ps = append(ps, string(p))
		}
		what = append(what, "in "+strings.Join(ps, ", "))
	}
	return c.Name + " (" + strings.Join(what, ", ") + ")"
}

// describeProbe names a probe and, when its parameters can say, what it asks.
func describeProbe(p *shakedown.ProbeSpec) string {
	if s, ok := p.Params.(fmt.Stringer); ok {
		return p.Type + " " + s.String()
	}
	return p.Type + " probe"
}

// describeExpectation says what an expectation waits for, for a plan.
func describeExpectation(e *shakedown.Expectation) string {
	var what []string
	switch {
	case e.Alert != nil:
		w := "alert " + e.Alert.Name
		if e.FiresWithin > 0 {
			w += " fires within " + e.FiresWithin.String() + " of the inject"
		}
		if e.ResolvesWithin > 0 {
			w += ", resolves within " + e.ResolvesWithin.String() + " of the revert"
		}
		what = append(what, w)
	case e.Probe != nil:
		w := describeProbe(e.Probe)
		if e.RecoversWithin > 0 {
			w += " holds again within " + e.RecoversWithin.String() + " of the revert"
		}
		what = append(what, w)
	}
	if len(what) == 0 {
		return e.Name
	}
	return e.Name + " (" + strings.Join(what, ", ") + ")"
}

func (a *app) runCommand() *cobra.Command {
	var (
		f                     runFlags
		junit, jsonOut, mdOut string
		htmlOut               string
		timeout               time.Duration
		progress              string
	)
	cmd := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run experiments: baseline, inject, revert, recover, verdict",
		Long: `Run experiments. A directory is a suite: its *.yaml, *.yml and *.json files run in name
order. Every file is validated, and every report path checked, before anything runs. The
suite exits with the most severe code of its runs: 4 > 5 > 3 > 1 > 7 > 6 > 0 (2 before
anything runs). A report that cannot be written after the runs is said on stderr; the exit
code stays the verdict's. With --gate regressions, a run that passed is then judged
against its reference runs in the history (the last passing runs of the same experiment on
--reference, default the run's own branch): a figure significantly and materially worse
makes it regressed (exit 7); fewer than 5 reference runs never regress. Secrets (URL
passwords, credential-like headers, env: values) are
written as xxxxx in every report and line printed.`,
		Args:        cobra.MinimumNArgs(1),
		Annotations: map[string]string{onSignal: signalVerdict},
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(f.vars)
			if err != nil {
				return err
			}
			switch progress {
			case "auto", "tty", "plain", "none":
			default:
				return shakedown.Errorf(shakedown.KindInvalid, "--progress %q: want auto, tty, plain or none", progress)
			}
			exps, err := a.loadArgs(cmd.Context(), args, vs)
			if err != nil {
				return err
			}
			_, err = a.runSuite(cmd.Context(), suite{exps: exps, flags: &f, out: suiteOutputs{junit: junit, json: jsonOut, markdown: mdOut, html: htmlOut},
				timeout: timeout, progress: progress})
			return err
		},
	}
	f.register(cmd)
	f.hist.register(cmd)
	f.gate.register(cmd)
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the run records as JSON to this file (a folder ending in /: one file per run)")
	cmd.Flags().StringVar(&mdOut, "markdown", "", "write a Markdown summary to this file")
	cmd.Flags().StringVar(&htmlOut, "html", "", "write an HTML report with charts to this file (one page, opens with no network)")
	cmd.Flags().Var(durationFlag{v: &timeout, zero: true}, "timeout", "abort and revert a run that takes longer than this (0: no limit)")
	cmd.Flags().StringVar(&progress, "progress", "auto", "live progress: auto, tty (redrawn), plain (a line per event) or none")
	return cmd
}

// compare judges a baseline-relative check with the stats package's bootstrap rule.
func compare(metric string, baseline, observed []float64) engine.Comparison {
	r := stats.Compare(baseline, observed, stats.ForMetric(metric), stats.Options{})
	return engine.Comparison{Enough: r.Enough, Significant: r.Significant, Note: r.Note}
}

type suiteOutputs struct{ junit, json, markdown, html string }

// suite is experiments run one after another, as run and demo start them, and as a drill
// does (drill.go).
type suite struct {
	exps     []*shakedown.Experiment
	flags    *runFlags
	out      suiteOutputs
	timeout  time.Duration
	progress string // auto, tty, plain or none
	// started, when set, is told each run's ID as the run starts.
	started func(runID string)
}

// runSuite runs a suite through the engine: each run journaled and guarded by a watchdog,
// its locks taken and its record filed in the history, then the reports written. It returns
// the runs' records (redacted) and, when the worst verdict is not passed, an exitError with
// its code; an error of another kind when nothing could be run.
func (a *app) runSuite(ctx context.Context, s suite) ([]*shakedown.Record, error) {
	exps, f, out, timeout, progress := s.exps, s.flags, s.out, s.timeout, s.progress
	// A run's journal, watchdog and held-fault registry are Linux's (flock, OFD locks, /proc
	// start times): elsewhere a run refuses before it measures anything.
	if err := shakedown.RequireLinux("running an experiment (its journal and watchdog)"); err != nil {
		return nil, err
	}
	if real, err := resolveStateDir(f.stateDir); err != nil {
		return nil, err
	} else if real != f.stateDir {
		resolved := *f
		resolved.stateDir = real
		f = &resolved
	}
	ctx, unwatch := a.watchStops(ctx, f.stateDir) // `shakedown stop` cancels ctx (stop.go)
	defer unwatch()
	exe, err := os.Executable()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "find own executable for the watchdog", err)
	}
	// A report that cannot be written is found now, before anything is injected, not
	// after the faults ran.
	if err := checkReports(reportPaths(out, a.getenv)); err != nil {
		return nil, err
	}
	hist, err := a.newRunHistory(ctx, f, exps)
	if err != nil {
		return nil, err
	}
	defer hist.close()
	gt, err := a.openGate(ctx, f.gate, hist, exps)
	if err != nil {
		return nil, err
	}
	tty := progress == "tty" || (progress == "auto" && isTerminal(a.stdout))
	for _, exp := range exps {
		a.red.Add(exp.Secrets()...)
	}
	var records []*shakedown.Record
	for _, exp := range exps {
		opts := a.options(f, exp)
		opts.Timeout = timeout
		opts.Commit = commitInfo(a.getenv, filepath.Dir(exp.File))
		opts.NewLoad = func(s *shakedown.LoadSpec) (engine.Load, error) { return load.New(s, load.Options{}) }
		opts.NewAlert = func(s *shakedown.AlertSpec) (engine.AlertSource, error) { return monitor.NewAlert(s) }
		opts.Compare = compare
		opts.OpenJournal = func(runID string, exp *shakedown.Experiment) (engine.Journal, error) {
			return openGuardedJournal(ctx, exe, f.stateDir, runID, exp)
		}
		opts.Log = slog.New(slog.NewTextHandler(a.stderr, nil))
		// A run whose lock lapses no longer has the system to itself: it is cut short.
		runCtx, cancelRun := context.WithCancelCause(ctx)
		opts.Claim = hist.withLocks(ctx, cancelRun, exp, opts.Host, opts.Commit, opts.Claim)
		var prog *report.Progress
		if progress != "none" {
			prog = report.NewProgress(a.stdout, tty)
		}
		hold := faultsHeld(ctx)
		opts.Events = func(e shakedown.Event) {
			hold(e)
			if e.Kind == shakedown.EventRunStart && s.started != nil {
				s.started(e.Run)
			}
			if prog != nil {
				a.red.Redact(&e)
				prog.Event(e)
			}
		}
		rec := engine.Run(runCtx, exp, opts)
		cancelRun(nil)
		noteVerdict(ctx, rec.Verdict)
		hold(shakedown.Event{Kind: shakedown.EventRunEnd})
		if prog != nil {
			prog.Close()
		}
		a.red.Redact(rec)
		if gt != nil {
			gt.judge(ctx, a, exp, rec)
		}
		report.WriteVerdictLine(a.stdout, rec)
		if rec.Recover != "" {
			fmt.Fprintf(a.stderr, "shakedown: something may still be injected; run: %s\n", rec.Recover)
		}
		records = append(records, rec)
		hist.record(ctx, rec)
		if ctx.Err() != nil {
			break // cancelled: the rest of the suite does not start
		}
	}
	a.writeReports(records, out)
	var verdicts []shakedown.Verdict
	for _, r := range records {
		verdicts = append(verdicts, r.Verdict)
	}
	worst := shakedown.Worst(verdicts...)
	if len(records) > 1 {
		fmt.Fprintf(a.stdout, "suite: %d run%s, %s (exit %d)\n", len(records), words.Plural(len(records)),
			report.Status(worst), worst.ExitCode())
	}
	hist.summary()
	if code := worst.ExitCode(); code != 0 {
		return records, exitError{code: code}
	}
	return records, nil
}

// faultsHeld returns what a run's events go through so that, from the start of its inject
// phase to the end of its revert, a signal does not end the process before the revert is
// done (holdExit).
func faultsHeld(ctx context.Context) func(shakedown.Event) {
	var release func()
	return func(e shakedown.Event) {
		switch {
		case e.Kind == shakedown.EventPhase && e.Phase == shakedown.PhaseInject:
			if release == nil {
				release = holdExit(ctx)
			}
		case e.Kind == shakedown.EventPhase && e.Phase == shakedown.PhaseRecovery, e.Kind == shakedown.EventRunEnd:
			if release != nil {
				release()
				release = nil
			}
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// guardedJournal is a run's journal together with the Keeper that keeps a watchdog alive to
// replay it if the runner dies.
type guardedJournal struct {
	*journal.Journal
	keeper *watchdog.Keeper
	ctx    context.Context // the run's: Close holds off the exit a signal forces (holdExit)
}

// resolveStateDir checks a state dir before anything is injected under it and says by
// which path to find it from then on. The journals in it say what to run to undo a fault:
// a folder others could replace is refused (see package internal/private). A state dir
// reached through a symbolic link is its real path from here on, found once: the journals,
// the watchdogs and the holds find it so, and no link changed mid-run sends one of them
// elsewhere. One reached without a link keeps the name it was given, as the messages say
// it.
func resolveStateDir(dir string) (string, error) {
	real, err := private.Resolve(dir)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInvalid, "--state-dir "+dir, err)
	}
	if abs, err := filepath.Abs(dir); err != nil || abs != real {
		return real, nil
	}
	return dir, nil
}

// openGuardedJournal opens run runID's journal and starts its watchdog. Their errors name
// what failed and carry their kind already. A signal's forced exit waits for it, as for
// Close, since the run's end waits for the journal it opens during the baseline: a run cut
// short there still says its verdict. The wait is short: ctx's end stops the start.
func openGuardedJournal(ctx context.Context, exe, stateDir, runID string, exp *shakedown.Experiment) (engine.Journal, error) {
	defer holdExit(ctx)()
	stopSignal := watchRun(ctx, runID) // stop finds the run by its journal and asks it so (stop.go)
	j, err := journal.Open(stateDir, runID, journal.Meta{Experiment: exp.Name, File: exp.File, StopSignal: stopSignal})
	if err != nil {
		return nil, err
	}
	// The first watchdog's start gives up when the run is cut short before it is ready (then
	// nothing was injected); the ones that replace a dead watchdog later never do, as a run
	// that was cut short may be reverting under their guard.
	var kept atomic.Bool
	start := func() (*watchdog.Guard, error) {
		startCtx := context.Background()
		if !kept.Load() {
			startCtx = ctx
		}
		return watchdog.Start(startCtx, exe, []string{"watchdog", "--state-dir", stateDir, "--run", runID}, stateDir, runID)
	}
	k, err := watchdog.Keep(start, j.Holding, j.Guarded)
	kept.Store(true)
	if err != nil {
		j.Close()
		return nil, err
	}
	return &guardedJournal{Journal: j, keeper: k, ctx: ctx}, nil
}

// Begin journals a fault once a live watchdog guards the run: nothing is injected unguarded.
func (g *guardedJournal) Begin(fault string, undos []shakedown.Undo, ttl time.Duration) (int, error) {
	if err := g.keeper.Ensure(); err != nil {
		return 0, err
	}
	return g.Journal.Begin(fault, undos, ttl)
}

func (g *guardedJournal) Lost() <-chan error { return g.keeper.Lost() }
func (g *guardedJournal) Lapses() []string   { return g.keeper.Lapses() }

// Close stops the watchdog and then closes the journal, which removes it when nothing is
// pending: so a watchdog never outlives the journal of a run that ended, and one that
// finds its run's journal missing always has cause to say so. A signal's forced exit waits
// for this (a watchdog still starting takes a moment to stop), so that the run can say its
// verdict.
func (g *guardedJournal) Close() error {
	defer holdExit(g.ctx)()
	err := g.keeper.Stop()
	if jerr := g.Journal.Close(); jerr != nil {
		err = jerr // what is left pending matters more than how the watchdog ended
	}
	return err
}
