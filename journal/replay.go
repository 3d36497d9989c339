package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/private"
)

// Pending is an entry of a journal that no done record says was reverted.
type Pending struct {
	RunID    string
	Entry    int
	Fault    string
	Undos    []shakedown.Undo
	Deadline time.Time
	Live     bool // the run's lock is held: it is still running (or being replayed)
	Injected bool // the inject returned; its Interrupt undos are not needed

	Meta    Meta      // of the run
	Begun   time.Time // when the entry was written
	LastErr string    // the last failure to revert it, if any
	Ended   bool      // the run ended (Close) with this entry still pending
}

// Result is one undo Replay carried out.
type Result struct {
	RunID string
	Entry int
	Fault string
	Undo  shakedown.Undo
	Err   error
	Again bool // a second pass over an entry whose inject had not returned when its run died
	// Lapsed, when Err is nil, is why the undo could not be carried out: what it takes back
	// could not be reached and, its run dead, lapsed by itself (shakedown.Lapse).
	Lapsed error
}

// ReplayOptions tune ReplayRun.
type ReplayOptions struct {
	// IncludeLive replays runs whose lock is held, writing their done records beside the
	// running process's (appends never interleave).
	IncludeLive bool
	// Due, when set, limits the replay to entries whose deadline is not after it.
	Due time.Time
	// By says who replays, in the done records. Default ByRecover.
	By string
	// LockWait is how long to wait for a run's lock before taking the run for live. A run
	// that was just killed may still hold it for an instant.
	LockWait time.Duration
}

// staleTemp is the age after which a leftover of an Open that died half way is removed.
const staleTemp = time.Minute

// Scan lists the pending entries of every run in stateDir, run by run in order of run id
// and within a run in order of Begin. A file that cannot be fully read adds an error (wrapping
// ErrCorrupt when it is damaged, private.ErrUnsafe when it is refused) naming it; the pending
// entries that could be read from a damaged file are listed all the same, and other files are
// not affected.
func Scan(stateDir string) ([]Pending, error) {
	ids, err := runIDs(stateDir)
	if err != nil {
		return nil, err
	}
	var out []Pending
	var errs []error
	for _, id := range ids {
		p, err := ScanRun(stateDir, id)
		out = append(out, p...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// ScanRun lists the pending entries of one run; none when its journal does not exist.
func ScanRun(stateDir, runID string) ([]Pending, error) {
	r, err := ReadRun(stateDir, runID)
	if r == nil {
		return nil, err
	}
	return r.Pending, err
}

// Run is what a journal says of its run as a whole.
type Run struct {
	ID      string
	Meta    Meta
	Live    bool // the journal's lock is held: the run is going on (or being replayed)
	Ended   bool // the runner closed it
	Pending []Pending
}

// ReadRun reads the journal of one run without changing it; nil and no error when it does not
// exist. As with ScanRun, a damaged file adds an error and what could be read is returned.
func ReadRun(stateDir, runID string) (*Run, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	path := Path(stateDir, runID)
	op := "read journal " + path
	f, err := openJournal(stateDir, path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	defer f.Close()
	live, err := isLive(f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	data, err := readAll(f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, runID)
	out := &Run{ID: runID, Meta: rf.Meta, Live: live, Ended: rf.Ended}
	for _, e := range rf.pending() {
		out.Pending = append(out.Pending, Pending{
			RunID: runID, Entry: e.ID, Fault: e.Fault, Undos: e.Undos, Deadline: e.Deadline,
			Live: live, Injected: e.Injected, Meta: rf.Meta, Begun: e.Begun, LastErr: e.LastErr, Ended: rf.Ended,
		})
	}
	return out, damageError(path, rf)
}

// IsLive reports whether run runID has a journal in stateDir whose lock is held: the run (or
// a replay of it) is going on. A run without a journal is not live.
func IsLive(stateDir, runID string) (bool, error) {
	if err := CheckRunID(runID); err != nil {
		return false, err
	}
	// Without following a link or waiting on a FIFO; a file refused here is refused, with
	// the reason, by whatever reads it next.
	f, err := private.Open(Path(stateDir, runID), os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, shakedown.Wrap(shakedown.KindOf(err), "check run "+runID, err)
	}
	defer f.Close()
	live, err := isLive(f)
	return live, shakedown.Wrap(shakedown.KindInternal, "check run "+runID, err)
}

// openJournal opens a journal file once the state dir, runs/ and the file itself are found
// private (package internal/private): a journal someone else could have written is refused
// before a byte of it is read.
func openJournal(stateDir, path string, flag int) (*os.File, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := private.CheckDir(stateDir); err != nil {
		return nil, err
	}
	if err := private.CheckOwnDir(RunsDir(stateDir)); err != nil {
		return nil, err
	}
	return private.Open(path, flag)
}

func damageError(path string, rf *runFile) error {
	if len(rf.Damaged) == 0 {
		return nil
	}
	return shakedown.Wrap(shakedown.KindNotRestored, "read journal", &CorruptError{Path: path, RunID: rf.RunID, Damaged: rf.Damaged})
}

// CorruptError says which journal file is damaged, where and how. errors.Is(err,
// ErrCorrupt) holds.
type CorruptError struct {
	Path    string
	RunID   string
	Damaged []Damage
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (run %s): %v: ", e.Path, e.RunID, ErrCorrupt)
	for i, d := range e.Damaged {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.Error())
	}
	b.WriteString(": what was written there cannot be read, so it cannot be undone; every entry that could be read was; " +
		"check the system by hand, then remove the file")
	return b.String()
}

func (e *CorruptError) Unwrap() error {
	if len(e.Damaged) == 0 {
		return nil
	}
	return e.Damaged[0].Err
}
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Replay carries out the pending undos of every dead run in stateDir (of live ones too when
// includeLive) with the undo functions of reg, records a done record for each entry in its
// run's journal, and returns what it did. See ReplayRun.
func Replay(ctx context.Context, stateDir string, reg *shakedown.Registry, includeLive bool) ([]Result, error) {
	ids, err := runIDs(stateDir)
	if err != nil {
		return nil, err
	}
	RemoveStaleTemps(stateDir)
	var out []Result
	var errs []error
	// Newest run first (run ids sort by time), as a run's own entries go last in, first out.
	for i := len(ids) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindAborted, "replay journals", context.Cause(ctx)))
			break
		}
		res, err := ReplayRun(ctx, stateDir, ids[i], reg, ReplayOptions{IncludeLive: includeLive})
		out = append(out, res...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// ReplayRun replays one run's pending entries, last begun first. The undos of one entry run
// last first, each with its own deadline (shakedown.DefaultRevertWait); its Interrupt undos
// come first, and only while the journal does not say its inject returned. The entry's done
// record says whether all of them succeeded.
//
// A dead run's journal is locked while it is replayed. When nothing is left pending and
// nothing of the file is damaged, the file is removed, so a second replay does nothing.
// A live run is skipped unless opts.IncludeLive. A journal that is not private (package
// internal/private) is refused and nothing in it is carried out.
//
// The error joins every failed undo (KindNotRestored), a damaged journal (ErrCorrupt, also
// KindNotRestored: what was in the damaged part may still be injected), a refused journal
// and any failure to read or write the journal; Results hold each undo's own error.
func ReplayRun(ctx context.Context, stateDir, runID string, reg *shakedown.Registry, opts ReplayOptions) ([]Result, error) {
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	if opts.By == "" {
		opts.By = ByRecover
	}
	path := Path(stateDir, runID)
	op := "replay journal " + path
	f, err := openJournal(stateDir, path, os.O_RDWR|os.O_APPEND)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, private.ErrUnsafe) {
		// Something may still be injected, and nothing here may undo it.
		return nil, shakedown.Wrap(shakedown.KindNotRestored, op, err)
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer f.Close() // drops the lock, if taken

	locked, err := lockWithin(ctx, f, opts.LockWait)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	if !locked && !opts.IncludeLive {
		return nil, nil
	}
	// One replay of a journal at a time, whoever replays: the watchdog, recover, stop. What
	// one replayed, the next reads as done.
	if err := lockReplay(ctx, f); err != nil {
		kind := shakedown.KindInternal
		if ctx.Err() != nil {
			kind = shakedown.KindAborted
		}
		return nil, shakedown.Wrap(kind, op, err)
	}
	if !sameFile(f, path) {
		return nil, nil // replayed and removed meanwhile
	}
	data, err := readAll(f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, runID)
	var errs []error
	if err := damageError(path, rf); err != nil {
		errs = append(errs, err)
	}
	// A last line cut by a crash is marked by a cut record before anything follows it, so
	// that it reads as what it was, not as damage in the middle of the file.
	var cut *record
	if rf.Tail >= 0 {
		cut = &record{Kind: kindCut, Time: time.Now(), Off: rf.Tail}
	}

	var out []Result
	pending := rf.pending()
	left := len(pending)
	// Entries whose inject may not have returned: a request it sent (to a container engine,
	// say) may land after the undo. Their done records wait for a second pass.
	var interrupted []*entry
	done := func(e *entry, failed []error) bool {
		r := &record{Kind: kindDone, Time: time.Now(), ID: e.ID, By: opts.By}
		if err := errors.Join(failed...); err != nil {
			r.Err = err.Error()
			errs = append(errs, err)
		} else {
			left--
		}
		if err := appendRecords(f, cut, r); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
			return false
		}
		cut = nil
		return true
	}
	for i := len(pending) - 1; i >= 0; i-- {
		e := pending[i]
		if !opts.Due.IsZero() && e.Deadline.After(opts.Due) {
			continue
		}
		if ctx.Err() != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindAborted, op, context.Cause(ctx)))
			break
		}
		res, failed := undoEntry(ctx, reg, runID, e, locked)
		out = append(out, res...)
		if !e.Injected && len(failed) == 0 {
			interrupted = append(interrupted, e)
			continue
		}
		if !done(e, failed) {
			break
		}
	}
	if len(interrupted) > 0 {
		// What the interrupted injects had sent on its way has landed by now: undo again.
		t := time.NewTimer(settle)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		for _, e := range interrupted {
			res, failed := undoEntry(ctx, reg, runID, e, locked)
			for i := range res {
				res[i].Again = true
			}
			out = append(out, res...)
			if !done(e, failed) {
				break
			}
		}
	}
	if locked && left == 0 && len(rf.Damaged) == 0 && len(errs) == 0 {
		// Nothing of the dead run is left to undo: forget it.
		if err := os.Remove(path); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
		} else if err := syncDir(RunsDir(stateDir)); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
		}
	}
	return out, errors.Join(errs...)
}

// settle is how long a replay waits before undoing again an entry whose inject had not
// returned when its run died. (A variable for tests.)
var settle = time.Second

// undoEntry carries out e's undos, in the order of shakedown.InOrder. When its run is dead,
// nothing renews what it injected any more: an undo that cannot reach what lapses by itself
// waits for the lapse (shakedown.AwaitLapse).
func undoEntry(ctx context.Context, reg *shakedown.Registry, runID string, e *entry, dead bool) ([]Result, []error) {
	var out []Result
	var failed []error
	for _, u := range shakedown.InOrder(e.Undos, e.Injected) {
		try := func(ctx context.Context) error { return runUndo(ctx, reg, u) }
		var lapsed, err error
		if dead {
			lapsed, err = shakedown.AwaitLapse(ctx, try)
		} else {
			err = try(ctx)
		}
		if err != nil {
			err = shakedown.Wrap(shakedown.KindNotRestored,
				fmt.Sprintf("undo %s of fault %s (run %s, entry %d)", describe(u), e.Fault, runID, e.ID), err)
			failed = append(failed, err)
		}
		out = append(out, Result{RunID: runID, Entry: e.ID, Fault: e.Fault, Undo: u, Err: err, Lapsed: lapsed})
	}
	return out, failed
}

func describe(u shakedown.Undo) string {
	if u.Summary != "" {
		return fmt.Sprintf("%s (%s)", u.Type, u.Summary)
	}
	return u.Type
}

// runUndo carries out one undo on a context of its own deadline.
func runUndo(ctx context.Context, reg *shakedown.Registry, u shakedown.Undo) error {
	fn, ok := reg.Undo(u.Type)
	if !ok {
		return shakedown.Errorf(shakedown.KindInternal, "no undo function for type %q in this binary", u.Type)
	}
	uctx, cancel := context.WithTimeout(ctx, shakedown.DefaultRevertWait)
	defer cancel()
	return fn(uctx, u.Data)
}

// appendRecords writes the records that are not nil at the end of f, in one write, and
// fsyncs it. A cut record begins on a line of its own: it ends the cut line before it.
func appendRecords(f *os.File, rs ...*record) error {
	var buf []byte
	for _, r := range rs {
		if r == nil {
			continue
		}
		line, err := encodeLine(r)
		if err != nil {
			return err
		}
		if r.Kind == kindCut {
			buf = append(buf, '\n')
		}
		buf = append(buf, line...)
	}
	if _, err := f.Write(buf); err != nil {
		return err
	}
	return f.Sync()
}

// lockWithin tries to lock f until it succeeds or wait has passed.
func lockWithin(ctx context.Context, f *os.File, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	pause := 200 * time.Microsecond
	for {
		ok, err := private.TryLock(f)
		if ok || err != nil || !time.Now().Before(deadline) {
			return ok, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, nil
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// RunIDs lists the runs that have a journal in stateDir, sorted (oldest first: run ids sort
// by time).
func RunIDs(stateDir string) ([]string, error) { return runIDs(stateDir) }

func runIDs(stateDir string) ([]string, error) {
	ents, err := os.ReadDir(RunsDir(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "list journals", err)
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), suffix)
		if ok && CheckRunID(id) == nil {
			ids = append(ids, id) // what is not a regular file is refused, by name, when read
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// RemoveStaleTemps removes what Opens that died half way left: temporary files nobody holds
// locked and that are older than staleTemp. Replay calls it.
func RemoveStaleTemps(stateDir string) {
	dir := RunsDir(stateDir)
	if private.CheckOwnDir(dir) != nil {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tmp") || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleTemp {
			continue
		}
		path := dir + string(os.PathSeparator) + name
		f, err := private.Open(path, os.O_RDONLY)
		if err != nil {
			continue
		}
		if ok, _ := private.TryLock(f); ok && sameFile(f, path) {
			os.Remove(path)
		}
		f.Close()
	}
}
