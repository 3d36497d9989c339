package dashboard

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// MaxTokenFile is the most a token file may hold.
const MaxTokenFile = 4096

// ReadToken reads a token from the file at path: its content with surrounding white space
// trimmed. A file that cannot be read, is not a regular file, is empty or holds more than a
// token (white space or control characters within it) is refused (KindInvalid).
func ReadToken(path string) (string, error) {
	b, err := userfile.Read(path, MaxTokenFile)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInvalid, "read token file", err)
	}
	tok, err := ParseToken(b)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInvalid, "token file "+path, err)
	}
	return tok, nil
}

// ParseToken is a token file's content as a token: trimmed of surrounding white space, not
// empty, valid UTF-8, with no white space or control character within.
func ParseToken(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "", errors.New("it is empty: write a token in it (for example: openssl rand -hex 32 > FILE)")
	case !utf8.Valid(b):
		return "", errors.New("it is not UTF-8 text")
	}
	for i, r := range string(b) {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", fmt.Errorf("it holds more than one token: white space or a control character at byte %d", i)
		}
	}
	return string(b), nil
}

// tokenEqual compares a presented token with the one expected in constant time, whatever
// their lengths (both are hashed first). An empty expected token matches nothing.
func tokenEqual(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
