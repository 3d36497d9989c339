// Package journal is shakedown's write-ahead log of injected faults: before a fault is
// injected, the engine writes and fsyncs how to undo it; after it reverts, it records that.
// When a runner dies, its watchdog or `shakedown recover` replays what is still pending.
//
// Each run has one file, <state dir>/runs/<run id>.jsonl, and holds an exclusive flock(2) on
// it for as long as it lives. The kernel drops that lock when the process dies, however it
// dies, so a file whose lock can be taken belongs to a dead run. Two runs sharing a state dir
// never write each other's files; readers (Scan) never change a file; Replay changes only
// files of dead runs, which it locks first, unless asked to include live ones.
//
// A file is JSON lines, each prefixed with its CRC-32C: a line cut by a crash (the last one)
// is ignored, any other bad line makes the file corrupt. A corrupt file is reported with its
// name, and whatever could still be read of it is replayed anyway: undos are idempotent, and
// undoing too much is safer than leaving a fault behind.
//
// A run uses it so (the watchdog package guards the run while it lives):
//
//	j, err := journal.Open(stateDir, runID, meta)
//	g, err := watchdog.Start(exe, []string{"watchdog", "--state-dir", stateDir, "--run", runID}, stateDir, runID)
//	for each fault f:
//		id, err := j.Begin(name, f.Undo(), shakedown.TTL(duration)) // no inject if this fails
//		revert, err := f.Inject(ctx)
//		… later, last in first out:
//		err = j.Done(id, revert(revertCtx)) // Done(id, nil) when the inject applied nothing
//	err = j.Close() // KindNotRestored when something is still pending
//	err = g.Stop()
//
// Undos are idempotent, so an entry may be undone more than once: by the watchdog when its
// deadline passes while the runner still lives, and again by the runner's own revert, which
// then finds nothing to take back. An entry counts as reverted once any done record says so.
package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
)

// Meta says which run a journal belongs to, for people reading Scan's output.
type Meta struct {
	Experiment string    `json:"experiment,omitempty"`
	File       string    `json:"file,omitempty"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
}

// Journal is the journal of one live run. Its methods are safe for concurrent use. The run
// must Close it; until then (or until the process dies) it holds the file's lock.
type Journal struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	runID  string
	last   int   // the id of the last entry begun; entries are 1 … last
	err    error // sticky: after a failed write nothing more is written
	closed bool
}

// ErrCorrupt is wrapped by errors about journal files that cannot be fully read.
var ErrCorrupt = errors.New("journal is corrupt")

const (
	runsDir  = "runs"
	suffix   = ".jsonl"
	fileMode = 0o600
	dirMode  = 0o700
)

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// RunsDir returns the folder under stateDir that holds the journal files.
func RunsDir(stateDir string) string { return filepath.Join(stateDir, runsDir) }

// Path returns the journal file of run runID under stateDir.
func Path(stateDir, runID string) string { return filepath.Join(RunsDir(stateDir), runID+suffix) }

func checkRunID(runID string) error {
	if !runIDPattern.MatchString(runID) {
		return shakedown.Errorf(shakedown.KindInvalid, "run id %q: want letters, digits, '.', '_' or '-', at most 128", runID)
	}
	return nil
}

// Open creates the journal of run runID under stateDir (creating the folders, mode 0700) and
// takes its lock. Meta.PID and Meta.Started default to this process and now. A journal of the
// same run id that already exists is a KindConflict error. The file only ever appears under
// its final name locked and holding its first record, so a reader never takes a run being
// opened for a dead one.
func Open(stateDir, runID string, meta Meta) (*Journal, error) {
	op := "open journal of run " + runID
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	if meta.PID == 0 {
		meta.PID = os.Getpid()
	}
	if meta.Started.IsZero() {
		meta.Started = time.Now()
	}
	runs := RunsDir(stateDir)
	if err := os.MkdirAll(runs, dirMode); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	final := Path(stateDir, runID)
	if _, err := os.Lstat(final); err == nil {
		return nil, shakedown.Wrap(shakedown.KindConflict, op, fmt.Errorf("%s exists", final))
	}
	f, err := os.CreateTemp(runs, "."+runID+".*.tmp")
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	fail := func(kind shakedown.Kind, err error) (*Journal, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, shakedown.Wrap(kind, op, err)
	}
	if err := f.Chmod(fileMode); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(shakedown.KindInternal, fmt.Errorf("lock %s: %w", f.Name(), err))
	}
	line, err := encodeLine(&record{Kind: kindRun, Time: time.Now(), Version: Version, Run: runID, Meta: &meta})
	if err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if _, err := f.Write(line); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if err := f.Sync(); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if err := renameNoReplace(f.Name(), final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fail(shakedown.KindConflict, fmt.Errorf("%s exists", final))
		}
		return fail(shakedown.KindInternal, err)
	}
	// Every later record is one write at the end of the file, which Linux never interleaves
	// with another process's append (the watchdog's, say). The descriptor is close-on-exec,
	// so no child process inherits the lock.
	if err := setAppend(f); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if err := syncDir(runs); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if err := syncDir(stateDir); err != nil {
		return fail(shakedown.KindInternal, err)
	}
	return &Journal{f: f, path: final, runID: runID}, nil
}

// RunID returns the id of the journal's run.
func (j *Journal) RunID() string { return j.runID }

// Path returns the journal's file.
func (j *Journal) Path() string { return j.path }

// Begin appends and fsyncs an entry (the directory entry of the file was made durable by
// Open) saying that fault is about to be injected and that undos,
// carried out in order, take it back; its deadline is now+ttl, after which the watchdog
// undoes it even while the run lives. It returns the entry's id for Done. Only once Begin has
// returned may the fault be injected.
func (j *Journal) Begin(fault string, undos []shakedown.Undo, ttl time.Duration) (int, error) {
	op := "journal " + fault
	if ttl <= 0 {
		return 0, shakedown.Errorf(shakedown.KindInvalid, "%s: ttl %v is not positive", op, ttl)
	}
	for _, u := range undos {
		if u.Type == "" {
			return 0, shakedown.Errorf(shakedown.KindInvalid, "%s: undo without a type", op)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	id := j.last + 1
	if err := j.append(&record{Kind: kindBegin, Time: now, ID: id, Fault: fault, Undos: undos, Deadline: now.Add(ttl)}); err != nil {
		return 0, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	j.last = id
	return id, nil
}

// Done appends and fsyncs that entry id was reverted (revertErr nil) or that reverting it
// failed, in which case it stays pending for the watchdog or `shakedown recover`.
func (j *Journal) Done(id int, revertErr error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	op := fmt.Sprintf("journal revert of entry %d", id)
	if id < 1 || id > j.last {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: no such entry", op)
	}
	r := &record{Kind: kindDone, Time: time.Now(), ID: id, By: ByRunner}
	if revertErr != nil {
		r.Err = revertErr.Error()
	}
	return shakedown.Wrap(shakedown.KindInternal, op, j.append(r))
}

// RevertedBy says whether entry id is reverted and who did it first (ByRunner, ByWatchdog
// when its deadline passed, ByRecover) and when: a run calls it after its own revert to tell
// whether the watchdog got there first.
func (j *Journal) RevertedBy(id int) (by string, at time.Time, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return "", time.Time{}, false
	}
	data, err := io.ReadAll(io.NewSectionReader(j.f, 0, 1<<62))
	if err != nil {
		return "", time.Time{}, false
	}
	for _, e := range parseRun(data, j.runID).Entries {
		if e.ID == id && e.Reverted {
			return e.RevertedBy, e.RevertedAt, true
		}
	}
	return "", time.Time{}, false
}

// Close appends that the run ended and releases the lock. When nothing is left pending (the
// watchdog's records count too) the file is removed; otherwise it stays for `shakedown
// recover`. Close returns an error, of kind KindNotRestored, naming what is still pending.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	op := "close journal of run " + j.runID
	defer j.f.Close()
	if err := j.append(&record{Kind: kindEnd, Time: time.Now()}); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	data, err := io.ReadAll(io.NewSectionReader(j.f, 0, 1<<62))
	if err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, j.runID)
	if rf.Corrupt != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, &CorruptError{Path: j.path, Err: rf.Corrupt})
	}
	if p := rf.pending(); len(p) > 0 {
		return shakedown.Errorf(shakedown.KindNotRestored, "%s: %d fault(s) still pending, first %q (entry %d); run `shakedown recover`", op, len(p), p[0].Fault, p[0].ID)
	}
	// Removed while still locked, so that no reader takes it for a dead run's.
	if err := os.Remove(j.path); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	return shakedown.Wrap(shakedown.KindInternal, op, syncDir(filepath.Dir(j.path)))
}

// append writes r as one line and fsyncs the file. After a failure the journal writes
// nothing more: a later line would follow a cut one.
func (j *Journal) append(r *record) error {
	if j.err != nil {
		return j.err
	}
	if j.closed && r.Kind != kindEnd {
		return errors.New("journal is closed")
	}
	line, err := encodeLine(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(line); err != nil {
		j.err = fmt.Errorf("write %s: %w", j.path, err)
		return j.err
	}
	if err := j.f.Sync(); err != nil {
		j.err = fmt.Errorf("sync %s: %w", j.path, err)
		return j.err
	}
	return nil
}
