package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer/chaostoolkit"
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
			return shakedown.Errorf(shakedown.KindInvalid, "import: name what to import from: shakedown import fis FILE, or shakedown import chaostoolkit FILE")
		},
	}
	cmd.AddCommand(a.importFISCommand(), a.importChaosToolkitCommand())
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

A secret the mapping file writes out (a URL's password or token, a credential-like field
such as a header, an env: value) goes into the experiment as a ${var} of its own, named in
its header, so that the experiment never holds it.

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
	if err := notInput("import fis", out, file, mapFile); err != nil {
		return err
	}
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
		if errors.As(err, new(spec.Problems)) {
			a.printProblems(file, err)
			return exitError{code: shakedown.VerdictInvalid.ExitCode()}
		}
		return err
	}
	if len(results) > 1 && out == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "import fis: %s holds %d experiment templates: give -o DIR to write one file each", file, len(results))
	}
	for _, res := range results {
		all := maps.Clone(res.Vars)
		if all == nil {
			all = map[string]string{}
		}
		maps.Copy(all, vars)
		if err := a.checkImported(res.Name, res.YAML, all, "the mapping file's targets and alarms are copied into it as written"); err != nil {
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
		if err := notInput("import fis", paths[i], file, mapFile); err != nil {
			return err
		}
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

// notInput refuses out when it is one of the input files (the same file, whatever the
// name: a symlink, a hard link), which writing the import would overwrite.
func notInput(op, out string, inputs ...string) error {
	fo, err := os.Stat(out)
	if err != nil {
		return nil // it does not exist yet: it is no input
	}
	for _, in := range inputs {
		if fi, err := os.Stat(in); in != "" && err == nil && os.SameFile(fo, fi) {
			return shakedown.Errorf(shakedown.KindInvalid, "%s: -o %s is the input file %s: writing it would overwrite what is imported", op, out, in)
		}
	}
	return nil
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

// usedVars returns the names of the ${vars} an imported experiment uses, sorted: those of its
// values, not of its comments (which quote the imported file), and not "$${", a literal "${".
func usedVars(yaml []byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(string(yaml), "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "#") {
			continue
		}
		for _, m := range varRef.FindAllStringSubmatchIndex(line, -1) {
			if m[0] > 0 && line[m[0]-1] == '$' {
				continue
			}
			if k := line[m[2]:m[3]]; !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkImported validates an imported experiment as validate would, so that nothing that
// does not validate is written. One whose ${vars} are not all given a value is not checked;
// a line says how to check it. why says what may make it invalid.
func (a *app) checkImported(name string, yaml []byte, vars map[string]string, why string) error {
	var unset []string
	for _, k := range usedVars(yaml) {
		if _, ok := vars[k]; !ok {
			unset = append(unset, k)
		}
	}
	if len(unset) > 0 {
		// Every one is named: a validate given only the first would stop at the next.
		refs, flags := make([]string, len(unset)), make([]string, len(unset))
		for i, k := range unset {
			refs[i], flags[i] = "${"+k+"}", "--var "+k+"=VALUE"
		}
		list := refs[0]
		if n := len(refs); n > 1 {
			list = strings.Join(refs[:n-1], ", ") + " and " + refs[n-1]
		}
		fmt.Fprintf(a.stderr, "%s uses %s: check it with shakedown validate %s …\n", name, list, strings.Join(flags, " "))
		return nil
	}
	file := name + ".yaml (imported)"
	if _, err := spec.Load(file, yaml, vars, a.reg); err != nil {
		a.printProblems(file, err)
		fmt.Fprintln(a.stderr, "the imported experiment does not validate: "+why)
		return exitError{code: shakedown.VerdictInvalid.ExitCode()}
	}
	return nil
}

func (a *app) importChaosToolkitCommand() *cobra.Command {
	var out string
	var vars []string
	cmd := &cobra.Command{
		Use:   "chaostoolkit FILE [-o OUT] [--var k=v]",
		Short: "Translate a Chaos Toolkit experiment into a shakedown experiment",
		Long: `Translate a Chaos Toolkit experiment (JSON or YAML) into a shakedown experiment, written
to OUT (default: standard output).

The steady-state hypothesis's http and process probes become steady_state checks, sampled
throughout the run (Chaos Toolkit checks before and after the method): a status tolerance
(200, [200], a range with target: status) → http status; a regex or a JSON path of names
($.a.b, with expect) on target: body → body_regexp; an exit status (0, a list, a range) or a
regex on target: stdout/stderr → an exec check. The method's http and process actions become
exec faults (http through curl), in the method's order, their pauses as delays, background
ones waited for by none; the rollbacks become their reverts, so they run in their order.
Configuration and secrets become ${vars}: their values are said in the output's header
(never a secret's), and those of the configuration fill them for the validation; --var
gives others. A configuration or secret of type env says which environment variable to
pass with --var. A secret written out in the experiment (a URL's password or token, a
credential header's value) becomes a ${var} of its own, named in the header, so that the
output never holds it.

Python providers are refused by module and function, except these (chaostoxi's also
under their first name, toxiproxy.…):
` + extensionTable() + `
The result is validated before it is written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			return a.importChaosToolkit(args[0], out, vs)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the experiment to this file; default standard output")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "fill ${key} in the result for its validation, over the experiment's configuration (key=value, repeatable)")
	return cmd
}

// extensionTable lists the Python functions import chaostoolkit translates, by module, and
// what each becomes.
func extensionTable() string {
	var b strings.Builder
	mod := ""
	for _, e := range chaostoolkit.Extensions() {
		if e.Module != mod {
			mod = e.Module
			b.WriteString("  " + mod + "\n")
		}
		fmt.Fprintf(&b, "    %-36s %s\n", e.Func, e.Becomes)
	}
	return b.String()
}

func (a *app) importChaosToolkit(file, out string, vars map[string]string) error {
	if err := notInput("import chaostoolkit", out, file); err != nil {
		return err
	}
	data, err := readInput(file)
	if err != nil {
		return err
	}
	res, err := chaostoolkit.Import(file, data)
	if err != nil {
		if errors.As(err, new(spec.Problems)) {
			a.printProblems(file, err)
			return exitError{code: shakedown.VerdictInvalid.ExitCode()}
		}
		return err
	}
	all := map[string]string{}
	for k, v := range res.Vars {
		all[k] = v
	}
	for k, v := range vars {
		all[k] = v
	}
	if err := a.checkImported(res.Name, res.YAML, all, "the experiment's configuration and --var fill its ${vars}"); err != nil {
		return err
	}
	if out == "" {
		_, err := a.stdout.Write(res.YAML)
		return err
	}
	if err := writeFile(out, res.YAML); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "import chaostoolkit", err)
	}
	fmt.Fprintf(a.stderr, "wrote %s (%s)\n", out, res.Name)
	return nil
}
