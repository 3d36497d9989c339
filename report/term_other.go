//go:build !unix

package report

import "io"

// terminalWidth returns 0: the width is not known here.
func terminalWidth(io.Writer) int { return 0 }
