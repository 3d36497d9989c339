package stress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// start runs one stressor in its own process group, moves it into its cgroups, and waits for
// its ready line.
func start(ctx context.Context, exe string, p StressorPlan) (*started, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "pipe", err)
	}
	defer r.Close()
	var stderr strings.Builder
	cmd := exec.Command(exe, append(append([]string(nil), p.Args...), "--ready-fd", "3")...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = &limitedWriter{b: &stderr, n: 4096}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "start stressor", err)
	}
	st := &started{cmd: cmd, exited: make(chan struct{})}
	st.undo.Name = p.Args[3]
	st.undo.PGID = cmd.Process.Pid
	st.undo.StartTime, _ = procfs.StartTime(cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		if err != nil && !killed(err) {
			slog.Warn("stressor exited", "args", strings.Join(p.Args, " "), "err", err, "stderr", stderr.String())
		}
		st.err = err
		close(st.exited)
	}()
	for _, c := range sortedKeys(p.Cgroups) {
		if err := os.WriteFile(filepath.Join(p.Cgroups[c], "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			return st, shakedown.Wrap(fileKind(err), fmt.Sprintf("move stressor into %s cgroup %s", c, p.Cgroups[c]), err)
		}
	}
	ready := make(chan bool, 1)
	go func() {
		buf := make([]byte, len(Ready))
		n, _ := r.Read(buf)
		ready <- string(buf[:n]) == Ready
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-st.exited
			return st, shakedown.Errorf(shakedown.KindInternal, "stressor exited before it was loaded: %w", exitReason(st.err, stderr.String()))
		}
	case <-ctx.Done():
		return st, ctx.Err()
	case <-time.After(30 * time.Second):
		return st, shakedown.Errorf(shakedown.KindInternal, "stressor not loaded within 30s")
	}
	return st, nil
}

// exitReason says why a stressor ended: its exit status or signal (cmd.Wait's error, which it
// wraps) and what it wrote to its standard error. A SIGKILL nobody here sent is most often the
// kernel's OOM killer: a memory stressor holding more than its cgroup (the target's) or the
// machine has left.
func exitReason(waitErr error, stderr string) error {
	if waitErr == nil {
		waitErr = errors.New("exit status 0")
	}
	hint := ""
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			hint = " (out of memory in its cgroup or on the machine, or killed by another process)"
		}
	}
	if s := strings.TrimSpace(stderr); s != "" {
		return fmt.Errorf("%w%s: %s", waitErr, hint, s)
	}
	return fmt.Errorf("%w%s", waitErr, hint)
}

func killed(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

// killGroup kills a stressor's process group if its leader is still the process that was
// started; a group that is gone is success.
func killGroup(u StressorUndo) error {
	if u.PGID <= 1 {
		return nil
	}
	if !procfs.Alive(u.PGID, u.StartTime) {
		// The leader is gone (or the pid reused): members of its group could remain only if
		// they outlived it, which stressors do not, as they have no children.
		return nil
	}
	if err := syscall.Kill(-u.PGID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("kill process group %d", u.PGID), err)
	}
	return nil
}

// removeStressors kills every stressor named u.Name and removes the io files of that name.
func removeStressors(u StressorUndo) error {
	var errs []error
	for _, s := range findStressors() {
		switch {
		case s.name != u.Name:
		case s.pgid == s.pid:
			errs = append(errs, killGroup(StressorUndo{PGID: s.pgid, StartTime: s.start}))
		default: // not a group leader: not started by us as such, so only the process itself
			if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, err)
			}
		}
	}
	if u.Dir != "" {
		matches, _ := filepath.Glob(filepath.Join(u.Dir, u.Name+"_io_*.tmp"))
		for _, m := range matches {
			if err := os.Remove(m); err != nil && !os.IsNotExist(err) {
				errs = append(errs, shakedown.Wrap(shakedown.KindInternal, "remove io file", err))
			}
		}
	}
	return errors.Join(errs...)
}

type found struct {
	name  string // --run
	pid   int
	pgid  int
	start uint64 // of the group leader
}

// findStressors lists running `X stress KIND --run NAME …` processes.
func findStressors() []found {
	pids, err := procfs.PIDs(procfs.Root)
	if err != nil {
		return nil
	}
	var out []found
	for _, pid := range pids {
		args, err := procfs.ReadCmdline(procfs.Root, pid)
		if err != nil {
			continue
		}
		if len(args) < 5 || args[1] != "stress" || args[3] != "--run" {
			continue
		}
		if _, ok := runOf(args[4]); !ok {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		st, err := procfs.StartTime(pgid)
		if err != nil {
			continue
		}
		out = append(out, found{name: args[4], pid: pid, pgid: pgid, start: st})
	}
	return out
}

// limitedWriter keeps the first n bytes written to it in b and drops the rest.
type limitedWriter struct {
	b *strings.Builder
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
