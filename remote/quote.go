package remote

import (
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Quote returns argv as one command line that a POSIX shell splits back into exactly argv:
// every argument in single quotes, a single quote inside written '\”. Nothing in an
// argument is expanded. An argument holding a NUL byte cannot pass (SSH's command is a C
// string on the host) and is an error, as is an empty argv.
func Quote(argv []string) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", shakedown.Errorf(shakedown.KindInvalid, "empty command")
	}
	var b strings.Builder
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", shakedown.Errorf(shakedown.KindInvalid, "argument %d of %q holds a NUL byte", i, argv[0])
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String(), nil
}
