package stress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// SweepDirs are directories Sweep searches for fill and io files besides the system's
// temporary directories and the root of every mounted disk filesystem.
var SweepDirs []string

// Sweep finds what runs that are not live left behind — freezer cgroups named
// shakedown_<run>_…, stressors started with --run shakedown_<run>_…, and fill and io files of
// those names in known directories — removes them, and returns what it removed. It is for
// `shakedown recover` when no journal survived. A frozen process is thawed and moved to the
// freezer root: its original cgroup is known only to the journal.
func Sweep(ctx context.Context, live func(runID string) bool) ([]string, error) {
	dead := func(n string) bool {
		run, ok := runOf(n)
		return ok && !live(run)
	}
	var removed []string
	var errs []error

	if ents, err := os.ReadDir(freezerRoot()); err == nil {
		for _, e := range ents {
			if !e.IsDir() || !dead(e.Name()) {
				continue
			}
			cg := filepath.Join(freezerRoot(), e.Name())
			if err := thaw(ctx, FreezePlan{Cgroup: cg}); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "freezer cgroup "+cg+" (thawed)")
		}
	}

	for _, s := range findStressors() {
		if !dead(s.name) {
			continue
		}
		if err := removeStressors(StressorUndo{Name: s.name}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, fmt.Sprintf("stressor %s (pid %d)", s.name, s.pid))
	}

	for _, dir := range sweepDirs() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if !e.Type().IsRegular() || !dead(n) || !(strings.HasSuffix(n, FillSuffix) || strings.Contains(n, "_io_") && strings.HasSuffix(n, ".tmp")) {
				continue
			}
			p := filepath.Join(dir, n)
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "file "+p)
		}
	}
	return removed, errors.Join(errs...)
}

// sweepDirs lists the directories to search: SweepDirs, the temporary directories, and the
// mount points of disk-backed and tmpfs filesystems.
func sweepDirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, d := range SweepDirs {
		add(d)
	}
	add(os.TempDir())
	add("/tmp")
	add("/var/tmp")
	add("/dev/shm")
	if f, err := os.Open(filepath.Join(procfs.Root, "self/mounts")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		skip := map[string]bool{"proc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "devpts": true,
			"mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true, "pstore": true, "bpf": true,
			"configfs": true, "fusectl": true, "hugetlbfs": true, "autofs": true, "binfmt_misc": true, "nsfs": true, "devtmpfs": true}
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 3 && !skip[f[2]] {
				add(strings.ReplaceAll(f[1], `\040`, " "))
			}
		}
	}
	sort.Strings(out)
	return out
}
