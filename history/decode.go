package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/shakedown-dev/shakedown"
)

// DecodeRecords reads what `run --json` writes: one run record, or an array of them. It is
// strict: unknown fields, a schema other than shakedown.run/v1, a record without an id, an
// experiment name, a start time or a known verdict, and anything after the JSON value are
// refused (KindInvalid) with the record's number and the field.
// MaxRecordFile is the most bytes a file of run records may hold to be read (imported or
// compared): far above the megabytes an hour-long run's record takes.
const MaxRecordFile = 256 << 20

func DecodeRecords(data []byte) ([]*shakedown.Record, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\ufeff"))) // a byte order mark is no part of the JSON
	if len(data) == 0 {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "no run record: the file is empty")
	}
	array := data[0] == '['
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var records []*shakedown.Record
	if array {
		if err := dec.Decode(&records); err != nil {
			return nil, decodeError(err, "", data)
		}
	} else {
		var r shakedown.Record
		if err := dec.Decode(&r); err != nil {
			return nil, decodeError(err, "", data)
		}
		records = []*shakedown.Record{&r}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "data after the JSON value at byte %d", dec.InputOffset())
	}
	seen := map[string]bool{}
	for i, r := range records {
		where := ""
		if array {
			where = fmt.Sprintf("record %d of %d: ", i+1, len(records))
		}
		if r == nil {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "%snull instead of a run record", where)
		}
		if err := checkRecord(r); err != nil {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "%s%v", where, err)
		}
		if seen[r.ID] {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "%sfield id: run %s appears twice", where, r.ID)
		}
		seen[r.ID] = true
	}
	return records, nil
}

// decodeError names the field a JSON error is about, when the decoder says; for a time
// that does not parse, which it does not say, the first field of data holding that text.
func decodeError(err error, where string, data []byte) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var pe *time.ParseError
	switch {
	case errors.As(err, &pe):
		var v any
		field := ""
		if json.Unmarshal(data, &v) == nil {
			field = pathOf(v, pe.Value, "")
		}
		return shakedown.Errorf(shakedown.KindInvalid, "%sfield %s: %q is not a time (want RFC 3339, e.g. 2026-01-02T15:04:05.000Z)",
			where, cmp.Or(field, "?"), pe.Value)
	case errors.As(err, &te) && te.Field != "":
		return shakedown.Errorf(shakedown.KindInvalid, "%sfield %s: %s where %s was expected", where, te.Field, te.Value, te.Type)
	case errors.As(err, &se):
		return shakedown.Errorf(shakedown.KindInvalid, "%snot JSON at byte %d: %v", where, se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return shakedown.Errorf(shakedown.KindInvalid, "%sthe JSON is cut short", where)
	}
	return shakedown.Errorf(shakedown.KindInvalid, "%s%s", where, strings.TrimPrefix(err.Error(), "json: "))
}

// commitSHA is what a commit's sha may be: a full or abbreviated hexadecimal object name.
var commitSHA = regexp.MustCompile(`^[0-9a-fA-F]{1,64}$`)

// pathOf returns the path of the first string of v (a decoded JSON value) equal to want,
// "" when none is.
func pathOf(v any, want, path string) string {
	switch x := v.(type) {
	case string:
		if x == want {
			return path
		}
	case []any:
		for i, e := range x {
			if p := pathOf(e, want, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if p := pathOf(x[k], want, p); p != "" {
				return p
			}
		}
	}
	return ""
}

// checkRecord refuses a record the history cannot file, or whose words would not print as
// they read: the id is a token (shakedown.RunIDPattern: no path, no space), the experiment
// is named as an experiment file names it, the commit is a hexadecimal sha and a branch name
// git could have made, the run ends no earlier than it starts, and no text the history
// shows on one line (names, kinds, the reason, the host) holds a control character.
func checkRecord(r *shakedown.Record) error {
	switch {
	case r.Schema != shakedown.RecordSchema:
		return fmt.Errorf("field schema: %q is not %q", r.Schema, shakedown.RecordSchema)
	case r.ID == "":
		return errors.New("field id: missing")
	case !shakedown.RunIDPattern.MatchString(r.ID):
		return fmt.Errorf("field id: %q is not a run id (letters, digits, '_' and '-', at most 64)", r.ID)
	case r.Experiment.Name == "":
		return errors.New("field experiment.name: missing")
	case !shakedown.ExperimentName.MatchString(r.Experiment.Name):
		return fmt.Errorf("field experiment.name: %q is not an experiment name (lower case letters, digits, '.', '_' and '-')", r.Experiment.Name)
	case r.StartedAt.IsZero():
		return errors.New("field started_at: missing")
	case !r.EndedAt.IsZero() && r.EndedAt.Before(r.StartedAt.Time):
		return fmt.Errorf("field ended_at: %s is before started_at %s", r.EndedAt.Format(time.RFC3339Nano), r.StartedAt.Format(time.RFC3339Nano))
	case !slices.Contains(shakedown.Verdicts, r.Verdict):
		return fmt.Errorf("field verdict: %q is not a verdict", string(r.Verdict))
	case r.ExitCode != r.Verdict.ExitCode():
		return fmt.Errorf("field exit_code: %d, but verdict %s exits %d", r.ExitCode, r.Verdict, r.Verdict.ExitCode())
	}
	if c := r.Commit; c != nil {
		if c.SHA != "" && !commitSHA.MatchString(c.SHA) {
			return fmt.Errorf("field commit.sha: %q is not a commit sha (up to 64 hexadecimal digits)", c.SHA)
		}
		if c.Branch != "" && (len(c.Branch) > 255 || strings.IndexFunc(c.Branch, func(r rune) bool {
			return unicode.IsSpace(r) || shakedown.HasUnprintable(string(r)) || strings.ContainsRune("~^:?*[\\", r)
		}) >= 0) {
			return fmt.Errorf("field commit.branch: %q is not a branch name", c.Branch)
		}
	}
	for _, f := range oneLineFields(r) {
		if shakedown.HasUnprintable(f.v) {
			return fmt.Errorf("field %s: %q holds a control character", f.path, f.v)
		}
	}
	return checkNumbers(r)
}

// checkNumbers refuses the measurements no run writes, which the history, compare and the
// regression gate would otherwise read as figures: a negative count, time, latency, rate
// or throughput, and more errors than requests (an error ratio above 100 %).
func checkNumbers(r *shakedown.Record) error {
	for i, l := range r.Loads {
		at := fmt.Sprintf("loads[%d]", i)
		if l.Rate < 0 {
			return fmt.Errorf("field %s.rate: %v is negative", at, l.Rate)
		}
		for _, p := range slices.Sorted(maps.Keys(l.PerPhase)) {
			st := l.PerPhase[p]
			if st == nil {
				continue
			}
			if err := checkCounts(fmt.Sprintf("%s.phases.%s", at, p), st.Count, st.Errors, st.Late); err != nil {
				return err
			}
			for _, m := range []struct {
				name string
				v    float64
			}{{"p50", float64(st.P50)}, {"p90", float64(st.P90)}, {"p95", float64(st.P95)}, {"p99", float64(st.P99)},
				{"max", float64(st.Max)}, {"mean", float64(st.Mean)}, {"throughput", st.Throughput}} {
				if m.v < 0 {
					return fmt.Errorf("field %s.phases.%s.%s: %v is negative", at, p, m.name, m.v)
				}
			}
		}
		for j, row := range l.Timeline {
			rat := fmt.Sprintf("%s.timeline[%d]", at, j)
			if err := checkCounts(rat, row.Count, row.Errors, 0); err != nil {
				return err
			}
			if row.P50 < 0 || row.P99 < 0 {
				return fmt.Errorf("field %s: a negative latency (p50 %v, p99 %v)", rat, row.P50, row.P99)
			}
		}
	}
	for i, x := range r.Expectations {
		if err := checkMillis(fmt.Sprintf("expectations[%d].time_to_detect", i), x.TimeToDetect); err != nil {
			return err
		}
		if err := checkMillis(fmt.Sprintf("expectations[%d].time_to_recover", i), x.TimeToRecover); err != nil {
			return err
		}
	}
	return checkMillis("recovery.time_to_recover", r.Recovery.TimeToRecover)
}

// checkCounts refuses negative counts, and more errors than requests.
func checkCounts(at string, count, errs, late int64) error {
	switch {
	case count < 0:
		return fmt.Errorf("field %s.count: %d is negative", at, count)
	case errs < 0:
		return fmt.Errorf("field %s.errors: %d is negative", at, errs)
	case late < 0:
		return fmt.Errorf("field %s.late: %d is negative", at, late)
	case errs > count:
		return fmt.Errorf("field %s.errors: %d errors of %d requests", at, errs, count)
	}
	return nil
}

func checkMillis(at string, m *shakedown.Millis) error {
	if m != nil && *m < 0 {
		return fmt.Errorf("field %s: %v ms is negative", at, float64(*m))
	}
	return nil
}

type field struct{ path, v string }

// oneLineFields are the texts of r that the history, compare and the reports show on one
// line.
func oneLineFields(r *shakedown.Record) []field {
	fs := []field{{"experiment.file", r.Experiment.File}, {"shakedown_version", r.Version}, {"host", r.Host}, {"reason", r.Reason}}
	if r.Commit != nil {
		fs = append(fs, field{"commit.source", r.Commit.Source})
	}
	for k, v := range r.Experiment.Labels {
		fs = append(fs, field{"experiment.labels", k}, field{"experiment.labels." + k, v})
	}
	for i, p := range r.Phases {
		fs = append(fs, field{fmt.Sprintf("phases[%d].name", i), string(p.Name)})
	}
	for i, t := range r.Targets {
		fs = append(fs, field{fmt.Sprintf("targets[%d].name", i), t.Name}, field{fmt.Sprintf("targets[%d].kind", i), t.Kind})
	}
	for i, f := range r.Faults {
		fs = append(fs, field{fmt.Sprintf("faults[%d].name", i), f.Name}, field{fmt.Sprintf("faults[%d].type", i), f.Type},
			field{fmt.Sprintf("faults[%d].target", i), f.Target})
	}
	for i, c := range r.Checks {
		fs = append(fs, field{fmt.Sprintf("checks[%d].name", i), c.Name}, field{fmt.Sprintf("checks[%d].kind", i), c.Kind},
			field{fmt.Sprintf("checks[%d].metric", i), c.Metric})
	}
	for i, x := range r.Expectations {
		fs = append(fs, field{fmt.Sprintf("expectations[%d].name", i), x.Name})
	}
	for i, l := range r.Loads {
		fs = append(fs, field{fmt.Sprintf("loads[%d].name", i), l.Name}, field{fmt.Sprintf("loads[%d].url", i), l.URL})
	}
	return fs
}
