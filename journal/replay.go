package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Pending is an entry of a journal that no done record says was reverted.
type Pending struct {
	RunID    string
	Entry    int
	Fault    string
	Undos    []shakedown.Undo
	Deadline time.Time
	Live     bool // the run's lock is held: it is still running (or being replayed)

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
// ErrCorrupt when it is damaged) naming it; the pending entries that could be read from it are
// listed all the same, and other files are not affected.
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
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	path := Path(stateDir, runID)
	op := "read journal " + path
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer f.Close()
	live, err := isLive(f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, runID)
	var out []Pending
	for _, e := range rf.pending() {
		out = append(out, Pending{
			RunID: runID, Entry: e.ID, Fault: e.Fault, Undos: e.Undos, Deadline: e.Deadline,
			Live: live, Meta: rf.Meta, Begun: e.Begun, LastErr: e.LastErr, Ended: rf.Ended,
		})
	}
	return out, corruptError(path, rf)
}

// IsLive reports whether run runID has a journal in stateDir whose lock is held: the run (or
// a replay of it) is going on. A run without a journal is not live.
func IsLive(stateDir, runID string) (bool, error) {
	if err := checkRunID(runID); err != nil {
		return false, err
	}
	f, err := os.Open(Path(stateDir, runID))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, shakedown.Wrap(shakedown.KindInternal, "check run "+runID, err)
	}
	defer f.Close()
	live, err := isLive(f)
	return live, shakedown.Wrap(shakedown.KindInternal, "check run "+runID, err)
}

func corruptError(path string, rf *runFile) error {
	if rf.Corrupt == nil {
		return nil
	}
	return shakedown.Wrap(shakedown.KindInternal, "read journal", &CorruptError{Path: path, Err: rf.Corrupt})
}

// CorruptError says which journal file is damaged and how. errors.Is(err, ErrCorrupt) holds.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return e.Path + ": " + ErrCorrupt.Error() + ": " + e.Err.Error()
}
func (e *CorruptError) Unwrap() error        { return e.Err }
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Replay carries out the pending undos of every dead run in stateDir (of live ones too when
// includeLive) with the undo functions of reg, records a done record for each entry in its
// run's journal, and returns what it did. See ReplayRun.
func Replay(ctx context.Context, stateDir string, reg *shakedown.Registry, includeLive bool) ([]Result, error) {
	ids, err := runIDs(stateDir)
	if err != nil {
		return nil, err
	}
	removeStaleTemps(stateDir)
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
// in the order they are listed, each with its own deadline (shakedown.DefaultRevertWait);
// the entry's done record says whether all of them succeeded.
//
// A dead run's journal is locked while it is replayed: a line cut by its crash is cut off,
// and when nothing is left pending (and the file is not corrupt) the file is removed. So a
// second replay does nothing. A live run is skipped unless opts.IncludeLive.
//
// The error joins every failed undo (KindNotRestored), a corrupt journal (ErrCorrupt) and any
// failure to read or write the journal; Results hold each undo's own error.
func ReplayRun(ctx context.Context, stateDir, runID string, reg *shakedown.Registry, opts ReplayOptions) ([]Result, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	if opts.By == "" {
		opts.By = ByRecover
	}
	path := Path(stateDir, runID)
	op := "replay journal " + path
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
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
	if locked && !sameFile(f, path) {
		return nil, nil // replayed and removed meanwhile
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, runID)
	var errs []error
	if err := corruptError(path, rf); err != nil {
		errs = append(errs, err)
	}
	// A cut last line: a dead run's is cut off; beside a live writer, whose line may only be
	// half written yet, a new record follows an empty line, which tells the reader that a
	// bad line before it was cut, and is skipped itself.
	newline := false
	if rf.Torn {
		if locked {
			if err := f.Truncate(rf.Valid); err != nil {
				return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
			}
		} else {
			newline = true
		}
	}

	var out []Result
	pending := rf.pending()
	left := len(pending)
	for i := len(pending) - 1; i >= 0; i-- {
		e := pending[i]
		if !opts.Due.IsZero() && e.Deadline.After(opts.Due) {
			continue
		}
		if ctx.Err() != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindAborted, op, context.Cause(ctx)))
			break
		}
		var failed []error
		for j := len(e.Undos) - 1; j >= 0; j-- { // last first, as the engine does
			u := e.Undos[j]
			err := runUndo(ctx, reg, u)
			if err != nil {
				err = shakedown.Wrap(shakedown.KindNotRestored,
					fmt.Sprintf("undo %s of fault %s (run %s, entry %d)", describe(u), e.Fault, runID, e.ID), err)
				failed = append(failed, err)
			}
			out = append(out, Result{RunID: runID, Entry: e.ID, Fault: e.Fault, Undo: u, Err: err})
		}
		r := &record{Kind: kindDone, Time: time.Now(), ID: e.ID, By: opts.By}
		if err := errors.Join(failed...); err != nil {
			r.Err = err.Error()
			errs = append(errs, err)
		} else {
			left--
		}
		if err := appendLine(f, r, newline); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
			break
		}
		newline = false
	}
	if locked && left == 0 && rf.Corrupt == nil && len(errs) == 0 {
		// Nothing of the dead run is left to undo: forget it.
		if err := os.Remove(path); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
		} else if err := syncDir(RunsDir(stateDir)); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindInternal, op, err))
		}
	}
	return out, errors.Join(errs...)
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

// appendLine writes r at the end of f, after an empty line when newline, and fsyncs it.
func appendLine(f *os.File, r *record, newline bool) error {
	line, err := encodeLine(r)
	if err != nil {
		return err
	}
	if newline {
		line = append([]byte("\n\n"), line...)
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	return f.Sync()
}

// lockWithin tries to lock f until it succeeds or wait has passed.
func lockWithin(ctx context.Context, f *os.File, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	pause := 200 * time.Microsecond
	for {
		ok, err := tryLock(f)
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

// runIDs lists the runs that have a journal in stateDir, sorted.
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
		if ok && e.Type().IsRegular() && checkRunID(id) == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// removeStaleTemps removes what Opens that died half way left: temporary files nobody holds
// locked and that are older than staleTemp.
func removeStaleTemps(stateDir string) {
	dir := RunsDir(stateDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tmp") {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleTemp {
			continue
		}
		path := dir + string(os.PathSeparator) + name
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if ok, _ := tryLock(f); ok && sameFile(f, path) {
			os.Remove(path)
		}
		f.Close()
	}
}
