package drill

import (
	"time"

	"github.com/robfig/cron/v3"
)

// wallClock is a cron schedule read as a person reads a crontab across a change of the
// clock (daylight saving time), the way ISC cron runs one:
//
//   - a time the clock skips (02:30 on the night it goes from 02:00 to 03:00) is due at the
//     first instant after the skip (03:00), not a day later;
//   - a time the clock shows twice (01:30 on the night it goes from 02:00 back to 01:00) is
//     due once, at its first showing — unless the expression names every hour (@hourly,
//     "0 * * * *"), which is due at each of the two.
//
// cron.SpecSchedule alone does neither: it passes over the skipped time and fires on both
// showings of the repeated one.
type wallClock struct{ *cron.SpecSchedule }

const allHours = 1<<24 - 1

func (w wallClock) Next(t time.Time) time.Time {
	for {
		n := w.SpecSchedule.Next(t)
		if skip := w.skipped(t, n); !skip.IsZero() {
			return skip
		}
		if n.IsZero() || w.Hour&allHours == allHours || !repeated(n) {
			return n
		}
		t = n // the second showing of a time already due: the next after it
	}
}

// skipped returns the first instant after a forward change of the clock, in (t, n), whose
// skipped wall-clock times the schedule names; zero when there is none. n zero: none.
func (w wallClock) skipped(t, n time.Time) time.Time {
	for z := t; ; {
		_, end := z.ZoneBounds()
		if end.IsZero() || !end.After(t) || (!n.IsZero() && !end.Before(n)) || end.Sub(t) > 400*24*time.Hour {
			return time.Time{}
		}
		_, before := end.Add(-time.Nanosecond).Zone()
		_, after := end.Zone()
		if jump := time.Duration(after-before) * time.Second; jump > 0 {
			// The wall-clock times [end as read before the change, + jump) never show.
			wall := end.In(time.FixedZone("", before))
			for m := time.Duration(0); m < jump; m += time.Minute {
				if w.matches(wall.Add(m)) {
					return end
				}
			}
		}
		z = end
	}
}

// matches says whether the schedule names the wall-clock minute of t.
func (w wallClock) matches(t time.Time) bool {
	s := w.SpecSchedule
	bit := func(field uint64, v int) bool { return field&(1<<uint(v)) != 0 }
	if !bit(s.Second, 0) || !bit(s.Minute, t.Minute()) || !bit(s.Hour, t.Hour()) || !bit(s.Month, int(t.Month())) {
		return false
	}
	dom, dow := bit(s.Dom, t.Day()), bit(s.Dow, int(t.Weekday()))
	if s.Dom&(1<<63) != 0 || s.Dow&(1<<63) != 0 {
		return dom && dow
	}
	return dom || dow
}

// repeated says whether t's wall-clock time was already shown once, before a backward change
// of the clock.
func repeated(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, off := t.Zone()
	back := time.Duration(before-off) * time.Second
	return back > 0 && t.Sub(start) < back
}
