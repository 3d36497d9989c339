// Package procfstest builds /proc files for tests of code that reads them.
package procfstest

import (
	"fmt"
	"strings"
)

// StatLine builds a /proc/PID/stat line with the given fields and zeros elsewhere.
func StatLine(pid int, comm string, state byte, ppid, session int, flags, start uint64) string {
	f := make([]string, 52-2) // fields 3..52
	for i := range f {
		f[i] = "0"
	}
	f[0] = string(state) // field 3
	f[4-3] = fmt.Sprint(ppid)
	f[6-3] = fmt.Sprint(session)
	f[9-3] = fmt.Sprint(flags)
	f[22-3] = fmt.Sprint(start)
	return fmt.Sprintf("%d (%s) %s\n", pid, comm, strings.Join(f, " "))
}
