package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// MainOptions are the flags of `shakedown load`.
type MainOptions struct {
	Method  string            // GET when empty
	Headers map[string]string // see ParseHeader
	Body    string
	Timeout time.Duration // per request; shakedown.DefaultRequestTimeout when 0
	JSON    bool          // write the Report as JSON instead of text
	Workers int           // above zero: closed model at maximum rate with this many workers; rate is ignored
	Client  *http.Client  // nil: DefaultClient
}

// Report is what `shakedown load` prints.
type Report struct {
	URL      string  `json:"url"`
	Method   string  `json:"method"`
	Rate     float64 `json:"rate"`              // asked for, per second; 0 in max mode
	Workers  int     `json:"workers,omitempty"` // max mode
	Requests int64   `json:"requests"`          // every request due, including any never sent (see Errors)
	// Duration is the time the load was sending, from its start to its end, whether or not
	// it kept its schedule; Wait runs from its end to the last answer.
	Duration shakedown.Millis `json:"duration"`
	Wait     shakedown.Millis `json:"wait"`
	// Achieved is the requests that were sent (not those counted as not sent) per second
	// over Duration: how well the schedule was kept.
	Achieved float64 `json:"achieved_rate"`
	// Throughput is successful requests per second over Duration plus Wait.
	Throughput float64                 `json:"throughput"`
	Success    float64                 `json:"success"` // fraction of requests that succeeded
	Latency    LatencyReport           `json:"latency"`
	Errors     int64                   `json:"errors"`
	ErrorKinds map[string]int64        `json:"error_kinds"`
	Status     map[string]int64        `json:"status_codes"`
	Late       int64                   `json:"late"` // sends that left more than LateAfter behind schedule
	Timeline   []shakedown.TimelineRow `json:"timeline"`
}

// LatencyReport sums up latencies, in milliseconds, from the scheduled send time.
type LatencyReport struct {
	Min  shakedown.Millis `json:"min"`
	Mean shakedown.Millis `json:"mean"`
	P50  shakedown.Millis `json:"p50"`
	P90  shakedown.Millis `json:"p90"`
	P95  shakedown.Millis `json:"p95"`
	P99  shakedown.Millis `json:"p99"`
	Max  shakedown.Millis `json:"max"`
}

// mainPhase is the one phase of a standalone load.
const mainPhase shakedown.Phase = "load"

// Main is `shakedown load URL --rate R --duration D`: it sends requests to url at rate for
// duration (or, with opts.Workers, as fast as that many workers can), waits for the last
// answers and writes a report to stdout. It returns an error of kind KindInvalid for bad
// arguments; a target that fails every request is reported, not an error.
func Main(ctx context.Context, url string, rate shakedown.Rate, duration time.Duration, opts MainOptions, stdout io.Writer) error {
	if duration <= 0 {
		return shakedown.Errorf(shakedown.KindInvalid, "load: duration %v must be above zero", duration)
	}
	spec := &shakedown.LoadSpec{URL: url, Method: opts.Method, Headers: opts.Headers,
		Body: opts.Body, Rate: rate, Timeout: opts.Timeout}
	if opts.Workers > 0 {
		spec.Rate = 0
	}
	g, err := New(spec, Options{Client: opts.Client, Workers: opts.Workers})
	if err != nil {
		return err
	}
	g.SetPhase(mainPhase)
	rctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	if err := g.Run(rctx); err != nil {
		return err
	}
	rep := g.Report()
	if opts.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}

// Report sums up everything the generator sent, over all phases.
func (g *Generator) Report() Report {
	r := g.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{URL: shakedown.RedactURL(g.url), Method: g.method, Workers: g.workers, ErrorKinds: map[string]int64{},
		Status: map[string]int64{}, Timeline: []shakedown.TimelineRow{}}
	if g.workers == 0 {
		rep.Rate = g.spec.Rate.PerSecond()
	}
	if r.done == 0 {
		return rep
	}
	// Over the time the load was to send: a load that sent a few requests at its start and
	// no more (every one of MaxInFlight held by the target) did not keep its rate.
	stop := r.nowOrStop()
	dur := stop.Sub(r.start)
	rep.Duration = shakedown.Ms(dur)
	if r.lastDone.After(stop) {
		rep.Wait = shakedown.Ms(r.lastDone.Sub(stop))
	}
	if dur > 0 {
		rep.Achieved = float64(r.sent) / dur.Seconds()
	}
	all := newPhaseStats("", r.start)
	for _, s := range r.phases {
		all.hist.Merge(s.hist)
		all.count += s.count
		all.errs += s.errs
		all.ok += s.ok
		all.late += s.late
	}
	if total := dur + rep.Wait.Duration(); total > 0 {
		rep.Throughput = float64(all.ok) / total.Seconds()
	}
	if all.count > 0 {
		rep.Success = float64(all.ok) / float64(all.count)
	}
	st := loadStats(all, 0)
	rep.Latency = LatencyReport{Min: usMillis(all.hist.Min(), all.count), Mean: st.Mean, P50: st.P50,
		P90: st.P90, P95: st.P95, P99: st.P99, Max: st.Max}
	rep.Requests, rep.Errors, rep.Late = all.count, all.errs, all.late
	rep.ErrorKinds, rep.Status = r.totals()
	rep.Timeline = r.timeline()
	return rep
}

// WriteText writes the report for people, in the manner of vegeta's text report.
func (rep Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	ms := func(m shakedown.Millis) string { return m.Duration().Round(time.Microsecond).String() }
	asked := fmt.Sprintf("%.2f/s", rep.Rate)
	if rep.Workers > 0 {
		asked = fmt.Sprintf("max (%d workers)", rep.Workers)
	}
	fmt.Fprintf(tw, "Target\t%s %s\n", rep.Method, rep.URL)
	fmt.Fprintf(tw, "Requests\t[total, asked, achieved, throughput]\t%d, %s, %.2f/s, %.2f/s\n",
		rep.Requests, asked, rep.Achieved, rep.Throughput)
	fmt.Fprintf(tw, "Duration\t[total, sending, wait]\t%s, %s, %s\n",
		ms(rep.Duration+rep.Wait), ms(rep.Duration), ms(rep.Wait))
	fmt.Fprintf(tw, "Latencies\t[min, mean, 50, 90, 95, 99, max]\t%s, %s, %s, %s, %s, %s, %s\n",
		ms(rep.Latency.Min), ms(rep.Latency.Mean), ms(rep.Latency.P50), ms(rep.Latency.P90),
		ms(rep.Latency.P95), ms(rep.Latency.P99), ms(rep.Latency.Max))
	fmt.Fprintf(tw, "Success\t[ratio]\t%.2f%%\n", rep.Success*100)
	fmt.Fprintf(tw, "Late sends\t[> %v behind schedule]\t%d\n", LateAfter, rep.Late)
	var codes []string
	for _, c := range sortedKeys(rep.Status) {
		codes = append(codes, fmt.Sprintf("%s:%d", c, rep.Status[c]))
	}
	fmt.Fprintf(tw, "Status Codes\t[code:count]\t%s\n", strings.Join(codes, "  "))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.ErrorKinds) > 0 {
		fmt.Fprintln(w, "Errors:")
		for _, k := range sortedKeys(rep.ErrorKinds) {
			fmt.Fprintf(w, "  %s: %d\n", k, rep.ErrorKinds[k])
		}
	}
	return nil
}

// ParseHeader parses a header flag, "Name: value".
func ParseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok {
		return "", "", shakedown.Errorf(shakedown.KindInvalid, "header: want Name: value")
	}
	if err := endpoint.Header(name, value); err != nil {
		return "", "", err
	}
	return http.CanonicalHeaderKey(name), strings.TrimSpace(value), nil
}
