//go:build unix

package cli

import (
	"os"
	"syscall"

	"github.com/shakedown-dev/shakedown"
)

// ownDir reports whether path is a directory (not a link to one) that this user owns.
func ownDir(path string) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return false, shakedown.Wrap(shakedown.KindInternal, "lstat "+path, err)
	}
	return uint32(st.Mode)&syscall.S_IFMT == syscall.S_IFDIR && int(st.Uid) == os.Geteuid(), nil
}
