package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/report"
)

//go:embed web/*.tmpl
var templateFiles embed.FS

// pages are the dashboard's templates, one per page, each with the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"verdictClass":  verdictClass,
		"verdictText":   verdictText,
		"shortSHA":      shortSHA,
		"percent":       percent,
		"runURL":        RunPath,
		"runStopURL":    runStopPath,
		"experimentURL": experimentURL,
		"reverse": func(rs []runView) []runView {
			out := slices.Clone(rs)
			slices.Reverse(out)
			return out
		},
		"version": func() string { return shakedown.Version },
		"has":     func(set []string, k string) bool { return slices.Contains(set, k) },
		"value":   figureValue,
		"ago":     func(t time.Time) string { return roughly(time.Since(t)) + " ago" },
		"until": func(t time.Time) string {
			if d := time.Until(t); d > 0 {
				return "in " + roughly(d)
			}
			return "due"
		},
	}
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFiles, "web/layout.html.tmpl"))
	out := map[string]*template.Template{}
	for _, name := range []string{"home", "experiment", "live", "login", "error"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, "web/"+name+".html.tmpl"))
	}
	return out
}()

// roughly is a duration as people say it: 40s, 5m, 3h, 2d.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

// figureValue is a figure as the runs table shows it.
func figureValue(f figureView) string {
	switch f.Unit {
	case shakedown.FigureMs:
		if f.Value >= 10000 {
			return fmt.Sprintf("%.1fs", f.Value/1000)
		}
		return fmt.Sprintf("%.0fms", f.Value)
	case shakedown.FigureRatio:
		return fmt.Sprintf("%.2f%%", f.Value*100)
	}
	return strconv.FormatFloat(f.Value, 'g', 4, 64)
}

// layout is what every page's layout needs.
type layout struct {
	Title    string
	Store    string
	LoggedIn bool // a login cookie is set: offer to log out
	UPlot    bool // the page draws charts: load uPlot
}

// contentSecurityPolicy lets the dashboard's pages run their own scripts and load from the
// dashboard alone. (The run page is the HTML report, which has its own: report.ContentSecurityPolicy.)
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// render writes a page; a template that fails is a 500, never half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.logf(r, "render %s: %v", name, err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// html/template escapes markup; a character that would reorder or hide text goes here,
	// for every field of every page at once.
	io.WriteString(w, shakedown.Displayable(buf.String()))
}

func (d *dashboard) layout(r *http.Request, title string) layout {
	_, err := r.Cookie(cookieName)
	name := d.o.Title
	if name == "" {
		name = d.o.Store.DSN().String()
	}
	return layout{Title: title, Store: name, LoggedIn: err == nil}
}

// pageError shows an error as a page, with the status its kind says.
func (d *dashboard) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status := shakedown.KindOf(err).HTTPStatus()
	heading := "Something went wrong"
	if status == http.StatusNotFound {
		heading = "Not found"
	}
	if status >= 500 {
		d.logf(r, "%v", err)
	}
	d.render(w, r, status, "error", struct {
		layout
		Heading, Message string
	}{d.layout(r, "shakedown: "+heading), heading, err.Error()})
}

type homePage struct {
	layout
	Experiments []experimentView
	Schedules   []Schedule
	Live        []LiveRun
}

func (d *dashboard) homeData(ctx context.Context) ([]experimentView, error) {
	os, err := d.o.Store.Overviews(ctx, StripRuns)
	if err != nil {
		return nil, err
	}
	out := make([]experimentView, 0, len(os))
	for _, o := range os {
		out = append(out, newExperimentView(o))
	}
	return out, nil
}

func (d *dashboard) home(w http.ResponseWriter, r *http.Request) {
	exps, err := d.homeData(r.Context())
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	p := homePage{layout: d.layout(r, "shakedown: experiments"), Experiments: exps, Schedules: d.schedules()}
	p.Live = d.live(r)
	d.render(w, r, http.StatusOK, "home", p)
}

// live lists the live runs; a failure to tell is logged and shows none.
func (d *dashboard) live(r *http.Request) []LiveRun {
	if d.o.Live == nil {
		return nil
	}
	ls, err := d.o.Live(r.Context())
	if err != nil {
		d.logf(r, "list live runs: %v", err)
	}
	return ls
}

func (d *dashboard) schedules() []Schedule {
	if d.o.Schedules == nil {
		return nil
	}
	return d.o.Schedules()
}

// experimentData is an experiment's page and its API answer.
type experimentData struct {
	Name   string    `json:"name"`
	Branch string    `json:"branch,omitempty"`
	Total  int       `json:"runs_recorded"`
	Runs   []runView `json:"runs"` // newest first
	Charts []chart   `json:"charts"`
}

// readExperiment reads an experiment's newest runs (KindNotFound when it has none) and marks
// the figures the regression gate found regressed, from the records of the runs it judged
// regressed.
func (d *dashboard) readExperiment(r *http.Request, name string) (*experimentData, error) {
	ctx := r.Context()
	q := r.URL.Query()
	limit := TrendRuns
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "limit %q: want a number above zero", s)
		}
		limit = min(n, MaxTrendRuns)
	}
	branch := q.Get("branch")
	es, err := d.o.Store.Trend(ctx, name, branch, limit)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		what := "experiment " + name
		if branch != "" {
			what += " on branch " + branch
		}
		return nil, shakedown.Errorf(shakedown.KindNotFound, "%s: no run recorded", what)
	}
	total, err := d.o.Store.CountRuns(ctx, name)
	if err != nil {
		return nil, err
	}
	ed := &experimentData{Name: name, Branch: branch, Total: total}
	for _, e := range es {
		v := newRunView(e)
		if e.Verdict == shakedown.VerdictRegressed {
			rec, err := d.o.Store.Run(ctx, e.ID)
			if err != nil {
				return nil, err
			}
			if rec.Gate != nil {
				v.Regressions = rec.Gate.Regressions
			}
		}
		ed.Runs = append(ed.Runs, v)
	}
	ed.Charts = charts(ed.Runs)
	return ed, nil
}

type experimentPage struct {
	layout
	*experimentData
	URL    string
	Badge  string
	Data   template.JS
	Groups []chartGroup
}

type chartGroup struct {
	Title  string
	Charts []chart
}

func (d *dashboard) experiment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ed, err := d.readExperiment(r, name)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	p := experimentPage{layout: d.layout(r, "shakedown: "+name), experimentData: ed,
		URL: experimentURL(name), Badge: badgeURL(name)}
	p.UPlot = len(ed.Charts) > 0
	for _, g := range trendGroups {
		cg := chartGroup{Title: g.title}
		for _, c := range ed.Charts {
			if c.Group == g.id {
				cg.Charts = append(cg.Charts, c)
			}
		}
		if len(cg.Charts) > 0 {
			p.Groups = append(p.Groups, cg)
		}
	}
	// The charts' data, oldest run first, for dashboard.js.
	type point struct {
		ID    string `json:"id"`
		URL   string `json:"url"`
		Label string `json:"label"` // on the x axis: the commit, or for a run of none its start
	}
	data := struct {
		Runs   []point `json:"runs"`
		Charts []chart `json:"charts"`
	}{Charts: ed.Charts}
	for _, rv := range slices.Backward(ed.Runs) {
		label := shortSHA(rv.Commit)
		if label == "" {
			label = rv.StartedAt.UTC().Format("01-02 15:04")
		}
		data.Runs = append(data.Runs, point{rv.ID, rv.URL, label})
	}
	b, err := json.Marshal(data)
	if err != nil {
		d.pageError(w, r, shakedown.Wrap(shakedown.KindInternal, "encode trends", err))
		return
	}
	// html/template escapes a template.JS value in a JSON block as it must: "</script>" in a
	// name cannot close it.
	p.Data = template.JS(b)
	d.render(w, r, http.StatusOK, "experiment", p)
}

// run shows a run: its HTML report, or, for a run going on now, a page that offers to stop it.
func (d *dashboard) run(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := d.o.Store.Run(r.Context(), id)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		for _, l := range d.live(r) {
			if l.ID == id {
				d.livePage(w, r, l)
				return
			}
		}
	}
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	if rec.ID != id {
		// A prefix of the id: the run's page is at its whole id.
		http.Redirect(w, r, RunPath(rec.ID), http.StatusFound)
		return
	}
	var buf bytes.Buffer
	err = report.WriteHTML(&buf, []*shakedown.Record{rec}, report.HTMLOptions{
		Title:  "shakedown: " + rec.Experiment.Name + " " + rec.ID,
		RunURL: RunPath,
	})
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", report.ContentSecurityPolicy()+"; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (d *dashboard) livePage(w http.ResponseWriter, r *http.Request, l LiveRun) {
	a, _ := d.authorize(r)
	d.render(w, r, http.StatusOK, "live", struct {
		layout
		LiveRun
		CanStop bool
		Write   bool
	}{d.layout(r, "shakedown: run "+l.ID+" (running)"), l, d.o.Stop != nil, a == accessWrite})
}
