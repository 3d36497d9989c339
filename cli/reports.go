package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/report"
)

// reportPath is one report a run writes: what named it (a flag, or GITHUB_STEP_SUMMARY), its
// path, and how it is written.
type reportPath struct {
	name, path string
	write      func(io.Writer, []*shakedown.Record) error
	folder     bool // a folder that gets one file per run
	append     bool // appended to (GITHUB_STEP_SUMMARY)
}

// reportPaths lists the reports of out, and the step summary when GITHUB_STEP_SUMMARY is set.
func reportPaths(out suiteOutputs, getenv func(string) string) []reportPath {
	var ps []reportPath
	if out.junit != "" {
		ps = append(ps, reportPath{name: "--junit", path: out.junit, write: report.WriteJUnit})
	}
	if out.json != "" {
		ps = append(ps, reportPath{name: "--json", path: out.json, write: report.WriteJSON, folder: strings.HasSuffix(out.json, "/") || isDir(out.json)})
	}
	if out.markdown != "" {
		ps = append(ps, reportPath{name: "--markdown", path: out.markdown, write: report.WriteMarkdown})
	}
	if out.html != "" {
		ps = append(ps, reportPath{name: "--html", path: out.html, write: writeHTML})
	}
	if p := getenv("GITHUB_STEP_SUMMARY"); p != "" {
		ps = append(ps, reportPath{name: "GITHUB_STEP_SUMMARY", path: p, append: true})
	}
	return ps
}

// writeHTML writes the HTML report of a run or a suite to a file: one page, no run pages to
// link to.
func writeHTML(w io.Writer, records []*shakedown.Record) error {
	return report.WriteHTML(w, records, report.HTMLOptions{})
}

// checkReports makes sure every report can be written, before a run starts: each is
// checked as checkWritable says. The error, of kind invalid (exit 2), names the first
// report that cannot be written and why.
func checkReports(ps []reportPath) error {
	for _, p := range ps {
		if err := checkWritable(p); err != nil {
			return shakedown.Errorf(shakedown.KindInvalid, "%s %s: cannot write the report there: %w", p.name, p.path, unwrapPathError(err))
		}
	}
	return nil
}

// checkWritable tries what writing the report will do, and takes back what it made: it
// creates the folders missing on the way (as the write will), opens the file for writing without truncating or changing it (a file that was not there is
// created, then removed), or, for a folder of reports, creates a file in it and removes it;
// then it removes the folders it created.
func checkWritable(p reportPath) error {
	dir := filepath.Dir(p.path)
	if p.folder {
		dir = p.path
	}
	created, err := mkdirs(dir)
	defer func() {
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}()
	if err != nil {
		return err
	}
	if p.folder {
		f, err := os.CreateTemp(dir, ".shakedown-check-*")
		if err != nil {
			return err
		}
		f.Close()
		return os.Remove(f.Name())
	}
	if fi, err := os.Stat(p.path); err == nil {
		if fi.IsDir() {
			return &fs.PathError{Op: "open", Path: p.path, Err: errors.New("is a directory")}
		}
		// Not waiting on a FIFO nobody reads from: that is an error here, not a hang.
		f, err := userfile.Open(p.path, os.O_WRONLY)
		if err != nil {
			return err
		}
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(p.path)
}

// mkdirs creates dir and the folders missing above it, and returns those it created,
// outermost first, also when it fails half way.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by someone else: theirs to keep
		}
		if err != nil {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// writeReports writes every report asked for. One that cannot be written (its folder was
// removed during the run, its disk is full) is said loudly on stderr and does not keep the
// others from being written; the run's exit code stays its verdict's.
func (a *app) writeReports(records []*shakedown.Record, out suiteOutputs) {
	for _, p := range reportPaths(out, a.getenv) {
		switch {
		case p.append:
			err := os.MkdirAll(filepath.Dir(p.path), 0o755)
			if err == nil {
				err = report.AppendStepSummary(records, func(string) string { return p.path })
			}
			a.reportDone(p, err)
		case p.folder:
			for _, r := range records {
				file := reportPath{name: p.name, path: filepath.Join(p.path, r.ID+".json")}
				a.reportDone(file, writeReport(file.path, func(w io.Writer) error {
					return p.write(w, []*shakedown.Record{r})
				}))
			}
		default:
			a.reportDone(p, writeReport(p.path, func(w io.Writer) error { return p.write(w, records) }))
		}
	}
}

// reportDone says where a report went, or, loudly, that it was not written.
func (a *app) reportDone(p reportPath, err error) {
	if err != nil {
		fmt.Fprintf(a.stderr, "shakedown: REPORT NOT WRITTEN: %s %s: %v\n", p.name, p.path, err)
		return
	}
	if !p.append {
		fmt.Fprintf(a.stdout, "report: %s\n", p.path)
	}
}

// writeReport writes one report file, creating the folders on the way. A regular file that
// could not be written whole is removed, so that no half report is read as a whole one. The
// error is the caller's to name the report in.
func writeReport(path string, fn func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := userfile.Create(path, false)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().IsRegular() {
			os.Remove(path)
		}
		return err
	}
	return nil
}
