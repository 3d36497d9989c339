package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// DefaultKeepFree is the least free space disk.fill leaves unless told otherwise.
const DefaultKeepFree = "256mib"

// FillParams are the parameters of disk.fill.
type FillParams struct {
	Path     string  `json:"path" required:"true" doc:"a directory on the filesystem to fill; the fill file is made in it"`
	Percent  float64 `json:"percent,omitempty" doc:"fill until this share of the filesystem is used (above 0, at most 100)"`
	Size     string  `json:"size,omitempty" doc:"or: write this much (1gib, 500mb)"`
	KeepFree string  `json:"keep_free,omitempty" doc:"refuse a fill that would leave less than this free (the safety floor)"`
}

// Validate checks the parameters.
func (p *FillParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Path == "" || !filepath.IsAbs(p.Path) {
		errs.Add("path", "%q: want an absolute directory", p.Path)
	}
	if (p.Percent != 0) == (p.Size != "") {
		errs.Whole("give one of percent or size")
	}
	if p.Percent != 0 && !(p.Percent > 0 && p.Percent <= 100) {
		errs.Add("percent", "%v: want above 0 and at most 100", p.Percent)
	}
	if p.Size != "" {
		if n, err := shakedown.ParseBytes(p.Size); err != nil || n == 0 {
			errs.Add("size", "%q: want a size above 0 such as 1gib", p.Size)
		}
	}
	if n, err := shakedown.ParseBytes(p.KeepFree); err != nil || n < 1<<20 {
		errs.Add("keep_free", "%q: want a size of at least 1mib", p.KeepFree)
	}
	return errs.Err()
}

// FSStat is what disk.fill needs to know of a filesystem, in bytes.
type FSStat struct {
	Total uint64 // size
	Free  uint64 // free, counting blocks reserved for root
	Avail uint64 // free to unprivileged users
}

// FillPlan is one file to write.
type FillPlan struct {
	File  string
	Bytes uint64
	Note  string // for people: the filesystem before and after
}

// Lines describes the plan.
func (p FillPlan) Lines() []string {
	if p.Bytes == 0 {
		return []string{fmt.Sprintf("write nothing: %s", p.Note)}
	}
	return []string{fmt.Sprintf("write %s to %s (%s)", human(p.Bytes), p.File, p.Note)}
}

// PlanFill decides how much to write, given the filesystem as it is. It refuses a fill that
// would leave less than keep_free available, with KindInvalid.
func PlanFill(st FSStat, file string, p *FillParams) (FillPlan, error) {
	keep, _ := shakedown.ParseBytes(p.KeepFree)
	used := st.Total - st.Free
	var want uint64
	if p.Size != "" {
		want, _ = shakedown.ParseBytes(p.Size)
	} else {
		target := uint64(float64(st.Total) * p.Percent / 100)
		if target > used {
			want = target - used
		}
	}
	pct := func(u uint64) float64 { return 100 * float64(u) / float64(max(st.Total, 1)) }
	if want == 0 {
		return FillPlan{File: file, Note: fmt.Sprintf("%.1f%% used already, at or above %.1f%%", pct(used), p.Percent)}, nil
	}
	if want > st.Avail || st.Avail-want < keep {
		left := uint64(0)
		if want < st.Avail {
			left = st.Avail - want
		}
		return FillPlan{}, shakedown.Errorf(shakedown.KindInvalid,
			"disk.fill of %s in %s would leave %s free, under the safety floor keep_free=%s (%s free now)",
			human(want), filepath.Dir(file), human(left), human(keep), human(st.Avail))
	}
	return FillPlan{File: file, Bytes: want,
		Note: fmt.Sprintf("%.1f%% used now, %.1f%% after; %s left free", pct(used), pct(used+want), human(st.Avail-want))}, nil
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatUint(n, 10) + " B"
}

// FillUndo is the journal form of a fill file.
type FillUndo struct {
	File string `json:"file"`
}

type fill struct {
	p    *FillParams
	file string
	plan FillPlan
}

// FillSuffix ends the name of every fill file.
const FillSuffix = ".fill"

func newFill(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	p, err := shakedown.ParamsAs[FillParams](spec.Params, "disk.fill")
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := &fill{p: p, file: filepath.Join(p.Path, name(env.RunID, spec.Name)+FillSuffix)}
	f.plan = FillPlan{File: f.file, Note: "size decided when prepared"}
	return f, nil
}

// Prepare looks at the filesystem and decides the size; a fill under the floor fails here,
// before anything is written.
func (f *fill) Prepare(ctx context.Context) error {
	st, err := statFS(f.p.Path)
	if err != nil {
		return err
	}
	f.plan, err = PlanFill(st, f.file, f.p)
	return err
}

func (f *fill) Plan() []string { return f.plan.Lines() }

func (f *fill) Undo() []shakedown.Undo {
	b, _ := json.Marshal(FillUndo{File: f.file})
	return []shakedown.Undo{{Type: UndoFill, Data: b, Summary: "remove " + f.file}}
}

// Inject checks the floor again against the filesystem as it is now, then preallocates the
// file (writing zeros where fallocate is not supported).
func (f *fill) Inject(ctx context.Context) (shakedown.Revert, error) {
	if err := f.Prepare(ctx); err != nil {
		return nil, err
	}
	if f.plan.Bytes == 0 {
		return func(context.Context) error { return nil }, nil
	}
	revert := func(context.Context) error { return removeFill(f.file) }
	fh, err := os.OpenFile(f.file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, shakedown.Wrap(fileKind(err), "create fill file", err)
	}
	defer fh.Close()
	if err := allocate(ctx, fh, int64(f.plan.Bytes)); err != nil {
		return revert, shakedown.Wrap(shakedown.KindInternal, "fill "+f.file, err)
	}
	return revert, nil
}

func removeFill(file string) error {
	if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
		return shakedown.Wrap(shakedown.KindInternal, "remove fill file", err)
	}
	return nil
}

func undoFill(ctx context.Context, data json.RawMessage) error {
	var u FillUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode "+UndoFill, err)
	}
	base := filepath.Base(u.File)
	if _, ok := runOf(base); !ok || !strings.HasSuffix(base, FillSuffix) {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: %q is not a fill file of ours", UndoFill, u.File)
	}
	return removeFill(u.File)
}

// fileKind is the kind of a failed file or cgroup operation: KindConflict when the file is
// there already, KindPermission when it may not be touched, KindNotFound when it (or its
// directory) is missing, else KindInternal.
func fileKind(err error) shakedown.Kind {
	switch {
	case errors.Is(err, os.ErrExist):
		return shakedown.KindConflict
	case errors.Is(err, os.ErrPermission):
		return shakedown.KindPermission
	case errors.Is(err, os.ErrNotExist):
		return shakedown.KindNotFound
	}
	return shakedown.KindInternal
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
