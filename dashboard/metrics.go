package dashboard

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shakedown-dev/shakedown"
)

// The metrics /metrics exposes, read from the history at each scrape.
var (
	metricRuns = prometheus.NewDesc("shakedown_runs_total",
		"Runs recorded in the history, by experiment and verdict.", []string{"experiment", "verdict"}, nil)
	metricLastVerdict = prometheus.NewDesc("shakedown_last_verdict",
		"The verdict of the newest run of each experiment: 1 for its verdict, 0 for the others.", []string{"experiment", "verdict"}, nil)
	metricLastRun = prometheus.NewDesc("shakedown_last_run_timestamp_seconds",
		"When the newest run of each experiment ended (Unix time).", []string{"experiment"}, nil)
	metricLastFigure = prometheus.NewDesc("shakedown_last_run_figure",
		"The headline figures of the newest run of each experiment: each load's p99 (ms) and errors (ratio) under fault, the time to recover (ms).",
		[]string{"experiment", "figure", "phase", "unit"}, nil)
	metricNext = prometheus.NewDesc("shakedown_schedule_next_run_timestamp_seconds",
		"When each scheduled drill runs next (Unix time).", []string{"schedule"}, nil)
	metricLive = prometheus.NewDesc("shakedown_live_runs", "Runs going on now.", nil, nil)
	metricUp   = prometheus.NewDesc("shakedown_history_up", "1 when the history store answered this scrape.", nil, nil)
)

// verdicts are every verdict, for shakedown_last_verdict.
var verdicts = []shakedown.Verdict{shakedown.VerdictPassed, shakedown.VerdictFailed, shakedown.VerdictInvalid,
	shakedown.VerdictAborted, shakedown.VerdictNotRestored, shakedown.VerdictError, shakedown.VerdictNotSteady, shakedown.VerdictRegressed}

// collector reads the metrics of one scrape from the history.
type collector struct {
	d *dashboard
	r *http.Request
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metricRuns, metricLastVerdict, metricLastRun, metricLastFigure, metricNext, metricLive, metricUp} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx := c.r.Context()
	up := 1.0
	counts, err := c.d.o.Store.Counts(ctx)
	if err != nil {
		c.d.logf(c.r, "metrics: %v", err)
		up = 0
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(metricRuns, prometheus.CounterValue, float64(n.Runs), n.Experiment, string(n.Verdict))
	}
	newest, err := c.d.o.Store.Newest(ctx)
	if err != nil {
		c.d.logf(c.r, "metrics: %v", err)
		up = 0
	}
	for _, e := range newest {
		for _, v := range verdicts {
			val := 0.0
			if v == e.Verdict {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(metricLastVerdict, prometheus.GaugeValue, val, e.Experiment, string(v))
		}
		at := e.EndedAt
		if at.IsZero() || at.UnixMilli() == 0 {
			at = e.StartedAt
		}
		ch <- prometheus.MustNewConstMetric(metricLastRun, prometheus.GaugeValue, float64(at.UnixMilli())/1000, e.Experiment)
		seen := map[string]bool{}
		for _, f := range e.Figures {
			// An expectation named "recovery" gives a second recovery.time_to_recover; a
			// series is exposed once.
			if k := f.Key(); !seen[k] {
				seen[k] = true
				ch <- prometheus.MustNewConstMetric(metricLastFigure, prometheus.GaugeValue, f.Value, e.Experiment, f.Name, string(f.Phase), f.Unit)
			}
		}
	}
	for _, s := range c.d.schedules() {
		if !s.Next.IsZero() {
			ch <- prometheus.MustNewConstMetric(metricNext, prometheus.GaugeValue, float64(s.Next.UnixMilli())/1000, s.Name)
		}
	}
	if c.d.o.Live != nil {
		ch <- prometheus.MustNewConstMetric(metricLive, prometheus.GaugeValue, float64(len(c.d.live(c.r))))
	}
	ch <- prometheus.MustNewConstMetric(metricUp, prometheus.GaugeValue, up)
}

// metrics answers a Prometheus scrape (a token as a bearer token where reading needs one).
func (d *dashboard) metrics(w http.ResponseWriter, r *http.Request) {
	if a, ok := d.authorize(r); !ok || a < accessRead {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shakedown"`)
		writeError(w, http.StatusUnauthorized, "a token is needed: Authorization: Bearer TOKEN")
		return
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector{d, r}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}
