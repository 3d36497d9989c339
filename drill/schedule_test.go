package drill

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/spec"
)

func TestLoadReadsEveryField(t *testing.T) {
	src := `drills:
  - name: nightly cache
    experiments: experiments/slow-cache.yaml
    cron: "0 3 * * *"
    lock: staging
    notify: [https://hooks.example.com/services/T0/B0/x, http://127.0.0.1:9/hook]
  - experiments: /abs/suite/
    every: 90s
  - experiments: hourly.yaml
    cron: "@hourly"
`
	s, err := Load("/etc/shakedown/schedule.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []*Drill{
		{Name: "nightly cache", Experiments: "/etc/shakedown/experiments/slow-cache.yaml", Cron: "0 3 * * *", Lock: "staging",
			Notify: []string{"https://hooks.example.com/services/T0/B0/x", "http://127.0.0.1:9/hook"},
			Pos:    shakedown.Pos{File: "/etc/shakedown/schedule.yaml", Line: 2, Col: 5}},
		{Name: "/abs/suite/", Experiments: "/abs/suite", Every: 90 * time.Second,
			Pos: shakedown.Pos{File: "/etc/shakedown/schedule.yaml", Line: 7, Col: 5}},
		{Name: "hourly.yaml", Experiments: "/etc/shakedown/hourly.yaml", Cron: "@hourly",
			Pos: shakedown.Pos{File: "/etc/shakedown/schedule.yaml", Line: 9, Col: 5}},
	}
	if diff := cmp.Diff(want, s.Drills, cmpopts.IgnoreUnexported(Drill{})); diff != "" {
		t.Errorf("drills (-want +got):\n%s", diff)
	}
	at := time.Date(2026, 12, 3, 22, 10, 0, 0, time.Local)
	for i, want := range []time.Time{
		time.Date(2026, 12, 4, 3, 0, 0, 0, time.Local),
		at.Add(90 * time.Second),
		time.Date(2026, 12, 3, 23, 0, 0, 0, time.Local),
	} {
		if got := s.Drills[i].Next(at); !got.Equal(want) {
			t.Errorf("drill %s: Next(%v) = %v, want %v", s.Drills[i].Name, at, got, want)
		}
	}
}

func TestLoadJSON(t *testing.T) {
	src := "{\n\t\"drills\": [{\"experiments\": \"e.yaml\", \"every\": \"1s\", \"notify\": [\"ftp://x\"]}]\n}\n"
	_, err := Load("s.json", []byte(src))
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("Load = %v, want one problem", err)
	}
	if want := (shakedown.Pos{File: "s.json", Line: 2, Col: 65}); ps[0].Pos != want || ps[0].Path != "drills[0].notify[0]" {
		t.Errorf("problem at %v %s, want %v drills[0].notify[0]", ps[0].Pos, ps[0].Path, want)
	}
}

// TestLoadReportsEveryProblem: a file with many mistakes gets each one, with its place.
func TestLoadReportsEveryProblem(t *testing.T) {
	src := `drills:
  - experiments: a.yaml
    every: 500ms
  - experiments: b.yaml
    every: 1m
    cron: "0 * * * *"
  - experiments: c.yaml
  - every: 1h
  - experiments: d.yaml
    cron: "61 * * * *"
  - experiments: e.yaml
    every: 1m
    lock: "bad lock"
    notify: [mailto:ops@example.com, "ftp://user:hunter2@example.com/x"]
    colour: red
  - experiments: a.yaml
    every: 1h
  - name: x
    experiments: f.yaml
    cron: 5
  - 7
  - experiments: g.yaml
    cron: "0 0 30 2 *"
  - experiments: h.yaml
    cron: "@every 500ms"
  - experiments: i.yaml
    cron: "@every 2s"
`
	_, err := Load("s.yaml", []byte(src))
	if shakedown.KindOf(err) != shakedown.KindInvalid {
		t.Fatalf("Load = %v, want kind invalid", err)
	}
	var ps spec.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load = %v, want spec.Problems", err)
	}
	type where struct {
		Line, Col int
		Path      string
	}
	var got []where
	for _, p := range ps {
		got = append(got, where{p.Pos.Line, p.Pos.Col, p.Path})
	}
	want := []where{
		{3, 12, "drills[0].every"},      // under 1s
		{6, 5, "drills[1].cron"},        // both
		{7, 5, "drills[2]"},             // neither
		{8, 5, "drills[3].experiments"}, // experiments missing
		{10, 11, "drills[4].cron"},      // bad cron
		{13, 11, "drills[5].lock"},
		{14, 14, "drills[5].notify[0]"},
		{14, 38, "drills[5].notify[1]"},
		{15, 5, "drills[5].colour"},
		{16, 5, "drills[6]"}, // a second a.yaml
		{20, 11, "drills[7].cron"},
		{21, 5, "drills[8]"},
		{23, 11, "drills[9].cron"},  // February 30th
		{25, 11, "drills[10].cron"}, // under 1s, as every: 500ms
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a URL's password is in the problems:\n%v", err)
	}
}

func TestLoadFileIsBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("drills:\n"+strings.Repeat("# padding\n", spec.MaxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(big)
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Msg, "a schedule file") {
		t.Errorf("LoadFile(too large) = %v, want one problem about a schedule file's size", err)
	}
	_, err = LoadFile(dir)
	if !errors.Is(err, userfile.ErrNotRegular) || shakedown.KindOf(err) != shakedown.KindInvalid {
		t.Errorf("LoadFile(a folder) = %v, want ErrNotRegular of kind invalid", err)
	}
	_, err = LoadFile(filepath.Join(dir, "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) || shakedown.KindOf(err) != shakedown.KindInvalid {
		t.Errorf("LoadFile(missing) = %v, want ErrNotExist of kind invalid", err)
	}
}

func TestLoadEmpty(t *testing.T) {
	for _, src := range []string{"", "drills: []\n", "drills:\n", "{}\n", "- experiments: a.yaml\n"} {
		_, err := Load("s.yaml", []byte(src))
		var ps spec.Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Errorf("Load(%q) = %v, want problems", src, err)
		}
	}
}

// TestREADMEExample: the schedule the README shows is a valid one.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "## Scheduled drills\n")
	_, block, ok2 := strings.Cut(sec, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no yaml block under ## Scheduled drills")
	}
	s, err := Load("drills.yaml", []byte(block))
	if err != nil {
		t.Fatalf("the README's schedule: %v", err)
	}
	if len(s.Drills) != 2 || s.Drills[0].Cron != "0 3 * * *" || s.Drills[1].Every != 6*time.Hour {
		t.Errorf("the README's schedule reads as %+v %+v", s.Drills[0], s.Drills[1])
	}
}

// TestCronAcrossClockChanges: a cron drill is due once on a day the clock changes for
// daylight saving time — a time the clock skips is due right after the skip, a time it
// shows twice is due at its first showing — and an expression of every hour is due each
// hour that passes.
func TestCronAcrossClockChanges(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	lh, err := time.LoadLocation("Australia/Lord_Howe") // moves by 30 minutes
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	tests := []struct {
		expr string
		from time.Time
		want []string // the next due times, in RFC 3339
	}{
		{"30 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"0 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
		{"30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"*/30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"}},
		{"0 * * * *", time.Date(2026, 11, 1, 0, 30, 0, 0, ny),
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"@daily", time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
		{"15 2 * * *", time.Date(2026, 10, 3, 12, 0, 0, 0, lh), // 02:00 → 02:30 on 4 October
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
	}
	for _, tt := range tests {
		s, err := parseCron(tt.expr)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.expr, err)
		}
		d := &Drill{Cron: tt.expr, cron: s}
		var got []string
		for at := tt.from; len(got) < len(tt.want); {
			at = d.Next(at)
			got = append(got, at.Format(time.RFC3339))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("cron %q after %v (-want +got):\n%s", tt.expr, tt.from, diff)
		}
	}
}
