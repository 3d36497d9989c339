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
//     rename or remove what is not theirs; so is every symbolic link on the way to it;
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
	"strings"

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
// when the folders above it are: it will be created private. A symbolic link on the way must
// be owned by this user or by root, as a folder must (another user could point it elsewhere
// at any time); it is followed, and the folders on the way to its target are checked too. The
// folders shakedown keeps inside it are checked by CheckOwnDir.
func CheckDir(dir string) error {
	_, err := Resolve(dir)
	return err
}

// Resolve checks dir as CheckDir does and returns its real path: absolute, every symbolic
// link on the way followed. A run finds its state dir by that path from then on, so that no
// link changed later sends it (or its watchdog) elsewhere.
func Resolve(dir string) (string, error) {
	// Not filepath.Abs: it would take "link/.." for "." (cleaning the path by its text), where
	// the system goes to the folder above the link's target.
	abs := dir
	if !filepath.IsAbs(dir) {
		wd, err := os.Getwd()
		if err != nil {
			return "", shakedown.Wrap(shakedown.KindInvalid, "check "+dir, err)
		}
		abs = wd + string(filepath.Separator) + dir
	}
	real, rest, err := walk(abs)
	if err != nil {
		return "", err
	}
	if err := checkAbove(real); err != nil {
		return "", err
	}
	return filepath.Join(real, rest), nil
}

// maxLinks bounds the symbolic links walk follows, as the kernel's ELOOP does.
const maxLinks = 40

// walk follows the absolute path abs one name at a time, as the kernel does, checking the
// owner of every symbolic link it meets (checkLink). It returns the real path of the deepest
// part that exists and the rest, which does not exist yet.
func walk(abs string) (real, rest string, err error) {
	names := strings.Split(abs, string(filepath.Separator))
	real = string(filepath.Separator)
	links := 0
	for len(names) > 0 {
		name := names[0]
		names = names[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			real = filepath.Dir(real)
			continue
		}
		next := filepath.Join(real, name)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return real, filepath.Join(append([]string{name}, names...)...), nil
		}
		if err != nil {
			return "", "", shakedown.Wrap(shakedown.KindPermission, "check "+abs, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			real = next
			continue
		}
		if err := checkLink(next); err != nil {
			return "", "", err
		}
		if links++; links > maxLinks {
			return "", "", shakedown.Wrap(shakedown.KindPermission, "check "+abs, fmt.Errorf("%s: too many symbolic links", next))
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", "", shakedown.Wrap(shakedown.KindPermission, "check "+abs, err)
		}
		if filepath.IsAbs(target) {
			real = string(filepath.Separator)
		}
		names = append(strings.Split(target, string(filepath.Separator)), names...)
	}
	return real, "", nil
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
