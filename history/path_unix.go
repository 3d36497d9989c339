//go:build unix

package history

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/private"
)

// sqlitePath applies the state dir's rule (package private) to a SQLite file's path, whoever
// named it: every symbolic link on the way, the file's own included, is owned by this user or
// by root (another user could point it elsewhere at any time), and every folder above the file
// is owned by this user or root and writable by no one else unless it has the sticky bit. A
// path that is a symbolic link to nothing is refused rather than followed: SQLite would create
// the link's target, wherever it points. It returns the file's real path, which the store is
// opened by, so that a link changed afterwards sends it nowhere else.
func sqlitePath(path string) (string, error) {
	refuse := func(err error) error { return shakedown.Wrap(shakedown.KindPermission, "refuse "+path, err) }
	cur, links := path, 0
	for {
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if links > 0 {
				return "", refuse(fmt.Errorf("%w (%s does not exist): not followed, it would create the link's target", ErrDanglingLink, cur))
			}
			break
		}
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() && st.Uid != 0 {
			return "", refuse(fmt.Errorf("%w: %s is owned by uid %d, neither you (uid %d) nor root: they could point it elsewhere", ErrOthersLink, cur, st.Uid, os.Geteuid()))
		}
		if links++; links > 40 {
			return "", refuse(fmt.Errorf("%s: too many symbolic links", path))
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", refuse(err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(cur), target)
		}
		cur = target
	}
	if fi, err := os.Stat(filepath.Dir(cur)); err == nil && !fi.IsDir() {
		return cur, nil // no folder to check: creating it says why
	}
	dir, err := private.Resolve(filepath.Dir(cur))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(cur)), nil
}
