package report

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/shakedown-dev/shakedown"
)

// WriteJSON writes the run records as JSON: one record as one object, several (or none) as
// an array. The output is indented, fields come in the record's declared order and map keys
// sorted, so the same record always gives the same bytes.
func WriteJSON(w io.Writer, records []*shakedown.Record) error {
	if err := checkRecords(records); err != nil {
		return err
	}
	var v any = records
	if len(records) == 1 {
		v = records[0]
	} else if records == nil {
		v = []*shakedown.Record{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "encode json report", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write json report", err)
	}
	return nil
}

// checkRecords refuses a nil record: every writer needs each one whole.
func checkRecords(records []*shakedown.Record) error {
	for i, r := range records {
		if r == nil {
			return shakedown.Errorf(shakedown.KindInternal, "report: record %d of %d is nil", i+1, len(records))
		}
	}
	return nil
}
