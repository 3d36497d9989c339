package spec

import (
	"errors"
	"io/fs"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// Doc is a file of another kind than an experiment (a schedule of drills, say), read the way
// experiment files are: YAML or JSON within the same limits (MaxFileSize, MaxNodes,
// MaxDepth, aliases), anchors and merge keys followed, duplicate and unknown keys refused,
// and every problem kept with its line, column and field path, so that its reader reports
// them all at once. The reader walks the file's values itself, field by field; ${vars} are
// not expanded.
type Doc struct {
	d    *decoder
	root ast.Node // nil when the file could not be parsed
}

// Value is one value of a Doc, with its place in the file.
type Value struct {
	doc  *Doc
	n    ast.Node
	path string
}

// Field is one key of a mapping and its value.
type Field struct {
	Key   string
	Value Value
	key   ast.Node
}

// ReadDoc reads the file at path as userfile.Read does (a regular file only, at most
// MaxFileSize bytes) and parses it as a Doc of what (a noun, for messages: "schedule"). A
// file too large is a Doc with one problem, where the limit fell; a file that cannot be read
// is an error of kind KindInvalid.
func ReadDoc(path, what string) (*Doc, error) {
	data, err := userfile.Read(path, MaxFileSize)
	switch {
	case errors.Is(err, userfile.ErrTooLarge):
		d := &decoder{file: path, what: what}
		d.tooLarge(data)
		return &Doc{d: d}, nil
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the caller names the file
		}
		return nil, &shakedown.Error{Kind: shakedown.KindInvalid, Err: err}
	}
	return ParseDoc(path, what, data), nil
}

// ParseDoc parses data, the content of the file path, as a Doc of what.
func ParseDoc(path, what string, data []byte) *Doc {
	d := &decoder{file: path, what: what}
	src := data
	if isJSON(path, data) {
		src = detab(data)
	}
	return &Doc{d: d, root: d.parse(src)}
}

// Root is the file's top value; ok is false when the file could not be parsed (its problems
// say why).
func (doc *Doc) Root() (v Value, ok bool) {
	return Value{doc: doc, n: doc.root}, doc.root != nil
}

// Problems returns every problem recorded so far, sorted by position; nil when there is none.
func (doc *Doc) Problems() Problems {
	if len(doc.d.probs) == 0 {
		return nil
	}
	doc.d.probs = doc.d.probs.sorted()
	return doc.d.probs
}

// Err returns the Problems as an error of kind KindInvalid, or nil when there is none.
func (doc *Doc) Err() error {
	if ps := doc.Problems(); ps != nil {
		return &shakedown.Error{Kind: shakedown.KindInvalid, Err: ps}
	}
	return nil
}

// Path is the value's field path ("drills[1].every").
func (v Value) Path() string { return v.path }

// Pos is where the value is in the file.
func (v Value) Pos() shakedown.Pos { return v.doc.d.pos(v.n) }

// Null tells whether the value is missing or null.
func (v Value) Null() bool { return isNull(v.doc.d.resolve(v.n, v.path)) }

// Addf records a problem at the value.
func (v Value) Addf(format string, args ...any) { v.doc.d.addf(v.n, v.path, format, args...) }

// Mapping returns the fields of a mapping in file order, those of merge keys (<<) included;
// a null value is an empty mapping. ok is false, after recording a problem, when the value
// is not a mapping.
func (v Value) Mapping() ([]Field, bool) {
	es, ok := v.doc.d.mapping(v.n, v.path)
	fs := make([]Field, len(es))
	for i, e := range es {
		fs[i] = Field{Key: e.key, Value: Value{doc: v.doc, n: e.val, path: e.path}, key: e.kn}
	}
	return fs, ok
}

// Fields returns the value's fields by key, a problem recorded for each key not in known,
// and one at the mapping for each of required missing or null.
func (v Value) Fields(known []string, required ...string) (map[string]Field, bool) {
	fs, ok := v.Mapping()
	if !ok {
		return nil, false
	}
	es := make([]entry, len(fs))
	for i, f := range fs {
		es[i] = entry{key: f.Key, kn: f.key, val: f.Value.n, path: f.Value.path}
	}
	byKey := v.doc.d.fields(es, known...)
	v.doc.d.required(byKey, v.n, v.path, required...)
	out := make(map[string]Field, len(byKey))
	for _, f := range fs {
		if _, ok := byKey[f.Key]; ok {
			out[f.Key] = f
		}
	}
	return out, true
}

// KeyAddf records a problem at the field's key.
func (f Field) KeyAddf(format string, args ...any) {
	f.Value.doc.d.addf(f.key, f.Value.path, format, args...)
}

// List returns the items of a list; a null value is an empty list.
func (v Value) List() ([]Value, bool) {
	ns, ok := v.doc.d.seq(v.n, v.path)
	out := make([]Value, len(ns))
	for i, n := range ns {
		out[i] = Value{doc: v.doc, n: n, path: index(v.path, i)}
	}
	return out, ok
}

// String returns the text of a scalar, as written (no ${vars} are filled in); a null value
// is "".
func (v Value) String() (string, bool) {
	n := v.doc.d.resolve(v.n, v.path)
	switch m := n.(type) {
	case *ast.StringNode:
		return m.Value, true
	case *ast.LiteralNode:
		if m.Value != nil {
			return m.Value.Value, true
		}
	}
	return v.doc.d.str(n, v.path) // the rest holds no ${
}

// Duration reads a duration: Go style, ISO-8601, or the number 0.
func (v Value) Duration() (time.Duration, bool) {
	if _, ok := v.doc.d.resolve(v.n, v.path).(*ast.StringNode); !ok {
		return v.doc.d.duration(v.n, v.path)
	}
	s, _ := v.String()
	d, err := shakedown.ParseDuration(s)
	if err != nil {
		v.Addf("%v", err)
		return 0, false
	}
	return d, true
}

// HTTPURL reads an http:// or https:// URL.
func (v Value) HTTPURL() (string, bool) {
	s, ok := v.String()
	if !ok {
		return "", false
	}
	return v.doc.d.checkHTTPURL(v.doc.d.resolve(v.n, v.path), v.path, s)
}

// Lock reads the name of a lock in the history store, as an experiment's lock: is read.
func (v Value) Lock() (string, bool) {
	n := len(v.doc.d.probs)
	s := v.doc.d.lock(v.n, v.path)
	return s, len(v.doc.d.probs) == n
}

// Kind says what YAML makes of the value, aliases and tags followed: "mapping", "list",
// "string", "int", "float" (infinities and NaN too), "bool" or "null". A reader of another
// tool's files needs it where that tool gives 200 and "200" different meanings.
func (v Value) Kind() string {
	switch v.doc.d.resolve(v.n, v.path).(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "mapping"
	case *ast.SequenceNode:
		return "list"
	case *ast.IntegerNode:
		return "int"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "float"
	case *ast.BoolNode:
		return "bool"
	}
	return "string"
}
