package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/regress"
)

func (a *app) compareCommand() *cobra.Command {
	var (
		historyDSN, stateDir, reference string
		jsonOut                         bool
	)
	cmd := &cobra.Command{
		Use:   "compare RUN [RUN | --reference BRANCH]",
		Short: "Compare a run with another, or with its reference runs, figure by figure",
		Long: `Compare a run's figures (latency, errors and throughput of each load per phase, each
check's observed value, the times to detect and recover) with another run's, or with the
last passing runs of the same experiment on a branch (--reference BRANCH): both values,
the change, and — against reference runs — whether the change is significant and material,
judged as run --gate regressions judges it. Two single runs have no spread to judge a change
against: significance needs reference runs.

A RUN is a run id (or a unique beginning of one) in the history, or a run record file that
run --json wrote. Exit 0 when the comparison was made, whatever it shows.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 2) == (reference != "") {
				return shakedown.Errorf(shakedown.KindInvalid, "compare: give a second RUN or --reference BRANCH, not both or neither")
			}
			c := &comparer{a: a, historyFlag: historyDSN, stateDir: stateDir}
			defer c.close()
			run, err := c.run(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var cmp *comparison
			if reference != "" {
				cmp, err = c.withReference(cmd.Context(), run, reference)
			} else {
				var other *shakedown.Record
				if other, err = c.run(cmd.Context(), args[1]); err == nil {
					cmp = withRun(run, other)
				}
			}
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cmp); err != nil {
					return shakedown.Wrap(shakedown.KindInternal, "write comparison", err)
				}
				return nil
			}
			return cmp.write(a.stdout)
		},
	}
	cmd.Flags().StringVar(&reference, "reference", "", "compare with the last passing runs of the experiment on this branch")
	historyFlag(cmd, &historyDSN, &stateDir)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "write the comparison as JSON")
	return cmd
}

// comparer finds runs in files or the history, opening the store only when it needs it.
type comparer struct {
	a                     *app
	historyFlag, stateDir string
	store                 *history.Store
}

func (c *comparer) open(ctx context.Context) (*history.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	dsn, err := c.a.historyDSN(c.historyFlag, c.stateDir)
	if err != nil {
		return nil, err
	}
	st, found, err := openExisting(ctx, dsn, readOnly)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, shakedown.Errorf(shakedown.KindNotFound, "compare: no history at %s (run records files can be compared without one)", dsn)
	}
	c.store = st
	return st, nil
}

func (c *comparer) close() {
	if c.store != nil {
		c.store.Close()
	}
}

// run reads RUN: a run record file, or a run id in the history.
func (c *comparer) run(ctx context.Context, arg string) (*shakedown.Record, error) {
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		data, err := userfile.Read(arg, history.MaxRecordFile)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "read run record "+arg, err)
		}
		recs, err := history.DecodeRecords(data)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "read run record "+arg, err)
		}
		if len(recs) != 1 {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "read run record %s: it holds %d runs; compare takes one", arg, len(recs))
		}
		return recs[0], nil
	}
	st, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	return st.Run(ctx, arg)
}

// withReference compares run with the reference runs of its experiment on branch.
func (c *comparer) withReference(ctx context.Context, run *shakedown.Record, branch string) (*comparison, error) {
	st, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	opts := gateOptions(run)
	refs, err := st.Reference(ctx, run.Experiment.Name, branch, run.ID, opts.MaxRuns)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "compare: no passing run of %s on %s in %s", run.Experiment.Name, branch, st.DSN())
	}
	figs := make([][]shakedown.Figure, len(refs))
	ids := make([]string, len(refs))
	for i, r := range refs {
		figs[i], _ = regress.Judgeable(r)
		ids[i] = r.ID
	}
	cmp := &comparison{Experiment: run.Experiment.Name, Run: describe(run), Reference: branch, ReferenceRuns: ids,
		Alpha: opts.Alpha, minRuns: opts.MinRuns}
	// Every figure is shown against the references' median, judged or not.
	o := opts
	o.MinRuns = 1
	judgeable, few := regress.Judgeable(run)
	judged := regress.Judge(judgeable, figs, o)
	enough := len(refs) >= opts.MinRuns
	if !enough {
		cmp.Note = fmt.Sprintf("not enough history (%d of %d): changes are shown, not judged", len(refs), opts.MinRuns)
	}
	byKey := map[string]regress.Result{}
	for _, r := range append(judged.Figures, few...) {
		byKey[r.Key()] = r
	}
	for _, f := range shakedown.Figures(run) {
		r, ok := byKey[f.Key()]
		if !ok {
			continue
		}
		delete(byKey, f.Key())
		fc := figureChange{Name: r.Name, Phase: r.Phase, Unit: r.Unit, Value: r.Value, N: r.N}
		switch {
		case r.N == 0:
			fc.Note = r.Note
			if fc.Note == "" {
				fc.Note = "no reference run holds it"
			}
		default:
			fc.Other, fc.Change, fc.Percent = r.Median, r.Change, percent(r.Change, r.Median)
			if enough && r.N >= opts.MinRuns {
				p, sig, mat, reg := r.P, r.Significant, r.Material, r.Regressed
				fc.P, fc.Significant, fc.Material, fc.Regressed = &p, &sig, &mat, &reg
			} else if enough {
				fc.Note = fmt.Sprintf("not judged: %d of %d runs hold it", r.N, opts.MinRuns)
			}
		}
		if r.Note != "" && r.N > 0 {
			fc.Note = r.Note
		}
		cmp.Figures = append(cmp.Figures, fc)
	}
	// Then those the reference runs hold and the run does not: shown, never judged.
	for _, r := range judged.Figures {
		if _, ok := byKey[r.Key()]; ok && r.Missing {
			cmp.Figures = append(cmp.Figures, figureChange{Name: r.Name, Phase: r.Phase, Unit: r.Unit, N: r.N,
				Other: r.Median, Missing: true, Note: r.Note})
		}
	}
	return cmp, nil
}

// gateOptions are the gate's settings for run: those it was judged with when it was gated
// (they carry its experiment's gate: block), else the defaults.
func gateOptions(run *shakedown.Record) regress.Options {
	o := regress.Defaults()
	if g := run.Gate; g != nil {
		o.MinRuns, o.Tolerance, o.Floors, o.Alpha, o.Ignore = g.MinRuns, g.Tolerance, g.Floors, g.Alpha, g.Ignore
		if g.MaxRuns > 0 {
			o.MaxRuns = g.MaxRuns
		}
	}
	return o
}

// withRun compares run with one other run: the changes, without significance.
func withRun(run, other *shakedown.Record) *comparison {
	cmp := &comparison{Experiment: run.Experiment.Name, Run: describe(run), Other: describe(other),
		Note: "significance needs reference runs: compare " + run.ID + " --reference BRANCH"}
	if other.Experiment.Name != run.Experiment.Name {
		cmp.Note = fmt.Sprintf("the runs are of different experiments (%s, %s); ", run.Experiment.Name, other.Experiment.Name) + cmp.Note
	}
	for _, c := range regress.Diff(shakedown.Figures(run), shakedown.Figures(other)) {
		fc := figureChange{Name: c.Name, Phase: c.Phase, Unit: c.Unit, Value: c.Value, Other: c.Other, N: 1}
		switch {
		case c.Missing:
			fc.Missing, fc.Note = true, "this run does not hold it"
		case c.OtherMissing:
			fc.N, fc.Note = 0, "the other run does not hold it"
		default:
			fc.Change, fc.Percent = c.Change, percent(c.Change, c.Other)
		}
		cmp.Figures = append(cmp.Figures, fc)
	}
	return cmp
}

// comparison is what compare shows, and writes with --json.
type comparison struct {
	Experiment    string         `json:"experiment"`
	Run           runRef         `json:"run"`
	Other         runRef         `json:"other,omitzero"`           // the run compared with
	Reference     string         `json:"reference,omitempty"`      // or the branch of the reference runs
	ReferenceRuns []string       `json:"reference_runs,omitempty"` // their ids, newest first
	Alpha         float64        `json:"alpha,omitempty"`
	Note          string         `json:"note,omitempty"`
	Figures       []figureChange `json:"figures"`
	minRuns       int
}

type runRef struct {
	ID      string            `json:"id"`
	Verdict shakedown.Verdict `json:"verdict"`
	Commit  string            `json:"commit,omitempty"`
	Branch  string            `json:"branch,omitempty"`
}

func describe(r *shakedown.Record) runRef {
	ref := runRef{ID: r.ID, Verdict: r.Verdict}
	if r.Commit != nil {
		ref.Commit, ref.Branch = r.Commit.SHA, r.Commit.Branch
	}
	return ref
}

func (r runRef) String() string {
	s := r.ID + " (" + string(r.Verdict)
	if r.Commit != "" {
		s += ", " + shortCommit(r.Commit)
		if r.Branch != "" {
			s += " on " + r.Branch
		}
	}
	return s + ")"
}

func shortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// figureChange is one figure of the run beside the other run's, or the reference runs'
// median. The judgement is there only against enough reference runs.
type figureChange struct {
	Name        string          `json:"name"`
	Phase       shakedown.Phase `json:"phase,omitempty"`
	Unit        string          `json:"unit,omitempty"`
	Value       float64         `json:"value"`
	Other       float64         `json:"other"` // the other run's value, or the reference runs' median
	Change      float64         `json:"change"`
	Percent     *float64        `json:"percent,omitempty"` // the change in % of Other; absent when Other is 0
	N           int             `json:"runs"`              // runs Other is of
	P           *float64        `json:"p,omitempty"`
	Significant *bool           `json:"significant,omitempty"`
	Material    *bool           `json:"material,omitempty"`
	Regressed   *bool           `json:"regressed,omitempty"`
	Note        string          `json:"note,omitempty"`    // why it is not judged
	Missing     bool            `json:"missing,omitempty"` // the run does not hold it: Value is not the run's
}

func percent(change, of float64) *float64 {
	if of == 0 {
		return nil
	}
	p := 100 * change / math.Abs(of)
	return &p
}

func (c *comparison) write(w interface{ Write([]byte) (int, error) }) error {
	var b strings.Builder
	against := "run " + c.Other.String()
	head := "other"
	if c.Reference != "" {
		against = fmt.Sprintf("the median of %d passing run%s on %s", len(c.ReferenceRuns), words.Plural(len(c.ReferenceRuns)), c.Reference)
		head = "reference"
	}
	// The runs come from the history, which anyone may have written: what it says is shown,
	// never acted on.
	p := shakedown.Printable
	fmt.Fprintf(&b, "%s: run %s against %s\n\n", p(c.Experiment), p(c.Run.String()), p(against))
	if len(c.Figures) == 0 {
		// No table of headings over nothing: say why there is nothing to compare.
		fmt.Fprintf(&b, "no figures to compare: neither holds any (no load, checks or expectations measured)\n")
	} else {
		c.writeTable(&b, head)
	}
	if c.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", p(c.Note))
	}
	_, err := fmt.Fprint(w, b.String())
	if err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write comparison", err)
	}
	return nil
}

// writeTable writes the figures of c as a table into b, head naming the other column.
func (c *comparison) writeTable(b *strings.Builder, head string) {
	p := shakedown.Printable
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	row := func(cells ...string) {
		for i, c := range cells {
			cells[i] = p(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if c.Reference != "" {
		row("figure", "this run", head, "change", "p", "judgement")
	} else {
		row("figure", "this run", head, "change")
	}
	for _, f := range c.Figures {
		key := shakedown.Figure{Name: f.Name, Phase: f.Phase}.Key()
		value, other, ch := shakedown.FormatFigure(f.Value, f.Unit), "-", "-"
		switch {
		case f.Missing:
			value, other = "-", shakedown.FormatFigure(f.Other, f.Unit)
		case f.N > 0:
			other = shakedown.FormatFigure(f.Other, f.Unit)
			ch = shakedown.FormatFigure(f.Change, f.Unit)
			if f.Change > 0 {
				ch = "+" + ch
			}
			if f.Percent != nil {
				ch += fmt.Sprintf(" (%+.0f%%)", *f.Percent)
			}
		}
		if c.Reference == "" && f.Note != "" {
			ch = f.Note // one run lacks it: said where its change would be
		}
		cells := []string{key, value, other, ch}
		if c.Reference != "" {
			p, judgement := "-", "-"
			switch {
			case f.P != nil:
				p = regress.PText(*f.P, c.Alpha)
				switch {
				case *f.Regressed:
					judgement = "REGRESSED"
				case *f.Significant:
					judgement = "significant, not material"
				case *f.Material:
					judgement = "material, not significant"
				}
			case f.Note != "":
				judgement = f.Note
			}
			cells = append(cells, p, judgement)
		}
		row(cells...)
	}
	tw.Flush()
}
