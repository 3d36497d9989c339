package report

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// maxChartPoints is the most points a Markdown chart draws; a longer timeline is drawn in
// buckets of several seconds, each its highest p99.
const maxChartPoints = 240

// writeLoadChartsMarkdown draws, for each load with a timeline of two seconds or more, its p99
// per second as a Mermaid xychart (GitHub renders it), with the phases' times said under it.
func writeLoadChartsMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	for _, l := range r.Loads {
		points, step := p99Series(r, l.Timeline)
		if len(points) < 2 {
			continue
		}
		what := "p99 per second"
		if step > 1 {
			what = fmt.Sprintf("p99, the highest of each %d seconds", step)
		}
		fmt.Fprintf(b, "```mermaid\nxychart-beta\n    title %s\n", mermaidString(l.Name+": "+what+" (ms)"))
		fmt.Fprintf(b, "    x-axis \"seconds since the start\" 0 --> %d\n", (len(points)-1)*step)
		b.WriteString("    y-axis \"p99 (ms)\"\n    line [")
		for i, v := range points {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64))
		}
		b.WriteString("]\n```\n\n")
		if phases := phaseTimes(r); phases != "" {
			b.WriteString(phases + "\n\n")
		}
	}
}

// p99Series is a load's p99 for each second from the run's start (0 for a second without
// requests), in buckets of step seconds when there are more than maxChartPoints seconds.
func p99Series(r *shakedown.Record, rows []shakedown.TimelineRow) (points []float64, step int) {
	if len(rows) == 0 {
		return nil, 1
	}
	start := r.StartedAt.Time
	if start.IsZero() {
		start = rows[0].T.Time
	}
	var secs []float64
	for _, row := range rows {
		i := int(row.T.Sub(start) / time.Second)
		if i < 0 || i > 24*3600 {
			continue
		}
		for len(secs) <= i {
			secs = append(secs, 0)
		}
		secs[i] = max(secs[i], float64(row.P99))
	}
	step = 1
	for len(secs) > maxChartPoints*step {
		step++
	}
	for i := 0; i < len(secs); i += step {
		v := 0.0
		for _, s := range secs[i:min(i+step, len(secs))] {
			v = max(v, s)
		}
		points = append(points, v)
	}
	return points, step
}

// phaseTimes says when each phase ran, in seconds since the start: "baseline 0–20s · inject
// 20–80s · …".
func phaseTimes(r *shakedown.Record) string {
	var parts []string
	for _, p := range r.Phases {
		if p.Start.IsZero() || r.StartedAt.IsZero() {
			continue
		}
		from := p.Start.Sub(r.StartedAt.Time).Seconds()
		to := p.End.Sub(r.StartedAt.Time).Seconds()
		parts = append(parts, fmt.Sprintf("%s %s–%ss", mdText(string(p.Name)), trimFloat(from), trimFloat(to)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Phases (seconds since the start): " + strings.Join(parts, " · ")
}

func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// mermaidString quotes s for a Mermaid title: one line, without the quotes that would end it.
func mermaidString(s string) string {
	s = strings.NewReplacer("\"", "'", "\n", " ", "\r", " ", "`", "'").Replace(oneLine(s))
	return "\"" + s + "\""
}
