// Package userfile opens the files a user names — experiment files, pidfiles, certificates,
// configuration, reports — without trusting what the name stands for. Only regular files are
// read: a named pipe, a device, a socket or a directory (or a symlink to one) is refused at
// once, without blocking on it, and no more than a given number of bytes is ever read, so
// that neither a FIFO nobody writes to nor /dev/zero can hold a command up or fill its
// memory. A file written to never blocks the opening either: a FIFO nobody reads is refused.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is what Read's error wraps when a path names something other than a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is what Read's error wraps when a file holds more than the bytes allowed.
var ErrTooLarge = errors.New("file too large")

// Read returns the content of the regular file at path, at most max bytes of it.
//
// A path that names anything but a regular file is refused with an *fs.PathError wrapping
// ErrNotRegular that says what it names. The file is opened non-blocking, so a FIFO that
// took the place of a regular file between the check and the open cannot block either.
//
// A file longer than max bytes is refused with an *fs.PathError wrapping ErrTooLarge; the
// data returned with that error is the file's first max bytes, so that a caller can say
// where the limit fell.
func Read(path string, max int64) ([]byte, error) {
	// Stat first: opening a device can have effects of its own (a tape rewinds, a modem
	// line hangs up), so one is never opened at all.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > max {
		return data[:max], &fs.PathError{Op: "read", Path: path, Err: &tooLargeError{max: max}}
	}
	return data, nil
}

// Check refuses path, as Read would, when it names anything but a regular file of at most
// max bytes, without reading it. It is for files another package opens by name.
func Check(path string, max int64) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return notRegular(path, fi.Mode())
	case fi.Size() > max:
		return &fs.PathError{Op: "read", Path: path, Err: &tooLargeError{max: max}}
	}
	return nil
}

func notRegular(path string, m fs.FileMode) error {
	return &fs.PathError{Op: "read", Path: path, Err: &notRegularError{what: Describe(m)}}
}

// Describe says what a file of mode m is, for a message: "a directory", "a named pipe
// (FIFO)"...
func Describe(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file"
}

type notRegularError struct{ what string }

func (e *notRegularError) Error() string        { return e.what + ", not a regular file" }
func (e *notRegularError) Is(target error) bool { return target == ErrNotRegular }

type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string        { return "larger than " + Size(e.max) }
func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Size writes a number of bytes the way limits are documented: "256 KiB", "1 MiB", "100
// bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Create opens the file at path for writing, as os.Create does, or for appending with
// appending set; see Open.
func Create(path string, appending bool) (*os.File, error) {
	if appending {
		return Open(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	}
	return Open(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
}

// Open opens the file at path as os.OpenFile does with flag (and mode 0644 for a file it
// creates), without ever waiting on what path names: a FIFO opened to write that no process
// reads from is refused at once, with an *fs.PathError that says so, instead of blocking
// until one does; a pipe or terminal that has a reader (/dev/stdout, a shell's >(...)) is
// written to as usual. Whoever gets the file closes it.
func Open(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|openFlags, 0o644)
	if err != nil && noReader(err) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errNoReader}
	}
	return f, err
}

var errNoReader = errors.New("a named pipe (FIFO) nobody reads from")
