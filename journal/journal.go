// Package journal is shakedown's write-ahead log of injected faults: before a fault is
// injected, the engine writes and fsyncs how to undo it; after it reverts, it records that.
// When a runner dies, its watchdog or `shakedown recover` replays what is still pending.
//
// Each run has one file, <state dir>/runs/<run id>.jsonl, and holds an exclusive flock(2) on
// it for as long as it lives. The kernel drops that lock when the process dies, however it
// dies, so a file whose lock can be taken belongs to a dead run. Two runs sharing a state dir
// never write each other's files; readers (Scan) never change a file; Replay changes only
// files of dead runs, which it locks first, unless asked to include live ones. Replays of one
// file take turns, whoever makes them (the watchdog, recover, stop), by a lock of their own
// apart from the run's (see lockReplay): what one undid, the next reads as done.
//
// A file is JSON lines, each prefixed with its CRC-32C; run and begin records are written
// twice. The file is only ever appended to, never truncated or rewritten, and it is removed
// only when every entry in it was reverted and nothing of it is damaged. Damage — a line that
// fails its check — never hides the rest: every record that can still be read is read and
// its undos carried out, and the damaged lines are reported by number, with the run, so
// that a person can look; such a file stays. A last line without its newline is a write cut
// by a crash (a begin cut so was never injected): it is ignored, and a replayer marks it with
// a cut record before appending. The run record cannot be cut so: Open names the file only
// once both copies are synced, so a file without them (empty, cut inside its first lines) is
// damage too. See parseRun.
//
// The state dir, runs/ and the files are private to their user (0700, 0600); a journal that
// is not — another user's, or one others could write — is refused by name and never
// replayed: its undos would run commands as whoever replays it (package internal/private).
//
// A run uses it so (the watchdog package guards the run while it lives):
//
//	j, err := journal.Open(stateDir, runID, meta)
//	g, err := watchdog.Start(ctx, exe, []string{"watchdog", "--state-dir", stateDir, "--run", runID}, stateDir, runID)
//	for each fault f:
//		id, err := j.Begin(name, f.Undo(), shakedown.TTL(duration)) // no inject if this fails
//		revert, err := f.Inject(ctx)
//		err = j.Injected(id) // the inject returned: nothing of it runs any more
//		… later, last in first out:
//		err = j.Done(id, revert(revertCtx)) // Done(id, nil) when the inject applied nothing
//	err = g.Stop() // first: the watchdog must never find the journal gone
//	err = j.Close() // KindNotRestored when something is still pending
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

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// Meta says which run a journal belongs to, for people reading Scan's output.
type Meta struct {
	Experiment string    `json:"experiment,omitempty"`
	File       string    `json:"file,omitempty"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	// Start is the runner's start time in clock ticks after boot (package procfs): with PID
	// it names the runner for good, so that a pid handed out again is not taken for it.
	// Zero in journals written before it was kept.
	Start uint64 `json:"start,omitempty"`
	// StopSignal is the signal that makes the runner look for a stop request (`shakedown
	// stop`), "SIGUSR1"; empty when it does not (a signal it does not expect would end it).
	StopSignal string `json:"stop_signal,omitempty"`
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
var ErrCorrupt = errors.New("journal is damaged")

const (
	runsDir  = "runs"
	suffix   = ".jsonl"
	fileMode = 0o600
	// maxSize bounds what is read of a journal file. A run writes a few hundred bytes per
	// fault; a file larger than this is damage, and only its beginning is read.
	maxSize = 64 << 20
)

// (A regexp with {0,127} compiles to 127 copies of its class: thousands of allocations at
// the start of every process, the many short ones a fan-out to hosts starts included.)
var runIDPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
})

// RunsDir returns the folder under stateDir that holds the journal files.
func RunsDir(stateDir string) string { return filepath.Join(stateDir, runsDir) }

// Path returns the journal file of run runID under stateDir.
func Path(stateDir, runID string) string { return filepath.Join(RunsDir(stateDir), runID+suffix) }

// CheckRunID checks that runID can name a journal: letters, digits, '.', '_' or '-', at most 128.
func CheckRunID(runID string) error {
	if !runIDPattern().MatchString(runID) {
		return shakedown.Errorf(shakedown.KindInvalid, "run id %q: want letters, digits, '.', '_' or '-', at most 128", runID)
	}
	return nil
}

// Open creates the journal of run runID under stateDir (creating the folders, mode 0700,
// after checking that the state dir is private: see package internal/private) and takes its
// lock. Meta.PID and Meta.Started default to this process and now, and Meta.Start to this
// process's start time. A journal of the same run
// id that already exists is a KindConflict error. The file only ever appears under its final
// name locked and holding its first record, so a reader never takes a run being opened for a
// dead one.
func Open(stateDir, runID string, meta Meta) (*Journal, error) {
	op := "open journal of run " + runID
	if err := CheckRunID(runID); err != nil {
		return nil, err
	}
	if meta.PID == 0 {
		meta.PID = os.Getpid()
		meta.Start, _ = procfs.StartTime(meta.PID)
	}
	if meta.Started.IsZero() {
		meta.Started = time.Now()
	}
	runs, err := private.MkdirOwn(stateDir, runsDir)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
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
	if locked, err := private.TryLock(f); !locked {
		if err == nil {
			err = fmt.Errorf("lock %s: held by another open file", f.Name())
		}
		return fail(shakedown.KindInternal, err)
	}
	lines, err := encodeTwice(&record{Kind: kindRun, Time: time.Now(), Version: Version, Run: runID, Meta: &meta})
	if err != nil {
		return fail(shakedown.KindInternal, err)
	}
	if _, err := f.Write(lines); err != nil {
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
// carried out last first, take it back; its deadline is now+ttl, after which the watchdog
// undoes it even while the run lives. It returns the entry's id for Injected and Done. Only
// once Begin has returned may the fault be injected.
//
// An undo marked Interrupt stops an inject that may still be running (its processes); it is
// carried out, before the others, only while no Injected record says the inject returned.
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
	if err := j.append(&record{Kind: kindBegin, Time: now, ID: id, Fault: fault, Undos: undos, Deadline: now.Add(ttl)}, true); err != nil {
		return 0, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	j.last = id
	return id, nil
}

// Injected appends and fsyncs that the inject of entry id returned, so that nothing of it
// runs any more: its Interrupt undos are no longer needed.
func (j *Journal) Injected(id int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	op := fmt.Sprintf("journal the inject of entry %d", id)
	if id < 1 || id > j.last {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: no such entry", op)
	}
	return shakedown.Wrap(shakedown.KindInternal, op, j.append(&record{Kind: kindInjected, Time: time.Now(), ID: id}, false))
}

// Guarded appends and fsyncs that the watchdog with process id pid took up guarding the run
// (the first, or one that replaced a watchdog that died).
func (j *Journal) Guarded(pid int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return shakedown.Wrap(shakedown.KindInternal, "journal the watchdog",
		j.append(&record{Kind: kindGuard, Time: time.Now(), PID: pid}, false))
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
	return shakedown.Wrap(shakedown.KindInternal, op, j.append(r, false))
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
	data, err := readAll(j.f)
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

// Holding says whether some entry is not reverted yet: the run holds a fault.
func (j *Journal) Holding() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	data, err := readAll(j.f)
	if err != nil {
		return true // cannot tell: assume the worst
	}
	rf := parseRun(data, j.runID)
	return len(rf.pending()) > 0 || len(rf.Damaged) > 0 // damaged: what was there may be held
}

// Close appends that the run ended and releases the lock. When nothing is left pending (the
// watchdog's records count too) and nothing of the file is damaged, the file is removed;
// otherwise it stays for `shakedown recover` or a person. Close returns an error, of kind
// KindNotRestored, naming what is still pending or damaged.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	op := "close journal of run " + j.runID
	defer j.f.Close()
	if err := j.append(&record{Kind: kindEnd, Time: time.Now()}, false); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	data, err := readAll(j.f)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	rf := parseRun(data, j.runID)
	if err := damageError(j.path, rf); err != nil {
		return shakedown.Wrap(shakedown.KindNotRestored, op, err)
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

// append writes r as one line (two copies when twice) and fsyncs the file. After a failure
// the journal writes nothing more: a later line would follow a cut one.
func (j *Journal) append(r *record, twice bool) error {
	if j.err != nil {
		return j.err
	}
	if j.closed && r.Kind != kindEnd {
		return errors.New("journal is closed")
	}
	encode := encodeLine
	if twice {
		encode = encodeTwice
	}
	line, err := encode(r)
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

// readAll reads f from its start, at most maxSize bytes and one more, so that a file larger
// than maxSize shows as such.
func readAll(f *os.File) ([]byte, error) {
	return io.ReadAll(io.NewSectionReader(f, 0, maxSize+1))
}

// sameFile reports whether path still names the file f is open on.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// syncDir fsyncs a directory, so that the names created or removed in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
