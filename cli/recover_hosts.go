package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/hosts"
	"github.com/shakedown-dev/shakedown/remote"
)

// remoteHosts are the flags of `recover` that name hosts reached over SSH.
type remoteHosts struct {
	addrs      []string
	inventory  string
	user       string
	identity   string
	knownHosts string
	insecure   bool
	sudo       bool
}

func (r *remoteHosts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&r.addrs, "host", nil, "recover on this host over SSH (host or host:port; repeat or comma-separate; with --inventory, a host's name)")
	f.StringVar(&r.inventory, "inventory", "", "an inventory file: recover on its hosts (those --host names, or all)")
	f.StringVar(&r.user, "user", "", "SSH login user (default: the inventory's, else the current user)")
	f.StringVar(&r.identity, "identity", "", "SSH private key file (an ssh-agent is asked too)")
	f.StringVar(&r.knownHosts, "known-hosts", "", "known_hosts file the hosts' keys must be in")
	f.BoolVar(&r.insecure, "insecure-ignore-host-key", false, "accept any host key")
	f.BoolVar(&r.sudo, "sudo", false, "recover as root with sudo -n")
}

// hosts returns the hosts the flags name, with how to log in to them.
func (r *remoteHosts) hosts() ([]string, []remote.Host, error) {
	p := &hosts.Params{SSH: r.addrs, Inventory: r.inventory, User: r.user, Identity: r.identity,
		KnownHosts: r.knownHosts, InsecureIgnoreHostKey: r.insecure, Sudo: r.sudo}
	if r.inventory != "" {
		p.SSH = nil
	}
	if err := p.Validate(); err != nil {
		return nil, nil, shakedown.Wrap(shakedown.KindInvalid, "recover", err)
	}
	names, hs, err := p.Hosts()
	if err != nil {
		return nil, nil, err
	}
	if r.inventory != "" && len(r.addrs) > 0 {
		var n2 []string
		var h2 []remote.Host
		for _, want := range r.addrs {
			i := indexOf(names, want)
			if i < 0 {
				return nil, nil, shakedown.Errorf(shakedown.KindInvalid, "recover: no host %q in %s", want, r.inventory)
			}
			n2, h2 = append(n2, names[i]), append(h2, hs[i])
		}
		names, hs = n2, h2
	}
	return names, hs, nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// recoverHosts runs `remote-agent recover` on each host the flags name, all at once, and
// says what each said. A host where it could not run (unreachable, its key refused, the
// recover failed) may still hold what a dead run left: the hosts are listed, exit 4.
func (a *app) recoverHosts(ctx context.Context, r remoteHosts) error {
	names, hs, err := r.hosts()
	if err != nil {
		return err
	}
	if r.insecure {
		fmt.Fprintln(a.stderr, "shakedown: WARNING: host keys are NOT checked (--insecure-ignore-host-key)")
	}
	outs, errs := hosts.RecoverAll(ctx, hs, a.engines.RemoteBinary)
	var missed []string
	for i := range hs {
		for _, line := range strings.Split(outs[i], "\n") {
			if line != "" {
				fmt.Fprintf(a.stdout, "%s: %s\n", names[i], line)
			}
		}
		if errs[i] != nil {
			missed = append(missed, names[i])
			fmt.Fprintf(a.stderr, "shakedown: recover on %s: %v\n", names[i], errs[i])
		}
	}
	if len(missed) > 0 {
		fmt.Fprintf(a.stderr, "shakedown: NOT RECOVERED on %d of %d hosts (they may still hold faults): %s\n",
			len(missed), len(hs), strings.Join(missed, ", "))
		return exitError{code: shakedown.VerdictNotRestored.ExitCode()}
	}
	return nil
}
