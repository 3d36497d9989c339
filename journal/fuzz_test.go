package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
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

// FuzzParseRun: whole files never make the reader panic, what it reports lies within the
// file, and marking a cut last line the way a replayer does makes it read as nothing worse:
// the same entries, the same damage, no cut line left.
func FuzzParseRun(f *testing.F) {
	var file []byte
	for _, r := range []*record{
		{Kind: kindRun, Version: Version, Run: "r1"},
		{Kind: kindBegin, ID: 1, Fault: "f", Undos: []shakedown.Undo{{Type: "t", Data: json.RawMessage(`1`)}}},
		{Kind: kindBegin, ID: 2, Fault: "g"},
		{Kind: kindInjected, ID: 2},
		{Kind: kindDone, ID: 1},
		{Kind: kindGuard, PID: 42},
	} {
		line, _ := encodeTwice(r)
		file = append(file, line...)
	}
	f.Add(file)
	f.Add(file[:len(file)-7])
	f.Add(append(append([]byte(nil), file...), "\n\n"...))
	crlf := []byte(strings.ReplaceAll(string(file), "\n", "\r\n"))
	f.Add(crlf)
	merged := append([]byte(nil), file...)
	merged[bytes.IndexByte(merged, '\n')] = 'x'
	f.Add(merged)
	f.Add([]byte{})                           // an emptied journal
	f.Add(file[:100])                         // cut inside its run record
	f.Add(file[:bytes.IndexByte(file, '\n')]) // its first line without the newline
	f.Fuzz(func(t *testing.T, data []byte) {
		rf := parseRun(data, "r1")
		for _, d := range rf.Damaged {
			if d.Offset < 0 || d.Offset > int64(len(data)) || d.Len < 0 {
				t.Fatalf("damage %+v outside a file of %d bytes", d, len(data))
			}
		}
		if len(rf.Damaged) == 0 && rf.Version == 0 {
			t.Fatalf("a file without a run record reads as undamaged")
		}
		if rf.Tail < 0 {
			return
		}
		if rf.Tail > int64(len(data)) {
			t.Fatalf("cut line at %d of %d bytes", rf.Tail, len(data))
		}
		cut, err := encodeLine(&record{Kind: kindCut, Off: rf.Tail})
		if err != nil {
			t.Fatal(err)
		}
		marked := append(append(append([]byte(nil), data...), '\n'), cut...)
		again := parseRun(marked, "r1")
		if again.Tail >= 0 {
			t.Fatalf("after its cut record, the cut line at %d still reads as cut at %d", rf.Tail, again.Tail)
		}
		if d := cmp.Diff(rf.Entries, again.Entries); d != "" {
			t.Fatalf("entries once the cut line is marked (-before +after):\n%s", d)
		}
		if len(again.Damaged) != len(rf.Damaged) {
			t.Fatalf("damage once the cut line is marked: %v, before %v", again.Damaged, rf.Damaged)
		}
	})
}
