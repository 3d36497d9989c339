//go:build !unix

package testenv

import "os"

// syscallSIGCONT: this system has no SIGCONT; a kill is sent instead.
var syscallSIGCONT = os.Kill
