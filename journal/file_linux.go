//go:build linux

package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to, failing with an error that wraps os.ErrExist when to
// exists.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The file system cannot do it in one step: a hard link fails as well when to exists.
		if err = os.Link(from, to); err == nil {
			return os.Remove(from)
		}
		return err
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// setAppend makes every write through f go to the end of the file.
func setAppend(f *os.File) error {
	fd := int(f.Fd())
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("fcntl %s: %w", f.Name(), err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_APPEND); err != nil {
		return fmt.Errorf("fcntl %s: %w", f.Name(), err)
	}
	return nil
}

// isLive reports whether a run holds the lock on f, by trying a shared lock (which other
// readers may hold at once) and dropping it again.
func isLive(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	switch {
	case err == nil:
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		return true, nil
	default:
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
}

// lockReplay takes the replay lock of the journal open in f, waiting as long as ctx lets it:
// an exclusive open-file-description lock (fcntl F_OFD_SETLK) on the file's first byte. It is
// apart from the flock(2) that says a run is live (Linux keeps the two kinds apart), so that a
// replay of a live run (the watchdog's, stop's) and one of a dead run, which holds the flock,
// still take turns. Closing f releases it. It fails when ctx ends first.
func lockReplay(ctx context.Context, f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
	pause := 200 * time.Microsecond
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES):
			return fmt.Errorf("lock %s for replay: %w", f.Name(), err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for another replay of %s: %w", f.Name(), context.Cause(ctx))
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}
