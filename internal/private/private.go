// Package private checks that the folders and files shakedown trusts — the state dir, its
// journals, the machine-wide registry of held faults — cannot have been written by anyone
// but the user shakedown runs as. A journal says which commands to run to undo a fault; one
// that another user could write is a way for that user to run commands as this one, so it is
// refused, by name and with the reason, and nothing in it is carried out.
//
// The rules (those of OpenSSH's StrictModes, applied to every folder on the way):
//
//   - the state dir and every folder above it are owned by this user or by root, and
//     writable by no one else unless they have the sticky bit (/tmp), where others cannot
//     rename or remove what is not theirs;
//   - the folders shakedown keeps in the state dir (runs/, watchdog/) and the files in them
//     are owned by this user and writable by no one else, whatever the sticky bit;
//   - a file is a regular file, opened without following a symbolic link and without waiting
//     (a FIFO is refused, not waited on).
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shakedown-dev/shakedown"
)

// ErrUnsafe is wrapped by every refusal of this package.
var ErrUnsafe = errors.New("not private")

// uid is the user the checks are made for; tests change it.
var uid = os.Geteuid

// unsafe returns a KindPermission error saying why path is refused.
func unsafe(path, format string, args ...any) error {
	return shakedown.Wrap(shakedown.KindPermission, "refuse "+path,
		fmt.Errorf("%w: "+format, append([]any{ErrUnsafe}, args...)...))
}

// CheckDir checks the state dir dir and every folder above it: each must be owned by this
// user or by root, and writable by no one else unless it has the sticky bit (/tmp), where
// others cannot rename or remove what is not theirs. A dir that does not exist yet is fine
// when the folders above it are: it will be created private. A symbolic link on the way is
// followed, and the folders on the way to its target are checked too. The folders shakedown
// keeps inside it are checked by CheckOwnDir.
func CheckDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "check "+dir, err)
	}
	// The deepest part of the path that exists; the rest will be created by us, private.
	existing := abs
	for {
		_, err := os.Lstat(existing)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return shakedown.Wrap(shakedown.KindPermission, "check "+dir, err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return shakedown.Wrap(shakedown.KindPermission, "check "+dir, err)
	}
	return checkAbove(real)
}

// CheckOwnDir checks a folder shakedown keeps for itself (runs/ in the state dir): owned by
// this user, writable by no one else, not a symbolic link.
func CheckOwnDir(dir string) error { return checkOwn(dir, true) }

// checkAbove checks dir and every folder above it as folders above a private one.
func checkAbove(dir string) error {
	for {
		if err := checkParent(dir); err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// MkdirAll creates the state dir dir and the folders above it that are missing, mode 0700,
// after checking the path with CheckDir.
func MkdirAll(dir string) error {
	if err := CheckDir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "create "+dir, err)
	}
	return CheckDir(dir)
}

// MkdirOwn creates the folder sub of the state dir dir, mode 0700, unless it exists, and
// checks both: dir with CheckDir, sub with CheckOwnDir.
func MkdirOwn(dir, sub string) (string, error) {
	if err := MkdirAll(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, sub)
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", shakedown.Wrap(shakedown.KindInternal, "create "+path, err)
	}
	return path, CheckOwnDir(path)
}
