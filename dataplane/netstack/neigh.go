package netstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// NUD states of a neighbour entry.
type NudState uint8

// Neighbour states, as `ip neigh` names them.
const (
	NudIncomplete NudState = iota
	NudReachable
	NudStale
	NudPermanent
	NudFailed
	// NudNoARP is an entry of an Ethernet device with IFF_NOARP: no
	// resolution, the device's own address as lladdr (arp_constructor).
	NudNoARP
)

func (n NudState) String() string {
	return [...]string{"INCOMPLETE", "REACHABLE", "STALE", "PERMANENT", "FAILED", "NOARP"}[n]
}

// Neighbour resolution parameters (net.ipv4.neigh.default.*).
const (
	// ARPRetransTime is retrans_time_ms: 1 s between solicitations.
	ARPRetransTime = time.Second
	// ARPSolicits is mcast_solicit: 3 broadcast requests before FAILED.
	ARPSolicits = 3
	// ReachableTime is base_reachable_time: 30 s before REACHABLE turns STALE.
	ReachableTime = 30 * time.Second
	// UnresQueueLen bounds the packets queued on an unresolved entry.
	UnresQueueLen = 101
	// ARPLockTime is locktime (100 centiseconds): an entry's address is
	// not overridden by a different ARP reply within 1 s of its last
	// update.
	ARPLockTime = time.Second
)

// Neigh is a neighbour table entry.
type Neigh struct {
	IP      netip.Addr
	Iface   *Iface
	MAC     packet.MAC
	State   NudState
	Updated time.Duration

	queue  []*packet.Buffer
	probes int
}

// state returns the state as the kernel would show it at now.
func (n *Neigh) state(now time.Duration) NudState {
	if n.State == NudReachable && now-n.Updated > ReachableTime {
		return NudStale
	}
	return n.State
}

// Format prints the entry as `ip neigh show` does at time now.
func (n *Neigh) Format(now time.Duration) string {
	st := n.state(now)
	if st == NudIncomplete || st == NudFailed {
		return fmt.Sprintf("%s dev %s %s", n.IP, n.Iface.Dev.Name, st)
	}
	return fmt.Sprintf("%s dev %s lladdr %s %s", n.IP, n.Iface.Dev.Name, n.MAC, st)
}

func neighKey(ifindex int32, a netip.Addr) uint64 {
	a4 := a.As4()
	return uint64(ifindex)<<32 | uint64(binary.BigEndian.Uint32(a4[:]))
}

// AddNeigh installs a neighbour entry (`ip neigh replace IP lladdr MAC dev
// DEV nud permanent` when permanent).
func (s *Stack) AddNeigh(dev string, ip netip.Addr, mac packet.MAC, permanent bool) error {
	s.gen++
	i := s.Iface(dev)
	if i == nil {
		return fmt.Errorf("namespace %s: no device %q", s.Name, dev)
	}
	st := NudReachable
	if permanent {
		st = NudPermanent
	}
	s.maskPeerNeighbour(i.Dev.Index, ip)
	s.neigh[neighKey(i.Dev.Index, ip)] = &Neigh{IP: ip, Iface: i, MAC: mac, State: st, Updated: s.now()}
	return nil
}

// DelNeigh removes an entry (`ip neigh del`).
func (s *Stack) DelNeigh(dev string, ip netip.Addr) {
	s.gen++
	if i := s.Iface(dev); i != nil {
		s.maskPeerNeighbour(i.Dev.Index, ip)
		delete(s.neigh, neighKey(i.Dev.Index, ip))
	}
}

// Neighbours returns the table sorted by device and address.
func (s *Stack) Neighbours() []*Neigh {
	out := make([]*Neigh, 0, len(s.neigh))
	for _, n := range s.neigh {
		out = append(out, n)
	}
	if pn := s.peerNeigh; pn != nil {
		for i, p := range pn.set.peers {
			if !p.MAC.IsZero() && pn.find(pn.ifc.Dev.Index, p.Gw) == int32(i) {
				out = append(out, pn.entry(int32(i)))
			}
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Iface.Dev.Index != out[b].Iface.Dev.Index {
			return out[a].Iface.Dev.Index < out[b].Iface.Dev.Index
		}
		return out[a].IP.Less(out[b].IP)
	})
	return out
}

// neighOutput sends pkt (starting at the IPv4 header) to next hop nh out
// of ifc, resolving nh with ARP first if needed (neigh_output).
func (s *Stack) neighOutput(pkt *packet.Buffer, ifc *Iface, nh netip.Addr) {
	dev := ifc.Dev
	if dev.Type == link.RawIP {
		pkt.NextHop = nh
		dev.Transmit(pkt)
		return
	}
	if nh == limitedBroadcast {
		s.env.Unrecordable()
		eth := packet.Ethernet(pkt.Prepend(packet.EthHeaderLen))
		eth.Set(packet.Broadcast, dev.MAC, packet.EtherTypeIPv4)
		dev.Transmit(pkt)
		return
	}
	n := s.neighbour(dev.Index, nh)
	now := s.now()
	if n != nil && n.State != NudIncomplete && n.State != NudFailed {
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: dev.Name, Kind: trace.KindNeigh, Lookup: "neigh " + nh.String() + " dev " + dev.Name, Match: n.Format(now)})
		}
		eth := packet.Ethernet(pkt.Prepend(packet.EthHeaderLen))
		eth.Set(n.MAC, dev.MAC, packet.EtherTypeIPv4)
		if r := s.env.Rec(); r != nil {
			r.Add(&neighOp{s: s, gen: s.gen, n: n, state: n.State, mac: n.MAC, dev: dev, devMAC: dev.MAC})
		}
		dev.Transmit(pkt)
		return
	}
	s.env.Unrecordable()
	if ifc.NoARP {
		// arp_constructor: on an Ethernet device with IFF_NOARP (Terway's
		// ipvl_X) a neighbour is NUD_NOARP with the device's own address
		// as its lladdr; nothing is resolved.
		if n == nil {
			n = &Neigh{IP: nh, Iface: ifc}
			s.neigh[neighKey(dev.Index, nh)] = n
			s.gen++
		}
		n.State, n.MAC, n.Updated, n.probes = NudNoARP, dev.MAC, now, 0
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: dev.Name, Kind: trace.KindNeigh, Lookup: "neigh " + nh.String() + " dev " + dev.Name,
				Match: "no entry", Change: "created " + n.Format(now) + " (" + dev.Name + " is NOARP: its own address)"})
		}
		eth := packet.Ethernet(pkt.Prepend(packet.EthHeaderLen))
		eth.Set(n.MAC, dev.MAC, packet.EtherTypeIPv4)
		dev.Transmit(pkt)
		return
	}
	if n == nil || n.State == NudFailed {
		if n == nil {
			n = &Neigh{IP: nh, Iface: ifc}
			s.neigh[neighKey(dev.Index, nh)] = n
			s.gen++
		}
		n.State, n.probes, n.Updated = NudIncomplete, 0, now
		n.queue = append(n.queue, pkt)
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: dev.Name, Kind: trace.KindNeigh, Lookup: "neigh " + nh.String() + " dev " + dev.Name,
				Match: "no entry", Change: "created " + n.Format(now) + ", packet queued, ARP who-has " + nh.String()})
		}
		s.solicit(n, pkt)
		return
	}
	// INCOMPLETE: queue behind the pending resolution.
	if len(n.queue) >= UnresQueueLen {
		s.drop(pkt, dev.Name, trace.ReasonNeighQueueFull, fmt.Sprintf("%d packets already queued for %s", len(n.queue), nh))
		return
	}
	n.queue = append(n.queue, pkt)
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: dev.Name, Kind: trace.KindNeigh, Lookup: "neigh " + nh.String() + " dev " + dev.Name,
			Match: n.Format(now), Change: "packet queued until ARP resolves"})
	}
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// solicit broadcasts an ARP request for n and arms the retry timer.
func (s *Stack) solicit(n *Neigh, cause *packet.Buffer) {
	dev := n.Iface.Dev
	src := netip.Addr{}
	if cause != nil && len(cause.Bytes()) >= packet.IPv4HeaderLen {
		if a := packet.IPv4(cause.Bytes()).Src(); s.IsLocal(a) {
			src = a // arp_announce=0: the packet's own source if it is ours
		}
	}
	if !src.IsValid() {
		if a, ok := n.Iface.Primary(); ok {
			src = a
		} else {
			src = s.SourceFor(&Route{Dev: n.Iface})
		}
	}
	n.probes++
	req := s.env.Pool.Get(packet.EthHeaderLen + packet.ARPLen)
	req.ID = s.env.NewID()
	if cause != nil {
		req.Parent, req.Flow = cause.ID, cause.Flow
	}
	b := req.Append(packet.EthHeaderLen + packet.ARPLen)
	packet.Ethernet(b).Set(packet.Broadcast, dev.MAC, packet.EtherTypeARP)
	packet.ARP(b[packet.EthHeaderLen:]).Set(packet.ARPRequest, dev.MAC, src, packet.MAC{}, n.IP)
	if s.tracing() {
		s.hop(req, trace.Hop{Device: dev.Name, Kind: trace.KindARP,
			Change: fmt.Sprintf("ARP who-has %s tell %s (probe %d of %d)", n.IP, src, n.probes, ARPSolicits)})
	}
	dev.Transmit(req)
	probe := n.probes
	s.env.Sched.AfterFunc(ARPRetransTime, func() { s.arpTimer(n, probe) })
}

func (s *Stack) arpTimer(n *Neigh, probe int) {
	if n.State != NudIncomplete || n.probes != probe {
		return
	}
	if n.probes < ARPSolicits {
		var cause *packet.Buffer
		if len(n.queue) > 0 {
			cause = n.queue[0]
		}
		s.solicit(n, cause)
		return
	}
	n.State, n.Updated = NudFailed, s.now()
	q := n.queue
	n.queue = nil
	for _, pkt := range q {
		// ipv4_link_failure: tell the sender the host is unreachable.
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeHostUnreach, 0)
		s.drop(pkt, n.Iface.Dev.Name, trace.ReasonNeighUnresolved,
			fmt.Sprintf("%d ARP requests for %s on %s got no reply; entry FAILED, ICMP host unreachable sent", ARPSolicits, n.IP, n.Iface.Dev.Name))
	}
}

// arpInput handles an ARP packet received on ifc (arp_process).
func (s *Stack) arpInput(ifc *Iface, pkt *packet.Buffer) {
	a := packet.ARP(pkt.Bytes()[packet.EthHeaderLen:])
	if !a.Valid() || ifc.NoARP {
		pkt.Free()
		return
	}
	sip, tip, sha := a.SenderIP(), a.TargetIP(), a.SenderMAC()
	op := a.Op()
	if s.IsLocal(sip) {
		// Our own request flooded back by a hairpin bridge port, or
		// another host claiming one of our addresses. arp_process does
		// not answer it: ip_route_input rejects the route check of a
		// local sender (martian source with accept_local=0, or no route
		// when not forwarding); no neighbour entry exists for our own
		// address and arp_accept=0 creates none; the skb is consumed,
		// not dropped. Linux does no duplicate address detection here.
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindARP, Lookup: arpText(a),
				Match: fmt.Sprintf("ignored: sender %s is one of our addresses (no reply, no neighbour entry)", sip)})
		}
		pkt.Free()
		return
	}
	now := s.now()
	forUs := s.IsLocal(tip)
	// proxy: a request this host answers by proxy ARP (arp_fwd_proxy: a
	// route for the target through another device). Like a request for a
	// local address, it makes a neighbour entry for the sender
	// (neigh_event_ns in arp_process).
	var proxy *Route
	var proxyRule *Rule
	if !forUs && op == packet.ARPRequest && ifc.ProxyARP {
		if r, ru := s.fibLookup(tip, sip, ifc, nil, 0); r != nil && r.Type == RouteUnicast && r.Dev != nil && r.Dev != ifc {
			proxy, proxyRule = r, ru
		}
	}
	key := neighKey(ifc.Dev.Index, sip)
	n := s.neighbour(ifc.Dev.Index, sip)
	if n != nil && op == packet.ARPReply && (n.State == NudReachable || n.State == NudStale) &&
		sha != n.MAC && sip != tip && now-n.Updated < ARPLockTime {
		// arp_process: "if several different ARP replies follow back to
		// back, use the FIRST one" (several proxy agents answering, such
		// as a VPC vSwitch and an ipvlan slave): within locktime a reply
		// does not override the address, unless it is gratuitous.
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindARP, Lookup: arpText(a),
				Match: fmt.Sprintf("ignored: %s was updated %s ago, within locktime %s (the first reply wins)", n.Format(now), now-n.Updated, ARPLockTime)})
		}
		pkt.Free()
		return
	}
	if n != nil && n.State != NudPermanent && (op == packet.ARPReply || forUs || proxy != nil) {
		was := n.State
		n.MAC, n.Updated = sha, now
		if op == packet.ARPReply {
			n.State = NudReachable
		} else if was != NudReachable {
			n.State = NudStale
		}
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindARP,
				Lookup: arpText(a), Change: "neighbour " + n.Format(now)})
		}
		if was == NudIncomplete || was == NudFailed {
			q := n.queue
			n.queue = nil
			for _, p := range q {
				if p.Len() > 0 && p.PhysIn != 0 {
					// A bridged DNAT waiting for its neighbour
					// (br_nf_pre_routing_finish_bridge_slow).
					port := s.physPort(p.PhysIn)
					p.PhysIn = 0
					if port == nil {
						s.drop(p, ifc.Dev.Name, trace.ReasonLinkDown, "bridged DNAT: the ingress port is no longer a port of the bridge (nf_bridge_get_physindev)")
						continue
					}
					if s.tracing() {
						s.hop(p, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindNeigh, Match: n.Format(now), Change: "queued packet released"})
					}
					s.bridgedDNATFinish(port, p, n.MAC)
				} else if p.Len() > 0 {
					eth := packet.Ethernet(p.Prepend(packet.EthHeaderLen))
					eth.Set(n.MAC, ifc.Dev.MAC, packet.EtherTypeIPv4)
					if s.tracing() {
						s.hop(p, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindNeigh, Match: n.Format(now), Change: "queued packet released"})
					}
					ifc.Dev.Transmit(p)
				}
			}
		}
	} else if n == nil && (forUs || proxy != nil) && op == packet.ARPRequest {
		s.neigh[key] = &Neigh{IP: sip, Iface: ifc, MAC: sha, State: NudStale, Updated: now}
		s.gen++
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindARP, Lookup: arpText(a), Change: "neighbour " + s.neigh[key].Format(now)})
		}
	}
	if op != packet.ARPRequest {
		pkt.Free()
		return
	}
	answer := forUs
	how := "target is a local address"
	if proxy != nil {
		answer, how = true, "proxy_arp: "+routeText(proxy, proxyRule)
	}
	if !answer {
		pkt.Free()
		return
	}
	// Turn the request into the reply in place.
	b := pkt.Bytes()
	packet.Ethernet(b).Set(sha, ifc.Dev.MAC, packet.EtherTypeARP)
	packet.ARP(b[packet.EthHeaderLen:]).Set(packet.ARPReply, ifc.Dev.MAC, tip, sha, sip)
	pkt.Parent, pkt.ID = pkt.ID, s.env.NewID()
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindARP,
			Change: fmt.Sprintf("ARP reply %s is-at %s (%s)", tip, ifc.Dev.MAC, how)})
	}
	ifc.Dev.Transmit(pkt)
}

func arpText(a packet.ARP) string {
	if a.Op() == packet.ARPRequest {
		return fmt.Sprintf("ARP who-has %s tell %s", a.TargetIP(), a.SenderIP())
	}
	return fmt.Sprintf("ARP reply %s is-at %s", a.SenderIP(), a.SenderMAC())
}
