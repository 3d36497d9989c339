//go:build !unix

package cli

import "github.com/shakedown-dev/shakedown"

// ownDir refuses: a remote agent injects faults on its own host, which needs Linux.
func ownDir(string) (bool, error) { return false, shakedown.NeedsLinux("the remote agent") }
