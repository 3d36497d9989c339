package cli

// The emergency stop: `shakedown stop [RUN_ID... | --all]`, and stopRuns, which the stop
// command and the dashboard's POST /api/runs/ID/stop both call.
//
//	stopRuns                                          the runner (run, demo, a drill)
//	  │ write <state dir>/stop/ID.json {run, by}        │
//	  │ SIGUSR1 to the journal's pid ───────────────────▶ read it; remove it (the answer)
//	  │ wait for the answer (ackWait)                   │ cancel the run: engine.Stopped{By}
//	  │ wait until the journal says nothing is pending ◀─ revert everything, journal it
//	  ▼ "stopped run ID: 2 faults reverted in 40ms"     ▼ verdict aborted, "stopped by …", exit 3
//
// A runner that does not answer within ackWait (stopped with SIGSTOP, hung), or whose revert
// is not done within revertWait, or that is dead, has its journal replayed by stop itself,
// as recover does: journal.ReplayRun, which never replays a journal while another replay of
// it is under way (the watchdog's, say). A runner that was only stopped finds the request
// when it is resumed (the signal waits for it) and ends aborted too.
//
// Only the user a run's state dir belongs to can stop it: the request is a file in a folder
// private to that user (package internal/private), and the runner acts only on a request
// that is private to it too; others cannot list the runs, write the request or signal the
// runner.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/journal"
)

const (
	// stopDir is the folder of the state dir where stop requests wait for their runners.
	stopDir = "stop"
	// maxStopRequest bounds what is read of a stop request.
	maxStopRequest = 4 << 10
	// maxStopBy bounds who a request says stopped the run.
	maxStopBy = 256
	// stopSignalName is stopSignal's name (stop_unix.go), as a runner's journal gives it.
	stopSignalName = "SIGUSR1"
)

// How long stop waits for a runner, before it reverts the run's journal itself: for the
// runner to answer the request (it does within milliseconds), then for its revert (each
// revert has DefaultRevertWait). Variables for tests.
var (
	ackWait    = time.Second
	revertWait = shakedown.DefaultRevertWait + 5*time.Second
)

func (a *app) stopCommand() *cobra.Command {
	var (
		stateDir string
		all      bool
	)
	cmd := &cobra.Command{
		Use:   "stop [RUN_ID... | --all]",
		Short: "Emergency stop: revert a live run now; it ends aborted (exit 3)",
		Long: `Stop live runs of this machine, found through the state dir: everything each one
injected is reverted at once, and the run ends aborted (its exit code 3) with "stopped by
…" (who, where from) as its reason, its reports written as usual. stop returns once the run's
journal says nothing is left injected, and prints one line per run. A runner that does not
answer within a second (stopped, hung) or that is dead has its journal reverted by stop
itself, as recover does. Only the user the state dir belongs to can stop its runs.
Exit 0 when every run named was stopped with nothing left injected; 4 when something could
not be reverted; 5 for a run id that is not live (the live ones are named).`,
		Annotations: map[string]string{onSignal: signalReverts},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return shakedown.Errorf(shakedown.KindInvalid, "give run ids or --all, not both")
			case !all && len(args) == 0:
				return shakedown.Errorf(shakedown.KindInvalid, "give the id of the run to stop, or --all (`shakedown stop --all`)")
			}
			// A Ctrl-C does not leave a run half reverted (stopRuns, signalReverts).
			results, err := a.stopRuns(cmd.Context(), stateDir, args, stopper("shakedown stop"))
			for _, r := range results {
				a.printStop(r)
			}
			if all && len(results) == 0 && err == nil {
				fmt.Fprintf(a.stdout, "no live run in %s: nothing to stop\n", stateDir)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", shakedown.DefaultStateDir, "the state dir the runs keep their journals in")
	cmd.Flags().BoolVar(&all, "all", false, "stop every live run of the state dir")
	return cmd
}

// printStop says what stopping one run did, in one line.
func (a *app) printStop(r StopResult) {
	took := r.Took.Round(time.Millisecond)
	how := ""
	if r.Why != "" {
		how = " (" + r.Why + ": reverted from its journal)"
	}
	if r.Err != nil {
		fmt.Fprintf(a.stdout, "FAILED  run %s: %d fault%s reverted in %v%s; not everything: %v\n",
			r.Run, r.Reverted, words.Plural(r.Reverted), took, how, r.Err)
		return
	}
	fmt.Fprintf(a.stdout, "stopped run %s: %d fault%s reverted in %v%s\n", r.Run, r.Reverted, words.Plural(r.Reverted), took, how)
}

// stopper says who stops, from where: "ann on build-3 (shakedown stop, pid 123)".
func stopper(from string) string {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "this host"
	}
	return fmt.Sprintf("%s on %s (%s, pid %d)", name, host, from, os.Getpid())
}

// StopResult is what stopping one run did.
type StopResult struct {
	Run        string
	Experiment string
	Reverted   int           // faults of the run reverted from the stop on, by whoever
	Took       time.Duration // from the stop until the journal said nothing was left injected
	// Why stop reverted the run's journal itself, if it did: "its runner is dead", "its
	// runner did not answer within 1s". Empty when the runner reverted it.
	Why string
	Err error // what may still be injected (KindNotRestored), or why the run could not be read
}

// stopRuns stops the live runs ids of stateDir (every live run when ids is empty) at once, and
// returns when each is reverted, with what it did. by says who stops them (see stopper; a
// dashboard says its own). A run id that has no journal in stateDir is a KindNotFound error
// naming the live runs; the others are stopped all the same. A run that could not be
// reverted entirely is a KindNotRestored error. Results are in the order of ids (of run ids
// for all). Once asked, a stop is carried through: ctx ending (a client gone) does not
// leave a run half reverted.
func (a *app) stopRuns(ctx context.Context, stateDir string, ids []string, by string) ([]StopResult, error) {
	ctx = context.WithoutCancel(ctx)
	if err := private.CheckDir(stateDir); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "--state-dir "+stateDir, err)
	}
	live, unreadable, err := liveRuns(stateDir)
	if err != nil {
		return nil, err
	}
	var targets []*journal.Run
	var missing []error
	if len(ids) == 0 {
		targets = live
		for _, err := range unreadable {
			missing = append(missing, err)
		}
	}
	for _, id := range ids {
		i := slices.IndexFunc(live, func(r *journal.Run) bool { return r.ID == id })
		switch {
		case i >= 0:
			if !slices.Contains(targets, live[i]) {
				targets = append(targets, live[i])
			}
		case unreadable[id] != nil:
			missing = append(missing, unreadable[id])
		default:
			missing = append(missing, unknownRun(stateDir, id, live))
		}
	}
	results := make([]StopResult, len(targets))
	var wg sync.WaitGroup
	for i, r := range targets {
		wg.Go(func() { results[i] = a.stopRun(ctx, stateDir, r, by) })
	}
	wg.Wait()
	removeStaleStopRequests(stateDir)
	var errs []error // what may still be injected first: its kind is the exit code
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(append(errs, missing...)...)
}

// liveRuns lists the runs of stateDir that are live or have something pending, and the
// journals that cannot be read, by run id.
func liveRuns(stateDir string) ([]*journal.Run, map[string]error, error) {
	ids, err := journal.RunIDs(stateDir)
	if errors.Is(err, fs.ErrPermission) {
		// Another user's state dir: its runs are not ours to stop.
		return nil, nil, shakedown.Wrap(shakedown.KindPermission, "stop runs of "+stateDir, err)
	}
	if err != nil {
		return nil, nil, err
	}
	var live []*journal.Run
	unreadable := map[string]error{}
	for _, id := range ids {
		r, err := journal.ReadRun(stateDir, id)
		switch {
		case r == nil && err != nil:
			unreadable[id] = err
		case r != nil && (r.Live || len(r.Pending) > 0 || err != nil):
			live = append(live, r) // a damaged one too, even with nothing readable pending: its replay reports the damage
		}
	}
	return live, unreadable, nil
}

// unknownRun says that stateDir has no live run id, and which runs it has.
func unknownRun(stateDir, id string, live []*journal.Run) error {
	if _, err := journal.ReadRun(stateDir, id); shakedown.IsKind(err, shakedown.KindInvalid) {
		return err
	}
	if len(live) == 0 {
		return shakedown.Errorf(shakedown.KindNotFound, "stop run %s: no such live run in %s; no run is live there", id, stateDir)
	}
	var names []string
	for _, r := range live {
		names = append(names, describeRun(r))
	}
	return shakedown.Errorf(shakedown.KindNotFound, "stop run %s: no such live run in %s; live: %s", id, stateDir, strings.Join(names, ", "))
}

// describeRun names a run for people: "01J… (experiment pause-web, pid 123)".
func describeRun(r *journal.Run) string {
	var what []string
	if r.Meta.Experiment != "" {
		what = append(what, "experiment "+r.Meta.Experiment)
	}
	if r.Meta.PID > 0 {
		what = append(what, "pid "+strconv.Itoa(r.Meta.PID))
	}
	if len(what) == 0 {
		return r.ID
	}
	return r.ID + " (" + strings.Join(what, ", ") + ")"
}

// stopRun stops one run: it asks its runner, and reverts the run's journal itself when the
// runner is dead, does not answer or does not finish its revert in time.
func (a *app) stopRun(ctx context.Context, stateDir string, r *journal.Run, by string) StopResult {
	start := time.Now()
	res := StopResult{Run: r.ID, Experiment: r.Meta.Experiment}
	seen := map[int]bool{} // every entry pending since the stop: the faults it reverts
	pending := func() int {
		now, err := journal.ReadRun(stateDir, r.ID)
		if now == nil {
			return 0 // the run ended and its journal went with it (or cannot be read: the replay says so)
		}
		for _, p := range now.Pending {
			seen[p.Entry] = true
		}
		if err != nil && len(now.Pending) == 0 {
			return 1 // damaged: what was in the damaged part may be injected
		}
		return len(now.Pending)
	}
	pending()

	alive := r.Live && procfs.Alive(r.Meta.PID, r.Meta.Start)
	var answered bool
	var err error
	if alive {
		answered, err = askRunner(ctx, stateDir, r, by)
	}
	switch {
	case !alive:
		res.Why = "its runner is dead"
	case err != nil:
		res.Why = err.Error()
	case !answered:
		res.Why = fmt.Sprintf("its runner did not answer within %v", ackWait)
	default:
		waitUntil(ctx, revertWait, func() bool { return pending() == 0 || !procfs.Alive(r.Meta.PID, r.Meta.Start) })
		if pending() > 0 {
			res.Why = fmt.Sprintf("its runner had not reverted it within %v", revertWait)
			if !procfs.Alive(r.Meta.PID, r.Meta.Start) {
				res.Why = "its runner died"
			}
		}
	}
	if res.Why != "" && pending() > 0 {
		// A runner just dead may still hold the journal's lock for an instant; a live one
		// holds it for good.
		wait := 100 * time.Millisecond
		if alive {
			wait = 0
		}
		_, err := journal.ReplayRun(ctx, stateDir, r.ID, a.reg, journal.ReplayOptions{IncludeLive: true, By: journal.ByStop, LockWait: wait})
		res.Err = err
	}
	left := pending()
	if left > 0 && res.Err == nil {
		res.Err = shakedown.Errorf(shakedown.KindNotRestored, "stop run %s: %d fault%s still injected; see its journal %s",
			r.ID, left, words.Plural(left), journal.Path(stateDir, r.ID))
	}
	res.Reverted = max(len(seen)-left, 0)
	res.Took = time.Since(start)
	if !alive {
		os.Remove(stopRequestPath(stateDir, r.ID)) // no runner will read it
	}
	return res
}

// askRunner asks the live runner of r to stop, by a request file and a signal, and reports
// whether it answered (removed the request) within ackWait.
func askRunner(ctx context.Context, stateDir string, r *journal.Run, by string) (bool, error) {
	// A runner that did not say it expects the signal would die of it (a shakedown without
	// stop; a program of its own that keeps a journal).
	if r.Meta.StopSignal != stopSignalName {
		return false, fmt.Errorf("its runner (pid %d) cannot be asked to stop", r.Meta.PID)
	}
	path, err := writeStopRequest(stateDir, r.ID, by)
	if err != nil {
		return false, err
	}
	if sent, err := procfs.Signal(r.Meta.PID, r.Meta.Start, stopSignal); err != nil || !sent {
		return false, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("signal the runner of run %s (pid %d)", r.ID, r.Meta.PID), err)
	}
	return waitUntil(ctx, ackWait, func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, fs.ErrNotExist)
	}), nil
}

// waitUntil polls cond, from every half millisecond to every 10 ms, until it holds (true) or
// within has passed or ctx ended (false).
func waitUntil(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	pause := 500 * time.Microsecond
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		pause = min(2*pause, 10*time.Millisecond)
	}
	return true
}

// stopRequest is the file a stop leaves for a runner: <state dir>/stop/<run id>.json.
type stopRequest struct {
	Run string    `json:"run"`
	By  string    `json:"by"`
	At  time.Time `json:"at"`
}

func stopRequestPath(stateDir, runID string) string {
	return filepath.Join(stateDir, stopDir, runID+".json")
}

// writeStopRequest writes the request to stop run runID, whole (a temporary file renamed),
// private to this user, and returns its path.
func writeStopRequest(stateDir, runID, by string) (string, error) {
	op := "ask run " + runID + " to stop"
	dir, err := private.MkdirOwn(stateDir, stopDir)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	b, err := json.Marshal(stopRequest{Run: runID, By: by, At: time.Now()})
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	f, err := os.CreateTemp(dir, "."+runID+".*.tmp")
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer os.Remove(f.Name()) // gone once renamed
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := stopRequestPath(stateDir, runID)
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	return path, shakedown.Wrap(shakedown.KindInternal, op, err)
}

// readStopRequest reads the request to stop run runID and removes it, which tells stop that
// the runner took it. It returns nil, nil when there is none. A request that is not private
// to this user (or whose folder is not) is refused and left where it is: only the user the
// state dir belongs to may stop its runs.
func readStopRequest(stateDir, runID string) (*stopRequest, error) {
	path := stopRequestPath(stateDir, runID)
	op := "read stop request " + path
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err := private.CheckOwnDir(filepath.Dir(path)); err != nil {
		return nil, shakedown.Wrap(shakedown.KindPermission, op, err)
	}
	f, err := private.Open(path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindPermission, op, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStopRequest+1))
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	req, err := parseStopRequest(b)
	if err == nil && req.Run != runID {
		err = fmt.Errorf("a request for run %s", req.Run)
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	return req, nil
}

// parseStopRequest decodes a stop request strictly: one JSON object, no unknown field, a run
// id, and who in at most maxStopBy printable characters (it ends up in the run's reason line).
func parseStopRequest(b []byte) (*stopRequest, error) {
	if len(b) > maxStopRequest {
		return nil, fmt.Errorf("larger than %d bytes", maxStopRequest)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var req stopRequest
	if err := dec.Decode(&req); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	switch {
	case req.Run == "":
		return nil, errors.New("no run")
	case req.By == "":
		return nil, errors.New("no one stops it (by)")
	case len(req.By) > maxStopBy:
		return nil, fmt.Errorf("by longer than %d bytes", maxStopBy)
	case strings.IndexFunc(req.By, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return nil, errors.New("by holds a character that is not printable")
	}
	return &req, nil
}

// removeStaleStopRequests removes the requests whose run has no journal any more.
func removeStaleStopRequests(stateDir string) {
	dir := filepath.Join(stateDir, stopDir)
	if private.CheckOwnDir(dir) != nil {
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, err := os.Lstat(journal.Path(stateDir, id)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// The runner's side.

// stopWatch is the runner's side of the emergency stop, for one call of runSuite: its runs
// join it as their journals open (watchRun), and a stop request for one of them cancels the
// suite's context with an engine.Stopped cause, as a signal would: the run reverts, ends
// aborted, and the rest of the suite does not start.
type stopWatch struct {
	stateDir string
	cancel   context.CancelCauseFunc
	stderr   io.Writer

	mu   sync.Mutex
	runs []string
}

type stopWatchKey struct{}

// stopSignals is where stopSignal arrives once a runSuite watched for stops. It is never
// released: the signal's default action ends the process, and a stop that found this process
// catching it may send it after the runs are over.
var stopSignals = sync.OnceValue(func() chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignal)
	return ch
})

// watching is every stopWatch of this process (a dashboard runs several drills at once);
// whichever of their goroutines receives the signal looks for the requests of all.
var watching = struct {
	sync.Mutex
	set map[*stopWatch]bool
}{set: map[*stopWatch]bool{}}

// watchStops returns ctx, which a stop request for a run that joins it (watchRun) cancels, and
// a function to call once the suite is over.
func (a *app) watchStops(ctx context.Context, stateDir string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stopWatch{stateDir: stateDir, cancel: cancel, stderr: a.stderr}
	sigs := stopSignals()
	watching.Lock()
	watching.set[w] = true
	watching.Unlock()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sigs:
				checkStopRequests()
			case <-done:
				return
			}
		}
	})
	return context.WithValue(ctx, stopWatchKey{}, w), func() {
		close(done)
		wg.Wait()
		watching.Lock()
		delete(watching.set, w)
		watching.Unlock()
		cancel(nil)
	}
}

// watchRun makes run runID one that a stop request cancels ctx for (see watchStops), and
// returns the name of the signal that asks for it, for the run's journal (journal.Meta); ""
// when ctx has no stopWatch. Call it before the journal opens: stop finds runs by their
// journals.
func watchRun(ctx context.Context, runID string) string {
	w, _ := ctx.Value(stopWatchKey{}).(*stopWatch)
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs = append(w.runs, runID)
	return stopSignalName
}

// checkStopRequests acts on the stop requests of every run this process watches.
func checkStopRequests() {
	watching.Lock()
	ws := make([]*stopWatch, 0, len(watching.set))
	for w := range watching.set {
		ws = append(ws, w)
	}
	watching.Unlock()
	for _, w := range ws {
		w.check()
	}
}

// check acts on the stop requests of w's runs.
func (w *stopWatch) check() {
	w.mu.Lock()
	runs := slices.Clone(w.runs)
	w.mu.Unlock()
	for _, id := range runs {
		req, err := readStopRequest(w.stateDir, id)
		switch {
		case err != nil:
			fmt.Fprintf(w.stderr, "shakedown: stop request refused: %v\n", err)
		case req != nil:
			fmt.Fprintf(w.stderr, "shakedown: run %s stopped by %s: reverting everything now\n", id, req.By)
			w.cancel(&engine.Stopped{By: req.By})
		}
	}
}
