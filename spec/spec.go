// Package spec reads experiment files: it decodes YAML or JSON into a validated
// *shakedown.Experiment, reporting every problem of a file at once with its file, line,
// column and field path. It also derives the JSON Schema of the file format and the
// parameter documentation of fault types, target kinds and probe types from the same
// *shakedown.Registry, so that validation, schema and catalog cannot drift apart.
package spec

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"slices"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// Problem is one thing wrong with an experiment file.
type Problem struct {
	Pos  shakedown.Pos // where; Line is 0 for a problem of the whole file
	Path string        // the field path, e.g. "faults[1].with.latency"; empty for syntax errors
	Msg  string
}

// Error returns "file:line:col: path: msg".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Pos.String())
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one file, sorted by position. Load returns it wrapped
// in a *shakedown.Error of kind KindInvalid; errors.As gives the list back.
type Problems []Problem

// Error returns one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// redact masks in each message the secrets of x, the part of the file that could be read:
// a problem may quote a value that also stands in a secret field (one --var filled into
// both, say), and the file's secrets are known to no one else before it loads.
func (ps Problems) redact(x *shakedown.Experiment) {
	secrets := x.Secrets()
	if len(secrets) == 0 {
		return
	}
	red := shakedown.NewRedactor(secrets...)
	for i := range ps {
		ps[i].Msg = red.String(ps[i].Msg)
	}
}

// sorted returns ps in file order, each problem once: a node that several checks look at
// may record the same problem (same place, field and message) more than once.
func (ps Problems) sorted() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	seen := make(map[Problem]bool, len(ps))
	return slices.DeleteFunc(ps, func(p Problem) bool {
		if seen[p] {
			return true
		}
		seen[p] = true
		return false
	})
}

// LoadFile reads path and loads it as Load does. Only a regular file is read: a path that
// names a FIFO, a device, a socket or a directory is refused without blocking on it (the
// error wraps userfile.ErrNotRegular), and no more than MaxFileSize bytes are read. Errors
// are of kind KindInvalid.
func LoadFile(path string, vars map[string]string, reg *shakedown.Registry) (*shakedown.Experiment, error) {
	data, err := userfile.Read(path, MaxFileSize)
	switch {
	case errors.Is(err, userfile.ErrTooLarge):
		d := &decoder{file: path}
		d.tooLarge(data)
		return nil, &shakedown.Error{Kind: shakedown.KindInvalid, Err: d.probs}
	case err != nil:
		// The caller names the file; the path error would name it again.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &shakedown.Error{Kind: shakedown.KindInvalid, Err: err}
	}
	return Load(path, data, vars, reg)
}

// Load decodes and validates the experiment file path whose content is data, against the
// fault types, target kinds and probe types of reg. vars fill ${key} in string values;
// "$${" writes a literal "${". The error, when there is one, is a *shakedown.Error of kind
// KindInvalid wrapping the file's Problems; nothing else is returned with it. A file past the
// limits (MaxFileSize, MaxNodes, MaxDepth) is one problem, at the place it went past.
func Load(path string, data []byte, vars map[string]string, reg *shakedown.Registry) (*shakedown.Experiment, error) {
	sum := sha256.Sum256(data)
	if reg == nil {
		reg = shakedown.NewRegistry()
	}
	d := &decoder{file: path, vars: vars, reg: reg}
	src := data
	if isJSON(path, data) {
		src = detab(data)
	}
	x := d.file1(src)
	if len(d.probs) > 0 {
		d.probs = d.probs.sorted()
		d.probs.redact(x)
		return nil, &shakedown.Error{Kind: shakedown.KindInvalid, Err: d.probs}
	}
	x.File = path
	x.SHA256 = hex.EncodeToString(sum[:])
	return x, nil
}

// isJSON reports whether a file is JSON by its name or its first character.
func isJSON(path string, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '{'
}

// detab turns the tabs outside double-quoted strings of a JSON document into spaces. The
// YAML parser counts a tab that starts a line after "{" as no column at all, which shifts the
// positions of the first key; JSON allows no raw tab inside a string, so nothing else
// changes, and columns stay byte columns.
func detab(data []byte) []byte {
	if bytes.IndexByte(data, '\t') < 0 {
		return data
	}
	out := bytes.Clone(data)
	inStr, esc := false, false
	for i, c := range out {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && c == '\t':
			out[i] = ' '
		}
	}
	return out
}
