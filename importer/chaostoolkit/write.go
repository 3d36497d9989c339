package chaostoolkit

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
	"github.com/shakedown-dev/shakedown/spec"
)

// problemAt makes a problem at the first activity of a list, or at the file.
func problemAt(r *reader, acts []*activity, msg string) spec.Problem {
	if len(acts) > 0 {
		return spec.Problem{Pos: acts[0].v.Pos(), Path: acts[0].v.Path(), Msg: msg}
	}
	p := spec.Problem{Msg: msg}
	p.Pos.File = r.file
	return p
}

// write assembles the experiment file.
func (r *reader) write(x *experiment) string {
	var b strings.Builder
	importer.Comment(&b, "", "Imported by `shakedown import chaostoolkit` from the Chaos Toolkit experiment "+filepath.Base(r.file)+".")
	for _, n := range r.notes {
		importer.Comment(&b, "", n)
	}
	if len(x.checks) > 0 {
		importer.Comment(&b, "", "Chaos Toolkit checks the hypothesis before the method and after it, before the rollbacks; here each check is\nsampled throughout the run: in the baseline, while the faults act, and in the recovery after they are reverted.")
	}
	if len(r.used) > 0 {
		var line []string
		importer.Comment(&b, "", "Its variables (shakedown run … --var NAME=VALUE):")
		for _, name := range r.used {
			v := r.vars[name]
			importer.Comment(&b, "", "  "+name+": "+v.source)
			if v.known && !v.secret {
				line = append(line, "--var "+name+"="+v.value)
			} else {
				line = append(line, "--var "+name+"=…")
			}
		}
		importer.Comment(&b, "", "  as in: "+strings.Join(line, " "))
	}
	b.WriteString("version: 1\n")
	b.WriteString("name: " + str(x.name) + "\n")
	if x.description != "" {
		b.WriteString("description: " + str(strings.ReplaceAll(x.description, "${", "$${")) + "\n")
	}
	b.WriteString("labels: {imported-from: chaostoolkit}\n")
	importer.Section(&b, "targets", x.targets)
	importer.Section(&b, "steady_state", x.checks)
	var faults []string
	for _, f := range x.faults {
		faults = append(faults, faultBlock(f))
	}
	importer.Section(&b, "faults", faults)
	if len(x.comments) > 0 {
		b.WriteString("\n")
		for _, c := range x.comments {
			importer.Comment(&b, "", c)
		}
	}
	return b.String()
}

func faultBlock(f *fault) string {
	var b strings.Builder
	b.WriteString("  - name: " + str(f.name) + "\n")
	if !f.noop {
		importer.Comment(&b, "    ", fmt.Sprintf("Chaos Toolkit action %s (line %d, at %s): %s", f.a.name, f.a.line, shakedown.FormatDuration(f.start), f.a.prov.describe()))
	}
	for _, n := range f.notes {
		importer.Comment(&b, "    ", n)
	}
	b.WriteString("    type: " + f.typ + "\n")
	if f.target != "" {
		b.WriteString("    target: " + str(f.target) + "\n")
	}
	with := f.with
	if f.typ == "exec" {
		with = []kv{{"inject", list(f.inject)}}
		if f.revert != nil {
			with = append(with, kv{"revert", list(f.revert)})
		}
		if f.timeout > 0 {
			with = append(with, kv{"timeout", shakedown.FormatDuration(f.timeout)})
		}
	}
	if len(with) > 0 {
		b.WriteString("    with: " + flowMap(with) + "\n")
	}
	if f.after != nil {
		b.WriteString("    after: [" + str(f.after.name) + "]\n")
	}
	if f.delay > 0 {
		b.WriteString("    delay: " + shakedown.FormatDuration(f.delay) + "\n")
	}
	if f.dur > 0 {
		b.WriteString("    duration: " + shakedown.FormatDuration(f.dur) + "\n")
	}
	return b.String()
}
