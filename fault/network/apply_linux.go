package network

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/nftables"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (ip-netns(8)).
const NetnsDir = "/run/netns"

// nsHandle opens the named namespace, or this process's own when name is "". The caller
// closes it. A namespace that does not exist is KindNotFound.
func nsHandle(name string) (netns.NsHandle, error) {
	if name == "" {
		h, err := netns.Get()
		if err != nil {
			return netns.None(), shakedown.Wrap(shakedown.KindInternal, "open this host's network namespace", err)
		}
		return h, nil
	}
	path := filepath.Join(NetnsDir, name)
	var pid int
	var start uint64
	if proc, p, st, ok := procNetns(name); ok {
		path, pid, start = proc, p, st // a container's: /proc/PID/ns/net, of the process started at start
	} else if name != filepath.Base(name) || name == "." || name == ".." {
		return netns.None(), shakedown.Errorf(shakedown.KindInvalid, "network namespace name %q is not a plain name", name)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		kind := shakedown.KindInternal
		switch {
		case errors.Is(err, os.ErrNotExist):
			kind = shakedown.KindNotFound
		case errors.Is(err, os.ErrPermission):
			kind = shakedown.KindPermission
		}
		return netns.None(), shakedown.Wrap(kind, "open network namespace "+name, err)
	}
	if start != 0 {
		// Checked after the open: if the process is still the one that started then, the
		// handle is its namespace; if the pid names another now, the namespace is gone.
		if st, err := procfs.ReadStat(procfs.Root, pid); err != nil || st.StartTime != start {
			h.Close()
			return netns.None(), shakedown.Errorf(shakedown.KindNotFound,
				"network namespace %s: process %d is gone (its pid names another process now)", name, pid)
		}
	}
	return h, nil
}

// checkNetns checks that the named namespace (this process's own when name is "") can be
// opened.
func checkNetns(name string) error {
	h, err := nsHandle(name)
	if err != nil {
		return err
	}
	return h.Close()
}

// kindOf maps a netlink error to a kind.
func kindOf(err error) shakedown.Kind {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return shakedown.KindPermission
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.EBUSY):
		return shakedown.KindConflict
	case errors.Is(err, unix.ENOENT):
		return shakedown.KindNotFound
	}
	return shakedown.KindInternal
}

func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) || shakedown.IsKind(err, shakedown.KindNotFound)
}

// nftConn returns an nftables connection in the namespace of h.
func nftConn(h netns.NsHandle) (*nftables.Conn, error) {
	return nftables.New(nftables.WithNetNSFd(int(h)))
}

// applyTable creates the plan's table with its chains and rules in one batch: all or nothing.
func applyTable(h netns.NsHandle, p Plan) error {
	c, err := nftConn(h)
	if err != nil {
		return err
	}
	build := func(q queueEncoding) error {
		t := c.CreateTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: p.Table})
		for _, ch := range p.Chains {
			policy := nftables.ChainPolicyAccept
			chain := c.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: ch.hook(), Priority: nftables.ChainPriorityFilter, Policy: &policy})
			for _, r := range ch.Rules {
				c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: r.Exprs(q)})
			}
		}
		return c.Flush()
	}
	err = build(queueNative)
	if err != nil && p.Delay != nil {
		// Kernels without CONFIG_NFT_QUEUE still have the xtables NFQUEUE target.
		if err2 := build(queueXT); err2 == nil {
			return nil
		}
	}
	if err != nil {
		return shakedown.Wrap(kindOf(err), "add nft table "+p.Table, err)
	}
	return nil
}

// removeTable deletes the table; one that is not there is already removed.
func removeTable(h netns.NsHandle, table string) error {
	c, err := nftConn(h)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	// Deleting the rules first heals at once; deleting the table unregisters its hooks, which
	// waits for an RCU grace period (about 10 ms) before the kernel answers.
	c.FlushTable(t)
	if err := c.Flush(); err != nil && !gone(err) {
		return shakedown.Wrap(kindOf(err), "flush nft table "+table, err)
	}
	c.DelTable(t)
	if err := c.Flush(); err != nil && !gone(err) {
		return shakedown.Wrap(kindOf(err), "delete nft table "+table, err)
	}
	return nil
}

// links returns the namespace's links but loopback.
func links(nh *netlink.Handle) ([]netlink.Link, error) {
	all, err := nh.LinkList()
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range all {
		if l.Attrs().Flags&unix.IFF_LOOPBACK != 0 || l.Attrs().Name == "lo" {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

func qdiscFor(q *QdiscPlan, link int) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: link, Handle: netlink.MakeHandle(q.Handle, 0), Parent: netlink.HANDLE_ROOT}
	if q.Kind == "netem" {
		return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(q.Delay.Microseconds()), Jitter: uint32(q.Jitter.Microseconds()), Limit: q.Limit})
	}
	return &netlink.Tbf{QdiscAttrs: attrs, Rate: q.Rate, Limit: q.Limit, Buffer: netlink.Xmittime(q.Rate, q.Burst)}
}

// applyQdisc puts the plan's qdisc at the root of every link but loopback. A link whose root
// already holds a qdisc someone added is a conflict: nothing of theirs is replaced.
func applyQdisc(h netns.NsHandle, q *QdiscPlan) error {
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return shakedown.Wrap(kindOf(err), "netlink", err)
	}
	defer nh.Close()
	ls, err := links(nh)
	if err != nil {
		return shakedown.Wrap(kindOf(err), "list links", err)
	}
	for _, l := range ls {
		if err := nh.QdiscAdd(qdiscFor(q, l.Attrs().Index)); err != nil {
			return shakedown.Wrap(kindOf(err), fmt.Sprintf("add %s qdisc on %s", q.Kind, l.Attrs().Name), err)
		}
	}
	return nil
}

// removeQdisc deletes root qdiscs with the given handle from every link; none is success.
func removeQdisc(h netns.NsHandle, handle uint16) error {
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return shakedown.Wrap(kindOf(err), "netlink", err)
	}
	defer nh.Close()
	qs, err := ourQdiscs(nh, func(major uint16) bool { return major == handle })
	if err != nil {
		return err
	}
	var errs []error
	for _, q := range qs {
		if err := nh.QdiscDel(q); err != nil && !gone(err) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, shakedown.Wrap(kindOf(err), fmt.Sprintf("delete qdisc %x: on link %d", handle, q.Attrs().LinkIndex), err))
		}
	}
	return errors.Join(errs...)
}

// ourQdiscs lists root qdiscs whose handle major number passes keep.
func ourQdiscs(nh *netlink.Handle, keep func(major uint16) bool) ([]netlink.Qdisc, error) {
	all, err := nh.QdiscList(nil)
	if err != nil {
		return nil, shakedown.Wrap(kindOf(err), "list qdiscs", err)
	}
	var out []netlink.Qdisc
	for _, q := range all {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && a.Handle != 0 && keep(uint16(a.Handle>>16)) {
			out = append(out, q)
		}
	}
	return out, nil
}

// HaveNetem reports whether the running kernel has the netem qdisc, built in or as a module.
func HaveNetem() bool {
	if _, err := os.Stat("/sys/module/sch_netem"); err == nil {
		return true
	}
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("\nCONFIG_NET_SCH_NETEM=y")) || bytes.Contains(b, []byte("\nCONFIG_NET_SCH_NETEM=m"))
}

// Apply makes a plan so. For a userspace delay it returns the running Delayer, which the
// caller stops after Remove. When it fails, what it applied stays for Remove to take back.
func Apply(p Plan, seed uint64) (*Delayer, error) {
	h, err := nsHandle(p.Netns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var d *Delayer
	if p.Delay != nil {
		if d, err = StartDelayer(h, p.Delay.QueueNum, p.Delay.Delay, p.Delay.Jitter, seed); err != nil {
			return nil, fmt.Errorf("%s: %w", p.where(), err)
		}
	}
	if p.Table != "" {
		// The table goes in first: for a qdisc it is the mark that lets Sweep find it.
		if err := applyTable(h, p); err != nil {
			return d, fmt.Errorf("%s: %w", p.where(), err)
		}
	}
	if p.Qdisc != nil {
		if err := applyQdisc(h, p.Qdisc); err != nil {
			return d, fmt.Errorf("%s: %w", p.where(), err)
		}
	}
	return d, nil
}

// Remove takes a plan back: its qdiscs, then its table. What is already gone is success, as
// is a namespace that no longer exists.
func Remove(p Plan) error {
	h, err := nsHandle(p.Netns)
	if gone(err) {
		return nil
	} else if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	if p.Qdisc != nil {
		errs = append(errs, removeQdisc(h, p.Qdisc.Handle))
	}
	if p.Table != "" {
		errs = append(errs, removeTable(h, p.Table))
	}
	return errors.Join(errs...)
}
