//go:build unix

package argv

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own and makes cancelling it kill the whole
// group, so that a command's children do not outlive it.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killGroup kills what is left of the process group of cmd, which has ended: the
// children it left. The group's id is not given to another process while a member of it
// lives.
func killGroup(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// OwnSession is the attribute that starts a process in a session of its own, so that a
// signal to the starter's process group (Ctrl-C, a CI cancel) does not reach it and it
// outlives the starter.
func OwnSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
