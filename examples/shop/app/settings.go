package app

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Setting is one key=value line of a version file.
type Setting struct {
	Key, Value string
	Line       int
}

// ParseSettings reads a version file: one key=value per line, blank lines and lines starting
// with # ignored, spaces around keys and values trimmed, a value optionally in double quotes.
// Keys are letters, digits, '_' and '-'; a key given twice is an error.
func ParseSettings(b []byte) ([]Setting, error) {
	var out []Setting
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: want key=value", n)
		}
		for _, r := range k {
			if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return nil, fmt.Errorf("line %d: key %q: want letters, digits, _ and -", n, k)
			}
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("line %d: %s is already set on line %d", n, k, prev)
		}
		seen[k] = n
		out = append(out, Setting{Key: k, Value: v, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
