package cli

import (
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/container"
	"github.com/shakedown-dev/shakedown/fault/exec"
	"github.com/shakedown-dev/shakedown/fault/hosts"
	"github.com/shakedown-dev/shakedown/fault/network"
	"github.com/shakedown-dev/shakedown/fault/process"
	faultproxy "github.com/shakedown-dev/shakedown/fault/proxy"
	"github.com/shakedown-dev/shakedown/fault/stress"
	"github.com/shakedown-dev/shakedown/monitor"
	"github.com/shakedown-dev/shakedown/probe"
)

// Engines are the run-wide defaults of the engine-backed target families, set by the
// --docker-host, --kubeconfig and --context flags.
type Engines struct {
	DockerHost string
	Kubeconfig string
	Context    string
	// RemoteBinary is the shakedown staged on remote hosts (--remote-binary); this one when empty.
	RemoteBinary string
}

// Registry returns the registry of every built-in target kind, fault type, probe type and
// undo, with no engine defaults.
func Registry() *shakedown.Registry { return RegistryWith(Engines{}) }

// RegistryWith returns the registry of every built-in with the given engine defaults. It
// is the one list of built-ins: the catalog, the schema, validation, runs and recovery all
// read it. A new fault family adds one line here.
func RegistryWith(e Engines) *shakedown.Registry {
	r := shakedown.NewRegistry()
	for _, register := range []func(*shakedown.Registry){
		process.Register,
		exec.Register,
		faultproxy.Register,
		network.Register,
		stress.Register,
		func(r *shakedown.Registry) { container.RegisterWith(r, container.Options{DockerHost: e.DockerHost}) },
		func(r *shakedown.Registry) { registerKubernetes(r, e) },
		probe.Register,
		monitor.Register,
		// Last: it extends the host fault types registered above to remote hosts.
		func(r *shakedown.Registry) { hosts.Register(r, hosts.Options{Binary: e.RemoteBinary}) },
	} {
		register(r)
	}
	return r
}
