//go:build unix

package report

import (
	"io"

	"golang.org/x/sys/unix"
)

// terminalWidth returns the width in columns of the terminal w writes to, 0 if w is not
// one.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
