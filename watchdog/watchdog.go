// Package watchdog is shakedown's dead-man switch: a process of its own that a run starts
// before its first inject and that takes back, from the run's journal, whatever the run left
// injected when it dies (even by kill -9) or when a fault outlives its deadline (TTL).
//
// The runner starts it with Start, in a new session (setsid), so that a Ctrl-C or a CI
// cancel sent to the runner's process group does not reach it. Its stdin is a pipe whose
// write end only the runner holds: when the runner dies, however it dies, the kernel closes
// that end and the watchdog reads end of file at once. A runner that ends cleanly first
// writes "stop", and the watchdog then leaves without undoing anything: the run's own
// reverts did it, and what they could not undo stays in the journal for `shakedown recover`.
// Its stdout and stderr go to a log file in the state dir, never to the runner's, so that a
// CI step waiting for the runner's output ends when the runner ends.
//
// An entry past its deadline is undone by the watchdog even while the runner lives. The
// runner's own revert of that fault then finds nothing left to take back, which is fine:
// reverts and undos are idempotent ("already gone" is success), and the journal counts an
// entry reverted once any done record says so.
package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/journal"
)

const (
	// readyEnv names the descriptor on which the watchdog says it is ready. Start sets it;
	// Main writes one line there and closes it.
	readyEnv = "SHAKEDOWN_WATCHDOG_READY_FD"
	// stopLine is what a runner that ended cleanly writes to the watchdog's stdin.
	stopLine = "stop"
	// readyWait bounds how long Start waits for the watchdog to come up.
	readyWait = 10 * time.Second
	// stopWait bounds how long Stop waits for the watchdog to leave; it may be finishing an
	// undo, which has its own deadline.
	stopWait = shakedown.DefaultRevertWait + 10*time.Second
	// pollEvery is how often the watchdog reads the journal for new entries and deadlines.
	pollEvery = 250 * time.Millisecond
	// retryEvery is how often the watchdog retries an overdue entry whose undo failed.
	retryEvery = 5 * time.Second
	// lockGrace is how long the watchdog waits, after the runner's pipe closed, for the
	// kernel to drop the runner's journal lock; it replays anyway afterwards.
	lockGrace = 2 * time.Second
)

// logDir is the folder of the state dir that holds the watchdogs' logs.
const logDir = "watchdog"

// LogPath returns the file the watchdog of run runID writes its log to.
func LogPath(stateDir, runID string) string {
	return filepath.Join(stateDir, logDir, runID+".log")
}

// Guard is a running watchdog. The runner must call Stop when the run ended cleanly; if the
// runner dies instead, the watchdog undoes what the journal says is pending.
type Guard struct {
	cmd     *exec.Cmd
	in      *os.File // the write end of the watchdog's stdin
	logPath string
	exited  chan struct{}
	waitErr error // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start spawns `exe args...` as the watchdog of run runID (the cli passes its own executable
// and its hidden `watchdog` command, which calls Main) in a new session, with stdin a pipe
// whose write end the returned Guard holds and stdout and stderr appended to LogPath. It
// returns once the watchdog said it is ready, so that no inject precedes its guard. If ctx
// ends first, the watchdog is killed and Start returns ctx's cause: a run cut short while
// its watchdog starts (slow on a busy machine) need not wait for a guard it will not use.
func Start(ctx context.Context, exe string, args []string, stateDir, runID string) (*Guard, error) {
	op := "start watchdog of run " + runID
	logPath := LogPath(stateDir, runID)
	if _, err := private.MkdirOwn(stateDir, logDir); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|private.NoFollow, 0o600)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer logf.Close()
	if err := private.CheckFile(logf); err != nil {
		return nil, shakedown.Wrap(shakedown.KindPermission, op, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer inR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		inW.Close()
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer readyR.Close()

	cmd := exec.Command(exe, args...)
	cmd.Stdin = inR
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{readyW} // descriptor 3
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.SysProcAttr = argv.OwnSession()
	err = cmd.Start()
	readyW.Close() // the watchdog holds the only write end now
	if err != nil {
		inW.Close()
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	g := &Guard{cmd: cmd, in: inW, logPath: logPath, exited: make(chan struct{})}
	go func() {
		g.waitErr = cmd.Wait()
		close(g.exited)
	}()

	line, err := readReady(ctx, readyR, cmd.Process.Pid, g.exited)
	if err != nil || line != "ready" {
		cmd.Process.Kill()
		inW.Close()
		<-g.exited
		if err == nil {
			err = fmt.Errorf("said %q", line)
		}
		return nil, shakedown.Wrap(shakedown.KindInternal, op,
			fmt.Errorf("not ready (%w; %v); see %s", err, g.waitErr, logPath))
	}
	return g, nil
}

// readReady reads the line the watchdog pid says on f once it is ready, within readyWait. A
// watchdog that exits or is stopped (SIGSTOP) before it is ready fails at once: it cannot
// guard anything. So does the wait when ctx ends, within 50 ms.
func readReady(ctx context.Context, f *os.File, pid int, exited <-chan struct{}) (string, error) {
	deadline := time.Now().Add(readyWait)
	r := bufio.NewReader(f)
	var line []byte
	for {
		next := time.Now().Add(50 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		if err := f.SetReadDeadline(next); err != nil {
			return "", err
		}
		part, err := r.ReadSlice('\n')
		line = append(line, part...)
		switch {
		case err == nil:
			return strings.TrimSuffix(string(line), "\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return "", err
		case !time.Now().Before(deadline):
			return "", fmt.Errorf("not ready within %v", readyWait)
		case isStopped(pid):
			return "", errors.New("stopped (SIGSTOP) before it was ready")
		}
		select {
		case <-exited:
			return "", errors.New("exited before it was ready")
		case <-ctx.Done():
			return "", context.Cause(ctx)
		default:
		}
	}
}

// PID returns the watchdog's process id.
func (g *Guard) PID() int { return g.cmd.Process.Pid }

// Exited is closed when the watchdog process has ended, which before Stop means the run is
// no longer guarded.
func (g *Guard) Exited() <-chan struct{} { return g.exited }

// Stop tells the watchdog that the run ended cleanly and waits for it to exit; call it before
// the journal's Close, which removes the journal. When the watchdog exits cleanly its log file is removed. A second
// call returns what the first did.
func (g *Guard) Stop() error {
	g.stopOnce.Do(func() { g.stopErr = g.stop() })
	return g.stopErr
}

func (g *Guard) stop() error {
	op := fmt.Sprintf("stop watchdog (pid %d)", g.PID())
	_, werr := io.WriteString(g.in, stopLine+"\n")
	g.in.Close()
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-g.exited:
	case <-t.C:
		g.cmd.Process.Kill()
		<-g.exited
		return shakedown.Errorf(shakedown.KindInternal, "%s: did not exit within %v; see %s", op, stopWait, g.logPath)
	}
	if g.waitErr != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, fmt.Errorf("%w (write: %v); see %s", g.waitErr, werr, g.logPath))
	}
	if werr != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, fmt.Errorf("it had left already: %w; see %s", werr, g.logPath))
	}
	os.Remove(g.logPath)
	return nil
}

// Main is the watchdog process's body: the cli's hidden command `watchdog --state-dir D
// --run ID` calls Main(ctx, D, ID, reg, os.Stdin, a slog logger on os.Stderr), and Start
// points that stderr at LogPath. reg must hold the undo functions of every fault type the run
// may inject (the cli's full registry). Main watches run runID through in (the read end of
// the runner's pipe) and the run's journal under stateDir, and undoes with reg's functions:
//
//   - an entry whose deadline passed, at once, even while the runner lives;
//   - everything pending, when in ends without the runner having written "stop" (the
//     runner died), and then returns;
//   - everything pending, when ctx is cancelled (the watchdog itself is being stopped), and
//     then returns.
//
// After "stop" and the end of in it returns nil without undoing anything. While it runs, the
// process swallows SIGINT and SIGHUP (they do not cancel ctx). The error is what could not be
// undone or read. When Main returns before in ended (ctx), a goroutine stays blocked reading
// in until it ends.
func Main(ctx context.Context, stateDir, runID string, reg *shakedown.Registry, in io.Reader, log *slog.Logger) error {
	// Swallowed, not ignored: an ignored signal stays ignored in the programs undos start.
	// Reset drops the cli's own handlers, so these do not cancel ctx either.
	sigs := make(chan os.Signal, 1)
	signal.Reset(syscall.SIGINT, syscall.SIGHUP)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return watch(ctx, stateDir, runID, reg, in, log, sigs)
}

// watch is Main without its signal handling; sigs delivers the signals to swallow.
func watch(ctx context.Context, stateDir, runID string, reg *shakedown.Registry, in io.Reader, log *slog.Logger, sigs <-chan os.Signal) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("run", runID)

	ended := make(chan bool, 1) // whether the runner said stop before in ended
	go func() {
		sc := bufio.NewScanner(in)
		stopped := false
		for sc.Scan() {
			stopped = stopped || sc.Text() == stopLine
		}
		ended <- stopped
	}()
	if err := sayReady(); err != nil {
		log.Warn("cannot say ready", "err", err)
	}
	log.Info("watchdog ready", "pid", os.Getpid(), "state_dir", stateDir)

	w := &watcher{stateDir: stateDir, runID: runID, reg: reg, log: log, warned: map[string]bool{}, retryAt: map[int]time.Time{}}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case stopped := <-ended:
			if stopped {
				if p, _ := journal.ScanRun(stateDir, runID); len(p) > 0 {
					log.Warn("run ended cleanly with faults still pending; left for shakedown recover", "pending", len(p))
				} else {
					log.Info("run ended cleanly")
				}
				return nil
			}
			start := time.Now()
			log.Warn("runner gone without stopping the watchdog; undoing what it left")
			err := w.replayOwn(ctx, journal.ReplayOptions{IncludeLive: true, LockWait: lockGrace})
			log.Info("replay finished", "took", time.Since(start), "err", err)
			return err
		case <-ctx.Done():
			log.Warn("watchdog stopped; undoing what the run has pending", "cause", context.Cause(ctx))
			return w.replayOwn(context.WithoutCancel(ctx), journal.ReplayOptions{IncludeLive: true})
		case s := <-sigs:
			log.Info("signal swallowed: the watchdog leaves only when its run has", "signal", s)
		case <-timer.C:
			timer.Reset(w.check(ctx))
		}
	}
}

// sayReady writes "ready" to the descriptor Start passed, if any.
func sayReady() error {
	v := os.Getenv(readyEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(readyEnv) // not for the programs undos may run
	fd, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", readyEnv, v, err)
	}
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return fmt.Errorf("%s=%q: no such descriptor", readyEnv, v)
	}
	defer f.Close()
	_, err = io.WriteString(f, "ready\n")
	return err
}

type watcher struct {
	stateDir, runID string
	reg             *shakedown.Registry
	log             *slog.Logger
	warned          map[string]bool   // what was logged already
	retryAt         map[int]time.Time // overdue entries whose undo failed: when to try again
}

// check reads the journal, undoes the entries whose deadline passed and returns how long to
// wait before the next check.
func (w *watcher) check(ctx context.Context) time.Duration {
	pending, err := journal.ScanRun(w.stateDir, w.runID)
	if err != nil {
		w.warnOnce(err.Error(), "cannot read the journal", "err", err)
	}
	now := time.Now()
	wait := pollEvery
	due := false
	for _, p := range pending {
		for _, u := range p.Undos {
			if _, ok := w.reg.Undo(u.Type); !ok {
				w.warnOnce(fmt.Sprintf("type %d %s", p.Entry, u.Type), "no undo function for a pending fault",
					"fault", p.Fault, "entry", p.Entry, "undo", u.Type)
			}
		}
		at := p.Deadline
		if r := w.retryAt[p.Entry]; r.After(at) {
			at = r
		}
		if at.After(now) {
			wait = min(wait, at.Sub(now))
		} else {
			due = true
		}
	}
	if !due {
		return wait
	}
	w.log.Warn("faults outlived their deadline; undoing them while the run lives")
	w.replay(ctx, journal.ReplayOptions{IncludeLive: true, Due: now})
	for _, p := range pending {
		if !p.Deadline.After(now) {
			w.retryAt[p.Entry] = now.Add(retryEvery) // matters only if it is still pending
		}
	}
	return wait
}

// ErrNoJournal says that the run's journal was gone when the watchdog had to replay it: the
// runner removes it only after its last revert and after it stopped the watchdog, so it was
// moved, removed or its state dir re-pointed.
var ErrNoJournal = errors.New("the run's journal is missing")

// replayOwn is replay when the runner is gone or the watchdog is stopped: a journal that is
// not there is not "nothing pending" but an error (ErrNoJournal, KindNotRestored), logged.
func (w *watcher) replayOwn(ctx context.Context, opts journal.ReplayOptions) error {
	path := journal.Path(w.stateDir, w.runID)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		err := shakedown.Wrap(shakedown.KindNotRestored, "replay journal "+path,
			fmt.Errorf("%w: whatever the run still held cannot be undone from it; check the system by hand", ErrNoJournal))
		w.log.Error("replay impossible", "err", err)
		return err
	}
	return w.replay(ctx, opts)
}

// replay undoes the run's pending entries and logs what it did.
func (w *watcher) replay(ctx context.Context, opts journal.ReplayOptions) error {
	opts.By = journal.ByWatchdog
	res, err := journal.ReplayRun(ctx, w.stateDir, w.runID, w.reg, opts)
	for _, r := range res {
		switch {
		case r.Err != nil:
			w.log.Error("undo failed", "fault", r.Fault, "entry", r.Entry, "undo", r.Undo.Type, "summary", r.Undo.Summary, "err", r.Err)
		case r.Lapsed != nil:
			w.log.Warn("lapsed", "fault", r.Fault, "entry", r.Entry, "undo", r.Undo.Type, "summary", r.Undo.Summary, "why", r.Lapsed)
		default:
			w.log.Info("undone", "fault", r.Fault, "entry", r.Entry, "undo", r.Undo.Type, "summary", r.Undo.Summary)
		}
	}
	if err != nil {
		w.log.Error("replay incomplete", "err", err)
	}
	return err
}

func (w *watcher) warnOnce(key, msg string, args ...any) {
	if w.warned[key] {
		return
	}
	w.warned[key] = true
	w.log.Warn(msg, args...)
}
