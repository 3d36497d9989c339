package spec

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/shakedown-dev/shakedown"
)

var (
	durationType     = reflect.TypeFor[shakedown.Duration]()
	timeDurationType = reflect.TypeFor[time.Duration]()
	rateType         = reflect.TypeFor[shakedown.Rate]()
	toleranceType    = reflect.TypeFor[shakedown.Tolerance]()
	selectionType    = reflect.TypeFor[shakedown.Selection]()
	windowType       = reflect.TypeFor[shakedown.NofM]()
	unmarshalerType  = reflect.TypeFor[encoding.TextUnmarshaler]()
	marshalerType    = reflect.TypeFor[encoding.TextMarshaler]()
)

// Param describes one parameter of a fault type, target kind or probe type.
type Param struct {
	Name     string // as written in files; "outer.inner" for a field of a nested struct
	Type     string // "string", "bool", "int", "number", "duration", "rate", "[]string", …
	Default  string // the default, as it would be written; empty when it is the zero value
	Doc      string // from the field's doc tag
	Required bool   // from the field's `required:"true"` tag
}

// Params lists the parameters of a parameter struct: each exported field by its json name,
// its type, its default (the value params returns), its `doc` tag and its `required` tag.
// It returns nil when params is nil or returns nil.
func Params(params func() any) []Param {
	if params == nil {
		return nil
	}
	p := params()
	if p == nil {
		return nil
	}
	v := reflect.ValueOf(p)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out []Param
	listParams(&out, "", v)
	return out
}

func listParams(out *[]Param, prefix string, v reflect.Value) {
	for _, f := range structFields(v.Type()) {
		fv := v.FieldByIndex(f.index)
		*out = append(*out, Param{
			Name:     prefix + f.name,
			Type:     typeName(f.typ),
			Default:  defaultText(fv),
			Doc:      f.doc,
			Required: f.required,
		})
		st := f.typ
		for st.Kind() == reflect.Pointer {
			st = st.Elem()
			if fv.IsNil() {
				fv = reflect.New(st)
			}
			fv = fv.Elem()
		}
		if st.Kind() == reflect.Struct && !isText(st) {
			listParams(out, prefix+f.name+".", fv)
		}
	}
}

// typeName names t as the catalog shows it.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType, timeDurationType:
		return "duration"
	case rateType:
		return "rate"
	case toleranceType:
		return "tolerance"
	case selectionType:
		return "selection"
	case windowType:
		return "window"
	}
	if isText(t) {
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "[]" + typeName(t.Elem())
	case reflect.Map:
		return "map[string]" + typeName(t.Elem())
	case reflect.Struct:
		return "object"
	default:
		return "any"
	}
}

// defaultText writes a default value as a file would; "" for the zero value.
func defaultText(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch v.Type() {
	case timeDurationType:
		return time.Duration(v.Int()).String()
	}
	if v.Type().Implements(marshalerType) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err == nil {
			return string(b)
		}
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return string(b)
}

// isText reports whether values of t are written as text and read by UnmarshalText.
func isText(t reflect.Type) bool {
	return t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(unmarshalerType)
}

// field is one decodable field of a parameter struct.
type field struct {
	name     string
	index    []int
	typ      reflect.Type
	doc      string
	required bool
}

var fieldCache sync.Map // reflect.Type → []field

// structFields lists the fields of a struct type as encoding/json sees them, embedded
// structs flattened.
func structFields(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(index), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct && !isText(sf.Type) {
				walk(sf.Type, idx)
				continue
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			fs = append(fs, field{
				name:     name,
				index:    idx,
				typ:      sf.Type,
				doc:      sf.Tag.Get("doc"),
				required: sf.Tag.Get("required") == "true",
			})
		}
	}
	walk(t, nil)
	fieldCache.Store(t, fs)
	return fs
}

// params decodes the parameters of a fault type, target kind or probe type (what) from n
// into a new value of newParams, reports missing required fields and calls Validate when
// the value has that method. n is nil when the file gives no parameters; at is the node
// problems of the whole parameter set are reported at.
//
// Validate runs even when some parameters did not decode, so that the file's every problem
// is said at once: a value out of range beside one that is not a number, say. What it says
// of a parameter that did not decode is not reported (that parameter holds its default, not
// what the file wrote), nor what it says of the set as a whole then (which of several
// fields to give, say: it may rest on the one that did not decode).
func (d *decoder) params(newParams func() any, n, at ast.Node, path, what string) any {
	var p any
	if newParams != nil {
		p = newParams()
	}
	v := reflect.ValueOf(p)
	if p == nil || v.Kind() != reflect.Pointer || v.IsNil() {
		if p != nil {
			d.addf(at, path, "%s: its parameter struct is not a pointer (a bug in shakedown)", what)
			return nil
		}
		if n != nil {
			if es, ok := d.mapping(n, path); ok && len(es) > 0 {
				d.addf(es[0].kn, es[0].path, "%s takes no parameters", what)
			}
		}
		return nil
	}
	before := len(d.probs)
	d.decodeValue(n, v.Elem(), path, at, 0)
	u := undecodedOf(d.probs[before:], path)
	if !u.all {
		d.validate(p, n, at, path, u)
	}
	return p
}

// undecoded is what of a parameter set did not decode.
type undecoded struct {
	all    bool             // the set as a whole, or a part that names no field
	fields map[string][]int // each field with a problem: the items that have one, -1 for the field itself
}

// undecodedOf reads from the problems decoding recorded what of the parameter set at path did
// not decode. Their paths are made by child and index.
func undecodedOf(probs Problems, path string) undecoded {
	var u undecoded
	for _, p := range probs {
		key, item, ok := fieldOf(p.Path, path)
		if !ok {
			u.all = true
			continue
		}
		if u.fields == nil {
			u.fields = map[string][]int{}
		}
		u.fields[key] = append(u.fields[key], item)
	}
	return u
}

// fieldOf splits a path under the parameter set at set into the field's key and the item of
// it (-1 when the path names no item, or something within the field itself). ok is false when
// the path is not within a field of the set.
func fieldOf(path, set string) (key string, item int, ok bool) {
	rest, under := strings.CutPrefix(path, set)
	switch {
	case !under || rest == "":
		return "", -1, false
	case rest[0] == '.':
		rest = rest[1:]
		i := strings.IndexAny(rest, ".[")
		if i < 0 {
			i = len(rest)
		}
		key, rest = rest[:i], rest[i:]
	case strings.HasPrefix(rest, `["`):
		q, err := strconv.QuotedPrefix(rest[1:])
		if err != nil || !strings.HasPrefix(rest[1+len(q):], "]") {
			return "", -1, false
		}
		key, _ = strconv.Unquote(q)
		rest = rest[1+len(q)+1:]
	default:
		return "", -1, false
	}
	item = -1
	if num, ok := strings.CutPrefix(rest, "["); ok {
		num, _, _ = strings.Cut(num, "]")
		if i, err := strconv.Atoi(num); err == nil {
			item = i
		}
	}
	return key, item, true
}

// hides reports whether a problem Validate found with a field stands on a value that did not
// decode: the field's own, the item's, or, for a problem of the whole field, any of its items';
// or any of the fields it is compared with.
func (u undecoded) hides(fe *shakedown.FieldError) bool {
	for _, f := range fe.Against {
		if _, ok := u.fields[f]; ok {
			return true
		}
	}
	items, ok := u.fields[fe.Field]
	return ok && (fe.Index < 0 || slices.Contains(items, -1) || slices.Contains(items, fe.Index))
}

// validate calls p's Validate and reports each problem it returns: a *shakedown.FieldError
// (one of several joined with errors.Join, say) at the field it names, anything else at at.
// It leaves out what u says did not decode, and every problem that names no field when
// anything did not.
func (d *decoder) validate(p any, n, at ast.Node, path string, u undecoded) {
	err := shakedown.ValidateParams(p)
	if err == nil {
		return
	}
	for _, e := range shakedown.Unjoin(err) {
		var fe *shakedown.FieldError
		if !errors.As(e, &fe) {
			if len(u.fields) == 0 {
				d.addf(at, path, "%v", e)
			}
			continue
		}
		if u.hides(fe) {
			continue
		}
		node, fpath := d.field(n, path, fe)
		if node == nil {
			node, fpath = at, child(path, fe.Field)
		}
		d.addf(node, fpath, "%v", fe.Err)
	}
}

// field finds the node of the field (and item) fe names in the mapping n, or nil when the
// file does not give it. It reports nothing: n decoded cleanly already.
func (d *decoder) field(n ast.Node, path string, fe *shakedown.FieldError) (ast.Node, string) {
	keep := len(d.probs)
	defer func() { d.probs = d.probs[:keep] }()
	if n == nil {
		return nil, ""
	}
	es, ok := d.mapping(n, path)
	if !ok {
		return nil, ""
	}
	for _, e := range es {
		if e.key != fe.Field {
			continue
		}
		if fe.Index >= 0 {
			if items, ok := d.seq(e.val, e.path); ok && fe.Index < len(items) {
				return items[fe.Index], index(e.path, fe.Index)
			}
		}
		return e.val, e.path
	}
	return nil, ""
}

// decodeValue decodes n into v. n is nil when the value is absent; then only the required
// fields of a struct are checked, and reported at at.
func (d *decoder) decodeValue(n ast.Node, v reflect.Value, path string, at ast.Node, depth int) {
	if depth > maxDepth {
		d.addf(at, path, "nested too deeply")
		return
	}
	if n != nil {
		at = n
		if n = d.resolve(n, path); n == nil {
			return
		}
		if isNull(n) {
			n = nil
		}
	}
	t := v.Type()
	if n == nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct && !isText(t) {
			for _, f := range structFields(t) {
				if f.required {
					d.addf(at, child(path, f.name), "%s is required", f.name)
				}
			}
		}
		return
	}
	switch t {
	case durationType, timeDurationType:
		if dur, ok := d.duration(n, path); ok {
			v.SetInt(int64(dur))
		}
		return
	}
	if isText(t) {
		switch n.(type) {
		case *ast.MappingNode, *ast.SequenceNode:
			d.addf(n, path, "want a %s, not %s", typeName(t), kindName(n))
			return
		}
		s, ok := d.str(n, path)
		if !ok {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.addf(n, path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decodeValue(n, v.Elem(), path, at, depth+1)
	case reflect.String:
		switch n.(type) {
		case *ast.MappingNode, *ast.SequenceNode:
			d.addf(n, path, "want a string, not %s", kindName(n))
			return
		}
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := d.boolean(n, path); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, ok := d.integer(n, path); ok {
			if v.OverflowInt(i) {
				d.addf(n, path, "number %d is out of range", i)
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if i, ok := d.integer(n, path); ok {
			if i < 0 || v.OverflowUint(uint64(i)) {
				d.addf(n, path, "number %d is out of range", i)
				return
			}
			v.SetUint(uint64(i))
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := d.number(n, path); ok {
			if v.OverflowFloat(f) {
				d.addf(n, path, "number %g is out of range", f)
				return
			}
			v.SetFloat(f)
		}
	case reflect.Slice:
		items, ok := d.seq(n, path)
		if !ok {
			return
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			// An item left empty (-, ~ or null) is most likely a slip; as a string it would
			// be "", an argument no one meant to pass.
			if r := d.resolve(it, index(path, i)); r != nil && isNull(r) && t.Elem().Kind() != reflect.Interface {
				d.addf(it, index(path, i), "an empty list item (~ or null) has no value; write '' for an empty string")
				continue
			}
			d.decodeValue(it, s.Index(i), index(path, i), it, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.addf(n, path, "parameter of type %s cannot be decoded (a bug in shakedown)", t)
			return
		}
		es, ok := d.mapping(n, path)
		if !ok {
			return
		}
		m := reflect.MakeMapWithSize(t, len(es))
		for _, e := range es {
			ev := reflect.New(t.Elem()).Elem()
			d.decodeValue(e.val, ev, e.path, e.kn, depth+1)
			m.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), ev)
		}
		v.Set(m)
	case reflect.Struct:
		d.decodeStruct(n, v, path, depth)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.addf(n, path, "parameter of type %s cannot be decoded (a bug in shakedown)", t)
			return
		}
		if g := d.generic(n, path, depth+1); g != nil {
			v.Set(reflect.ValueOf(g))
		}
	default:
		d.addf(n, path, "parameter of type %s cannot be decoded (a bug in shakedown)", t)
	}
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string, depth int) {
	es, ok := d.mapping(n, path)
	if !ok {
		return
	}
	fs := structFields(v.Type())
	given := map[string]bool{}
	for _, e := range es {
		i := slices.IndexFunc(fs, func(f field) bool { return f.name == e.key })
		if i < 0 {
			names := make([]string, len(fs))
			for j, f := range fs {
				names[j] = f.name
			}
			if len(names) == 0 {
				d.addf(e.kn, e.path, "unknown parameter %q (there are none)", e.key)
			} else {
				d.addf(e.kn, e.path, "unknown parameter %q%s", e.key, hint(e.key, names, "want one of "+strings.Join(names, ", ")))
			}
			continue
		}
		f := fs[i]
		val := d.resolve(e.val, e.path)
		if val != nil && isNull(val) {
			continue // checked below when required
		}
		given[f.name] = true
		if val == nil {
			continue // its alias names no anchor: reported already
		}
		d.decodeValue(e.val, fieldAlloc(v, f.index), e.path, e.kn, depth+1)
	}
	for _, f := range fs {
		if f.required && !given[f.name] {
			d.addf(n, child(path, f.name), "%s is required", f.name)
		}
	}
}

// fieldAlloc is v.FieldByIndex, allocating nil embedded pointers on the way.
func fieldAlloc(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// generic decodes n into plain Go values: map[string]any, []any, string, int64, float64,
// bool or nil.
func (d *decoder) generic(n ast.Node, path string, depth int) any {
	if depth > maxDepth {
		d.addf(n, path, "nested too deeply")
		return nil
	}
	n = d.resolve(n, path)
	switch m := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.MappingNode:
		es, _ := d.mapping(m, path)
		out := make(map[string]any, len(es))
		for _, e := range es {
			out[e.key] = d.generic(e.val, e.path, depth+1)
		}
		return out
	case *ast.SequenceNode:
		out := make([]any, len(m.Values))
		for i, x := range m.Values {
			out[i] = d.generic(x, index(path, i), depth+1)
		}
		return out
	case *ast.IntegerNode:
		return m.Value
	case *ast.FloatNode:
		return m.Value
	case *ast.BoolNode:
		return m.Value
	}
	s, _ := d.str(n, path)
	return s
}
