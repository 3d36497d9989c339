package dashboard

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// What the pages and the API show of the history: the same views, as HTML or JSON.

// StripRuns is how many recent runs the home page shows of each experiment.
const StripRuns = 30

// TrendRuns is how many runs an experiment's page draws unless asked (?limit=).
const TrendRuns = 200

// MaxTrendRuns is the most an experiment's page draws.
const MaxTrendRuns = 2000

// experimentView is an experiment on the home page and in GET /api/experiments.
type experimentView struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Runs        int               `json:"runs"` // recorded in all
	LastVerdict shakedown.Verdict `json:"last_verdict"`
	LastRun     string            `json:"last_run"`
	LastAt      time.Time         `json:"last_at"`
	// PassRate is the share of the recent runs that passed, among those judged (neither
	// error, aborted nor invalid); -1 when none was judged.
	PassRate float64    `json:"pass_rate"`
	Recent   []runView  `json:"recent"` // newest first
	Marks    []markView `json:"marks"`  // of the recent runs, newest first
}

// runView is a run in a list.
type runView struct {
	ID          string            `json:"id"`
	URL         string            `json:"url"`
	Verdict     shakedown.Verdict `json:"verdict"`
	StartedAt   time.Time         `json:"started_at"`
	Commit      string            `json:"commit,omitempty"`
	Branch      string            `json:"branch,omitempty"`
	Host        string            `json:"host,omitempty"`
	Figures     []figureView      `json:"figures,omitempty"`
	Marks       []markView        `json:"marks,omitempty"`
	Regressions []string          `json:"regressions,omitempty"` // keys of the figures the gate found regressed
}

type figureView struct {
	Key   string          `json:"key"`
	Name  string          `json:"name"`
	Phase shakedown.Phase `json:"phase,omitempty"`
	Unit  string          `json:"unit,omitempty"`
	Value float64         `json:"value"`
}

type markView struct {
	Kind     string              `json:"kind"`
	Run      string              `json:"run"`
	Commit   string              `json:"commit,omitempty"`
	Verdicts []shakedown.Verdict `json:"verdicts,omitempty"`
}

// Every link the dashboard makes to one of its pages is built here, the name or id in it
// path-escaped: a run id or experiment name with '/', '?', '#' or '%' in it still leads to
// its own page.
func experimentURL(name string) string { return "/experiments/" + url.PathEscape(name) }
func badgeURL(name string) string      { return "/badge/" + url.PathEscape(name) + ".svg" }

// RunPath is the path of a run's page on the dashboard (GET /runs/ID); what links to a run
// from elsewhere (a drill's notification) joins it to the dashboard's address.
func RunPath(id string) string { return "/runs/" + url.PathEscape(id) }

// runStopPath is where a run's stop is posted (POST /api/runs/ID/stop).
func runStopPath(id string) string { return "/api" + RunPath(id) + "/stop" }

func newExperimentView(o history.Overview) experimentView {
	v := experimentView{Name: o.Experiment, URL: experimentURL(o.Experiment), Runs: o.Runs, PassRate: -1}
	judged, passed := 0, 0
	for _, e := range o.Recent {
		rv := newRunView(e)
		v.Recent = append(v.Recent, rv)
		for _, m := range rv.Marks {
			// Two runs flaky at one commit are one mark.
			if !slices.ContainsFunc(v.Marks, func(o markView) bool { return o.Kind == m.Kind && o.Commit == m.Commit && m.Kind == history.MarkFlaky }) {
				v.Marks = append(v.Marks, m)
			}
		}
		switch e.Verdict {
		case shakedown.VerdictError, shakedown.VerdictAborted, shakedown.VerdictInvalid:
			continue
		case shakedown.VerdictPassed:
			passed++
		}
		judged++
	}
	if judged > 0 {
		v.PassRate = float64(passed) / float64(judged)
	}
	if len(o.Recent) > 0 {
		v.LastVerdict, v.LastRun, v.LastAt = o.Recent[0].Verdict, o.Recent[0].ID, o.Recent[0].StartedAt
	}
	return v
}

func newRunView(e history.Entry) runView {
	v := runView{ID: e.ID, URL: RunPath(e.ID), Verdict: e.Verdict, StartedAt: e.StartedAt, Commit: e.Commit, Branch: e.Branch, Host: e.Host}
	for _, f := range e.Figures {
		v.Figures = append(v.Figures, figureView{Key: f.Key(), Name: f.Name, Phase: f.Phase, Unit: f.Unit, Value: f.Value})
	}
	for _, m := range e.Marks {
		v.Marks = append(v.Marks, markView{Kind: m.Kind, Run: e.ID, Commit: m.Commit, Verdicts: m.Verdicts})
	}
	return v
}

// chart is one trend on an experiment's page: one figure across its runs, oldest first.
type chart struct {
	Key       string     `json:"key"`
	Title     string     `json:"title"`
	Group     string     `json:"group"`
	Unit      string     `json:"unit"`
	Values    []*float64 `json:"values"`    // per run; null where the run has no such figure
	Regressed []bool     `json:"regressed"` // per run: the gate found this figure regressed
}

// trendGroups are the kinds of trend, in the order the page shows them.
var trendGroups = []struct{ id, title string }{
	{"p99", "p99 latency under fault"},
	{"errors", "errors under fault"},
	{"detect", "time to detect"},
	{"recover", "time to recover"},
}

// trendGroup says which kind of trend a figure draws ("" for none).
func trendGroup(f figureView) string {
	switch {
	case f.Phase == shakedown.PhaseInject && strings.HasSuffix(f.Name, ".latency.p99"):
		return "p99"
	case f.Phase == shakedown.PhaseInject && strings.HasSuffix(f.Name, ".errors"):
		return "errors"
	case f.Phase == "" && strings.HasSuffix(f.Name, ".time_to_detect"):
		return "detect"
	case f.Phase == "" && strings.HasSuffix(f.Name, ".time_to_recover"):
		return "recover"
	}
	return ""
}

// charts draws the trends of runs (newest first, as the history lists them): one chart per
// figure, its points oldest first.
func charts(runs []runView) []chart {
	byKey := map[string]*chart{}
	var keys []string
	n := len(runs)
	for i, r := range runs {
		at := n - 1 - i
		for _, f := range r.Figures {
			g := trendGroup(f)
			if g == "" {
				continue
			}
			c := byKey[f.Key]
			if c == nil {
				c = &chart{Key: f.Key, Title: f.Name, Group: g, Unit: f.Unit, Values: make([]*float64, n), Regressed: make([]bool, n)}
				byKey[f.Key] = c
				keys = append(keys, f.Key)
			}
			v := f.Value
			if f.Unit == shakedown.FigureRatio {
				v *= 100 // shown in per cent
			}
			c.Values[at] = &v
			// A regressed run whose record names no figure (its gate block lost) has every
			// figure marked.
			c.Regressed[at] = slices.Contains(r.Regressions, f.Key) || r.Verdict == shakedown.VerdictRegressed && len(r.Regressions) == 0
		}
	}
	order := map[string]int{}
	for i, g := range trendGroups {
		order[g.id] = i
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := order[byKey[a].Group] - order[byKey[b].Group]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]chart, 0, len(keys))
	for _, k := range keys {
		c := *byKey[k]
		if c.Unit == shakedown.FigureRatio {
			c.Unit = "%"
		}
		out = append(out, c)
	}
	return out
}

// verdictClass is the CSS class of a verdict's colour.
func verdictClass(v shakedown.Verdict) string {
	switch v {
	case shakedown.VerdictPassed, shakedown.VerdictFailed, shakedown.VerdictRegressed, shakedown.VerdictNotSteady,
		shakedown.VerdictNotRestored, shakedown.VerdictAborted, shakedown.VerdictError, shakedown.VerdictInvalid:
		return "v-" + string(v)
	}
	return "v-unknown"
}

// verdictText is a verdict as people read it.
func verdictText(v shakedown.Verdict) string {
	if v == "" {
		return "unknown"
	}
	return strings.ReplaceAll(string(v), "_", " ")
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func percent(f float64) string {
	if f < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", f*100)
}
