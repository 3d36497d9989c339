package hosts

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/process"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Params
		fields []string // the fields of the problems, in order; none when valid
	}{
		{"ssh with known_hosts", Params{SSH: []string{"web-1", "web-2:2222"}, KnownHosts: "kh"}, nil},
		{"ssh insecure", Params{SSH: []string{"web-1"}, InsecureIgnoreHostKey: true}, nil},
		{"inventory with labels", Params{Inventory: "inv.json", Labels: map[string]string{"role": "web"}}, nil},
		{"no hosts", Params{KnownHosts: "kh"}, []string{"ssh"}},
		{"both", Params{SSH: []string{"a"}, Inventory: "i", KnownHosts: "kh"}, []string{"inventory"}},
		{"bad and twice", Params{SSH: []string{"a", "a:22", "b:0"}, KnownHosts: "kh"}, []string{"ssh[1]", "ssh[2]"}},
		{"one host, two spellings", Params{SSH: []string{"10.0.0.1", "[::ffff:10.0.0.1]:22", "Web-1", "web-1."}, KnownHosts: "kh"}, []string{"ssh[1]", "ssh[3]"}},
		{"odd user names", Params{SSH: []string{"a"}, KnownHosts: "kh", User: "root\nx"}, []string{"user"}},
		{"user with a leading dash", Params{SSH: []string{"a"}, KnownHosts: "kh", User: "-oProxyCommand=x"}, []string{"user"}},
		{"user with a shell character", Params{SSH: []string{"a"}, KnownHosts: "kh", User: "a$(id)"}, []string{"user"}},
		{"domain user", Params{SSH: []string{"a"}, KnownHosts: "kh", User: "deploy@corp.example"}, nil},
		{"labels without inventory", Params{SSH: []string{"a"}, KnownHosts: "kh", Labels: map[string]string{"r": "w"}}, []string{"labels"}},
		{"no known_hosts", Params{SSH: []string{"a"}}, []string{"known_hosts"}},
		{"both key settings", Params{SSH: []string{"a"}, KnownHosts: "kh", InsecureIgnoreHostKey: true}, []string{"insecure_ignore_host_key"}},
		{"two selectors", Params{SSH: []string{"a"}, KnownHosts: "kh", Process: &process.Selector{PID: 3, Name: "x"}}, []string{"process"}},
		{"negative concurrency", Params{SSH: []string{"a"}, KnownHosts: "kh", Concurrency: -1}, []string{"concurrency"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *shakedown.FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("problem %v is not a FieldError", e)
					}
					f := fe.Field
					if fe.Index >= 0 {
						f += "[" + string(rune('0'+fe.Index)) + "]"
					}
					got = append(got, f)
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("Validate(%+v) problems at %v, want %v (%v)", tc.p, got, tc.fields, err)
			}
		})
	}
}

func TestProcessFaultNeedsASelector(t *testing.T) {
	reg := shakedown.NewRegistry()
	reg.AddFault(shakedown.FaultType{Name: "process.pause", Targets: []string{"process"},
		New: func(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
			return nil, nil
		}})
	reg.AddFault(shakedown.FaultType{Name: "network.loss", Targets: []string{"netns", "host"},
		New: func(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
			return nil, nil
		}})
	Register(reg, Options{})
	inst := func(p *Params) []shakedown.Instance {
		return []shakedown.Instance{{Kind: Kind, ID: "10.0.0.1:22", Name: "web-1", Ref: &Conn{Name: "web-1", params: p}}}
	}
	for _, tc := range []struct {
		typ     string
		p       Params
		onHost  string // the target kind asked for on the host; "" when refused
		refused bool
	}{
		{"process.pause", Params{}, "", true},
		{"process.pause", Params{Process: &process.Selector{Name: "web"}}, "process", false},
		{"network.loss", Params{}, "host", false},
		{"network.loss", Params{Process: &process.Selector{Name: "web"}}, "host", false},
	} {
		ft, _ := reg.Fault(tc.typ)
		if !slices.Contains(ft.Targets, Kind) {
			t.Fatalf("%s does not act on hosts after Register: %v", tc.typ, ft.Targets)
		}
		spec := &shakedown.FaultSpec{Name: "f", Type: tc.typ, Target: "web"}
		f, err := ft.New(shakedown.Env{RunID: "r"}, spec, inst(&tc.p))
		if tc.refused {
			if !shakedown.IsKind(err, shakedown.KindInvalid) || !strings.Contains(err.Error(), "process:") {
				t.Errorf("%s on hosts without process: = %v, want an invalid error asking for process:", tc.typ, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s on %+v: %v", tc.typ, tc.p, err)
		}
		if got := f.(*remoteFault).req.Target.Kind; got != tc.onHost {
			t.Errorf("%s with process %v acts on %q on the host, want %q", tc.typ, tc.p.Process, got, tc.onHost)
		}
	}
}

func TestHasLabels(t *testing.T) {
	have := map[string]string{"role": "web", "zone": "a"}
	for _, tc := range []struct {
		want map[string]string
		ok   bool
	}{
		{nil, true}, {map[string]string{"role": "web"}, true}, {map[string]string{"role": "web", "zone": "b"}, false},
		{map[string]string{"rack": ""}, false}, {map[string]string{"rack": "1"}, false},
	} {
		if got := hasLabels(have, tc.want); got != tc.ok {
			t.Errorf("hasLabels(%v, %v) = %v, want %v", have, tc.want, got, tc.ok)
		}
	}
}

// TestJoinHostsKindIsTheWorst: the kind of a fan-out's error, and so the run's exit code, is
// its most severe problem's, whichever host came first.
func TestJoinHostsKindIsTheWorst(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("h%d", i) }
	unreachable := shakedown.Errorf(shakedown.KindUnavailable, "no route")
	bad := shakedown.Errorf(shakedown.KindInvalid, "bad parameter")
	for _, errs := range [][]error{{unreachable, nil, bad}, {bad, unreachable}, {nil, bad}} {
		err := joinHosts(errs, name)
		if !shakedown.IsKind(err, shakedown.KindInvalid) || shakedown.KindOf(err) != shakedown.KindInvalid {
			t.Errorf("joinHosts(%v) = %v of kind %v, want invalid", errs, err, shakedown.KindOf(err))
		}
	}
	if err := joinHosts([]error{nil, nil}, name); err != nil {
		t.Errorf("joinHosts of no errors = %v", err)
	}
	if err := joinHosts([]error{nil, unreachable}, name); err == nil || err.Error() != "host h1: no route" {
		t.Errorf("joinHosts of one error = %v, want it named by its host", err)
	}
}
