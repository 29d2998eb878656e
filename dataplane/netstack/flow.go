package netstack

import (
	"net/netip"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

// The namespace's part in recorded segments (link.FlowCache): the ops a
// packet's way through the stack leaves, and what they check.

// snap is what the stack's decisions for a packet depend on besides its
// headers: the generations of its tables and the settings callers write
// directly.
type snap struct {
	gen, routes uint64
	fwd, defrag bool
	all, def    Conf
	// filter and ipvs say whether the hooks are there (the builder sets
	// them once, before any packet: compared as booleans, not interfaces).
	filter, ipvs bool
	// pmtu is the number of learned path MTUs (a new one can lower a
	// locally generated packet's MTU).
	pmtu int
}

func (s *Stack) snap() snap {
	return snap{gen: s.gen, routes: s.Routes.gen, fwd: s.Forwarding, defrag: s.ConntrackDefrag, all: s.ConfAll, def: s.ConfDefault,
		filter: s.Filter != nil, ipvs: s.IPVS != nil, pmtu: len(s.pmtu)}
}

// snapFor returns the stack's snap for an op of recording r, and whether
// an earlier op of r already checks that same snap.
func (s *Stack) snapFor(r *link.Recorder) (snap, bool) {
	st := s.snap()
	seen := s.snapRec == r.ID && s.snapSeen == st
	s.snapRec, s.snapSeen = r.ID, st
	return st, seen
}

// recordable reports whether a packet's way through this stack can be
// part of a segment: no IPVS, no policy routing (whose tables are not
// covered by snap), no reassembly in progress.
func (s *Stack) recordable() bool {
	return s.IPVS == nil && !s.customRules && len(s.tables) == 0 && len(s.pmtu) == 0
}

// recvOp is a packet taken in by the stack on an interface: the headers
// checked, the link header pulled, a padded datagram trimmed, and every
// route decision that follows from the headers and the stack's state.
type recvOp struct {
	s  *Stack
	st snap
	// snapped: an earlier op of the segment checks the same snap of s
	// (Valid runs every op's check at one instant), so this one does not.
	snapped bool
	ifc     *Iface
	conf    Conf
	mac     packet.MAC
	ether   bool
	trim    int // 0: no trim
}

func (o *recvOp) Valid(time.Duration) bool {
	return (o.snapped || o.s.snap() == o.st) && o.ifc.Conf == o.conf && o.ifc.Dev.MAC == o.mac
}

func (o *recvOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	pkt.InIf = o.ifc.Dev.Index
	if o.ether {
		pkt.Pull(packet.EthHeaderLen)
	}
	if o.trim > 0 {
		pkt.Trim(o.trim)
	}
	pkt.FragMax, pkt.PhysIn = 0, 0
}

// outOp is a locally generated packet's route decision (ip_local_out).
type outOp struct {
	s       *Stack
	st      snap
	snapped bool // as recvOp's
}

func (o *outOp) Valid(time.Duration) bool { return o.snapped || o.s.snap() == o.st }

func (o *outOp) Apply(*packet.Buffer, time.Duration) {}

// ttlOp is a forwarded packet's TTL decrement.
type ttlOp struct{}

func (ttlOp) Valid(time.Duration) bool { return true }

func (ttlOp) Apply(pkt *packet.Buffer, _ time.Duration) { packet.IPv4(pkt.Bytes()).DecTTL() }

// neighOp is the link header a neighbour entry gave the packet.
type neighOp struct {
	s      *Stack
	gen    uint64
	n      *Neigh
	state  NudState
	mac    packet.MAC
	dev    *link.Device
	devMAC packet.MAC
}

func (o *neighOp) Valid(time.Duration) bool {
	return o.s.gen == o.gen && o.n.State == o.state && o.n.MAC == o.mac && o.dev.MAC == o.devMAC
}

func (o *neighOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	packet.Ethernet(pkt.Prepend(packet.EthHeaderLen)).Set(o.mac, o.devMAC, packet.EtherTypeIPv4)
}

// udpSockOp is a datagram delivered to a socket, and the echo an echoing
// socket sends back (a packet of its own, which takes the slow path and
// may replay a segment of its own).
type udpSockOp struct {
	s        *Stack
	gen      uint64
	sock     *UDPSocket
	echo     bool
	src, dst netip.AddrPort
	n        int
}

func (o *udpSockOp) Valid(time.Duration) bool { return o.s.gen == o.gen && o.sock.Echo == o.echo }

func (o *udpSockOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	s := o.s
	if s.OnEvent != nil {
		s.emit(Event{Kind: EvUDPRecv, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoUDP, Src: o.src, Dst: o.dst, Len: o.n})
	}
	if o.echo {
		ip := packet.IPv4(pkt.Bytes())
		data := ip.Payload()[packet.UDPHeaderLen:]
		s.sendUDP(o.dst.Addr(), o.dst.Port(), o.src, data, 0, DFWant, pkt.Flow, pkt.ID)
	}
	pkt.Free()
}

// RecordsFlows marks the stack as recording its work (link.FlowAware).
func (*Stack) RecordsFlows() {}
