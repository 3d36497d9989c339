package history_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// reportRecords are the records the report package's golden files hold: real run/v1 documents.
func reportRecords(t testing.TB) map[string][]byte {
	files, _ := filepath.Glob("../report/testdata/*.json")
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	if len(out) == 0 {
		t.Fatal("no records in ../report/testdata")
	}
	return out
}

func TestDecodeRecords(t *testing.T) {
	for name, b := range reportRecords(t) {
		rs, err := history.DecodeRecords(b)
		want := 1
		if b[0] == '[' {
			want = strings.Count(string(b), `"schema": "shakedown.run/v1"`)
		}
		if err != nil || len(rs) != want {
			t.Errorf("DecodeRecords(%s) = %d records, %v; want %d", name, len(rs), err, want)
		}
	}
	one := string(reportRecords(t)["failed.json"])
	for _, tc := range []struct {
		name, in, field string
	}{
		{"empty", "", "empty"},
		{"unknown field", strings.Replace(one, `"seed"`, `"sed"`, 1), `"sed"`},
		{"wrong schema", strings.Replace(one, `"shakedown.run/v1"`, `"shakedown.run/v2"`, 1), "field schema"},
		{"wrong type", strings.Replace(one, `"exit_code": 1`, `"exit_code": "1"`, 1), "field exit_code"},
		{"unknown verdict", strings.Replace(one, `"verdict": "failed"`, `"verdict": "meh"`, 1), "field verdict"},
		{"exit code of another verdict", strings.Replace(one, `"exit_code": 1`, `"exit_code": 0`, 1), "field exit_code"},
		{"no id", strings.Replace(one, `"id": "`, `"id": "" , "x": "`, 1), "x"},
		{"second of an array", "[" + one + `, {"schema": "shakedown.run/v1", "id": "x"}]`, "record 2 of 2: field experiment.name"},
		{"twice the same run", "[" + one + "," + one + "]", "appears twice"},
		{"trailing data", one + "{}", "after the JSON value"},
		{"cut short", one[:len(one)/2], "cut short"},
		{"null in an array", "[null]", "null"},
	} {
		_, err := history.DecodeRecords([]byte(tc.in))
		if !shakedown.IsKind(err, shakedown.KindInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("DecodeRecords(%s) = %v; want invalid, naming %s", tc.name, err, tc.field)
		}
	}
}

// FuzzDecodeRecords: whatever the bytes, DecodeRecords returns records the store can file or
// an invalid error, never panics, and what it accepts survives a round trip.
func FuzzDecodeRecords(f *testing.F) {
	for _, b := range reportRecords(f) {
		f.Add(b)
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"schema":"shakedown.run/v1","id":"a","experiment":{"name":"x"},"started_at":"2026-01-01T00:00:00Z","verdict":"passed","exit_code":0}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := history.DecodeRecords(b)
		if err != nil {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("error of kind %v, want invalid: %v", shakedown.KindOf(err), err)
			}
			return
		}
		for _, r := range rs {
			if r == nil || r.ID == "" || r.Experiment.Name == "" || r.Schema != shakedown.RecordSchema {
				t.Fatalf("accepted a record the store cannot file: %+v", r)
			}
		}
	})
}
