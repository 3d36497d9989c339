package network

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// queueEncoding says how a Queue verdict is written: the native nft queue expression, or
// the xtables NFQUEUE target through nft_compat (kernels built without CONFIG_NFT_QUEUE).
type queueEncoding int

const (
	queueNative queueEncoding = iota
	queueXT
)

// Exprs returns the netlink expressions of the rule.
func (r Rule) Exprs(q queueEncoding) []expr.Any {
	var e []expr.Any
	ifname := func(key expr.MetaKey, name string) {
		data := make([]byte, unix.IFNAMSIZ)
		copy(data, name)
		e = append(e,
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: data})
	}
	if r.NotIif != "" {
		ifname(expr.MetaKeyIIFNAME, r.NotIif)
	}
	if r.NotOif != "" {
		ifname(expr.MetaKeyOIFNAME, r.NotOif)
	}
	addr := func(p netip.Prefix, src bool) {
		a := p.Addr()
		proto, off, n := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
		if src {
			off = 12
		}
		if !a.Is4() {
			proto, off, n = unix.NFPROTO_IPV6, 24, 16
			if src {
				off = 8
			}
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
		if p.Bits() == 0 {
			return
		}
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
		if p.Bits() < int(n*8) {
			mask := make([]byte, n)
			for i := 0; i < p.Bits(); i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
		}
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
	}
	if r.Saddr.IsValid() {
		addr(r.Saddr, true)
	}
	if r.Daddr.IsValid() {
		addr(r.Daddr, false)
	}
	if r.L4 != "" {
		proto := byte(unix.IPPROTO_TCP)
		if r.L4 == "udp" {
			proto = unix.IPPROTO_UDP
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
	}
	port := func(p PortRange, off uint32) {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
		if p.Lo == p.Hi {
			e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.Lo)})
			return
		}
		e = append(e, &expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint16(p.Lo), ToData: binaryutil.BigEndian.PutUint16(p.Hi)})
	}
	if r.Sport != (PortRange{}) {
		port(r.Sport, 0)
	}
	if r.Dport != (PortRange{}) {
		port(r.Dport, 2)
	}
	if r.Percent > 0 {
		// numgen leaves a host-order number; cmp compares bytes, so turn it big-endian first.
		e = append(e,
			&expr.Numgen{Register: 1, Modulus: randomModulus, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(r.threshold())})
	}
	switch r.Verdict {
	case Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case Accept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case RejectReset:
		e = append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case RejectPort:
		e = append(e, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	case Queue:
		if q == queueXT {
			// struct xt_NFQ_info_v3 {u16 queuenum, queues_total, flags}, padded to 8 bytes.
			info := make([]byte, 8)
			binary.NativeEndian.PutUint16(info[0:], r.QueueNum)
			binary.NativeEndian.PutUint16(info[2:], 1)
			binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
			u := xt.Unknown(info)
			e = append(e, &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u})
		} else {
			e = append(e, &expr.Queue{Num: r.QueueNum, Total: 1, Flag: expr.QueueFlagBypass})
		}
	}
	return e
}

func (c Chain) hook() *nftables.ChainHook {
	if c.Name == "input" {
		return nftables.ChainHookInput
	}
	return nftables.ChainHookOutput
}
