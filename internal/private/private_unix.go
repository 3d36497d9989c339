//go:build unix

package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
)

func checkParent(dir string) error {
	st, err := lstat(dir)
	if err != nil {
		return shakedown.Wrap(shakedown.KindPermission, "check "+dir, err)
	}
	if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFDIR {
		return unsafe(dir, "not a folder")
	}
	if int(st.Uid) != uid() && st.Uid != 0 {
		return unsafe(dir, "owned by uid %d, neither you (uid %d) nor root", st.Uid, uid())
	}
	if st.Mode&0o022 != 0 && uint32(st.Mode)&syscall.S_ISVTX == 0 {
		return unsafe(dir, "writable by others (mode %04o) without the sticky bit: they could replace what is in it", st.Mode&0o7777)
	}
	return nil
}

// checkLink checks a symbolic link on the way to the state dir: owned by this user or root,
// as the folders on the way must be; another user's link could be pointed elsewhere at any time.
func checkLink(path string) error {
	st, err := lstat(path)
	if err != nil {
		return shakedown.Wrap(shakedown.KindPermission, "check "+path, err)
	}
	if int(st.Uid) != uid() && st.Uid != 0 {
		return unsafe(path, "a symbolic link owned by uid %d, neither you (uid %d) nor root: they could point it elsewhere", st.Uid, uid())
	}
	return nil
}

// checkOwn checks that path is owned by this user and writable by no one else; a folder when
// dir, else a regular file.
func checkOwn(path string, dir bool) error {
	st, err := lstat(path)
	if err != nil {
		return shakedown.Wrap(shakedown.KindPermission, "check "+path, err)
	}
	return checkStat(path, st, dir)
}

func checkStat(path string, st *unix.Stat_t, dir bool) error {
	return checkStatOf(path, st, dir, uid())
}

// checkStatOf checks that st, of path, is a folder (dir) or a regular file of user owner's
// that no one else can write.
func checkStatOf(path string, st *unix.Stat_t, dir bool, owner int) error {
	want, what := uint32(syscall.S_IFREG), "a regular file"
	if dir {
		want, what = syscall.S_IFDIR, "a folder"
	}
	if uint32(st.Mode)&syscall.S_IFMT != want {
		return unsafe(path, "not %s", what)
	}
	if int(st.Uid) != owner {
		if owner == uid() {
			return unsafe(path, "owned by uid %d, not by you (uid %d)", st.Uid, owner)
		}
		return unsafe(path, "owned by uid %d, not by uid %d", st.Uid, owner)
	}
	if st.Mode&0o022 != 0 {
		return unsafe(path, "writable by others (mode %04o)", st.Mode&0o777)
	}
	return nil
}

// CheckDirOf checks that dir is a folder (not a symbolic link) of user owner's that no one
// else can write: a folder of another user's that is read, never trusted to be carried out.
func CheckDirOf(dir string, owner int) error {
	st, err := lstat(dir)
	if err != nil {
		return err
	}
	return checkStatOf(dir, st, true, owner)
}

func lstat(path string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return &st, nil
}

// Open opens the file path for flag (os.O_RDONLY, os.O_RDWR|os.O_APPEND …) without following
// a symbolic link and without blocking on a FIFO, and checks that it is a regular file of
// this user's that no one else can write. A file that does not exist is fs.ErrNotExist.
func Open(path string, flag int) (*os.File, error) { return OpenOf(path, flag, uid()) }

// OpenOf opens the file path as Open does, but for a file of user owner's that no one else
// can write: a file of another user's that is read, never trusted to be carried out.
func OpenOf(path string, flag, owner int) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, unsafe(path, "a symbolic link")
		}
		if errors.Is(err, unix.ENXIO) { // a FIFO with no writer, opened for writing
			return nil, unsafe(path, "not a regular file")
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkStatOf(path, &st, false, owner); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Regular files ignore O_NONBLOCK; clear it all the same, for what reads the file later.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// CheckFile checks an open file as Open does.
func CheckFile(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return checkStat(f.Name(), &st, false)
}

// NoFollow is the open flag that refuses to follow a symbolic link at the path's end.
const NoFollow = unix.O_NOFOLLOW

// TryLock takes an exclusive flock on f without waiting. It returns false, nil when another
// open file (a live run) holds it.
func TryLock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		return false, nil
	default:
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
}
