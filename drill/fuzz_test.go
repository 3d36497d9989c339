package drill

import (
	"errors"
	"testing"

	"github.com/shakedown-dev/shakedown/spec"
)

// FuzzLoad: whatever the file holds, Load returns a schedule or problems, never both,
// never panics, and every drill it returns is complete.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"drills:\n  - experiments: a.yaml\n    every: 2s\n",
		"drills:\n  - {name: n, experiments: a, cron: \"*/5 * * * *\", lock: l, notify: [http://x/]}\n",
		"{\"drills\": [{\"experiments\": \"a\", \"cron\": \"@daily\"}]}",
		"drills: &a [*a]\n",
		"drills:\n  - <<: {experiments: a}\n    every: 1h\n",
		"drills:\n  - experiments: a\n    cron: \"TZ=UTC 0 0 * * *\"\n",
		"drills:\n  - experiments: a\n    cron: \"@every 500ms\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Load("f.yaml", []byte(src))
		if err != nil {
			var ps spec.Problems
			if s != nil || !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("Load = %v, %v: want no schedule and problems", s, err)
			}
			return
		}
		if len(s.Drills) == 0 {
			t.Fatalf("Load gave a schedule with no drill and no problem")
		}
		names := map[string]bool{}
		for _, d := range s.Drills {
			if d.Experiments == "" || d.Name == "" || names[d.Name] {
				t.Fatalf("incomplete or repeated drill %+v", d)
			}
			names[d.Name] = true
			if (d.Every > 0) == (d.Cron != "") || (d.Cron != "") != (d.cron != nil) || (d.Every > 0 && d.Every < MinEvery) {
				t.Fatalf("drill %q: every %v, cron %q", d.Name, d.Every, d.Cron)
			}
		}
	})
}
