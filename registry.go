package shakedown

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// FaultType describes one type of fault: its name, what it acts on, its parameters and how to
// build it. Adapters describe their types; the cli registers the built-in list in one place.
type FaultType struct {
	Name    string   // "process.pause"
	Summary string   // one line for the catalog
	Doc     string   // what it does, how it reverts, what it cannot do
	Targets []string // the target kinds it accepts; empty when it takes no target
	OneShot bool     // needs no duration: the run watches the system recover on its own
	Root    bool     // needs root
	// Stacks says that its revert takes back only what this fault added (its own nft table,
	// toxic, stressor or file), so that another run's fault on the same instance survives it:
	// runs that both allow it (a target's share: true) may then hold one instance at once.
	// A fault whose revert restores a state (SIGCONT, a replica count, a cordon) does not.
	Stacks bool
	// Params returns a pointer to a new parameter struct holding the defaults, or nil when
	// the type takes no parameters. Fields are decoded from `with:` by their json tags;
	// a `doc` tag describes a field for the catalog and schema; `required:"true"` marks a
	// field that must be given. If the struct has a Validate() error method, it is called
	// after decoding.
	Params func() any
	// New builds the fault for one run from its decoded parameters and selected instances.
	// It does no I/O.
	New func(env Env, spec *FaultSpec, targets []Instance) (Fault, error)
}

// TargetKind describes one kind of target.
type TargetKind struct {
	Name    string // "process"
	Summary string
	Params  func() any // as FaultType.Params
	// Resolve finds the instances the target stands for now. With env.DryRun it changes
	// nothing (an inline proxy is described, not started).
	Resolve func(ctx context.Context, env Env, params any) ([]Instance, error)
	// Connect, when set, readies the instances selected from what Resolve found before any
	// fault is built for them (the hosts target dials only the hosts a run selected). It is
	// called in plans too; an error stops the run before anything is injected.
	Connect func(ctx context.Context, env Env, selected []Instance) error
	// RunsCommands says that the instances' handles are CommandRunners: an exec probe may
	// run on: a target of this kind.
	RunsCommands bool
}

// ProbeType describes one kind of probe.
type ProbeType struct {
	Name    string // "http"
	Summary string
	Params  func() any // as FaultType.Params
	// New builds a prober. timeout bounds one sample.
	New func(env Env, params any, timeout time.Duration) (Prober, error)
}

// Registry holds the fault types, target kinds, probe types and undo functions a binary
// knows. The catalog, the JSON Schema, validation and recovery all read it.
type Registry struct {
	faults  map[string]*FaultType
	targets map[string]*TargetKind
	probes  map[string]*ProbeType
	undos   map[string]UndoFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		faults:  map[string]*FaultType{},
		targets: map[string]*TargetKind{},
		probes:  map[string]*ProbeType{},
		undos:   map[string]UndoFunc{},
	}
}

// AddFault registers a fault type. It panics on a duplicate name: that is a programming error.
func (r *Registry) AddFault(t FaultType) {
	if _, dup := r.faults[t.Name]; dup || t.Name == "" || t.New == nil {
		panic(fmt.Sprintf("shakedown: bad or duplicate fault type %q", t.Name))
	}
	r.faults[t.Name] = &t
}

// ReplaceFault replaces the fault type registered under t's name, for a family that extends
// others' types (the targets a type acts on, and how it is built for them). It panics when
// no such type is registered.
func (r *Registry) ReplaceFault(t FaultType) {
	if _, ok := r.faults[t.Name]; !ok || t.New == nil {
		panic(fmt.Sprintf("shakedown: no fault type %q to replace, or no New", t.Name))
	}
	r.faults[t.Name] = &t
}

// AddTarget registers a target kind.
func (r *Registry) AddTarget(k TargetKind) {
	if _, dup := r.targets[k.Name]; dup || k.Name == "" || k.Resolve == nil {
		panic(fmt.Sprintf("shakedown: bad or duplicate target kind %q", k.Name))
	}
	r.targets[k.Name] = &k
}

// AddProbe registers a probe type.
func (r *Registry) AddProbe(p ProbeType) {
	if _, dup := r.probes[p.Name]; dup || p.Name == "" || p.New == nil {
		panic(fmt.Sprintf("shakedown: bad or duplicate probe type %q", p.Name))
	}
	r.probes[p.Name] = &p
}

// AddUndo registers the function that carries out undos of the given type.
func (r *Registry) AddUndo(typ string, f UndoFunc) {
	if _, dup := r.undos[typ]; dup || typ == "" || f == nil {
		panic(fmt.Sprintf("shakedown: bad or duplicate undo type %q", typ))
	}
	r.undos[typ] = f
}

// Fault returns the fault type called name.
func (r *Registry) Fault(name string) (*FaultType, bool) { t, ok := r.faults[name]; return t, ok }

// Target returns the target kind called name.
func (r *Registry) Target(name string) (*TargetKind, bool) { k, ok := r.targets[name]; return k, ok }

// Probe returns the probe type called name.
func (r *Registry) Probe(name string) (*ProbeType, bool) { p, ok := r.probes[name]; return p, ok }

// Undo returns the undo function for typ.
func (r *Registry) Undo(typ string) (UndoFunc, bool) { f, ok := r.undos[typ]; return f, ok }

// Faults returns the fault types sorted by name.
func (r *Registry) Faults() []*FaultType { return sorted(r.faults) }

// Targets returns the target kinds sorted by name.
func (r *Registry) Targets() []*TargetKind { return sorted(r.targets) }

// Probes returns the probe types sorted by name.
func (r *Registry) Probes() []*ProbeType { return sorted(r.probes) }

func sorted[T any](m map[string]*T) []*T {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*T, len(names))
	for i, n := range names {
		out[i] = m[n]
	}
	return out
}
