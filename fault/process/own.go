package process

import (
	"debug/buildinfo"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// ownCommands are the shakedown commands whose processes keep runs safe or carry them out: a
// runner (run, and demo, which runs its experiment), a watchdog, serve (its drills run inside
// it), recover and stop (they revert), and the agent a run starts on a host over SSH. Such a
// process is never a target instance, whatever run it belongs to: killing or pausing one
// would leave another run's faults without their runner or their guard. The other commands
// — the proxy daemon, the load generator, a stressor, a demo replica — stand in for or load
// the system under test, and a process fault may act on them like on any other process.
var ownCommands = map[string]bool{
	"run": true, "demo": true, "watchdog": true, "serve": true,
	"recover": true, "stop": true, "remote-agent": true,
}

// mainPackage is the main package of the shakedown binary, as its build information says:
// it names a shakedown binary wherever it was installed and whatever it is called.
const mainPackage = "github.com/shakedown-dev/shakedown/cmd/shakedown"

// ownCommand reports whether argv is that of one of ownCommands: the first argument that is
// neither a flag nor the value of the flag before it. The global flags that take a value
// (--context prod) come before the command, so an argument right after a flag written
// without "=" is looked at and then passed over.
func ownCommand(argv []string) bool {
	afterFlag := false
	for _, a := range argv[min(1, len(argv)):] {
		switch {
		case a == "--":
			return false
		case strings.HasPrefix(a, "-"):
			afterFlag = !strings.Contains(a, "=")
			continue
		case ownCommands[a]:
			return true
		case !afterFlag:
			return false
		}
		afterFlag = false
	}
	return false
}

// fileID names an executable file: its device and inode.
type fileID struct{ dev, ino uint64 }

// ownFinder tells shakedown's own processes (see ownCommands) among those under root. A
// process is one when its command is one of ownCommands and its executable is a shakedown
// binary: the very file this process runs (/proc/PID/exe and /proc/self/exe have one
// device and inode), or any file whose Go build information names shakedown's main package
// (another install, another version). One finder serves one look at the processes.
type ownFinder struct {
	root   string
	self   fileID
	selfOK bool
	builds map[fileID]bool // executables already read: is it a shakedown binary
}

func newOwnFinder(root string) *ownFinder {
	self, ok := statID(filepath.Join(procfs.Root, "self", "exe"))
	return &ownFinder{root: root, self: self, selfOK: ok, builds: map[fileID]bool{}}
}

// own reports whether process pid, whose argv is given, is one of shakedown's own. One whose
// executable cannot be read (another user's, when this one is not root) is not: it cannot
// be signalled either.
func (o *ownFinder) own(pid int, argv []string) bool {
	if !ownCommand(argv) {
		return false
	}
	exe := filepath.Join(o.root, strconv.Itoa(pid), "exe")
	id, ok := statID(exe)
	if !ok {
		return false
	}
	if o.selfOK && id == o.self {
		return true
	}
	is, seen := o.builds[id]
	if !seen {
		bi, err := buildinfo.ReadFile(exe)
		is = err == nil && bi.Path == mainPackage
		o.builds[id] = is
	}
	return is
}
