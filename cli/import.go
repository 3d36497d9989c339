package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer/fis"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/spec"
)

// importCommand is `shakedown import`: one subcommand per tool whose experiments it reads.
func (a *app) importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Translate another tool's experiments into shakedown experiment files",
		Long: `Translate another tool's experiments into shakedown experiment files that validate.
Every problem of the input is reported at once with its position (exit 2); what has no
analogue here is said in a comment of the output, never dropped silently.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return shakedown.Errorf(shakedown.KindInvalid, "import: name what to import from: shakedown import fis FILE")
		},
	}
	cmd.AddCommand(a.importFISCommand())
	return cmd
}

func (a *app) importFISCommand() *cobra.Command {
	var mapFile, out string
	var skip bool
	var vars []string
	cmd := &cobra.Command{
		Use:   "fis FILE [--map MAPFILE] [-o OUT]",
		Short: "Translate an AWS FIS experiment template into a shakedown experiment",
		Long: `Translate an AWS Fault Injection Service experiment template — the API's JSON (as
get-experiment-template prints it, or bare) or a CloudFormation AWS::FIS::ExperimentTemplate
in YAML or JSON — into a shakedown experiment, written to OUT (default: standard output).

The mapping file (YAML) says what the template's cloud identities are here:

  targets:          # by "target:NAME", ARN, resource id, "tag:K=V", "ref:Logical", "getatt:Logical.Arn"
    "tag:Env=test": {process: {pidfile: /run/web.pid}}
  alarms:           # CloudWatch alarms of stopConditions, by ARN, alarm name or reference
    NetworkInAbnormal: {alert: {prometheus: "http://127.0.0.1:9090", name: ReplicaDown}}
  prefix_lists: {pl-0abc: [10.1.0.0/16]}   memory: 2gib   fill_path: /var/tmp

An unmapped target or alarm is a problem that shows the line to add. An action with no local
meaning (API errors, Spot interruptions, RDS failover, S3 and DynamoDB replication…) is
refused by name, or kept as a comment with --skip-unsupported. A CloudFormation template
with several experiment templates writes one file each into the directory OUT.

The result is validated before it is written; --var fills its ${vars} for that check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			return a.importFIS(args[0], mapFile, out, vs, fis.Options{SkipUnsupported: skip})
		},
	}
	cmd.Flags().StringVar(&mapFile, "map", "", "the mapping file: what the template's targets and alarms are here")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the experiment to this file (a directory for several); default standard output")
	cmd.Flags().BoolVar(&skip, "skip-unsupported", false, "keep actions with no local meaning as comments instead of refusing the template")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "fill ${key} in the result for its validation (key=value, repeatable)")
	return cmd
}

func (a *app) importFIS(file, mapFile, out string, vars map[string]string, opt fis.Options) error {
	data, err := readInput(file)
	if err != nil {
		return err
	}
	var mapData []byte
	if mapFile != "" {
		if mapData, err = readInput(mapFile); err != nil {
			return err
		}
	}
	results, err := fis.Import(file, data, mapFile, mapData, opt)
	if err != nil {
		var ps spec.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintln(a.stderr, p.Error())
			}
			fmt.Fprintf(a.stderr, "%s: %d problem%s\n", file, len(ps), plural(len(ps)))
			return exitError{code: shakedown.VerdictInvalid.ExitCode()}
		}
		return err
	}
	if len(results) > 1 && out == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "import fis: %s holds %d experiment templates: give -o DIR to write one file each", file, len(results))
	}
	for _, res := range results {
		if err := a.checkImported(res, vars); err != nil {
			return err
		}
	}
	if out == "" {
		_, err := a.stdout.Write(results[0].YAML)
		return err
	}
	paths := []string{out}
	if len(results) > 1 {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "import fis", err)
		}
		paths = paths[:0]
		for _, res := range results {
			paths = append(paths, filepath.Join(out, res.Name+".yaml"))
		}
	}
	for i, res := range results {
		if err := writeFile(paths[i], res.YAML); err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "import fis", err)
		}
		fmt.Fprintf(a.stderr, "wrote %s (%s)\n", paths[i], res.Name)
	}
	return nil
}

// readInput reads a file the user names, bounded as an experiment file is.
func readInput(path string) ([]byte, error) {
	data, err := userfile.Read(path, spec.MaxFileSize)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: %w", path, err)
	}
	return data, nil
}

func writeFile(path string, data []byte) error {
	f, err := userfile.Create(path, false)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var varRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// checkImported validates an imported experiment as validate would, so that nothing that
// does not validate is written. One whose ${vars} are not all given with --var is not
// checked; a line says how to check it.
func (a *app) checkImported(res fis.Result, vars map[string]string) error {
	var unset []string
	seen := map[string]bool{}
	for _, m := range varRef.FindAllSubmatch(res.YAML, -1) {
		k := string(m[1])
		if _, ok := vars[k]; !ok && !seen[k] {
			seen[k] = true
			unset = append(unset, k)
		}
	}
	if len(unset) > 0 {
		sort.Strings(unset)
		fmt.Fprintf(a.stderr, "%s uses ${%s}: check it with shakedown validate --var %s=VALUE …\n", res.Name, unset[0], unset[0])
		return nil
	}
	name := res.Name + ".yaml (imported)"
	if _, err := spec.Load(name, res.YAML, vars, a.reg); err != nil {
		a.printProblems(name, err)
		fmt.Fprintln(a.stderr, "the imported experiment does not validate: the mapping file's targets and alarms are copied into it as written")
		return exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	return nil
}
