// Package hold is the machine-wide registry of held faults: which run holds a fault on which
// target instance, so that runs on one machine know each other's. A run claims the instances
// its faults will touch before its baseline; when another live run holds one of them, the
// claim fails, naming that run, and nothing is injected — a second run's revert (a SIGCONT, a
// restored replica count) would otherwise undo the first run's fault in the middle of its
// window. Two runs may hold one instance at once only when both allow it (`share: true` on
// the target) and the fault types of both take back only what they added themselves
// (shakedown.FaultType.Stacks): their own nft table, toxic, stressor or file.
//
// The registry is a folder only its user can write (see internal/private), by default
// /run/shakedown for root, $XDG_RUNTIME_DIR/shakedown (or the temporary folder's
// shakedown-<uid>) for others, or $SHAKEDOWN_RUNTIME_DIR:
//
//	holds/<run id>.json   one file per run that holds instances, written whole (rename)
//	lock                  flock(2)ed while a claim or a release reads and writes
//
// Users' registries are separate, yet their runs may touch one instance (root's pause of a
// process its owner pauses too), so a claim also reads the registries of other users it can
// find (Registry.Peers, DefaultPeers): a run of a user other than root reads root's, which is
// therefore readable by everyone (Registry.Shared: folders 0755, holds 0644, written by root
// alone), and root's run reads every user's under /run/user and the temporary folder. A hold
// in another user's registry is only ever a reason to refuse a claim: it is never pruned,
// released or otherwise acted on, and nothing is undone because of it.
//
// A hold lasts while its run does, and after it for as long as the run's journal still says
// something is injected (the run died; the watchdog or `shakedown recover` has yet to undo
// it): Registry.Live decides. A hold no longer live is removed by the next claim.
package hold

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// Hold is what one run holds.
type Hold struct {
	Run        string    `json:"run"`
	Experiment string    `json:"experiment"`
	File       string    `json:"file,omitempty"`
	StateDir   string    `json:"state_dir"` // absolute: where its journal is
	PID        int       `json:"pid"`       // the runner
	Start      uint64    `json:"start"`     // the runner's start time, so a reused pid is not taken for it
	Since      time.Time `json:"since"`
	Items      []Item    `json:"items"`
	// Journal names the journal under StateDir that keeps these faults when it is not the
	// run's own: a host's agent holds one fault of a run, in a journal of its own. The hold
	// is filed under that name, and the holds of one run never conflict with each other.
	Journal string `json:"journal,omitempty"`
}

// JournalID is the journal that keeps h's faults, and the name h is filed under.
func (h *Hold) JournalID() string {
	if h.Journal != "" {
		return h.Journal
	}
	return h.Run
}

// Item is one fault of a run on one target instance.
type Item struct {
	Key    string `json:"key"`  // the instance's kind and id: "process:1234@98765"
	Name   string `json:"name"` // the instance, for people: "shop-web (pid 1234)"
	Target string `json:"target"`
	Fault  string `json:"fault"`
	Type   string `json:"type"`
	Share  bool   `json:"share,omitempty"`  // the experiment lets other runs hold the instance too
	Stacks bool   `json:"stacks,omitempty"` // the fault type's revert takes back only its own change
}

// Key returns the registry key of a target instance.
func Key(in shakedown.Instance) string { return in.Kind + ":" + in.ID }

// Registry is a folder of holds.
type Registry struct {
	Dir string
	// Shared makes the registry readable by every user (folders 0755, hold files 0644; still
	// written by its owner alone): root's, which the runs of other users read.
	Shared bool
	// Peers returns the registries of other users that a claim reads too, and refuses on a
	// conflict with a live hold in; nil: none. Called on each claim: a user's registry may
	// appear at any time.
	Peers func() []Peer
	// Live says whether a hold of another run still holds: its runner lives, or its journal
	// says something is still injected. nil: every hold is live.
	Live func(h *Hold) bool
	// LockWait bounds the wait for the registry's lock. Default 10s.
	LockWait time.Duration
}

// Peer is another user's registry.
type Peer struct {
	Dir string
	// UID is the user whose registry it is: its folders and hold files must be theirs and
	// writable by no one else, or they are not read (that user's own runs would not use them).
	UID int
}

// RootDir is root's registry, unless SHAKEDOWN_RUNTIME_DIR moves it.
const RootDir = "/run/shakedown"

// Default returns the registry of this user (DefaultDir) with the registries of the other
// users it reads (DefaultPeers); root's is Shared. Live is left to the caller.
func Default(getenv func(string) string) *Registry {
	dir := DefaultDir(getenv)
	return &Registry{Dir: dir, Shared: dir == RootDir && os.Geteuid() == 0, Peers: DefaultPeers(getenv)}
}

// DefaultPeers returns what finds the registries of other users that this user's runs read
// besides their own: for root, every user's at its default place (DefaultDir): /run/user/<uid>/
// shakedown and <temp>/shakedown-<uid> (and /tmp's); for any other user, root's. nil when
// SHAKEDOWN_RUNTIME_DIR is set: a registry moved there stands alone (a test's, a machine's
// of its own).
func DefaultPeers(getenv func(string) string) func() []Peer {
	if getenv("SHAKEDOWN_RUNTIME_DIR") != "" {
		return nil
	}
	if os.Geteuid() != 0 {
		return func() []Peer { return []Peer{{Dir: RootDir, UID: 0}} }
	}
	bases := []string{os.TempDir()}
	if os.TempDir() != "/tmp" {
		bases = append(bases, "/tmp")
	}
	return func() []Peer { return userPeers("/run/user", bases) }
}

// userPeers finds the registries of users other than root at runUser/<uid>/shakedown and
// <base>/shakedown-<uid> for each base.
func userPeers(runUser string, bases []string) []Peer {
	var out []Peer
	add := func(dir, uid string) {
		n, err := strconv.Atoi(uid)
		if err != nil || n <= 0 || strconv.Itoa(n) != uid {
			return
		}
		for _, p := range out {
			if p.Dir == dir {
				return
			}
		}
		out = append(out, Peer{Dir: dir, UID: n})
	}
	if ents, err := os.ReadDir(runUser); err == nil {
		for _, e := range ents {
			add(filepath.Join(runUser, e.Name(), "shakedown"), e.Name())
		}
	}
	for _, base := range bases {
		ents, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if uid, ok := strings.CutPrefix(e.Name(), "shakedown-"); ok {
				add(filepath.Join(base, e.Name()), uid)
			}
		}
	}
	return out
}

// DefaultDir returns the registry folder for this user: $SHAKEDOWN_RUNTIME_DIR, else
// /run/shakedown for root, else $XDG_RUNTIME_DIR/shakedown, else <temp>/shakedown-<uid>.
func DefaultDir(getenv func(string) string) string {
	if d := getenv("SHAKEDOWN_RUNTIME_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return RootDir
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "shakedown")
	}
	return filepath.Join(os.TempDir(), "shakedown-"+strconv.Itoa(os.Geteuid()))
}

const (
	holdsDir = "holds"
	lockName = "lock"
	// maxHold bounds what is read of one hold file; a run's holds take a few KiB.
	maxHold = 1 << 20
)

// Conflict is an instance held by another run that a claim cannot share.
type Conflict struct {
	Mine, Theirs Item
	Holder       *Hold
	// Peer is the other user's registry the hold is in; nil: this user's own.
	Peer *Peer
}

// of says that the instances named (all in c's target, held alike) are held, and why.
func (c Conflict) of(names []string) string {
	verb := "is"
	if len(names) > 1 {
		verb = "are"
	}
	return fmt.Sprintf("%s (target %s) %s %s", words.Some(names, 5), c.Mine.Target, verb, c.held())
}

// held says who holds c's instance and what would let the claim through.
func (c Conflict) held() string {
	h := c.Holder
	s := fmt.Sprintf("held by run %s (experiment %s, pid %d, since %s): its fault %s (%s)",
		h.Run, h.Experiment, h.PID, h.Since.Format(time.TimeOnly), c.Theirs.Fault, c.Theirs.Type)
	if c.Peer != nil {
		s += fmt.Sprintf(", a run of uid %d (registry %s)", c.Peer.UID, c.Peer.Dir)
	}
	switch {
	case h.PID > 0 && !procfs.Alive(h.PID, h.Start):
		s += "; its runner is gone and what it injected is not reverted yet: shakedown recover --state-dir " + h.StateDir
	case !c.Mine.Share || !c.Theirs.Share:
		s += "; wait for it to end, or let both share the target (share: true) if their faults stack"
	case !c.Mine.Stacks:
		s += fmt.Sprintf("; %s cannot share an instance: its revert would undo the other run's fault", c.Mine.Type)
	default:
		s += fmt.Sprintf("; %s cannot share an instance: its revert would undo this run's fault", c.Theirs.Type)
	}
	return s
}

// Describe says what conflicts holds, one sentence per target and way of being held: the
// instances of a fleet held alike by one run's fault are named together, not one by one.
func Describe(conflicts []Conflict) []string {
	var order []string
	groups := map[string][]Conflict{}
	for _, c := range conflicts {
		k := c.Mine.Target + "\x00" + c.held()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	out := make([]string, len(order))
	for i, k := range order {
		g := groups[k]
		names := make([]string, len(g))
		for j, c := range g {
			names[j] = c.Mine.Name
		}
		out[i] = g[0].of(names)
	}
	return out
}

// ErrHeld is wrapped by the error of a claim that conflicts.
var ErrHeld = errors.New("held by another run")

// compatible says whether two runs may hold one instance with these faults at once.
func compatible(a, b Item) bool { return a.Share && b.Share && a.Stacks && b.Stacks }

// Claim registers h unless another live run holds one of its instances in a way they cannot
// share; then it registers nothing and returns a KindConflict error wrapping ErrHeld that
// names every conflict. Holds no longer live are removed on the way. The caller calls
// Release when the run ends with nothing left injected.
func (r *Registry) Claim(h *Hold) error {
	op := "claim the targets of run " + h.Run
	if len(h.Items) == 0 {
		return nil
	}
	unlock, err := r.lock()
	if err != nil {
		return shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	defer unlock()
	conflicts, err := r.conflicts(h, true)
	if err != nil {
		return shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	if len(conflicts) > 0 {
		return heldError(op, conflicts)
	}
	if err := r.write(h); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	// The other users' registries cannot be locked with this one: the hold is written first
	// and they are read after, as a run of theirs does with this registry, so that of two
	// claims at once at least one sees the other. On a conflict the hold goes again.
	conflicts, err = r.peerConflicts(h)
	switch {
	case err != nil:
		err = shakedown.Wrap(shakedown.KindOf(err), op, err)
	case len(conflicts) > 0:
		err = heldError(op, conflicts)
	}
	if err != nil {
		os.Remove(r.path(h.JournalID()))
	}
	return err
}

func heldError(op string, conflicts []Conflict) error {
	return shakedown.Wrap(shakedown.KindConflict, op, fmt.Errorf("%w: %s", ErrHeld, strings.Join(Describe(conflicts), "; ")))
}

// Conflicts returns the conflicts a claim of h would meet now, without claiming (plan).
func (r *Registry) Conflicts(h *Hold) ([]Conflict, error) {
	var out []Conflict
	if _, err := os.Stat(filepath.Join(r.Dir, holdsDir)); !errors.Is(err, fs.ErrNotExist) {
		unlock, err := r.lock()
		if err != nil {
			return nil, err
		}
		out, err = r.conflicts(h, false)
		unlock()
		if err != nil {
			return nil, err
		}
	}
	theirs, err := r.peerConflicts(h)
	return append(out, theirs...), err
}

// Release removes the hold filed under id (its JournalID: the run's id, unless the hold
// names a journal of its own).
func (r *Registry) Release(id string) error {
	unlock, err := r.lock()
	if err != nil {
		return err
	}
	defer unlock()
	err = os.Remove(r.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return shakedown.Wrap(shakedown.KindInternal, "release the targets of "+id, err)
}

// List returns every hold in the registry, live or not, in order of run id.
func (r *Registry) List() ([]*Hold, error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.read()
}

func (r *Registry) path(id string) string { return filepath.Join(r.Dir, holdsDir, id+".json") }

// conflicts reads every hold but h's own and checks h against the live ones; with prune it
// removes the holds no longer live. Called locked.
func (r *Registry) conflicts(h *Hold, prune bool) ([]Conflict, error) {
	holds, err := r.read()
	if err != nil {
		return nil, err
	}
	return r.check(h, holds, nil, prune), nil
}

// check returns the conflicts of h with the live holds of others in holds, found in peer
// (nil: this registry). With prune, and only in this registry, it removes the holds no longer
// live: a hold in another user's registry is never acted on.
func (r *Registry) check(h *Hold, holds []*Hold, peer *Peer, prune bool) []Conflict {
	var out []Conflict
	for _, other := range holds {
		if other.Run == h.Run {
			continue
		}
		if r.Live != nil && !r.Live(other) {
			if prune && peer == nil {
				os.Remove(r.path(other.JournalID()))
			}
			continue
		}
		for _, mine := range h.Items {
			for _, theirs := range other.Items {
				if mine.Key == theirs.Key && !compatible(mine, theirs) {
					out = append(out, Conflict{Mine: mine, Theirs: theirs, Holder: other, Peer: peer})
				}
			}
		}
	}
	return out
}

// peerConflicts checks h against the live holds in the registries of other users (Peers).
func (r *Registry) peerConflicts(h *Hold) ([]Conflict, error) {
	if r.Peers == nil {
		return nil, nil
	}
	var out []Conflict
	var errs []error
	for _, p := range r.Peers() {
		if filepath.Clean(p.Dir) == filepath.Clean(r.Dir) {
			continue
		}
		holds, err := readPeer(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		peer := p
		out = append(out, r.check(h, holds, &peer, false)...)
	}
	if err := errors.Join(errs...); err != nil {
		return out, shakedown.Wrap(shakedown.KindInternal, "read the registries of held faults of other users", err)
	}
	return out, nil
}

// read decodes every hold file. One that cannot be read is an error naming it: it may stand
// for a live run.
func (r *Registry) read() ([]*Hold, error) {
	dir := filepath.Join(r.Dir, holdsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "read the registry of held faults", err)
	}
	var out []*Hold
	var errs []error
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		h, err := readHold(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h.JournalID() != id {
			errs = append(errs, fmt.Errorf("%s holds %q", filepath.Join(dir, e.Name()), h.JournalID()))
			continue
		}
		out = append(out, h)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "read the registry of held faults (a hold that cannot be read may stand for a live run: "+
			"remove it once no other run is live)", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JournalID() < out[j].JournalID() })
	return out, nil
}

// readPeer decodes the holds in another user's registry that can be read. What cannot be
// read, is not that user's alone (p.UID's, writable by no one else), or is damaged is passed
// over: it cannot stand for a run of theirs, whose holds are written whole by rename. Any
// other failure is an error.
func readPeer(p Peer) ([]*Hold, error) {
	dir := filepath.Join(p.Dir, holdsDir)
	for _, d := range []string{p.Dir, dir} {
		if err := private.CheckDirOf(d, p.UID); err != nil {
			if passOver(err) {
				return nil, nil
			}
			return nil, err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if passOver(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Hold
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := private.OpenOf(path, os.O_RDONLY, p.UID)
		if err != nil {
			if passOver(err) {
				continue
			}
			return nil, err
		}
		h, err := decodeHold(f, path)
		f.Close()
		if err != nil || h.JournalID() != id {
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// passOver says whether err is why another user's registry, or a file in it, is not read.
func passOver(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, private.ErrUnsafe)
}

func readHold(path string) (*Hold, error) {
	f, err := private.Open(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeHold(f, path)
}

func decodeHold(f *os.File, path string) (*Hold, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxHold+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxHold {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxHold)
	}
	var h Hold
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the hold", path)
	}
	if h.Run == "" {
		return nil, fmt.Errorf("%s: no run", path)
	}
	return &h, nil
}

// write puts h in place whole: a temporary file renamed over the old one; readable by every
// user when the registry is Shared. What is shown of it for people has the passwords of URLs
// in it hidden, as everywhere (its keys are identities, made without them). Called locked.
func (r *Registry) write(h *Hold) error {
	dir := filepath.Join(r.Dir, holdsDir)
	shown := *h
	shown.Experiment, shown.File = shakedown.RedactURL(h.Experiment), shakedown.RedactURL(h.File)
	shown.Items = make([]Item, len(h.Items))
	for i, it := range h.Items {
		it.Name = shakedown.RedactURL(it.Name)
		shown.Items[i] = it
	}
	b, err := json.MarshalIndent(&shown, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+h.JournalID()+".*")
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if r.Shared {
		mode = 0o644
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), r.path(h.JournalID())); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// lock takes the registry's lock, creating the folders (private) as needed; a Shared
// registry's folders are made readable by everyone (0755), still written by this user alone.
func (r *Registry) lock() (unlock func(), err error) {
	holds, err := private.MkdirOwn(r.Dir, holdsDir)
	if err != nil {
		return nil, err
	}
	if r.Shared {
		for _, d := range []string{r.Dir, holds} {
			if err := os.Chmod(d, 0o755); err != nil {
				return nil, shakedown.Wrap(shakedown.KindInternal, "make "+d+" readable", err)
			}
		}
	}
	path := filepath.Join(r.Dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|private.NoFollow, 0o600)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "open "+path, err)
	}
	if err := private.CheckFile(f); err != nil {
		f.Close()
		return nil, err
	}
	wait := r.LockWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		locked, err := private.TryLock(f)
		if locked {
			return func() { f.Close() }, nil
		}
		if err != nil || time.Now().After(deadline) {
			if err == nil {
				err = errors.New("held by another run")
			}
			f.Close()
			return nil, shakedown.Wrap(shakedown.KindUnavailable, "lock "+path, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
