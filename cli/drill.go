package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/drill"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/report"
	"github.com/shakedown-dev/shakedown/spec"
)

// drillFlag registers serve's --schedule and says what it does in serve's help.
func drillFlag(cmd *cobra.Command, schedule *string) {
	cmd.Flags().StringVar(schedule, "schedule", "", "run the drills of the schedule `FILE` while serving (see above)")
	cmd.Long += "\n\n" + `--schedule FILE runs drills while serving: experiments re-run on a schedule, each through
the same engine as run (journal, watchdog, history, locks), recorded in the history served.
The file lists them (paths relative to its folder):

  drills:
    - name: nightly-cache                        # default: the experiments path
      experiments: experiments/slow-cache.yaml   # a file, or a folder (a suite)
      cron: "0 3 * * *"                          # five fields or @hourly…, local time; or
      # every: 6h                                # at least 1s; first due 6h after start
      lock: staging                              # taken in the history store, as run --lock
      notify: [https://hooks.slack.com/services/…]

Drills with the same lock run one at a time: one due while its lock is taken waits for
it. A drill still running when it is due again is not started twice: the times it missed
are skipped (said in the log) and it runs at its next time after. A run whose verdict is
not passed is POSTed to each notify URL as JSON: a Slack-compatible "text" (the verdict
line and the run's page on this dashboard) and a "shakedown" object (drill, experiment,
run, verdict, exit_code, reason, url); a receiver that fails is tried again twice, then
logged. SIGINT or SIGTERM reverts a drill in progress, records it as aborted, then exits.`
}

// drillOptions say how serve runs the drills of a schedule file.
type drillOptions struct {
	schedule string // the schedule file
	stateDir string // where the drills' runs keep their journals
	history  string // the store the runs are recorded in, as --history takes it
}

// drills are serve's scheduled drills: load them (loadDrills), then start them.
type drills struct {
	a     *app
	file  string // the schedule file
	sched *drill.Scheduler
}

// loadDrills reads the schedule file of serve's --schedule and the experiment files it
// names (newDrills); nil when there is none.
func (a *app) loadDrills(ctx context.Context, f serveFlags) (*drills, error) {
	if f.schedule == "" {
		return nil, nil
	}
	return a.newDrills(ctx, drillOptions{schedule: f.schedule, stateDir: f.stateDir, history: f.dsn})
}

// newDrills reads the schedule file and every experiment file its drills name, and returns
// the drills ready to run. A problem in any of these files is printed with its position and
// ends serve before it starts (exit 2), as run does for its files.
func (a *app) newDrills(ctx context.Context, o drillOptions) (*drills, error) {
	s, err := drill.LoadFile(o.schedule)
	if err != nil {
		a.printProblems(o.schedule, err)
		return nil, exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	dsn, err := a.historyDSN(o.history, o.stateDir)
	if err != nil {
		return nil, err
	}
	bad := false
	for _, d := range s.Drills {
		// A webhook's address is its credential (Slack's are): it is never printed.
		for i, u := range d.Notify {
			a.red.Add(shakedown.Secret{Path: fmt.Sprintf("%s.notify[%d]", d.Name, i), Value: u})
		}
		if d.Lock != "" && dsn.Off() {
			fmt.Fprintf(a.stderr, "%s: drill %s takes lock %s in the history store, and --history is off\n", d.Pos, d.Name, d.Lock)
			bad = true
		}
		if _, err := a.drillExperiments(ctx, d); err != nil {
			bad = true
		}
	}
	if bad {
		return nil, exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, nil))
	return &drills{a: a, file: o.schedule, sched: &drill.Scheduler{
		Drills: s.Drills,
		Log:    log,
		RunDrill: func(ctx context.Context, d *drill.Drill, started func(string)) ([]*shakedown.Record, error) {
			return a.runDrill(ctx, d, o, started)
		},
		Notifier: &drill.Notifier{VerdictLine: verdictLine, Redactor: a.red, Log: log},
	}}, nil
}

// start runs the drills until ctx ends (serve stops), and shows them on the dashboard o,
// whose address is base. The function it returns waits for them to end: a drill in progress
// reverts, ends aborted and is recorded. With no drills (nil) it does nothing.
func (ds *drills) start(ctx context.Context, base string, o *dashboard.Options) (wait func()) {
	if ds == nil {
		return func() {}
	}
	base = strings.TrimSuffix(base, "/")
	ds.sched.Notifier.RunURL = func(id string) string { return base + dashboard.RunPath(id) }
	o.Schedules = ds.schedules
	n := len(ds.sched.Drills)
	fmt.Fprintf(ds.a.stdout, "running %d drill%s of %s\n", n, words.Plural(n), ds.file)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ds.sched.Run(ctx)
	}()
	return func() { <-done }
}

// schedules is the drills' state as the dashboard shows it.
func (ds *drills) schedules() []dashboard.Schedule {
	var out []dashboard.Schedule
	for i, st := range ds.sched.State() {
		d := ds.sched.Drills[i]
		s := dashboard.Schedule{Name: st.Name, Experiments: st.Experiments, Cron: d.Cron, Lock: st.Lock,
			Next: st.Next, Running: st.Running}
		if d.Every > 0 {
			s.Every = d.Every.String()
		}
		if st.Last != nil {
			s.LastRun, s.LastVerdict = st.Last.RunID, st.Last.Verdict
		}
		out = append(out, s)
	}
	return out
}

// runDrill runs drill d once, through runSuite as run does: each run journaled and guarded by
// a watchdog, its lock (the drill's) taken in the history store, and its record filed there
// with its verdict. The experiment files are read again each time, so that a change to them
// is run. A signal to serve cancels ctx: the run reverts and ends aborted, and serve's exit
// waits until it is recorded.
func (a *app) runDrill(ctx context.Context, d *drill.Drill, o drillOptions, started func(string)) ([]*shakedown.Record, error) {
	defer holdExit(ctx)()
	exps, err := a.drillExperiments(ctx, d)
	if err != nil {
		return nil, err
	}
	f := runFlags{stateDir: o.stateDir, hist: historyRunFlags{dsn: o.history, lockTimeout: history.DefaultLockTimeout}}
	if d.Lock != "" {
		f.hist.locks = []string{d.Lock}
	}
	records, err := a.runSuite(ctx, suite{exps: exps, flags: &f, progress: "none", started: started})
	if errors.As(err, new(exitError)) {
		err = nil // the records say the verdict
	}
	return records, err
}

// drillExperiments reads the experiment files of drill d, printing their problems.
func (a *app) drillExperiments(ctx context.Context, d *drill.Drill) ([]*shakedown.Experiment, error) {
	files, bad := experimentFiles([]string{d.Experiments})
	for _, f := range files {
		// The schedule names the file: one that is no regular file is the schedule's
		// problem, said where the schedule names it.
		if err := userfile.Check(f, spec.MaxFileSize); errors.Is(err, userfile.ErrNotRegular) {
			bad = append(bad, argProblem{f, shakedown.Wrap(shakedown.KindInvalid, "", unwrapPathError(err))})
		}
	}
	if len(bad) > 0 {
		for _, b := range bad {
			a.printProblems(d.Pos.String(), fmt.Errorf("%s: %w", b.arg, b.err))
		}
		return nil, shakedown.Wrap(shakedown.KindInvalid, "", bad[0].err)
	}
	exps, err := a.loadAll(ctx, files, nil)
	if errors.As(err, new(exitError)) {
		err = shakedown.Errorf(shakedown.KindInvalid, "drill %s: its experiment files have problems (said above)", d.Name)
	}
	return exps, err
}

// verdictLine is the line run prints for a record's verdict.
func verdictLine(r *shakedown.Record) string {
	var b strings.Builder
	report.WriteVerdictLine(&b, r)
	return strings.TrimSuffix(b.String(), "\n")
}
