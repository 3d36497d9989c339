//go:build !linux

package network

import (
	"context"

	"github.com/shakedown-dev/shakedown"
)

// Network faults are nftables tables, qdiscs and NFQUEUE in network namespaces: Linux's.
// Elsewhere the types are registered (validate and plan read them) and every target check,
// apply and remove refuses, before anything is injected.

func refuse() error {
	return shakedown.NeedsLinux("network faults (nftables, qdiscs, network namespaces)")
}

func checkNetns(string) error { return refuse() }

// HaveNetem reports false: there is no netem here.
func HaveNetem() bool { return false }

// Delayer is Linux's userspace delay; there is none here.
type Delayer struct{}

// Stop does nothing: no Delayer runs here.
func (*Delayer) Stop() error { return nil }

// Apply refuses.
func Apply(Plan, uint64) (*Delayer, error) { return nil, refuse() }

// Remove refuses.
func Remove(Plan) error { return refuse() }

// Sweep finds nothing: no network fault can have been injected on this system.
func Sweep(context.Context, func(string) bool) ([]string, error) { return nil, nil }
