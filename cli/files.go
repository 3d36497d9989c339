package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/spec"
)

// parseVars turns repeated --var key=value flags into a map.
func parseVars(kvs []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Not quoted: what was meant as key=value may be a secret's value.
			return nil, shakedown.Errorf(shakedown.KindInvalid, "--var: want key=value, got an argument without a key and \"=\"")
		}
		// A key no ${key} can name would be dropped without a word.
		if err := spec.CheckVarName(k); err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "--var", err)
		}
		vars[k] = v
	}
	return vars, nil
}

// experimentFiles expands the arguments of run: files as given, directories into their
// *.yaml, *.yml and *.json files in name order (a suite runs in that order). An argument
// that names nothing, or a directory with no experiment files, is a problem of its own:
// bad holds one per such argument, and the others are expanded all the same, so that
// every problem can be said at once.
func experimentFiles(args []string) (files []string, bad []argProblem) {
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			bad = append(bad, argProblem{arg, shakedown.Wrap(shakedown.KindInvalid, "", unwrapPathError(err))})
			continue
		}
		if !fi.IsDir() {
			files = append(files, arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			bad = append(bad, argProblem{arg, shakedown.Wrap(shakedown.KindInvalid, "", unwrapPathError(err))})
			continue
		}
		var found []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					found = append(found, filepath.Join(arg, e.Name()))
				}
			}
		}
		if len(found) == 0 {
			bad = append(bad, argProblem{arg, shakedown.Errorf(shakedown.KindInvalid, "no experiment files (*.yaml, *.yml, *.json)")})
			continue
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, bad
}

// argProblem is why an argument of run or validate names no experiment file.
type argProblem struct {
	arg string
	err error
}

// loadArgs expands args (experimentFiles) and loads every file they name (loadAll),
// printing the problem of each bad argument and every problem of every file. It returns the
// experiments, or an error of kind invalid when any argument or file had a problem.
func (a *app) loadArgs(ctx context.Context, args []string, vars map[string]string) ([]*shakedown.Experiment, error) {
	files, bad := experimentFiles(args)
	for _, b := range bad {
		a.printProblems(b.arg, b.err)
	}
	exps, err := a.loadAll(ctx, files, vars)
	if err == nil && len(bad) > 0 {
		err = exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	return exps, err
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadAll decodes every file, printing every problem of every file to the error stream. It
// returns the experiments in order, and an error of kind invalid when any file had a problem.
// Each file is bounded (spec.MaxFileSize and the other limits); a signal stops it between two.
func (a *app) loadAll(ctx context.Context, files []string, vars map[string]string) ([]*shakedown.Experiment, error) {
	var exps []*shakedown.Experiment
	bad := 0
	for _, f := range files {
		if ctx.Err() != nil {
			return nil, shakedown.Wrap(shakedown.KindAborted, "read experiments", context.Cause(ctx))
		}
		exp, err := spec.LoadFile(f, vars, a.reg)
		if err != nil {
			bad++
			a.printProblems(f, err)
			continue
		}
		a.red.Add(exp.Secrets()...)
		a.warn(exp)
		exps = append(exps, exp)
	}
	if bad > 0 {
		return nil, exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	return exps, nil
}

// warn prints, loudly, what the targets of exp say people must know: host keys that are
// not checked, say.
func (a *app) warn(exp *shakedown.Experiment) {
	for _, t := range exp.Targets {
		if w, ok := t.Params.(interface{ Warnings() []string }); ok {
			for _, msg := range w.Warnings() {
				fmt.Fprintf(a.stderr, "shakedown: WARNING: %s: target %s: %s\n", t.Pos, t.Name, msg)
			}
		}
	}
}

// printProblems prints one line per problem, file:line:column: field.path: message.
func (a *app) printProblems(file string, err error) {
	var ps spec.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(a.stderr, p.Error())
		}
		fmt.Fprintf(a.stderr, "%s: %d problem%s\n", file, len(ps), words.Plural(len(ps)))
		return
	}
	fmt.Fprintf(a.stderr, "%s: %v\n", file, err)
}
