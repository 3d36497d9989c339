//go:build unix

package history

import (
	"os"
	"syscall"

	"github.com/shakedown-dev/shakedown"
)

// flockFile takes an exclusive flock of path, waiting for it, and returns its release. SQLite
// locks with fcntl, which is independent of flock, so holding it does not stop SQLite itself.
func flockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, shakedown.Errorf(kindOfFSError(err), "lock for migration: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, shakedown.Errorf(shakedown.KindInternal, "lock for migration: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
