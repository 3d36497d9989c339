//go:build !unix

package hold

import (
	"os"

	"github.com/shakedown-dev/shakedown"
)

const oNoFollow = 0

// tryLock refuses: the registry of held faults is locked with flock(2), which this system
// has not (private.MkdirOwn refuses before it, too).
func tryLock(*os.File) (bool, error) {
	return false, shakedown.NeedsLinux("the registry of held faults")
}
