//go:build !unix

package argv

import (
	"os/exec"
	"syscall"
)

// ownGroup: this system has no process groups to kill; cancelling kills the command alone.
func ownGroup(cmd *exec.Cmd) {}

// killGroup: without process groups, what the command left is left.
func killGroup(cmd *exec.Cmd) {}

// OwnSession: this system has no sessions; the process starts as the starter's child alone.
func OwnSession() *syscall.SysProcAttr { return nil }
