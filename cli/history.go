package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// historyDSN is the store a command uses: --history when given, else $SHAKEDOWN_HISTORY,
// else history.db in the state dir. A DSN that does not parse is a usage error (exit 2).
func (a *app) historyDSN(flag, stateDir string) (history.DSN, error) {
	s := flag
	if s == "" {
		s = a.getenv(history.EnvVar)
	}
	d, err := history.ParseDSN(s)
	if err != nil {
		return d, shakedown.Wrap(shakedown.KindInvalid, "--history", err)
	}
	return d.In(stateDir), nil
}

// historyFlag registers --history and --state-dir on a command that reads or writes the
// history.
func historyFlag(cmd *cobra.Command, dsn, stateDir *string) {
	cmd.Flags().StringVar(dsn, "history", "", "the history store: a path, sqlite:PATH, postgres://… or off (default $"+history.EnvVar+", then history.db in the state dir)")
	if stateDir != nil {
		cmd.Flags().StringVar(stateDir, "state-dir", shakedown.DefaultStateDir, "the state dir, where the default history store is")
	}
}

// openExisting opens the store dsn names for reading (mode readOnly) or for a command that
// changes what it holds (prune). A store that holds no history yet is not created: found is
// false and the store nil. Read only, nothing in the store is written, not even its schema:
// an empty file stays an empty file, and a store on read-only media can be read.
func openExisting(ctx context.Context, dsn history.DSN, mode openMode) (s *history.Store, found bool, err error) {
	if dsn.Off() {
		return nil, false, shakedown.Errorf(shakedown.KindInvalid, "--history off: there is no history to read")
	}
	if dsn.Driver == history.DriverSQLite {
		if _, err := os.Stat(dsn.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
	}
	s, err = history.OpenWith(ctx, dsn, history.Options{ReadOnly: mode == readOnly})
	if errors.Is(err, history.ErrNoHistory) {
		return nil, false, nil
	}
	return s, err == nil, err
}

// openMode says whether a command only reads the history.
type openMode bool

const (
	readOnly  openMode = true
	readWrite openMode = false
)

func (a *app) historyCommand() *cobra.Command {
	var (
		dsnFlag, stateDir, branch, commit string
		limit                             int
		asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "history [EXPERIMENT...]",
		Short: "List recorded runs, newest first, with their headline figures and marks",
		Long: `List the runs the history store holds, newest first: when each started, its run id,
experiment, verdict, commit and branch, and its headline figures (each load's p99 and
errors during the inject, the time the steady state took to come back). Marks say where
an experiment was discovered failing (its first red run after green ones on a branch, with
the commit), where it was fixed (the first green after red ones), and which runs are
flaky (the same experiment file at the same commit gave different verdicts). Runs that
ended in error, aborted or invalid say nothing of the system: marks look past them.

Every run records itself in the store (see run --history); history import adds records
written by --json, history prune deletes old ones.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dsn, err := a.historyDSN(dsnFlag, stateDir)
			if err != nil {
				return err
			}
			s, found, err := openExisting(cmd.Context(), dsn, readOnly)
			if err != nil {
				return err
			}
			var es []history.Entry
			if found {
				defer s.Close()
				es, err = s.List(cmd.Context(), history.Filter{Experiments: args, Branch: branch, Commit: commit, Limit: limit})
				if err != nil {
					return err
				}
			}
			if asJSON {
				return writeEntriesJSON(a, es)
			}
			if len(es) == 0 {
				fmt.Fprintf(a.stdout, "no runs recorded in %s%s\n", dsn, describeFilter(args, branch, commit))
				return nil
			}
			return writeEntries(a, es)
		},
	}
	historyFlag(cmd, &dsnFlag, &stateDir)
	cmd.Flags().StringVar(&branch, "branch", "", "only runs on this branch")
	cmd.Flags().StringVar(&commit, "commit", "", "only runs of this commit (or commits beginning so)")
	limit = history.DefaultLimit
	cmd.Flags().Var(intFlag[int]{v: &limit, lo: 1, hi: maxInt}, "limit", "at most this many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the runs as a JSON array")
	cmd.AddCommand(a.historyImportCommand(), a.historyPruneCommand())
	return cmd
}

func describeFilter(exps []string, branch, commit string) string {
	var s []string
	if len(exps) > 0 {
		s = append(s, "of "+strings.Join(exps, ", "))
	}
	if branch != "" {
		s = append(s, "on "+branch)
	}
	if commit != "" {
		s = append(s, "at "+commit)
	}
	if len(s) == 0 {
		return ""
	}
	return " " + strings.Join(s, " ")
}

func writeEntries(a *app, es []history.Entry) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED (UTC)\tRUN\tEXPERIMENT\tVERDICT\tCOMMIT\tBRANCH\tFIGURES\tMARKS")
	for _, e := range es {
		// What the store holds may have been written by anyone (another version, an import,
		// PostgreSQL shared with other tools): each cell is shown, never acted on.
		cells := []string{e.StartedAt.UTC().Format("2006-01-02 15:04:05"), e.ID, e.Experiment,
			string(e.Verdict), dash(shortSHA(e.Commit)), dash(e.Branch), dash(describeFigures(e.Figures)), describeMarks(e.Marks)}
		for i, c := range cells {
			cells[i] = shakedown.Printable(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(a.stdout, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return shakedown.Wrap(shakedown.KindInternal, "write history", err)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// describeFigures says the headline figures in a few words: "checkout p99 241ms, errors
// 0.3%; recovered in 3.2s".
func describeFigures(fs []shakedown.Figure) string {
	var parts []string
	for _, f := range fs {
		name := strings.TrimSuffix(f.Name, ".latency.p99")
		switch {
		case name != f.Name:
			parts = append(parts, name+" p99 "+formatFigure(f))
		case strings.HasSuffix(f.Name, ".errors"):
			parts = append(parts, "errors "+formatFigure(f))
		case f.Name == "recovery.time_to_recover":
			parts = append(parts, "recovered in "+formatFigure(f))
		default:
			parts = append(parts, f.Key()+" "+formatFigure(f))
		}
	}
	return strings.Join(parts, ", ")
}

// formatFigure writes a figure's value in its unit.
func formatFigure(f shakedown.Figure) string {
	switch f.Unit {
	case shakedown.FigureMs:
		d := time.Duration(f.Value * float64(time.Millisecond))
		switch {
		case d >= time.Second:
			return fmt.Sprintf("%.1fs", d.Seconds())
		case f.Value < 10:
			return fmt.Sprintf("%.1fms", f.Value)
		}
		return fmt.Sprintf("%.0fms", f.Value)
	case shakedown.FigureRatio:
		return fmt.Sprintf("%.1f%%", 100*f.Value)
	case shakedown.FigureRPS:
		return fmt.Sprintf("%.1f/s", f.Value)
	}
	return fmt.Sprintf("%g", f.Value)
}

// describeMarks says the marks of a run: "discovered at c0ffee3; flaky (failed, passed at
// c0ffee3)", leaving out " at …" for a run with no commit (one outside a git checkout).
func describeMarks(ms []history.Mark) string {
	var parts []string
	for _, m := range ms {
		at := ""
		if m.Commit != "" {
			at = " at " + shortSHA(m.Commit)
		}
		switch m.Kind {
		case history.MarkFlaky:
			var vs []string
			for _, v := range m.Verdicts {
				vs = append(vs, string(v))
			}
			parts = append(parts, "flaky ("+strings.Join(vs, ", ")+at+")")
		default:
			parts = append(parts, m.Kind+at)
		}
	}
	return strings.Join(parts, "; ")
}

// entryJSON is a run as `history --json` writes it.
type entryJSON struct {
	ID         string            `json:"id"`
	Experiment string            `json:"experiment"`
	SHA256     string            `json:"experiment_sha256"`
	StartedAt  shakedown.Time    `json:"started_at"`
	EndedAt    shakedown.Time    `json:"ended_at"`
	Verdict    shakedown.Verdict `json:"verdict"`
	ExitCode   int               `json:"exit_code"`
	Commit     string            `json:"commit"`
	Branch     string            `json:"branch"`
	Host       string            `json:"host"`
	Figures    []figureJSON      `json:"figures"`
	Marks      []markJSON        `json:"marks"`
}

type figureJSON struct {
	Name  string          `json:"name"`
	Phase shakedown.Phase `json:"phase,omitempty"`
	Unit  string          `json:"unit,omitempty"`
	Value float64         `json:"value"`
}

type markJSON struct {
	Kind     string              `json:"kind"`
	Commit   string              `json:"commit,omitempty"`
	Verdicts []shakedown.Verdict `json:"verdicts,omitempty"`
}

func writeEntriesJSON(a *app, es []history.Entry) error {
	out := []entryJSON{}
	for _, e := range es {
		j := entryJSON{ID: e.ID, Experiment: e.Experiment, SHA256: e.SHA256, StartedAt: shakedown.At(e.StartedAt),
			EndedAt: shakedown.At(e.EndedAt), Verdict: e.Verdict, ExitCode: e.ExitCode, Commit: e.Commit, Branch: e.Branch,
			Host: e.Host, Figures: []figureJSON{}, Marks: []markJSON{}}
		for _, f := range e.Figures {
			j.Figures = append(j.Figures, figureJSON{Name: f.Name, Phase: f.Phase, Unit: f.Unit, Value: f.Value})
		}
		for _, m := range e.Marks {
			j.Marks = append(j.Marks, markJSON{Kind: m.Kind, Commit: m.Commit, Verdicts: m.Verdicts})
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write history", err)
	}
	return nil
}

func (a *app) historyImportCommand() *cobra.Command {
	var dsnFlag, stateDir string
	cmd := &cobra.Command{
		Use:   "import FILE|DIR...",
		Short: "Add run records written by run --json to the history",
		Long: `Add run records that run --json wrote (one record, or the array a suite writes) to the
history store; a folder adds every *.json file in it. A run already there is left as it
is, so importing twice is harmless. Each file is added whole or not at all: a malformed
record (unknown field, a schema other than shakedown.run/v1, a missing id, experiment name,
start time or verdict) is reported with the file and the field, nothing of that file is
added, and the command exits 2 after adding the other files.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dsn, err := a.historyDSN(dsnFlag, stateDir)
			if err != nil {
				return err
			}
			if dsn.Off() {
				return shakedown.Errorf(shakedown.KindInvalid, "--history off: nowhere to import to")
			}
			files, err := recordFiles(args)
			if err != nil {
				return err
			}
			var s *history.Store
			defer func() {
				if s != nil {
					s.Close()
				}
			}()
			bad := 0
			for _, file := range files {
				b, err := userfile.Read(file, history.MaxRecordFile)
				if err != nil {
					return shakedown.Wrap(shakedown.KindInvalid, "import", err)
				}
				recs, err := history.DecodeRecords(b)
				if err != nil {
					fmt.Fprintf(a.stderr, "shakedown: import %s: %v (nothing of it was imported)\n", file, err)
					bad++
					continue
				}
				if s == nil {
					if s, err = history.Open(cmd.Context(), dsn); err != nil {
						return err
					}
				}
				added, present, err := s.Import(cmd.Context(), recs)
				if err != nil {
					return shakedown.Wrap(shakedown.KindOf(err), "import "+file, err)
				}
				fmt.Fprintf(a.stdout, "%s: %d run%s added, %d already there\n", file, added, words.Plural(added), present)
			}
			if bad > 0 {
				return exitError{code: shakedown.VerdictInvalid.ExitCode()}
			}
			return nil
		},
	}
	historyFlag(cmd, &dsnFlag, &stateDir)
	return cmd
}

// recordFiles lists the files to import: each FILE, and the *.json files of each DIR in
// name order.
func recordFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "import", err)
		}
		if !fi.IsDir() {
			files = append(files, arg)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(arg, "*.json"))
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "import", err)
		}
		if len(matches) == 0 {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "import %s: no run records (*.json) in the folder", arg)
		}
		slices.Sort(matches)
		files = append(files, matches...)
	}
	return files, nil
}

func (a *app) historyPruneCommand() *cobra.Command {
	var (
		dsnFlag, stateDir string
		keep              int
		olderThan         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "prune --keep N | --older-than DURATION",
		Short: "Delete old runs from the history",
		Long: `Delete runs from the history store: with --keep N all but the newest N runs of each
experiment, with --older-than D (720h for 30 days) the runs that started longer ago than
that; with both, what either selects.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keep <= 0 && olderThan <= 0 {
				return shakedown.Errorf(shakedown.KindInvalid, "history prune: give --keep N (N ≥ 1) or --older-than DURATION")
			}
			if keep < 0 || olderThan < 0 {
				return shakedown.Errorf(shakedown.KindInvalid, "history prune: --keep and --older-than must be positive")
			}
			dsn, err := a.historyDSN(dsnFlag, stateDir)
			if err != nil {
				return err
			}
			s, found, err := openExisting(cmd.Context(), dsn, readWrite)
			if err != nil {
				return err
			}
			n := 0
			if found {
				defer s.Close()
				if n, err = s.Prune(cmd.Context(), history.Prune{Keep: keep, OlderThan: olderThan}, time.Now()); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "pruned %d run%s from %s\n", n, words.Plural(n), dsn)
			return nil
		},
	}
	historyFlag(cmd, &dsnFlag, &stateDir)
	cmd.Flags().Var(intFlag[int]{v: &keep, lo: math.MinInt32, hi: maxInt}, "keep", "keep the newest N runs of each experiment")
	cmd.Flags().Var(durationFlag{v: &olderThan, zero: true}, "older-than", "delete runs that started longer ago than this")
	return cmd
}
