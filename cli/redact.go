package cli

import (
	"io"

	"github.com/shakedown-dev/shakedown"
)

// redactWriter is the last net over what shakedown prints: everything written passes
// through the invocation's Redactor, which knows the secrets of the experiments loaded so
// far and hides any URL's password.
//
// Each Write is redacted on its own, so a secret split across two writes would pass. What
// writes here writes whole lines or frames at once (progress, the verdict line, errors,
// slog records), and the records, events and plans it prints are redacted as values before
// they are formatted, where a line cut to the terminal's width could otherwise cut a secret
// in two.
type redactWriter struct {
	w   io.Writer
	red *shakedown.Redactor
}

func (w redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.red.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// unwrapWriter returns the writer behind a redactWriter, for asking what it is (a
// terminal?).
func unwrapWriter(w io.Writer) io.Writer {
	if rw, ok := w.(redactWriter); ok {
		return rw.w
	}
	return w
}
