package journal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Version is the version of the journal format, written in the first record of every file.
const Version = 1

// Record kinds.
const (
	kindRun   = "run"   // first record: the run's id and Meta
	kindBegin = "begin" // a fault is about to be injected; how to undo it
	kindDone  = "done"  // an entry was reverted (Err empty) or reverting it failed
	kindEnd   = "end"   // the runner ended the run (Close)
)

// Who wrote a done record.
const (
	ByRunner   = "runner"
	ByWatchdog = "watchdog"
	ByRecover  = "recover"
)

// record is one line of a journal file.
type record struct {
	Kind     string           `json:"k"`
	Time     time.Time        `json:"t"`
	Version  int              `json:"v,omitempty"`
	Run      string           `json:"run,omitempty"`
	Meta     *Meta            `json:"meta,omitempty"`
	ID       int              `json:"id,omitempty"`
	Fault    string           `json:"fault,omitempty"`
	Undos    []shakedown.Undo `json:"undos,omitempty"`
	Deadline time.Time        `json:"deadline,omitzero"`
	Err      string           `json:"err,omitempty"`
	By       string           `json:"by,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadLine is the cause of every line the decoder rejects.
var errBadLine = errors.New("bad journal line")

// encodeLine returns r as one journal line: the CRC-32C of the JSON text in 8 hex digits, a
// space, the JSON text and a newline. JSON never holds a raw newline, so a line is a record.
func encodeLine(r *record) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode journal record: %w", err)
	}
	line := make([]byte, 0, len(js)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(js, castagnoli))
	line = append(line, js...)
	return append(line, '\n'), nil
}

// decodeLine decodes one line (without its newline) written by encodeLine. Every error
// wraps errBadLine.
func decodeLine(line []byte) (*record, error) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, fmt.Errorf("%w: too short or no checksum", errBadLine)
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, fmt.Errorf("%w: checksum is not hex", errBadLine)
	}
	js := line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if got := crc32.Checksum(js, castagnoli); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", errBadLine, got, want)
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadLine, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the record", errBadLine)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// check reports a record that is well formed JSON but cannot have been written by Journal.
func (r *record) check() error {
	switch r.Kind {
	case kindRun:
		if r.Run == "" || r.Version == 0 {
			return fmt.Errorf("%w: run record without run id or version", errBadLine)
		}
		if r.Version > Version {
			return fmt.Errorf("%w: journal version %d is newer than this binary's %d", errBadLine, r.Version, Version)
		}
	case kindBegin, kindDone:
		if r.ID <= 0 {
			return fmt.Errorf("%w: %s record without entry id", errBadLine, r.Kind)
		}
	case kindEnd:
	default:
		return fmt.Errorf("%w: unknown record kind %q", errBadLine, r.Kind)
	}
	return nil
}

// entry is what a file says of one Begin.
type entry struct {
	ID         int
	Fault      string
	Undos      []shakedown.Undo
	Begun      time.Time
	Deadline   time.Time
	Reverted   bool      // some done record said it was reverted
	RevertedBy string    // who first did: ByRunner, ByWatchdog, ByRecover
	RevertedAt time.Time // and when
	LastErr    string    // the last failure to revert it, if any
}

// runFile is what one journal file says.
type runFile struct {
	RunID   string
	Meta    Meta
	Entries []*entry // in order of Begin
	Ended   bool
	// Valid is the length of the prefix made of whole, valid lines; Torn is true when
	// bytes after it were ignored as a line cut by a crash.
	Valid int64
	Torn  bool
	// Corrupt is set when a line other than the last is not valid, or the file does not
	// start with a run record. The entries that could be read are still there.
	Corrupt error
}

// pending returns the entries not yet reverted, in order of Begin.
func (f *runFile) pending() []*entry {
	var out []*entry
	for _, e := range f.Entries {
		if !e.Reverted {
			out = append(out, e)
		}
	}
	return out
}

// parseRun reads a journal file's contents. runID is what the file name says; a run record
// naming another run makes the file corrupt. The last line may be cut (no newline) or fail its
// checksum: it is ignored, and so is a bad line followed by an empty one (a replayer found it
// cut and began a new line). A bad line elsewhere sets Corrupt; parsing goes on past it so that
// as much as possible can still be undone.
func parseRun(data []byte, runID string) *runFile {
	f := &runFile{RunID: runID}
	byID := map[int]*entry{}
	var off int64
	lineNo := 0
	sawHeader := false
	setCorrupt := func(err error) {
		if f.Corrupt == nil {
			f.Corrupt = err
		}
	}
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 { // the last line, cut before its newline
			f.Torn = true
			break
		}
		line := data[:nl]
		data = data[nl+1:]
		lineNo++
		if len(bytes.TrimSpace(line)) == 0 { // a writer that found a cut line starts afresh
			off += int64(nl + 1)
			f.Valid = off
			continue
		}
		r, err := decodeLine(line)
		if err != nil {
			if len(data) > 0 && data[0] == '\n' {
				// A line cut by a crash, after which a replayer started afresh on a new line.
				off += int64(nl + 1)
				f.Valid = off
				continue
			}
			if len(bytes.TrimSpace(data)) == 0 { // the last line: cut by a crash
				f.Torn = true
				break
			}
			setCorrupt(fmt.Errorf("line %d: %w", lineNo, err))
			off += int64(nl + 1)
			continue
		}
		off += int64(nl + 1)
		f.Valid = off
		if !sawHeader {
			sawHeader = true
			if r.Kind != kindRun {
				setCorrupt(fmt.Errorf("line %d: %w: first record is %q, not %q", lineNo, errBadLine, r.Kind, kindRun))
			}
		}
		switch r.Kind {
		case kindRun:
			if r.Run != runID {
				setCorrupt(fmt.Errorf("line %d: %w: file of run %q holds run %q", lineNo, errBadLine, runID, r.Run))
			}
			if r.Meta != nil {
				f.Meta = *r.Meta
			}
		case kindBegin:
			if byID[r.ID] != nil {
				setCorrupt(fmt.Errorf("line %d: %w: entry %d begun twice", lineNo, errBadLine, r.ID))
				continue
			}
			e := &entry{ID: r.ID, Fault: r.Fault, Undos: r.Undos, Begun: r.Time, Deadline: r.Deadline}
			byID[r.ID] = e
			f.Entries = append(f.Entries, e)
		case kindDone:
			e := byID[r.ID]
			if e == nil {
				continue // its begin was lost to corruption, which is reported already
			}
			if r.Err == "" {
				if !e.Reverted {
					e.Reverted, e.RevertedBy, e.RevertedAt = true, r.By, r.Time
				}
			} else {
				e.LastErr = r.Err
			}
		case kindEnd:
			f.Ended = true
		}
	}
	return f
}
