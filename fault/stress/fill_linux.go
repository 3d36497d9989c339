package stress

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
)

func statFS(dir string) (FSStat, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		kind := shakedown.KindInternal
		if errors.Is(err, unix.ENOENT) {
			kind = shakedown.KindNotFound
		}
		return FSStat{}, shakedown.Wrap(kind, "statfs "+dir, err)
	}
	b := uint64(s.Bsize)
	return FSStat{Total: s.Blocks * b, Free: s.Bfree * b, Avail: s.Bavail * b}, nil
}

func allocate(ctx context.Context, fh *os.File, n int64) error {
	err := unix.Fallocate(int(fh.Fd()), 0, 0, n)
	if err == nil || !(errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)) {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(buf)) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := fh.WriteAt(buf[:min(int64(len(buf)), n-off)], off); err != nil {
			return err
		}
	}
	return fh.Sync()
}
