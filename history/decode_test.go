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
		{"id a path", replaceField(one, "id", `"../../etc/passwd"`), "field id"},
		{"id with an escape", replaceField(one, "id", `"a\u001b[2J"`), "field id"},
		{"name with an escape", replaceField(one, "name", `"evil\u001b[2J\nPASSED fake-line"`), "field experiment.name"},
		{"sha with an escape", replaceField(one, "sha", `"\u001b[31mred"`), "field commit.sha"},
		{"branch of two lines", replaceField(one, "branch", `"a\nb"`), "field commit.branch"},
		{"reason with an escape", strings.Replace(one, `"reason": "`, `"reason": "\u001b]0;title\u0007`, 1), "field reason"},
		{"check name of two lines", strings.Replace(one, `"name": "checkout p99 under 400ms",
      "kind"`, `"name": "a\r",
      "kind"`, 1), "field checks[0].name"},
		{"ends before it starts", strings.Replace(one, `"ended_at": "2025`, `"ended_at": "2024`, 1), "field ended_at"},
		{"bad time", strings.Replace(one, `"started_at": "`, `"started_at": "x`, 1), "field started_at"},
		{"negative count", strings.Replace(one, `"count": 1000,`, `"count": -1000,`, 1), "field loads[0].phases.baseline.count"},
		{"more errors than requests", strings.Replace(one, `"errors": 21,`, `"errors": 3021,`, 1), "field loads[0].phases.inject.errors"},
		{"negative p99", strings.Replace(one, `"p99": 118,`, `"p99": -118,`, 1), "field loads[0].phases.baseline.p99"},
		{"negative throughput", strings.Replace(one, `"throughput": 49.7`, `"throughput": -49.7`, 1), "field loads[0].phases.inject.throughput"},
		{"negative rate", strings.Replace(one, `"rate": 50,`, `"rate": -50,`, 1), "field loads[0].rate"},
		{"timeline errors", strings.Replace(one, `"count": 50,
          "errors": 0,`, `"count": 50,
          "errors": 51,`, 1), "field loads[0].timeline[0].errors"},
		{"negative time to detect", strings.Replace(one, `"time_to_detect": 23488`, `"time_to_detect": -23488`, 1), "field expectations[0].time_to_detect"},
		{"negative time to recover", strings.Replace(one, `"time_to_recover": 2100`, `"time_to_recover": -2100`, 1), "field recovery.time_to_recover"},
		{"bad phase time", strings.Replace(one, `"start": "`, `"start": "x`, 1), "field phases[0].start"},
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
	f.Add([]byte(`{"schema":"shakedown.run/v1","id":"../a","experiment":{"name":"x\u001b[2J"},"commit":{"sha":"\u001b[31m","branch":"a\nb"},"started_at":"2026-01-01T00:00:00Z","ended_at":"2025-01-01T00:00:00Z","verdict":"passed","exit_code":0}`))
	f.Add([]byte(`{"schema":"shakedown.run/v1","id":"a","experiment":{"name":"x"},"started_at":"2026-01-01T00:00:00Z","verdict":"passed","exit_code":0,"loads":[{"name":"l","rate":-1,"phases":{"inject":{"count":-1,"errors":5,"p99":-3,"throughput":-2}},"timeline":[{"count":1,"errors":2}]}],"expectations":[{"name":"e","time_to_detect":-1}],"recovery":{"time_to_recover":-1}}`))
	f.Add([]byte("\ufeff" + `{"schema":"shakedown.run/v1","id":"a","experiment":{"name":"x"},"started_at":"yesterday","verdict":"passed","exit_code":0}`))
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
			for _, f := range shakedown.Figures(r) {
				if strings.HasSuffix(f.Name, ".observed") {
					continue // a check's value as its probe saw it: any number
				}
				if f.Value < 0 || f.Unit == shakedown.FigureRatio && f.Value > 1 {
					t.Fatalf("accepted a record with figure %s = %v", f.Key(), f.Value)
				}
			}
		}
	})
}

// replaceField replaces the value of the first "key": "…" of record with value.
func replaceField(record, key, value string) string {
	i := strings.Index(record, `"`+key+`": "`)
	j := i + len(key) + 4
	k := strings.IndexByte(record[j+1:], '"') + j + 1
	return record[:j] + value + record[k+1:]
}

// TestDecodeRecordsByteOrderMark: a file of records may start with a byte order mark.
func TestDecodeRecordsByteOrderMark(t *testing.T) {
	one := reportRecords(t)["failed.json"]
	if _, err := history.DecodeRecords(append([]byte("\ufeff"), one...)); err != nil {
		t.Errorf("DecodeRecords(with a byte order mark) = %v", err)
	}
}
