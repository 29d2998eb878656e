package netstack

import (
	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

// BridgeForward is br_netfilter: an IPv4 frame bridged between two ports
// of a bridge in this namespace passes PREROUTING, FORWARD and
// POSTROUTING with the bridge device as in and out device (so `-i cni0`
// matches, and conntrack sees pod-to-pod traffic on one node — without it a
// reply from a pod on the same bridge would never be un-DNATed). When
// PREROUTING's DNAT changes the destination address the frame leaves the
// bridge for the IP layer (br_nf_pre_routing_finish).
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
		pkt.InIf = br.Index
		s.routeInput(s.ifaces[br.Index], pkt)
		return false
	}
	if !s.runHook(Forward, pkt, br, br) {
		return false
	}
	if s.IPVS != nil {
		s.IPVS.Forward(s, pkt) // IPVS's FORWARD hook sees bridged IPv4 too
	}
	if !s.runHook(PostRouting, pkt, br, br) {
		return false
	}
	pkt.Prepend(packet.EthHeaderLen)
	return true
}
