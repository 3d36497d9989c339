//go:build !linux

package load

import (
	"context"
	"time"
)

// runLoop reports false: the event loop is Linux's (loop_linux.go); runOpen sends.
func (g *Generator) runLoop(context.Context, time.Time) bool { return false }
