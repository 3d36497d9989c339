//go:build unix

package userfile

import (
	"errors"
	"syscall"
)

// openFlags open a FIFO without waiting for a writer (or, to write, a reader), and a terminal
// without making it the controlling one.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY

// noReader tells whether opening a FIFO to write failed for want of a reader.
func noReader(err error) bool { return errors.Is(err, syscall.ENXIO) }
