package spec

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// SchemaID is the $id of the schema Schema writes.
const SchemaID = "https://github.com/shakedown-dev/shakedown/experiment.schema.json"

type obj = map[string]any

// Patterns of the text forms. They are looser than the parsers in places (the schema helps
// editors; Load has the last word) but never refuse what Load accepts.
const (
	goDurationPattern  = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*$`
	isoDurationPattern = `^[Pp]([0-9]+(\.[0-9]+)?[Dd])?([Tt]([0-9]+(\.[0-9]+)?[Hh])?([0-9]+(\.[0-9]+)?[Mm])?([0-9]+(\.[0-9]+)?[Ss])?)?$`
	ratePattern        = `^\s*[0-9.eE+-]+\s*(/\s*(s|sec|1s|m|min|1m|h|1h)\s*)?$`
	selectionPattern   = `^\s*(all|count\(\s*[0-9]+(\.[0-9]+)?\s*%?\s*\)|percent\(\s*[0-9]+(\.[0-9]+)?\s*%?\s*\))?\s*$`
	windowPattern      = `^\s*[0-9]+\s*(of|/)\s*[0-9]+\s*$`
	varPattern         = `\$\{[A-Za-z_][A-Za-z0-9_.-]*\}`
)

// Schema returns the JSON Schema (draft 2020-12) of experiment files for the fault types,
// target kinds and probe types of reg, with one branch per type whose parameters come from
// its parameter struct.
func Schema(reg *shakedown.Registry) ([]byte, error) {
	defs := obj{
		"duration": obj{
			"description": "Go style (250ms, 1m30s), ISO-8601 (PT1M30S), or 0",
			"anyOf": []any{
				obj{"type": "string", "pattern": goDurationPattern},
				obj{"type": "string", "pattern": isoDurationPattern},
				obj{"enum": []any{0, "0"}},
				ref("var"),
			},
		},
		"rate": obj{
			"description": "events per second: 50/s, 3000/m, 10/h or a plain number per second",
			"anyOf": []any{
				obj{"type": "number", "exclusiveMinimum": 0},
				obj{"type": "string", "pattern": ratePattern},
				ref("var"),
			},
		},
		"tolerance": obj{
			"description": "400ms, 1%, 0.01, 50/s, 2x baseline, baseline + 50ms",
			"type":        []any{"string", "number"},
		},
		"selection": obj{
			"description": "all, count(N) or percent(P)",
			"anyOf":       []any{obj{"type": "string", "pattern": selectionPattern}, ref("var")},
		},
		"window": obj{
			"description": "N of M: the check breaks when N of the last M samples breach",
			"anyOf":       []any{obj{"type": "string", "pattern": windowPattern}, ref("var")},
		},
		"var": obj{
			"description": "a string filled in by --var key=value",
			"type":        "string", "pattern": varPattern,
		},
		"url": obj{"type": "string", "pattern": `^(https?://|.*` + varPattern + `)`},
		"strings": obj{
			"type": []any{"object", "null"}, "additionalProperties": obj{"type": []any{"string", "number", "boolean"}},
		},
		"phase": obj{"enum": []any{"baseline", "inject", "revert", "recovery"}},
		"alert": obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{
				"prometheus":   ref("url"),
				"alertmanager": ref("url"),
				"name":         obj{"type": "string"},
				"labels":       ref("strings"),
			},
			"required": []any{"name"},
			"oneOf":    []any{obj{"required": []any{"prometheus"}}, obj{"required": []any{"alertmanager"}}},
		},
		"load": obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{
				"url":     ref("url"),
				"method":  obj{"type": "string"},
				"headers": ref("strings"),
				"body":    obj{"type": "string"},
				"rate":    ref("rate"),
				"ramp":    ref("duration"),
				"timeout": ref("duration"),
			},
			"required": []any{"url", "rate"},
		},
		"target": obj{
			"description": "one key naming the target kind, with its parameters, an optional select and share",
			"oneOf":       targetBranches(reg),
		},
		"check": obj{
			"description": "a metric with min/max, or one probe",
			"oneOf":       checkBranches(reg),
		},
		"fault": obj{
			"description": "one fault; its type decides its target kinds and parameters",
			"oneOf":       faultBranches(reg),
		},
		"expectation": obj{
			"description": "an alert that must fire and resolve, or a probe that must recover",
			"oneOf":       expectBranches(reg),
		},
	}
	s := obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "shakedown experiment",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"version", "name", "faults"},
		"properties": obj{
			"version":     obj{"const": 1},
			"name":        obj{"type": "string", "pattern": experimentName.String()},
			"description": obj{"type": []any{"string", "null"}},
			"labels":      ref("strings"),
			"lock": obj{"type": []any{"string", "null"}, "pattern": lockName().String(),
				"description": "an exclusive lease in the history store that the run takes before it injects anything (as --lock)"},
			"targets": obj{
				"type": []any{"object", "null"}, "additionalProperties": ref("target"),
				"propertyNames": obj{"pattern": targetName.String()},
			},
			"load": obj{
				"type": []any{"object", "null"}, "additionalProperties": ref("load"),
				"propertyNames": obj{"pattern": loadName.String()},
			},
			"steady_state": obj{"type": []any{"array", "null"}, "items": ref("check")},
			"stop_if":      obj{"type": []any{"array", "null"}, "items": ref("check")},
			"phases": obj{
				"type": []any{"object", "null"}, "additionalProperties": false,
				"properties": obj{"baseline": ref("duration"), "recovery": ref("duration")},
			},
			"faults": obj{"type": "array", "minItems": 1, "items": ref("fault")},
			"expect": obj{"type": []any{"array", "null"}, "items": ref("expectation")},
			"blast_radius": obj{
				"type": []any{"object", "null"}, "additionalProperties": false,
				"properties": obj{
					"max_targets": obj{"type": "integer", "minimum": 1},
					"max_percent": obj{"type": "number", "exclusiveMinimum": 0, "maximum": 100},
				},
			},
			"gate": gateSchema(),
		},
		"$defs": defs,
	}
	return json.MarshalIndent(s, "", "  ")
}

// gateSchema is the schema of the gate: block (see decoder.gate).
func gateSchema() obj {
	floor := obj{"type": "number", "minimum": 0}
	return obj{
		"description": "the regression gate's settings for this experiment (run --gate regressions)",
		"type":        []any{"object", "null"}, "additionalProperties": false,
		"properties": obj{
			"min_runs": obj{"type": "integer", "minimum": 1, "maximum": 1000,
				"description": "fewer reference runs never regress (default 5)"},
			"max_runs": obj{"type": "integer", "minimum": 1, "maximum": 1000,
				"description": "the newest this many passing runs are the reference (default 10)"},
			"tolerance": obj{"description": "how much worse than the references is material: 20% or 0.2 (default 20%)",
				"anyOf": []any{obj{"type": "number", "minimum": 0}, obj{"type": "string", "pattern": `^\s*[0-9.]+\s*%?\s*$`}, ref("var")}},
			"floors": obj{
				"description": "absolute noise floor per figure unit (defaults ms: 5, ratio: 0.01, rps: 1, number: 0)",
				"type":        "object", "additionalProperties": false,
				"properties": obj{"ms": floor, "ratio": obj{"type": "number", "minimum": 0, "maximum": 1}, "rps": floor, "number": floor},
			},
			"ignore": obj{"description": "figures not judged: names or keys, * and ? as wildcards",
				"type": []any{"array", "null"}, "items": obj{"type": "string", "minLength": 1}},
		},
	}
}

func ref(def string) obj { return obj{"$ref": "#/$defs/" + def} }

// oneOf returns branches, or a schema nothing matches when there are none: oneOf must not be
// empty.
func oneOf(branches []any) []any {
	if len(branches) == 0 {
		return []any{false}
	}
	return branches
}

func targetBranches(reg *shakedown.Registry) []any {
	var out []any
	for _, k := range reg.Targets() {
		out = append(out, obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{k.Name: paramsSchema(k.Params, k.Summary), "select": ref("selection"),
				"share": obj{"type": "boolean", "description": "let other runs hold faults on these instances at once, when both allow it and every fault involved stacks"}},
			"required": []any{k.Name},
		})
	}
	return oneOf(out)
}

func commonCheck() obj {
	return obj{
		"name":    obj{"type": "string", "minLength": 1},
		"every":   ref("duration"),
		"timeout": ref("duration"),
		"for":     ref("duration"),
		"window":  ref("window"),
		"phases":  obj{"type": "array", "items": ref("phase"), "uniqueItems": true},
	}
}

func checkBranches(reg *shakedown.Registry) []any {
	metric := commonCheck()
	names := shakedown.MetricNames()
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	metric["metric"] = obj{"type": "string",
		"pattern": `^[A-Za-z0-9_-]+\.(` + strings.Join(names, "|") + `)$`}
	metric["min"] = ref("tolerance")
	metric["max"] = ref("tolerance")
	out := []any{obj{
		"type": "object", "additionalProperties": false, "properties": metric,
		"required": []any{"name", "metric"},
		"anyOf":    []any{obj{"required": []any{"min"}}, obj{"required": []any{"max"}}},
	}}
	for _, p := range reg.Probes() {
		props := commonCheck()
		props[p.Name] = paramsSchema(p.Params, p.Summary)
		out = append(out, obj{
			"type": "object", "additionalProperties": false, "properties": props,
			"required": []any{"name", p.Name},
		})
	}
	return out
}

func faultBranches(reg *shakedown.Registry) []any {
	var out []any
	for _, ft := range reg.Faults() {
		props := obj{
			"name":     obj{"type": "string", "pattern": faultName.String()},
			"type":     obj{"const": ft.Name, "description": ft.Summary},
			"duration": ref("duration"),
			"after":    obj{"type": "array", "items": obj{"type": "string"}, "uniqueItems": true},
			"delay":    ref("duration"),
		}
		required := []any{"name", "type"}
		if len(ft.Targets) > 0 {
			props["target"] = obj{"type": "string", "description": "a target of kind " + joinOr(ft.Targets)}
			required = append(required, "target")
		}
		if !ft.OneShot {
			required = append(required, "duration")
		}
		props["with"] = paramsSchema(ft.Params, "")
		if ft.Params != nil && ft.Params() != nil {
			if slices.ContainsFunc(Params(ft.Params), func(p Param) bool { return p.Required }) {
				required = append(required, "with")
			}
		}
		out = append(out, obj{
			"type": "object", "additionalProperties": false, "properties": props, "required": required,
		})
	}
	return oneOf(out)
}

func expectBranches(reg *shakedown.Registry) []any {
	out := []any{obj{
		"type": "object", "additionalProperties": false,
		"properties": obj{
			"name":            obj{"type": "string", "minLength": 1},
			"alert":           ref("alert"),
			"fires_within":    ref("duration"),
			"resolves_within": ref("duration"),
		},
		"required": []any{"name", "alert"},
		"anyOf":    []any{obj{"required": []any{"fires_within"}}, obj{"required": []any{"resolves_within"}}},
	}}
	for _, p := range reg.Probes() {
		out = append(out, obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{
				"name":            obj{"type": "string", "minLength": 1},
				p.Name:            paramsSchema(p.Params, p.Summary),
				"recovers_within": ref("duration"),
			},
			"required": []any{"name", p.Name, "recovers_within"},
		})
	}
	return out
}

func joinOr(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " or "
		}
		out += x
	}
	return out
}

// paramsSchema is the schema of a parameter struct; an empty object (or null) when there is
// none.
func paramsSchema(params func() any, doc string) obj {
	var p any
	if params != nil {
		p = params()
	}
	v := reflect.ValueOf(p)
	if p == nil || v.Kind() != reflect.Pointer || v.IsNil() {
		s := obj{"type": []any{"object", "null"}, "additionalProperties": false}
		if doc != "" {
			s["description"] = doc
		}
		return s
	}
	s := typeSchema(v.Elem().Type(), v.Elem(), 0)
	s["type"] = []any{"object", "null"}
	if doc != "" {
		s["description"] = doc
	}
	return s
}

// typeSchema is the schema of values of t; def, when valid, holds the default.
func typeSchema(t reflect.Type, def reflect.Value, depth int) obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if def.IsValid() {
			if def.IsNil() {
				def = reflect.Value{}
			} else {
				def = def.Elem()
			}
		}
	}
	s := typeSchemaNoDefault(t, def, depth)
	if def.IsValid() && !def.IsZero() {
		if d, ok := defaultJSON(def); ok {
			s["default"] = d
		}
	}
	return s
}

func typeSchemaNoDefault(t reflect.Type, def reflect.Value, depth int) obj {
	switch t {
	case durationType, timeDurationType:
		return ref("duration")
	case rateType:
		return ref("rate")
	case toleranceType:
		return ref("tolerance")
	case selectionType:
		return ref("selection")
	case windowType:
		return ref("window")
	}
	if isText(t) {
		return obj{"type": "string"}
	}
	if depth > maxDepth {
		return obj{}
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": typeSchema(t.Elem(), reflect.Value{}, depth+1)}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": typeSchema(t.Elem(), reflect.Value{}, depth+1)}
	case reflect.Struct:
		props := obj{}
		var required []any
		for _, f := range structFields(t) {
			var fd reflect.Value
			if def.IsValid() {
				fd = def.FieldByIndex(f.index)
			}
			fs := typeSchema(f.typ, fd, depth+1)
			if f.doc != "" {
				fs["description"] = f.doc // beside a $ref too: draft 2020-12 allows it
			}
			props[f.name] = fs
			if f.required {
				required = append(required, f.name)
			}
		}
		s := obj{"type": "object", "additionalProperties": false, "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	default:
		return obj{}
	}
}

// defaultJSON is a default value as JSON would hold it: text types as their text,
// durations as Go durations.
func defaultJSON(v reflect.Value) (any, bool) {
	if v.Type() == timeDurationType {
		return time.Duration(v.Int()).String(), true
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		return string(b), err == nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, false
	}
	var out any
	return out, json.Unmarshal(b, &out) == nil
}
