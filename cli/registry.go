package cli

import (
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/exec"
	"github.com/shakedown-dev/shakedown/fault/network"
	"github.com/shakedown-dev/shakedown/fault/process"
	faultproxy "github.com/shakedown-dev/shakedown/fault/proxy"
	"github.com/shakedown-dev/shakedown/fault/stress"
	"github.com/shakedown-dev/shakedown/monitor"
	"github.com/shakedown-dev/shakedown/probe"
)

// Registry returns the registry of every built-in target kind, fault type, probe type and
// undo. It is the one list of built-ins: the catalog, the schema, validation, runs and
// recovery all read it. A new fault family adds one line here.
func Registry() *shakedown.Registry {
	r := shakedown.NewRegistry()
	for _, register := range []func(*shakedown.Registry){
		process.Register,
		exec.Register,
		faultproxy.Register,
		network.Register,
		stress.Register,
		probe.Register,
		monitor.Register,
	} {
		register(r)
	}
	return r
}
