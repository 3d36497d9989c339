package report

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

// TestP99Series: one point per second from the run's start, a second without requests at 0,
// and a long run in buckets that keep each bucket's highest p99, so a spike is never lost.
func TestP99Series(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &shakedown.Record{StartedAt: shakedown.At(start)}
	row := func(s int, p99 shakedown.Millis) shakedown.TimelineRow {
		return shakedown.TimelineRow{T: shakedown.At(start.Add(time.Duration(s) * time.Second)), Count: 1, P99: p99}
	}
	points, step := p99Series(r, []shakedown.TimelineRow{row(0, 10), row(1, 12), row(3, 30)})
	if d := cmp.Diff([]float64{10, 12, 0, 30}, points); d != "" || step != 1 {
		t.Errorf("short timeline: step %d, points (-want +got):\n%s", step, d)
	}

	var long []shakedown.TimelineRow
	for s := range 1000 {
		long = append(long, row(s, 5))
	}
	long[777].P99 = 900
	points, step = p99Series(r, long)
	if step != 5 || len(points) != 200 {
		t.Fatalf("1000 seconds: step %d, %d points; want 5 and 200", step, len(points))
	}
	if points[155] != 900 || points[154] != 5 {
		t.Errorf("the spike at 777 s: bucket 155 = %v, bucket 154 = %v; want 900 and 5", points[155], points[154])
	}
}
