package shop

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// FuzzReadCommand feeds the demo's cache server's decoder arbitrary bytes (it must not
// panic) and commands encoded as the Redis client encodes them (it must read them back).
func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$6\r\nwidget\r\n"), "SET", "price:widget")
	f.Add([]byte("PING\r\n"), "PING", "")
	f.Add([]byte("*1\r\n$-1\r\n"), "GET", "a\r\nb")
	f.Fuzz(func(t *testing.T, raw []byte, a, b string) {
		ReadCommand(bufio.NewReader(strings.NewReader(string(raw))))

		want := []string{a, b}
		var enc strings.Builder
		fmt.Fprintf(&enc, "*%d\r\n", len(want))
		for _, s := range want {
			fmt.Fprintf(&enc, "$%d\r\n%s\r\n", len(s), s)
		}
		got, err := ReadCommand(bufio.NewReader(strings.NewReader(enc.String())))
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ReadCommand(%q) = %q, %v; want %q", enc.String(), got, err, want)
		}
	})
}
