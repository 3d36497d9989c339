package journal

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func seedLines(f *testing.F) {
	recs := []*record{
		{Kind: kindRun, Time: time.Unix(1, 0).UTC(), Version: Version, Run: "r1", Meta: &Meta{Experiment: "e", PID: 7}},
		{Kind: kindBegin, ID: 1, Fault: "f", Undos: []shakedown.Undo{{Type: "t", Data: json.RawMessage(`{"pid":1}`), Summary: "s"}}, Deadline: time.Unix(2, 0).UTC()},
		{Kind: kindDone, ID: 1, By: ByWatchdog, Err: "no"},
		{Kind: kindEnd},
	}
	for _, r := range recs {
		line, err := encodeLine(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line[:len(line)-1])
	}
	f.Add([]byte("00000000 {}"))
	f.Add([]byte(""))
	f.Add([]byte("zzzzzzzz {\"k\":\"end\"}"))
}

// FuzzDecodeLine: the decoder never panics, rejects with errBadLine, and what it accepts
// encodes back to a line that decodes to the same record.
func FuzzDecodeLine(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := decodeLine(line)
		if err != nil {
			if !errors.Is(err, errBadLine) {
				t.Fatalf("decodeLine(%q) error %v does not wrap errBadLine", line, err)
			}
			return
		}
		again, err := encodeLine(r)
		if err != nil {
			t.Fatalf("encode of decoded %q: %v", line, err)
		}
		r2, err := decodeLine(again[:len(again)-1])
		if err != nil {
			t.Fatalf("decode of re-encoded %q: %v", again, err)
		}
		if d := cmp.Diff(r, r2); d != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", line, d)
		}
	})
}

// FuzzParseRun: whole files never make the reader panic, and the valid prefix it reports
// parses to the same entries without a torn tail.
func FuzzParseRun(f *testing.F) {
	var file []byte
	for _, r := range []*record{
		{Kind: kindRun, Version: Version, Run: "r1"},
		{Kind: kindBegin, ID: 1, Fault: "f", Undos: []shakedown.Undo{{Type: "t", Data: json.RawMessage(`1`)}}},
		{Kind: kindBegin, ID: 2, Fault: "g"},
		{Kind: kindDone, ID: 1},
	} {
		line, _ := encodeLine(r)
		file = append(file, line...)
	}
	f.Add(file)
	f.Add(file[:len(file)-7])
	f.Add(append(append([]byte(nil), file...), "\n\n"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf := parseRun(data, "r1")
		if rf.Valid < 0 || rf.Valid > int64(len(data)) {
			t.Fatalf("valid prefix %d of %d bytes", rf.Valid, len(data))
		}
		if rf.Corrupt != nil {
			return
		}
		again := parseRun(data[:rf.Valid], "r1")
		if again.Torn || again.Corrupt != nil {
			t.Fatalf("valid prefix of %q reads as torn %v, corrupt %v", data, again.Torn, again.Corrupt)
		}
		if d := cmp.Diff(rf.Entries, again.Entries); d != "" {
			t.Fatalf("entries of the valid prefix differ (-whole +prefix):\n%s", d)
		}
	})
}
