package journal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Version is the version of the journal format, written in the first record of every file.
//
//	1  one copy of every record; a replayer that found a cut last line began on a new line
//	   after an empty one
//	2  run and begin records written twice; a replayer marks a cut last line with a cut
//	   record; injected and guard records
const Version = 2

// Record kinds.
const (
	kindRun      = "run"      // first record: the run's id and Meta
	kindBegin    = "begin"    // a fault is about to be injected; how to undo it
	kindInjected = "injected" // the fault's inject returned: nothing of it runs any more
	kindDone     = "done"     // an entry was reverted (Err empty) or reverting it failed
	kindGuard    = "guard"    // a watchdog (PID) took up guarding the run
	kindCut      = "cut"      // the bytes from Off up to this record were a line cut by a crash
	kindEnd      = "end"      // the runner ended the run (Close)
)

// Who wrote a done record.
const (
	ByRunner   = "runner"
	ByWatchdog = "watchdog"
	ByRecover  = "recover"
	ByStop     = "stop" // `shakedown stop`, when the runner did not answer or was dead
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
	PID      int              `json:"pid,omitempty"`
	Off      int64            `json:"off,omitempty"`
}

// castagnoli is made on first use: a process that never writes or reads a journal (most
// commands, and the many a fan-out to hosts starts) does not pay for the table.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

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
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(js, castagnoli()))
	line = append(line, js...)
	return append(line, '\n'), nil
}

// encodeTwice returns r's line twice: run and begin records are written so, in one write, so
// that damage to one copy leaves the other to read.
func encodeTwice(r *record) ([]byte, error) {
	line, err := encodeLine(r)
	if err != nil {
		return nil, err
	}
	return append(line, line...), nil
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
	if got := crc32.Checksum(js, castagnoli()); got != want {
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
			return fmt.Errorf("%w: journal version %d is newer than this binary's %d: use that version's shakedown recover", errBadLine, r.Version, Version)
		}
	case kindBegin, kindDone, kindInjected:
		if r.ID <= 0 {
			return fmt.Errorf("%w: %s record without entry id", errBadLine, r.Kind)
		}
	case kindCut:
		if r.Off < 0 {
			return fmt.Errorf("%w: cut record with offset %d", errBadLine, r.Off)
		}
	case kindGuard, kindEnd:
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
	Injected   bool      // an injected record says the inject returned
	Reverted   bool      // some done record said it was reverted
	RevertedBy string    // who first did: ByRunner, ByWatchdog, ByRecover
	RevertedAt time.Time // and when
	LastErr    string    // the last failure to revert it, if any
}

// Damage is a part of a journal file that is not a valid record and not a line cut by a
// crash: whatever was written there (an entry to undo, perhaps) cannot be read.
type Damage struct {
	Line   int   // 1-based number of the line it is on
	Offset int64 // of its first byte in the file
	Len    int
	Err    error
}

func (d Damage) Error() string {
	if d.Line == 0 {
		return fmt.Sprintf("byte %d: %v", d.Offset, d.Err)
	}
	return fmt.Sprintf("line %d: %v", d.Line, d.Err)
}

// runFile is what one journal file says.
type runFile struct {
	RunID   string
	Version int // of the run record; 0 when none could be read
	Meta    Meta
	Entries []*entry // in order of Begin
	Ended   bool
	Guards  []int // the watchdogs' pids, in the order they took up the guard
	// Damaged lists the damaged parts of the file, in order. The entries that could be read
	// are still there: records copied twice, and records found inside a damaged line, are
	// read whenever one whole copy survives.
	Damaged []Damage
	// Tail is the offset of a last line cut by a crash (no newline, not a record), or -1.
	// It is ignored: a cut begin record is one whose fault was never injected, as Begin
	// returns only once its line is synced.
	Tail int64
	Size int64
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

// maxSalvage bounds how many places inside one damaged line are tried as the start of a
// record.
const maxSalvage = 64

// parseRun reads a journal file's contents. runID is what the file name says.
//
// Every line is a record, checked by its CRC. A line that fails its check is damage, unless
// it is the last one, has no newline and follows the run record (a write cut by a crash), or
// a later cut record names it. A file without a readable run record — an empty one, one cut
// inside its first line — is damage: Open names a file only once its run record is synced. Damage never hides what is around it: the lines before and after are read as usual,
// records found inside a damaged line (two lines run together because the newline between
// them was damaged) are read too, and run and begin records are written twice, so one
// damaged copy loses nothing. A carriage return before a newline is ignored (a file whose
// line ends were converted).
func parseRun(data []byte, runID string) *runFile {
	p := &parser{f: &runFile{RunID: runID, Tail: -1, Size: int64(len(data))}, runID: runID, byID: map[int]*entry{}}
	if len(data) > maxSize {
		data = data[:maxSize]
		defer func() {
			p.f.Damaged = append(p.f.Damaged, Damage{Offset: maxSize,
				Err: fmt.Errorf("%w: the file is larger than %d MiB: what follows is not read", errBadLine, maxSize>>20)})
		}()
	}
	var off int64
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		nl := bytes.IndexByte(data, '\n')
		terminated := nl >= 0
		if !terminated {
			nl = len(data)
		}
		line := data[:nl]
		next := data[min(nl+1, len(data)):]
		if terminated {
			line = bytes.TrimSuffix(line, []byte{'\r'})
		}
		p.line(line, off, lineNo, terminated, len(next) > 0 && next[0] == '\n')
		off += int64(min(nl+1, len(data)))
		data = next
	}
	p.finish()
	return p.f
}

type parser struct {
	f      *runFile
	runID  string
	byID   map[int]*entry
	sawRun bool
	// runCopies counts the run records of the file's run read; from version 2 Open writes two
	// before the file has its name.
	runCopies int
	records   int // valid records read so far, but cut records
	bad       []Damage
	cut       map[int64]bool // offsets cut records name
	v1Cut     map[int64]bool // v1 files: bad lines followed by an empty line
}

// line reads one line at off. nextEmpty says the line after it is empty.
func (p *parser) line(line []byte, off int64, lineNo int, terminated, nextEmpty bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	r, err := decodeLine(line)
	if err == nil {
		p.apply(r, off, lineNo)
		return
	}
	found := salvage(line, !terminated)
	if !terminated && len(found) == 0 && p.sawRun {
		p.f.Tail = off
		return
	}
	if !terminated && !p.sawRun {
		// Open gives a file its name only once its run record is whole and synced: a crash
		// cannot cut a line before it.
		err = fmt.Errorf("%w: cut before the run record, which a crash cannot do", err)
	}
	p.bad = append(p.bad, Damage{Line: lineNo, Offset: off, Len: len(line), Err: err})
	if nextEmpty {
		if p.v1Cut == nil {
			p.v1Cut = map[int64]bool{}
		}
		p.v1Cut[off] = true
	}
	for _, r := range found {
		p.apply(r, off, lineNo)
	}
}

// salvage finds the records inside a line that fails its check: a record starts at the
// beginning of the line or wherever 8 hex digits, a space and '{' follow the byte that was
// its newline, and it ends just before the next such start (less the damaged newline, or
// not) or, for the last start, at the end of the line (less one byte, the damaged newline,
// when the line is the file's unterminated last). The work is linear in the line's length.
func salvage(line []byte, last bool) []*record {
	var starts []int
	for i := 0; i+10 <= len(line) && len(starts) < maxSalvage; i++ {
		if line[i+8] == ' ' && line[i+9] == '{' && isHex(line[i:i+8]) {
			starts = append(starts, i)
		}
	}
	var out []*record
	for k, s := range starts {
		var ends []int
		if k+1 < len(starts) {
			n := starts[k+1]
			ends = []int{n - 1, n}
		} else {
			ends = []int{len(line)}
			if last {
				ends = append(ends, len(line)-1)
			}
		}
		for _, e := range ends {
			if e <= s+10 {
				continue
			}
			if r, err := decodeLine(line[s:e]); err == nil {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// apply takes in one valid record read at off.
func (p *parser) apply(r *record, off int64, lineNo int) {
	f := p.f
	damage := func(format string, args ...any) {
		p.bad = append(p.bad, Damage{Line: lineNo, Offset: off, Err: fmt.Errorf("%w: "+format, append([]any{errBadLine}, args...)...)})
	}
	if r.Kind != kindCut { // a replayer's mark of a cut line says nothing of the run
		if p.records == 0 && r.Kind != kindRun && !p.sawRun && len(p.bad) == 0 {
			damage("the file does not start with its run record")
		}
		p.records++
	}
	switch r.Kind {
	case kindRun:
		if r.Run != p.runID {
			damage("file of run %q holds run %q", p.runID, r.Run)
			return
		}
		p.runCopies++
		if !p.sawRun {
			p.sawRun = true
			f.Version = r.Version
			if r.Meta != nil {
				f.Meta = *r.Meta
			}
		}
	case kindBegin:
		e := &entry{ID: r.ID, Fault: r.Fault, Undos: r.Undos, Begun: r.Time, Deadline: r.Deadline}
		if old := p.byID[r.ID]; old != nil {
			if !sameBegin(old, e) {
				damage("entry %d begun twice, differently", r.ID)
			}
			return // the second copy
		}
		p.byID[r.ID] = e
		f.Entries = append(f.Entries, e)
	case kindInjected:
		if e := p.byID[r.ID]; e != nil {
			e.Injected = true
		}
	case kindDone:
		e := p.byID[r.ID]
		if e == nil {
			return // its begin was lost to damage, which is reported
		}
		if r.Err == "" {
			if !e.Reverted {
				e.Reverted, e.RevertedBy, e.RevertedAt = true, r.By, r.Time
			}
		} else {
			e.LastErr = r.Err
		}
	case kindGuard:
		f.Guards = append(f.Guards, r.PID)
	case kindCut:
		if p.cut == nil {
			p.cut = map[int64]bool{}
		}
		p.cut[r.Off] = true
	case kindEnd:
		f.Ended = true
	}
}

func sameBegin(a, b *entry) bool {
	return a.Fault == b.Fault && a.Begun.Equal(b.Begun) && a.Deadline.Equal(b.Deadline) &&
		slices.EqualFunc(a.Undos, b.Undos, func(x, y shakedown.Undo) bool {
			return x.Type == y.Type && x.Summary == y.Summary && bytes.Equal(x.Data, y.Data)
		})
}

// finish decides which bad lines are damage: those no cut record excuses (nor, in a version 1
// file, the empty line a replayer of that version wrote after a cut line).
func (p *parser) finish() {
	for _, d := range p.bad {
		if d.Len > 0 && (p.cut[d.Offset] || p.f.Version == 1 && p.v1Cut[d.Offset]) {
			continue
		}
		p.f.Damaged = append(p.f.Damaged, d)
	}
	// Open writes the run record before the file has its name, so a journal without one
	// (empty, or cut inside its first line) is no crash's leftover: it is damage, and stays.
	switch {
	case len(p.f.Damaged) > 0:
	case !p.sawRun:
		p.f.Damaged = append(p.f.Damaged, Damage{Line: 1, Err: fmt.Errorf("%w: no run record", errBadLine)})
	case p.f.Version >= 2 && p.runCopies < 2:
		p.f.Damaged = append(p.f.Damaged, Damage{Line: 2, Err: fmt.Errorf("%w: the second copy of the run record is missing: the file was cut, which a crash cannot do", errBadLine)})
	}
}
