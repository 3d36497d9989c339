//go:build !linux

package journal

import (
	"context"
	"os"

	"github.com/shakedown-dev/shakedown"
)

// The journal's file operations (renameat2, flock and open-file-description locks) are
// Linux's; elsewhere each refuses, and no run gets as far as injecting without a journal.

func refuse() error { return shakedown.NeedsLinux("the run journal") }

func renameNoReplace(string, string) error { return refuse() }

func setAppend(*os.File) error { return refuse() }

func isLive(*os.File) (bool, error) { return false, refuse() }

func lockReplay(context.Context, *os.File) error { return refuse() }
