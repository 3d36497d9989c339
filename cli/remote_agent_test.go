package cli

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestReadLineBounded: the remote agent reads its standard input in lines of a bounded
// length. A longer line, even one that never ends, is dropped without being kept, and what
// follows it is read as before.
func TestReadLineBounded(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	in := bufio.NewReaderSize(strings.NewReader("renew\n"+long+"\nrevert\n"+long), 16)
	for _, want := range []struct {
		line string
		err  error
	}{{"renew\n", nil}, {"", errLineTooLong}, {"revert\n", nil}, {"", errLineTooLong}} {
		line, err := readLine(in, 1024)
		if string(line) != want.line || !errors.Is(err, want.err) {
			t.Fatalf("readLine = %q, %v; want %q, %v", line, err, want.line, want.err)
		}
	}
	if line, err := readLine(in, 1024); len(line) != 0 || err != io.EOF {
		t.Fatalf("at the end: %q, %v; want io.EOF", line, err)
	}
	// A last line without its newline comes with io.EOF, as ReadBytes gives it.
	in = bufio.NewReader(strings.NewReader(`{"run_id":"r"}`))
	if line, err := readLine(in, 1024); string(line) != `{"run_id":"r"}` || err != io.EOF {
		t.Fatalf("an unterminated last line: %q, %v", line, err)
	}
}
