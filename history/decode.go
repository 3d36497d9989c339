package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "no run record: the file is empty")
	}
	array := data[0] == '['
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var records []*shakedown.Record
	if array {
		if err := dec.Decode(&records); err != nil {
			return nil, decodeError(err, "")
		}
	} else {
		var r shakedown.Record
		if err := dec.Decode(&r); err != nil {
			return nil, decodeError(err, "")
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

// decodeError names the field a JSON error is about, when the decoder says.
func decodeError(err error, where string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return shakedown.Errorf(shakedown.KindInvalid, "%sfield %s: %s where %s was expected", where, te.Field, te.Value, te.Type)
	case errors.As(err, &se):
		return shakedown.Errorf(shakedown.KindInvalid, "%snot JSON at byte %d: %v", where, se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return shakedown.Errorf(shakedown.KindInvalid, "%sthe JSON is cut short", where)
	}
	return shakedown.Errorf(shakedown.KindInvalid, "%s%s", where, strings.TrimPrefix(err.Error(), "json: "))
}

// checkRecord refuses a record the history cannot file.
func checkRecord(r *shakedown.Record) error {
	switch {
	case r.Schema != shakedown.RecordSchema:
		return fmt.Errorf("field schema: %q is not %q", r.Schema, shakedown.RecordSchema)
	case r.ID == "":
		return errors.New("field id: missing")
	case len(r.ID) > 64 || strings.IndexFunc(r.ID, func(c rune) bool { return !unicode.IsPrint(c) || unicode.IsSpace(c) }) >= 0:
		return fmt.Errorf("field id: %q is not a run id", r.ID)
	case r.Experiment.Name == "":
		return errors.New("field experiment.name: missing")
	case r.StartedAt.IsZero():
		return errors.New("field started_at: missing")
	case !slices.Contains(shakedown.Verdicts, r.Verdict):
		return fmt.Errorf("field verdict: %q is not a verdict", r.Verdict)
	case r.ExitCode != r.Verdict.ExitCode():
		return fmt.Errorf("field exit_code: %d, but verdict %s exits %d", r.ExitCode, r.Verdict, r.Verdict.ExitCode())
	}
	return nil
}
