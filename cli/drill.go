package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/drill"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/report"
)

// drillOptions say how serve runs the drills of a schedule file.
type drillOptions struct {
	schedule string // the schedule file
	stateDir string // where the drills' runs keep their journals
	history  string // the store the runs are recorded in, as --history takes it
	// runURL is the address of a run's page on the dashboard, for notifications; nil: none.
	runURL func(runID string) string
}

// drills are serve's scheduled drills. Start them with run; state says what each is doing.
type drills struct {
	sched *drill.Scheduler
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
	ds := &drills{}
	ds.sched = &drill.Scheduler{
		Drills: s.Drills,
		Log:    log,
		RunDrill: func(ctx context.Context, d *drill.Drill, started func(string)) ([]*shakedown.Record, error) {
			return a.runDrill(ctx, d, o, started)
		},
		Notifier: &drill.Notifier{RunURL: o.runURL, VerdictLine: verdictLine, Redactor: a.red, Log: log},
	}
	return ds, nil
}

// run runs the drills until ctx ends (serve stops), then waits for the drills in progress:
// they revert what they injected, end aborted and are recorded before run returns.
func (ds *drills) run(ctx context.Context) { ds.sched.Run(ctx) }

// state says what each drill is doing, for the dashboard.
func (ds *drills) state() []drill.State { return ds.sched.State() }

// drillExperiments reads the experiment files of drill d, printing their problems.
func (a *app) drillExperiments(ctx context.Context, d *drill.Drill) ([]*shakedown.Experiment, error) {
	files, err := experimentFiles([]string{d.Experiments})
	if err != nil {
		a.printProblems(d.Pos.String(), err)
		return nil, err
	}
	exps, err := a.loadAll(ctx, files, nil)
	if errors.As(err, new(exitError)) {
		err = shakedown.Errorf(shakedown.KindInvalid, "drill %s: its experiment files have problems (said above)", d.Name)
	}
	return exps, err
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

// verdictLine is the line run prints for a record's verdict.
func verdictLine(r *shakedown.Record) string {
	var b strings.Builder
	report.WriteVerdictLine(&b, r)
	return strings.TrimSuffix(b.String(), "\n")
}
