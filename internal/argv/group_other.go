//go:build !unix

package argv

import "os/exec"

// ownGroup: this system has no process groups to kill; cancelling kills the command alone.
func ownGroup(cmd *exec.Cmd) {}
