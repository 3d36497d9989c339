//go:build !linux

package process

import "github.com/shakedown-dev/shakedown"

// Process targets and faults find processes in /proc and signal them through pidfds: Linux.
// Elsewhere the types are registered (validate and plan read them) and resolving a process
// target, preparing a kill or injecting a pause refuses, before anything is injected.
func supported() error {
	return shakedown.NeedsLinux("process targets and faults (/proc, pidfds)")
}
