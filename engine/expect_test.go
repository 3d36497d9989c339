package engine

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

// TestJudgeExpectation: an expectation is judged from when it fired and came back, against
// the first inject and the end of the revert, and is left undecided until its time is up.
func TestJudgeExpectation(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fi, re := t0.Add(3*time.Second), t0.Add(60*time.Second) // first inject, revert's end
	alert := func(edit func(x *expect)) *expect {
		x := &expect{e: &shakedown.Expectation{Name: "slow", FiresWithin: 30 * time.Second, ResolvesWithin: time.Minute},
			alert: stubAlert{}}
		if edit != nil {
			edit(x)
		}
		return x
	}
	type want struct {
		decided, held bool
		detail        string
		deadline      time.Time
	}
	for _, tc := range []struct {
		name   string
		x      *expect
		fi, re time.Time
		now    time.Time
		want   want
	}{{
		name: "fired and resolved in time",
		x:    alert(func(x *expect) { x.firedAt, x.backAt = fi.Add(2*time.Second), re.Add(time.Second) }),
		fi:   fi, re: re, now: re.Add(2 * time.Second),
		want: want{true, true, "fired after 2s (within 30s); resolved 1s after the revert (within 1m)", time.Time{}},
	}, {
		name: "nothing injected",
		x:    alert(nil), now: t0,
		want: want{true, false, "nothing was injected; nothing was reverted", time.Time{}},
	}, {
		name: "not fired yet",
		x:    alert(nil), fi: fi, now: fi.Add(10 * time.Second),
		want: want{false, false, "nothing was reverted", fi.Add(30 * time.Second)},
	}, {
		name: "fired late, already firing before",
		x:    alert(func(x *expect) { x.firedAt, x.preFiring, x.lastErr = fi.Add(40*time.Second), true, "timeout" }),
		fi:   fi, re: re, now: re,
		want: want{false, false, "fired after 40s, expected within 30s; it was already firing before the first inject; last error: timeout", re.Add(time.Minute)},
	}, {
		name: "never fired, nothing to resolve",
		x: alert(func(x *expect) {
			x.e.FiresWithin = 0
		}),
		fi: fi, re: re, now: re.Add(2 * time.Minute),
		want: want{true, true, "never fired, nothing to resolve", time.Time{}},
	}, {
		name: "a probe that did not hold again",
		x: &expect{e: &shakedown.Expectation{Name: "up", FiresWithin: 10 * time.Second, RecoversWithin: 5 * time.Second},
			firedAt: fi.Add(time.Second)},
		fi: fi, re: re, now: re.Add(6 * time.Second),
		want: want{true, false, "broke after 1s (within 10s); not held again within 5s of the revert", time.Time{}},
	}, {
		name: "a probe back late",
		x: &expect{e: &shakedown.Expectation{Name: "up", RecoversWithin: 5 * time.Second},
			backAt: re.Add(7 * time.Second)},
		fi: fi, re: re, now: re.Add(8 * time.Second),
		want: want{true, false, "held again 7s after the revert, expected within 5s", time.Time{}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &runState{firstInject: tc.fi, revertEnd: tc.re}
			var got want
			got.decided, got.held, got.detail, got.deadline = s.judge(tc.x, tc.now)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("judge %s at %s (-want +got):\n%s", tc.x.e.Name, tc.now.Sub(t0), diff)
			}
		})
	}
}

type stubAlert struct{}

func (stubAlert) Firing(context.Context) (bool, error) { return false, nil }
