//go:build !unix

package private

import (
	"os"

	"github.com/shakedown-dev/shakedown"
)

// Elsewhere than on Unix there are no owners and modes to check: every check refuses, so
// that nothing trusts a state dir it cannot prove private.

func refuse() error { return shakedown.NeedsLinux("keeping a private state dir") }

func checkParent(string) error { return refuse() }

func checkOwn(string, bool) error { return refuse() }

func checkLink(string) error { return refuse() }

// Open refuses: see above.
func Open(string, int) (*os.File, error) { return nil, refuse() }

// OpenOf refuses: see above.
func OpenOf(string, int, int) (*os.File, error) { return nil, refuse() }

// CheckDirOf refuses: see above.
func CheckDirOf(string, int) error { return refuse() }

// CheckFile refuses: see above.
func CheckFile(*os.File) error { return refuse() }

// NoFollow is 0: this system's opens have no such flag.
const NoFollow = 0

// TryLock refuses: locks are taken with flock(2), which this system has not.
func TryLock(*os.File) (bool, error) { return false, shakedown.NeedsLinux("locking a file") }
