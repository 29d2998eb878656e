package netstack

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// BridgeForward is br_netfilter: an IPv4 frame bridged between two ports
// of a bridge in this namespace passes PREROUTING, FORWARD and
// POSTROUTING with the bridge device as in and out device (so `-i cni0`
// matches, and conntrack sees pod-to-pod traffic on one node — without it a
// reply from a pod on the same bridge would never be un-DNATed). When
// PREROUTING's DNAT changes the destination address the frame goes to the
// route decision (br_nf_pre_routing_finish): it stays bridged when the new
// destination is behind the bridge too (see bridgedDNAT), else it is routed.
func (s *Stack) BridgeForward(b *link.Bridge, in, out *link.Device, pkt *packet.Buffer) bool {
	if s.Filter == nil {
		return true
	}
	frame := pkt.Bytes()
	if len(frame) < packet.EthHeaderLen+packet.IPv4HeaderLen || packet.Ethernet(frame).Type() != packet.EtherTypeIPv4 {
		return true
	}
	ip := packet.IPv4(frame[packet.EthHeaderLen:])
	if !ip.Valid() || !ip.ChecksumOK() {
		return true
	}
	br := b.Dev
	pkt.Pull(packet.EthHeaderLen)
	dst := packet.IPv4(pkt.Bytes()).Dst()
	if !s.runHook(PreRouting, pkt, br, nil) {
		return false
	}
	if packet.IPv4(pkt.Bytes()).Dst() != dst {
		// DNAT: the destination is no longer this frame's; route it.
		pkt.InIf, pkt.PhysIn = br.Index, in.Index
		s.routeInput(s.ifaces[br.Index], pkt)
		return false
	}
	pkt.Prepend(packet.EthHeaderLen)
	return s.BridgeForwardDNAT(b, in, out, pkt)
}

// BridgeForwardDNAT runs FORWARD (with IPVS's FORWARD hook, which sees
// bridged IPv4 too) and POSTROUTING on a bridged frame whose PREROUTING
// has run (br_nf_forward_ip, br_nf_post_routing): in and out device are
// the bridge. A MASQUERADE there picks the bridge's address (a pod
// reaching itself through its Service gets cni0's address as source).
func (s *Stack) BridgeForwardDNAT(b *link.Bridge, _, _ *link.Device, pkt *packet.Buffer) bool {
	if s.Filter == nil {
		return true
	}
	br := b.Dev
	pkt.Pull(packet.EthHeaderLen)
	if !s.runHook(Forward, pkt, br, br) {
		return false
	}
	if s.IPVS != nil {
		s.IPVS.Forward(s, pkt)
	}
	if !s.runHook(PostRouting, pkt, br, br) {
		return false
	}
	pkt.Prepend(packet.EthHeaderLen)
	return true
}

// bridgedDNAT is br_nf_pre_routing_finish's bridged_dnat: PREROUTING on a
// frame that came in on bridge port phys changed its destination, and the
// route to the new destination goes out the bridge device ifc itself. The
// frame is not routed (no ip_forward: no TTL decrement, no ICMP redirect,
// no need for ip_forward=1): br_nf_pre_routing_finish_bridge sets only its
// destination MAC, from the neighbour of the next hop, keeps the sender's
// source MAC, and the bridge forwards it from the ingress port. An
// unresolved neighbour queues the packet behind ARP from the bridge device
// (neigh->output with nf_bridge->bridged_dnat; br_dev_xmit then goes on
// bridging it, br_nf_pre_routing_finish_bridge_slow).
func (s *Stack) bridgedDNAT(ifc *Iface, pkt *packet.Buffer, r *Route, phys int32) {
	port := s.physPort(phys)
	if port == nil {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonLinkDown, "bridged DNAT: the ingress port is no longer a port of the bridge (nf_bridge_get_physindev)")
		return
	}
	nh := r.Gw
	if !nh.IsValid() {
		nh = packet.IPv4(pkt.Bytes()).Dst()
	}
	if n := s.neighbour(ifc.Dev.Index, nh); n != nil && n.State != NudIncomplete && n.State != NudFailed {
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindNeigh, Lookup: "neigh " + nh.String() + " dev " + ifc.Dev.Name, Match: n.Format(s.now())})
		}
		s.bridgedDNATFinish(port, pkt, n.MAC)
		return
	}
	pkt.PhysIn = phys
	s.neighOutput(pkt, ifc, nh)
}

// physPort is the bridge port with ifindex phys, nil if it is no longer one.
func (s *Stack) physPort(phys int32) *link.Device {
	if phys <= 0 || int(phys) >= len(s.ifaces) || s.ifaces[phys] == nil {
		return nil
	}
	if d := s.ifaces[phys].Dev; d.Master != nil {
		return d
	}
	return nil
}

// bridgedDNATFinish puts the sender's Ethernet header back with the new
// destination MAC (neigh_hh_bridge) and hands the frame to the bridge as
// arriving on port (br_handle_frame_finish).
func (s *Stack) bridgedDNATFinish(port *link.Device, pkt *packet.Buffer, mac packet.MAC) {
	eth := packet.Ethernet(pkt.Prepend(packet.EthHeaderLen))
	eth.SetDst(mac)
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: port.Master.Dev.Name, Kind: trace.KindNote,
			Match:  fmt.Sprintf("bridged DNAT: %s is behind %s, so the frame stays bridged (br_nf_pre_routing_finish_bridge)", packet.IPv4(eth.Payload()).Dst(), port.Master.Dev.Name),
			Change: "eth dst " + mac.String() + ", eth src and ttl kept"})
	}
	port.Master.ForwardDNAT(port, pkt)
}

// bridgedDNATRoute reports the route of a bridged frame's new destination
// when it goes out the bridge device ifc itself; with forwarding off,
// br_nf_pre_routing_finish uses ip_route_output (bridged-and-DNATed traffic
// does not need ip_forward).
func (s *Stack) bridgedDNATRoute(ifc *Iface, dst netip.Addr) *Route {
	r, _ := s.fibLookup(dst, netip.Addr{}, s.ifaces[1], nil, 0)
	if r == nil || r.Type != RouteUnicast || r.Dev != ifc {
		return nil
	}
	return r
}
