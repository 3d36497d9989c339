// Package process is shakedown's process fault family: the `process` target kind, which
// finds running processes by pid, pidfile, name or command line, and the faults that act on
// them — process.kill (a signal, with an optional restart as its revert) and process.pause
// (SIGSTOP, reverted by SIGCONT).
//
// A process is named by its pid and its start time (field 22 of /proc/PID/stat), so a pid
// the kernel hands to another process later is never signalled. Everything here reads the
// Linux proc filesystem.
package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// Kind is the name of the target kind.
const Kind = "process"

// Register adds the process target kind, the process.kill and process.pause fault types and
// their undo types to r.
func Register(r *shakedown.Registry) {
	r.AddTarget(shakedown.TargetKind{
		Name:    Kind,
		Summary: "running processes on this machine, by pid, pidfile, name or command line",
		Params:  func() any { return &Selector{} },
		Resolve: func(ctx context.Context, _ shakedown.Env, params any) ([]shakedown.Instance, error) {
			sel, err := shakedown.ParamsAs[Selector](params, "process target")
			if err != nil {
				return nil, err
			}
			return sel.Resolve(ctx)
		},
	})
	r.AddFault(killType)
	r.AddFault(pauseType)
	r.AddUndo(UndoSignal, undoSignal)
	r.AddUndo(UndoRestart, undoRestart)
}

// Selector is the parameter set of the process target: exactly one of its fields.
type Selector struct {
	PID     int    `json:"pid,omitempty" doc:"the process with this pid"`
	PIDFile string `json:"pidfile,omitempty" doc:"the process whose pid this file holds"`
	Name    string `json:"name,omitempty" doc:"processes whose command name (/proc/PID/comm) or argv[0] base name is exactly this"`
	Cmdline string `json:"cmdline,omitempty" doc:"processes whose command line, arguments joined by spaces, matches this Go regexp"`
}

// Validate checks that exactly one way of finding processes is given.
func (s *Selector) Validate() error {
	n := 0
	for _, set := range []bool{s.PID != 0, s.PIDFile != "", s.Name != "", s.Cmdline != ""} {
		if set {
			n++
		}
	}
	var errs shakedown.FieldErrors
	if n != 1 {
		errs.Whole("process target: give exactly one of pid, pidfile, name, cmdline (got %d)", n)
	}
	if s.PID < 0 {
		errs.Add("pid", "%d is not a process id", s.PID)
	}
	if s.Cmdline != "" {
		if _, err := regexp.Compile(s.Cmdline); err != nil {
			errs.AddErr("cmdline", -1, err)
		}
	}
	return errs.Err()
}

// String describes the selector as people read it: "name=shop-web".
func (s Selector) String() string {
	switch {
	case s.PID != 0:
		return "pid=" + strconv.Itoa(s.PID)
	case s.PIDFile != "":
		return "pidfile=" + s.PIDFile
	case s.Name != "":
		return "name=" + s.Name
	default:
		return "cmdline=" + s.Cmdline
	}
}

// Proc is one resolved process; it is the Ref of the instances the process target resolves to.
type Proc struct {
	PID       int
	StartTime uint64
	Comm      string
	Cmdline   []string
	Selector  Selector // how it was found, so a restart can tell whether it came back
}

// ID returns the instance id "<pid>@<starttime>".
func (p Proc) ID() string { return fmt.Sprintf("%d@%d", p.PID, p.StartTime) }

// Label returns the name people read: "shop-web (pid 1234)".
func (p Proc) Label() string { return fmt.Sprintf("%s (pid %d)", p.Comm, p.PID) }

// ParseID reads an instance id "<pid>@<starttime>".
func ParseID(id string) (pid int, start uint64, err error) {
	a, b, ok := strings.Cut(id, "@")
	if ok {
		pid, err = strconv.Atoi(a)
		if err == nil && pid > 0 {
			start, err = strconv.ParseUint(b, 10, 64)
			if err == nil {
				return pid, start, nil
			}
		}
	}
	return 0, 0, shakedown.Errorf(shakedown.KindInvalid, "process id %q: want <pid>@<starttime>", id)
}

// Resolve finds the processes the selector stands for now, in pid order. It never returns
// the calling process, pid 1, kernel threads, zombies or shakedown's own processes (any
// run's runner or watchdog, serve, a remote agent: see ownCommands). Finding none is not an
// error, unless the selector matched only shakedown's own processes (KindNotFound, saying
// so); a missing or unreadable pidfile is (KindNotFound), and so is a bad regexp
// (KindInvalid).
func (s *Selector) Resolve(ctx context.Context) ([]shakedown.Instance, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	procs, own, err := s.find(ctx, procfs.Root)
	if err != nil {
		return nil, err
	}
	if len(procs) == 0 && len(own) > 0 {
		names := make([]string, len(own))
		for i, p := range own {
			names[i] = p.Label()
		}
		return nil, shakedown.Errorf(shakedown.KindNotFound,
			"process target %s matches only shakedown's own processes (%s): runners, watchdogs, serve and remote agents are never targets",
			s, strings.Join(names, ", "))
	}
	out := make([]shakedown.Instance, len(procs))
	for i, p := range procs {
		out[i] = instance(procfs.Root, p)
	}
	return out, nil
}

// find returns the processes under root that s selects, and apart the ones it matched that
// are shakedown's own (see ownFinder), which it leaves out.
func (s *Selector) find(ctx context.Context, root string) (procs, own []Proc, err error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	self := os.Getpid()
	owns := newOwnFinder(root)
	switch {
	case s.PID != 0 || s.PIDFile != "":
		pid := s.PID
		if s.PIDFile != "" {
			var err error
			if pid, err = readPIDFile(s.PIDFile); err != nil {
				return nil, nil, err
			}
		}
		st, err := procfs.ReadStat(root, pid)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, shakedown.Wrap(shakedown.KindInternal, "resolve process "+s.String(), err)
		}
		if excluded(st, self) {
			return nil, nil, nil
		}
		argv, _ := procfs.ReadCmdline(root, pid)
		p := Proc{PID: pid, StartTime: st.StartTime, Comm: st.Comm, Cmdline: argv, Selector: *s}
		if owns.own(pid, argv) {
			return nil, []Proc{p}, nil
		}
		return []Proc{p}, nil, nil
	}

	var re *regexp.Regexp
	if s.Cmdline != "" {
		re = regexp.MustCompile(s.Cmdline) // Validate compiled it
	}
	all, err := procfs.PIDs(root)
	if err != nil {
		return nil, nil, shakedown.Wrap(shakedown.KindInternal, "list processes", err)
	}
	for _, pid := range all {
		if err := ctx.Err(); err != nil {
			return nil, nil, shakedown.Wrap(shakedown.KindAborted, "resolve process "+s.String(), err)
		}
		if pid == self || pid == 1 {
			continue
		}
		st, err := procfs.ReadStat(root, pid)
		if err != nil || excluded(st, self) {
			continue // gone since the listing, or not ours to touch
		}
		argv, _ := procfs.ReadCmdline(root, pid)
		switch {
		case re != nil:
			if len(argv) == 0 || !re.MatchString(strings.Join(argv, " ")) {
				continue
			}
		case st.Comm != s.Name:
			if len(argv) == 0 || filepath.Base(argv[0]) != s.Name {
				continue
			}
		}
		p := Proc{PID: pid, StartTime: st.StartTime, Comm: st.Comm, Cmdline: argv, Selector: *s}
		if owns.own(pid, argv) {
			own = append(own, p)
			continue
		}
		procs = append(procs, p)
	}
	return procs, own, nil
}

// excluded reports whether a process is never a target: shakedown itself, init, a kernel
// thread or a zombie. Shakedown's other processes are told by an ownFinder, once a
// selector matched them: that reads more of each.
func excluded(st procfs.Stat, self int) bool {
	return st.PID == self || st.PID == 1 || st.KernelThread() || st.Dead()
}

// maxPIDFile is the most of a pidfile read: a pid and a newline, with room to spare.
const maxPIDFile = 4096

func readPIDFile(path string) (int, error) {
	// A pidfile is named by the experiment: only a regular file is read, a little of it.
	b, err := userfile.Read(path, maxPIDFile)
	if err != nil {
		return 0, shakedown.Wrap(shakedown.KindNotFound, "read pidfile", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, shakedown.Errorf(shakedown.KindNotFound, "pidfile %s holds no pid: %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

func instance(root string, p Proc) shakedown.Instance {
	attrs := map[string]string{
		"pid":       strconv.Itoa(p.PID),
		"starttime": strconv.FormatUint(p.StartTime, 10),
		"comm":      p.Comm,
		"cmdline":   strings.Join(p.Cmdline, " "),
		"selector":  p.Selector.String(),
	}
	for k, v := range procfs.ReadCgroups(root, p.PID) {
		attrs[k] = v
	}
	return shakedown.Instance{Kind: Kind, ID: p.ID(), Name: p.Label(), Attrs: attrs, Ref: p}
}

// procOf returns the process an instance stands for: its Ref when the process target made
// it, else what its ID and attributes say.
func procOf(inst shakedown.Instance) (Proc, error) {
	switch r := inst.Ref.(type) {
	case Proc:
		return r, nil
	case *Proc:
		if r != nil {
			return *r, nil
		}
	}
	if inst.Kind != Kind {
		return Proc{}, shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s, not a process", inst.Name, inst.Kind)
	}
	pid, start, err := ParseID(inst.ID)
	if err != nil {
		return Proc{}, err
	}
	p := Proc{PID: pid, StartTime: start, Comm: inst.Attrs["comm"]}
	if p.Comm == "" {
		p.Comm = "pid " + strconv.Itoa(pid)
	}
	if sel, ok := parseSelector(inst.Attrs["selector"]); ok {
		p.Selector = sel
	}
	return p, nil
}

// parseSelector reads what Selector.String writes.
func parseSelector(s string) (Selector, bool) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || v == "" {
		return Selector{}, false
	}
	var sel Selector
	switch k {
	case "pid":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Selector{}, false
		}
		sel.PID = n
	case "pidfile":
		sel.PIDFile = v
	case "name":
		sel.Name = v
	case "cmdline":
		sel.Cmdline = v
	default:
		return Selector{}, false
	}
	return sel, sel.Validate() == nil
}

// supported says whether this system carries process targets and faults. They find
// processes in /proc and signal them through pidfds: Linux. Elsewhere the types are
// registered (validate and plan read them) and resolving a process target, preparing a kill
// or injecting a pause refuses, before anything is injected.
func supported() error {
	return shakedown.RequireLinux("process targets and faults (/proc, pidfds)")
}
