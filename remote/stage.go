package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/shakedown-dev/shakedown"
)

// stageScript runs on the host as "sh -c stageScript sh MODE SUM NAME". It works in
// /tmp/shakedown-<uid>, a directory of the login user's own (0700; one that is a link or
// belongs to someone else is refused), and prints the staged file's path.
//
//	check: exit 0 when <dir>/<sum[:16]>/NAME is there with SHA-256 SUM, 10 when not; a
//	       marker NAME.ok beside it holds SUM with the size, change time (ctime, which
//	       no one sets back) and inode the file had when its sum was last checked, and
//	       while they hold the file is not hashed again (hashing shakedown's binary on
//	       20 busy hosts took seconds of a run's start)
//	put:   remove the other versions of NAME staged more than 10 minutes ago (a run
//	       stages right before it injects, and a later one stages again what is gone),
//	       write standard input to a temporary file beside it, check its SHA-256 (exit 11
//	       when it differs), make it executable and rename it into place
const stageScript = `set -e
umask 077
command -v sha256sum >/dev/null || { echo "sha256sum is missing (coreutils)" >&2; exit 13; }
base=/tmp/shakedown-$(id -u)
mkdir -p "$base"
if [ -L "$base" ] || [ ! -O "$base" ]; then
	echo "$base is not a directory of $(id -un)'s own" >&2; exit 12
fi
chmod 700 "$base"
dir=$base/$(printf %.16s "$2")
st() { stat -c '%s %z %i' "$1"; }
ok() { printf '%s %s\n' "$2" "$(st "$1")" >"$1.ok.$$" && mv -f "$1.ok.$$" "$1.ok"; }
f=$dir/$3
case $1 in
check)
	if [ -f "$f" ] && [ -f "$f.ok" ] && [ "$(cat "$f.ok")" = "$2 $(st "$f")" ]; then echo "$f"; exit 0; fi
	if [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -c1-64)" = "$2" ]; then ok "$f" "$2"; echo "$f"; exit 0; fi
	exit 10 ;;
put)
	for old in "$base"/*/"$3"; do
		if [ "$old" != "$f" ] && [ -f "$old" ] && [ -n "$(find "$old" -mmin +10 2>/dev/null)" ]; then
			rm -f "$old" "$old.ok"; rmdir "${old%/*}" 2>/dev/null || true
		fi
	done
	mkdir -p "$dir"
	tmp=$f.part.$$
	trap 'rm -f "$tmp"' EXIT
	cat >"$tmp"
	got=$(sha256sum <"$tmp" | cut -c1-64)
	if [ "$got" != "$2" ]; then echo "uploaded copy has SHA-256 $got, want $2" >&2; exit 11; fi
	chmod 700 "$tmp"
	mv -f "$tmp" "$f"
	trap - EXIT
	ok "$f" "$2"
	echo "$f" ;;
esac`

// Stage copies the local file at path to the host, into
// /tmp/shakedown-<uid>/<sha256[:16]>/<base name> (uid: the login user's, not sudo's),
// executable, and returns its path there. It runs as the login user even when the host says
// Sudo: root can run what the user staged, and the user's directory stays the user's. A copy already there whose SHA-256 matches is
// reused without an upload; one that does not (truncated, altered) is replaced. The upload
// is checked with sha256sum on the host before it takes the copy's place. Staged files stay
// on the host for later runs, until another version of the same name is staged: versions
// staged more than 10 minutes before are removed then, so that a host's /tmp does not fill
// up with every build that ever ran there.
func (c *Client) Stage(ctx context.Context, path string) (string, error) {
	op := fmt.Sprintf("stage %s on %s", filepath.Base(path), c.addr)
	sum, err := fileSHA256(path)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	name := filepath.Base(path)
	out, err := c.run(ctx, []string{"sh", "-c", stageScript, "sh", "check", sum, name}, nil, false)
	var ee *ExitError
	switch {
	case err == nil:
		return strings.TrimSpace(string(out.Stdout)), nil
	case !errors.As(err, &ee) || ee.Code != 10:
		return "", shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	defer f.Close()
	out, err = c.run(ctx, []string{"sh", "-c", stageScript, "sh", "put", sum, name}, f, false)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	return strings.TrimSpace(string(out.Stdout)), nil
}

// sums caches the SHA-256 of local files by path, for as long as they are the same file
// (inode) with the same size and modification time: a fan-out stages one binary on many hosts, and hashes it once.
var sums = struct {
	sync.Mutex
	byPath map[string]*sumEntry
}{byPath: map[string]*sumEntry{}}

// sumEntry is one file's cached sum; its lock is held while the file is hashed, so that
// callers staging the same file at once wait for one hash rather than each making their own.
type sumEntry struct {
	sync.Mutex
	fi  os.FileInfo // of the file hashed
	sum string
}

// fileSHA256 returns the hex SHA-256 of the regular file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	sums.Lock()
	e := sums.byPath[path]
	if e == nil {
		e = &sumEntry{}
		sums.byPath[path] = e
	}
	sums.Unlock()

	e.Lock()
	defer e.Unlock()
	// A file rewritten in place with the same size within one tick of its clock keeps a
	// stale sum here; the host's check of the upload then fails rather than stage it.
	if e.fi != nil && os.SameFile(e.fi, fi) && e.fi.Size() == fi.Size() && e.fi.ModTime().Equal(fi.ModTime()) {
		return e.sum, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	e.fi, e.sum = fi, hex.EncodeToString(h.Sum(nil))
	return e.sum, nil
}
