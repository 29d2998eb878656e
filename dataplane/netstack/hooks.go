package netstack

import (
	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Hook is a netfilter hook point.
type Hook uint8

// The IPv4 netfilter hooks, in the order a forwarded packet meets them.
const (
	PreRouting Hook = iota
	LocalIn
	Forward
	LocalOut
	PostRouting
	// LocalInNAT is the part of INPUT at and after NF_IP_PRI_NAT_SRC (the
	// nat table's INPUT chain, then the conntrack confirm). It is a separate
	// call so that IPVS (priority NAT_SRC−2) can take packets in between.
	LocalInNAT
	// LocalOutFilter is the part of OUTPUT after NF_IP_PRI_NAT_DST+2 (the
	// filter table). It is a separate call so that IPVS's
	// ip_vs_local_request4 (priority NAT_DST+2) can take locally generated
	// packets after the nat table's OUTPUT chain and before filtering.
	LocalOutFilter
)

func (h Hook) String() string {
	return [...]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING", "INPUT", "OUTPUT"}[h]
}

// VerdictKind is what a hook decided.
type VerdictKind uint8

// Verdicts.
const (
	Accept VerdictKind = iota
	Drop
	// Reject drops and answers: an ICMP error (RejectCode) or a TCP reset.
	Reject
)

// Verdict is a hook's decision; Reason and Detail say why a packet was
// dropped or rejected.
type Verdict struct {
	Kind   VerdictKind
	Reason trace.Reason
	Detail string
	// RejectICMPCode is the ICMP destination-unreachable code sent by a
	// REJECT (e.g. 3 port unreachable); RejectTCPReset sends a RST instead.
	RejectICMPCode uint8
	RejectTCPReset bool
}

// Filter is the netfilter of a namespace. pkt starts at the IPv4 header.
// in and out are the devices the packet came in on and goes out of (nil
// where the hook has none). A hook may rewrite addresses and ports (NAT);
// it keeps checksums valid. Pass reports whether the packet goes on; when
// it does not, Refusal says why (drop or reject, reason, detail). The
// split keeps the common path to one bool.
type Filter interface {
	Pass(h Hook, pkt *packet.Buffer, in, out *link.Device) bool
	Refusal() Verdict
}

// Interceptor is a module that takes packets at the kernel's IPVS hook
// points: LocalIn sees packets for local addresses after the INPUT filter
// (ip_vs_reply4, which may rewrite a reply, then ip_vs_remote_request4)
// and returns true when it took the packet; LocalOut sees locally
// generated packets after the nat table's OUTPUT chain
// (ip_vs_local_request4) and returns true when it took the packet;
// Forward sees forwarded packets after the FORWARD filter (ip_vs_reply4)
// and may rewrite them. A packet IPVS already handled (Buffer.IPVS set,
// the kernel's skb->ipvs_property) is not offered to LocalOut again.
type Interceptor interface {
	LocalIn(s *Stack, in *Iface, pkt *packet.Buffer) bool
	LocalOut(s *Stack, pkt *packet.Buffer) bool
	Forward(s *Stack, pkt *packet.Buffer)
}
