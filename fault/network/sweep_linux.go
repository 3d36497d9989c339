package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/google/nftables"
	"github.com/shakedown-dev/shakedown"
)

// Sweep finds tables named shakedown_<run>_… in this host's namespace and in every named
// namespace whose run is not live, deletes each with the qdiscs it marks, and returns what it
// removed ("netns a: table inet shakedown_…"). It is for `shakedown recover` when no journal
// survived. Qdiscs are found only through their table: a qdisc whose table is gone is left.
func Sweep(ctx context.Context, live func(runID string) bool) ([]string, error) {
	spaces := []string{""}
	if ents, err := os.ReadDir(NetnsDir); err == nil {
		for _, e := range ents {
			spaces = append(spaces, e.Name())
		}
	}
	var removed []string
	var errs []error
	for _, ns := range spaces {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		r, err := sweepNS(ns, live)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

func sweepNS(ns string, live func(string) bool) ([]string, error) {
	h, err := nsHandle(ns)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	defer h.Close()
	c, err := nftConn(h)
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, shakedown.Wrap(kindOf(err), "list nft tables", err)
	}
	where := Plan{Netns: ns}.where()
	var names []string
	for _, t := range tables {
		if run, ok := RunOf(t.Name); ok && !live(run) {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	var removed []string
	var errs []error
	for _, name := range names {
		handle := hash16(name)
		if err := removeQdisc(h, handle); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if err := removeTable(h, name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s: table inet %s (and root qdiscs %x: if any)", where, name, handle))
	}
	return removed, errors.Join(errs...)
}
