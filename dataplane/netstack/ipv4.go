package netstack

import (
	"fmt"
	"net/netip"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Receive implements link.Receiver: a frame arrives on one of the
// namespace's devices (__netif_receive_skb → ip_rcv / arp_rcv).
func (s *Stack) Receive(dev *link.Device, pkt *packet.Buffer) {
	ifc := s.ifaces[dev.Index]
	pkt.InIf = dev.Index
	phys := pkt.PhysIn
	pkt.PhysIn = 0
	if dev.Type == link.Ether {
		b := pkt.Bytes()
		if len(b) < packet.EthHeaderLen {
			s.drop(pkt, dev.Name, trace.ReasonMalformed, "runt frame")
			return
		}
		eth := packet.Ethernet(b)
		if dst := eth.Dst(); dst != dev.MAC && !dst.IsMulticast() {
			s.drop(pkt, dev.Name, trace.ReasonNotForHost,
				fmt.Sprintf("frame for %s but %s is %s (PACKET_OTHERHOST)", dst, dev.Name, dev.MAC))
			return
		}
		switch eth.Type() {
		case packet.EtherTypeARP:
			s.arpInput(ifc, pkt)
			return
		case packet.EtherTypeIPv4:
			pkt.Pull(packet.EthHeaderLen)
			pkt.PhysIn = phys
		default:
			s.drop(pkt, dev.Name, trace.ReasonMalformed, fmt.Sprintf("EtherType %#04x not handled", eth.Type()))
			return
		}
	}
	s.ipRcv(ifc, pkt)
}

// ipRcv checks the header and runs PREROUTING and the route decision.
func (s *Stack) ipRcv(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	if !ip.Valid() {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad IPv4 header or length")
		return
	}
	if !ip.ChecksumOK() {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad IPv4 header checksum")
		return
	}
	trim := 0
	if tl := ip.TotalLen(); tl < len(ip) {
		pkt.Trim(tl)
		trim = tl
	}
	pkt.FragMax = 0 // ip_rcv_core clears IPCB
	if r := s.env.Rec(); r != nil {
		if s.recordable() {
			st, seen := s.snapFor(r)
			r.Add(&recvOp{s: s, st: st, snapped: seen, ifc: ifc, conf: ifc.Conf, mac: ifc.Dev.MAC, ether: ifc.Dev.Type == link.Ether, trim: trim})
		} else {
			r.Abort()
		}
	}
	// A frame a netfilter bridge hands up from one of its ports
	// (br_nf_pre_routing): remember the port and the sender's MAC for a
	// bridged DNAT.
	phys := pkt.PhysIn
	pkt.PhysIn = 0
	var srcMAC packet.MAC
	if phys != 0 {
		srcMAC = packet.Ethernet(pkt.Prepend(packet.EthHeaderLen)).Src()
		pkt.Pull(packet.EthHeaderLen)
	}
	if s.ConntrackDefrag && ip.IsFragment() {
		// ipv4_conntrack_defrag (NF_IP_PRI_CONNTRACK_DEFRAG): conntrack and
		// NAT see whole datagrams only.
		if pkt = s.reassemble(ifc, pkt, defragConntrackIn); pkt == nil {
			return
		}
		if phys != 0 {
			// The reassembled datagram gets the first frame's header.
			packet.Ethernet(pkt.Prepend(packet.EthHeaderLen)).Set(ifc.Dev.MAC, srcMAC, packet.EtherTypeIPv4)
			pkt.Pull(packet.EthHeaderLen)
		}
	}
	if s.Filter != nil {
		dst := packet.IPv4(pkt.Bytes()).Dst()
		if !s.runHook(PreRouting, pkt, ifc.Dev, nil) {
			return
		}
		if phys != 0 && packet.IPv4(pkt.Bytes()).Dst() != dst {
			pkt.PhysIn = phys // br_nf_ipv4_daddr_was_changed
		}
	}
	s.routeInput(ifc, pkt)
}

// runHook runs a netfilter hook and acts on a drop or reject. It reports
// whether the packet goes on.
func (s *Stack) runHook(h Hook, pkt *packet.Buffer, in, out *link.Device) bool {
	if s.Filter.Pass(h, pkt, in, out) {
		return true
	}
	v := s.Filter.Refusal()
	switch v.Kind {
	case Accept:
		return true
	case Reject:
		if v.RejectTCPReset {
			s.tcpResetFor(pkt)
		} else {
			s.icmpError(pkt, packet.ICMPDestUnreach, v.RejectICMPCode, 0)
		}
	}
	dev := ""
	if in != nil {
		dev = in.Name
	} else if out != nil {
		dev = out.Name
	}
	r := v.Reason
	if r == trace.ReasonNone {
		r = trace.ReasonFiltered
	}
	s.drop(pkt, dev, r, v.Detail)
	return false
}

func (s *Stack) isBroadcast(a netip.Addr) bool {
	if a == limitedBroadcast {
		return true
	}
	for _, b := range s.bcast {
		if a == b {
			return true
		}
	}
	return false
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// routeInput is ip_route_input: local delivery or forwarding.
func (s *Stack) routeInput(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	dst, src := ip.Dst(), ip.Src()
	// phys: PREROUTING DNATed a frame from this bridge's port phys.
	phys := pkt.PhysIn
	pkt.PhysIn = 0
	// Loopback packets keep their route in the kernel (skb_dst) and never
	// reach ip_route_input's checks.
	lo := ifc.Dev.Kind == "loopback"
	if !lo && !s.martianInput(ifc, pkt, src, dst) {
		return
	}
	if s.IsLocal(dst) || s.isBroadcast(dst) {
		if !lo && !(s.isBroadcast(dst) && src.IsUnspecified()) && !s.validateSource(ifc, nil, pkt, src, dst) {
			return
		}
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindRoute, Lookup: "route " + dst.String() + " iif " + ifc.Dev.Name,
				Match: "local " + dst.String() + " dev " + s.localDevName(dst) + " table local proto kernel scope host src " + dst.String()})
		}
		s.localDeliver(ifc, pkt)
		return
	}
	if !s.Forwarding {
		if phys != 0 {
			s.env.Unrecordable()
			if r := s.bridgedDNATRoute(ifc, dst); r != nil {
				s.bridgedDNAT(ifc, pkt, r, phys)
				return
			}
		}
		s.drop(pkt, ifc.Dev.Name, trace.ReasonForwardingDisabled,
			fmt.Sprintf("%s is not a local address and net.ipv4.ip_forward=0 in %s", dst, s.Name))
		return
	}
	r, ru := s.fibLookup(dst, src, ifc, nil, pkt.Mark)
	if s.tracing() {
		h := trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindRoute, Lookup: "route " + dst.String() + " iif " + ifc.Dev.Name, Match: routeText(r, ru)}
		if s.customRules {
			h.Lookup = "route " + dst.String() + " from " + src.String() + " iif " + ifc.Dev.Name
			if pkt.Mark != 0 {
				h.Lookup += fmt.Sprintf(" mark %#x", pkt.Mark)
			}
		}
		s.hop(pkt, h)
	}
	if r == nil {
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeNetUnreach, 0)
		s.drop(pkt, ifc.Dev.Name, trace.ReasonNoRoute,
			fmt.Sprintf("no route to %s in %s (ICMP net unreachable sent)", dst, s.tablesText()))
		return
	}
	if r.Type != RouteUnicast {
		s.routeTypeDrop(pkt, ifc.Dev.Name, r, ru)
		return
	}
	if !lo && !s.validateSource(ifc, r.Dev, pkt, src, dst) { // __mkroute_input
		return
	}
	if phys != 0 && r.Dev == ifc {
		s.env.Unrecordable()
		s.bridgedDNAT(ifc, pkt, r, phys) // skb_dst(skb)->dev == dev: bridged_dnat
		return
	}
	s.forward(ifc, pkt, r)
}

func (s *Stack) localDevName(a netip.Addr) string {
	if i, ok := s.local[v4key(a)]; ok {
		return i.Dev.Name
	}
	return "lo"
}

// routeTypeDrop drops a forwarded packet whose lookup ended in a
// blackhole, unreachable or prohibit route or rule, with the ICMP error
// ip_error sends for the lookup's error: EHOSTUNREACH (an unreachable
// route) host unreachable, ENETUNREACH (an unreachable rule) net
// unreachable, EACCES (prohibit, route or rule) communication
// administratively prohibited, EINVAL (blackhole) nothing.
func (s *Stack) routeTypeDrop(pkt *packet.Buffer, dev string, r *Route, ru *Rule) {
	switch {
	case ru != nil && ru.Action == RuleUnreachable:
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeNetUnreach, 0)
	case ru != nil && ru.Action == RuleProhibit, r.Type == RouteProhibit:
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeAdminProhib, 0)
	case r.Type == RouteUnreachable && (ru == nil || ru.Action == RuleLookup):
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeHostUnreach, 0)
	}
	s.drop(pkt, dev, trace.ReasonNoRoute, "route "+routeText(r, ru))
}

// RouteMTU is the MTU of locally generated packets toward dst through r
// (ip_dst_mtu_maybe_forward, not forwarding): the route's locked MTU (no
// path MTU is learned under a lock), else a learned path MTU below the
// device MTU, else the device MTU.
func (s *Stack) RouteMTU(r *Route, dst netip.Addr) int {
	if r.MTU != 0 {
		return r.MTU
	}
	mtu := r.Dev.Dev.MTU
	if len(s.pmtu) > 0 {
		if e, ok := s.pmtu[dst]; ok {
			if s.now() < e.expires && e.mtu < mtu {
				mtu = e.mtu
			}
		}
	}
	return mtu
}

// forwardMTU is the MTU of forwarded packets through r: the route's MTU
// or the device's. A learned path MTU is not used for forwarding
// (net.ipv4.ip_forward_use_pmtu=0).
func forwardMTU(r *Route) int {
	if r.MTU != 0 {
		return r.MTU
	}
	return r.Dev.Dev.MTU
}

// PMTUExpires is net.ipv4.route.mtu_expires (600 s).
const PMTUExpires = 600 * time.Second

// MinPMTU is net.ipv4.route.min_pmtu: a "fragmentation needed" asking for
// less is recorded as 552.
const MinPMTU = 552

type pmtuEntry struct {
	mtu     int
	expires time.Duration
}

// forward is ip_forward: TTL check, MTU/DF check, TTL decrement, FORWARD.
func (s *Stack) forward(in *Iface, pkt *packet.Buffer, r *Route) {
	ip := packet.IPv4(pkt.Bytes())
	if ip.TTL() <= 1 {
		s.icmpError(pkt, packet.ICMPTimeExceeded, 0, 0)
		s.drop(pkt, in.Dev.Name, trace.ReasonTTLExceeded,
			fmt.Sprintf("TTL %d on arrival: cannot forward (ICMP time exceeded sent to %s)", ip.TTL(), ip.Src()))
		return
	}
	mtu := forwardMTU(r)
	if ip.TotalLen() > mtu && ip.DF() {
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeFragNeeded, uint32(mtu))
		s.drop(pkt, in.Dev.Name, trace.ReasonFragNeeded,
			fmt.Sprintf("%d-byte packet with DF set, egress %s MTU %d (ICMP fragmentation needed, mtu %d, sent to %s)",
				ip.TotalLen(), r.Dev.Dev.Name, mtu, mtu, ip.Src()))
		return
	}
	ttl := ip.TTL()
	ip.DecTTL()
	s.env.Record(ttlOp{})
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: in.Dev.Name, Kind: trace.KindTTL, Change: fmt.Sprintf("ttl %d→%d", ttl, ttl-1)})
	}
	s.maybeRedirect(in, pkt, r)
	if s.Filter != nil {
		if !s.runHook(Forward, pkt, in.Dev, r.Dev.Dev) {
			return
		}
	}
	if s.IPVS != nil {
		s.IPVS.Forward(s, pkt) // ip_vs_reply4: FORWARD, priority NAT_SRC−1
	}
	s.output(pkt, r, in.Dev)
}

// output is ip_output: POSTROUTING, then fragmentation or the neighbour.
func (s *Stack) output(pkt *packet.Buffer, r *Route, in *link.Device) {
	if s.Filter != nil {
		if !s.runHook(PostRouting, pkt, in, r.Dev.Dev) {
			return
		}
	}
	ip := packet.IPv4(pkt.Bytes())
	nh := r.Gw
	if !nh.IsValid() {
		nh = ip.Dst()
	}
	var mtu int
	if in != nil {
		mtu = forwardMTU(r)
	} else {
		mtu = s.RouteMTU(r, ip.Dst())
	}
	// ip_finish_output → ip_fragment: a datagram conntrack reassembled is
	// fragmented again, to no more than its largest fragment.
	if fm := int(pkt.FragMax); fm != 0 && fm < mtu {
		mtu = fm
	}
	if ip.TotalLen() > mtu {
		if ip.DF() {
			s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodeFragNeeded, uint32(mtu))
			s.drop(pkt, r.Dev.Dev.Name, trace.ReasonFragNeeded,
				fmt.Sprintf("%d-byte packet with DF set, %s MTU %d", ip.TotalLen(), r.Dev.Dev.Name, mtu))
			return
		}
		s.fragment(pkt, r.Dev, nh, mtu)
		return
	}
	s.neighOutput(pkt, r.Dev, nh)
}

// RouteOutput is ip_route_output: the route a locally generated packet to
// dst takes, and the source address it would get.
func (s *Stack) RouteOutput(dst netip.Addr) (*Route, netip.Addr, bool) {
	if s.IsLocal(dst) {
		return s.loRoute(), dst, true
	}
	r, _ := s.fibLookup(dst, netip.Addr{}, s.ifaces[1], nil, 0)
	if r == nil || r.Type != RouteUnicast {
		return r, netip.Addr{}, false
	}
	return r, s.SourceFor(r), true
}

func (s *Stack) loRoute() *Route {
	if s.lo == nil {
		s.lo = &Route{Dst: netip.MustParsePrefix("127.0.0.0/8"), Dev: s.ifaces[1], Scope: "host", Proto: "kernel"}
	}
	return s.lo
}

// LocalOut sends a locally generated IPv4 packet (ip_local_out): route
// lookup, OUTPUT (which may DNAT and force a new lookup), POSTROUTING and
// output. pkt starts at a complete IPv4 header with a valid checksum.
func (s *Stack) LocalOut(pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	dst := ip.Dst()
	r := s.lookupOut(pkt, dst)
	if r == nil {
		return
	}
	if rec := s.env.Rec(); rec != nil {
		if s.recordable() {
			st, seen := s.snapFor(rec)
			rec.Add(&outOp{s: s, st: st, snapped: seen})
		} else {
			rec.Abort()
		}
	}
	if s.Filter != nil && !s.runHook(LocalOut, pkt, nil, r.Dev.Dev) {
		return
	}
	if s.IPVS != nil && pkt.IPVS == nil && s.IPVS.LocalOut(s, pkt) {
		return // ip_vs_local_request4: NF_STOLEN, sent on by IPVSOut
	}
	if s.Filter != nil {
		if !s.runHook(LocalOutFilter, pkt, nil, r.Dev.Dev) {
			return
		}
		if nd := packet.IPv4(pkt.Bytes()).Dst(); nd != dst {
			if r = s.lookupOut(pkt, nd); r == nil {
				return
			}
		}
	}
	s.output(pkt, r, nil)
}

func (s *Stack) lookupOut(pkt *packet.Buffer, dst netip.Addr) *Route {
	var r *Route
	var ru *Rule
	if s.IsLocal(dst) {
		r = s.loRoute()
	} else {
		r, ru = s.fibLookup(dst, packet.IPv4(pkt.Bytes()).Src(), s.ifaces[1], nil, pkt.Mark)
	}
	if s.tracing() {
		h := trace.Hop{Kind: trace.KindRoute, Lookup: "route get " + dst.String(), Match: routeText(r, ru)}
		if r == s.lo {
			h.Match = "local " + dst.String() + " dev lo table local proto kernel scope host src " + dst.String()
		} else if s.customRules {
			h.Lookup += " from " + packet.IPv4(pkt.Bytes()).Src().String()
			if pkt.Mark != 0 {
				h.Lookup += fmt.Sprintf(" mark %#x", pkt.Mark)
			}
		}
		s.hop(pkt, h)
	}
	if r == nil {
		s.drop(pkt, "", trace.ReasonNoRoute, fmt.Sprintf("no route to %s in %s (connect: Network is unreachable)", dst, s.tablesText()))
		return nil
	}
	if r.Type != RouteUnicast {
		s.drop(pkt, "", trace.ReasonNoRoute, "route "+routeText(r, ru))
		return nil
	}
	return r
}

// localDeliver is ip_local_deliver: reassembly, INPUT, protocol handlers.
func (s *Stack) localDeliver(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	if ip.IsFragment() {
		pkt = s.reassemble(ifc, pkt, defragLocalDeliver)
		if pkt == nil {
			return
		}
		ip = packet.IPv4(pkt.Bytes())
	}
	if s.Filter != nil {
		if !s.runHook(LocalIn, pkt, ifc.Dev, nil) {
			return
		}
	}
	if s.IPVS != nil && s.IPVS.LocalIn(s, ifc, pkt) {
		return
	}
	if s.Filter != nil {
		if !s.runHook(LocalInNAT, pkt, ifc.Dev, nil) {
			return
		}
	}
	ip = packet.IPv4(pkt.Bytes())
	switch ip.Protocol() {
	case packet.ProtoICMP:
		s.icmpInput(ifc, pkt)
	case packet.ProtoUDP:
		s.udpInput(ifc, pkt)
	case packet.ProtoTCP:
		s.tcpInput(ifc, pkt)
	case packet.ProtoSCTP:
		s.sctpInput(ifc, pkt)
	default:
		if t, ok := s.ipProtos[ip.Protocol()]; ok {
			if _, ok := t.(link.FlowAware); !ok {
				s.env.Unrecordable()
			}
			t.ReceiveTunnel(pkt)
			return
		}
		s.icmpError(pkt, packet.ICMPDestUnreach, 2, 0)
		s.drop(pkt, ifc.Dev.Name, trace.ReasonProtoUnreachable, fmt.Sprintf("IP protocol %d", ip.Protocol()))
	}
}

// NewIPPacket returns a buffer with an IPv4 header filled in for a payload
// of n bytes, which the caller writes after the header. The ID is what an
// unconnected socket that may fragment (IP_PMTUDISC_WANT or DONT, the
// ICMP socket of the kernel) gets: the ip_idents hash generator, also
// when DF is set (skb->ignore_df).
func (s *Stack) NewIPPacket(src, dst netip.Addr, proto uint8, n int, df bool, ttl uint8) (*packet.Buffer, []byte) {
	return s.newIPPacket(src, dst, proto, n, df, ttl, s.ipIdent(src, dst, proto, 1))
}

// newIPPacket is NewIPPacket with the IP ID chosen by the caller.
func (s *Stack) newIPPacket(src, dst netip.Addr, proto uint8, n int, df bool, ttl uint8, id uint16) (*packet.Buffer, []byte) {
	pkt := s.env.Pool.Get(packet.IPv4HeaderLen + n)
	b := pkt.Append(packet.IPv4HeaderLen + n)
	var flags uint16
	if df {
		flags = packet.FlagDF
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	packet.IPv4(b).SetHeader(packet.IPv4Fields{TotalLen: len(b), ID: id, Flags: flags, TTL: ttl, Protocol: proto, Src: src, Dst: dst})
	pkt.ID = s.env.NewID()
	return pkt, b[packet.IPv4HeaderLen:]
}

// HZ is the modelled kernel tick rate (CONFIG_HZ=250, as on the kernel
// the wire format was checked against): the IP ID generator's clock.
const HZ = 250

type identKey struct {
	src, dst uint32
	proto    uint8
}

type identBucket struct {
	id, stamp uint32
}

// ipIdent is __ip_select_ident → ip_idents_reserve: a counter per
// (destination, source, protocol) hash bucket — random at boot — advanced
// by segs per packet plus a random amount below the jiffies elapsed since
// the bucket was last used, so a quiet bucket's next ID cannot be guessed.
// Buckets here are exact keys (the kernel's 2048+ buckets can collide);
// the randomness comes from the namespace's seed.
func (s *Stack) ipIdent(src, dst netip.Addr, proto uint8, segs int) uint16 {
	return s.identBucket(src, dst, proto).next(s, segs)
}

// identBucket returns the generator of (src, dst, proto), made on first
// use. Buckets are never removed, so a reference to one stays valid.
func (s *Stack) identBucket(src, dst netip.Addr, proto uint8) *identBucket {
	k := identKey{src: v4key(src), dst: v4key(dst), proto: proto}
	b := s.idents[k]
	if b == nil {
		b = &identBucket{id: s.rng.Uint32(), stamp: uint32(s.now() / (time.Second / HZ))}
		if s.idents == nil {
			s.idents = make(map[identKey]*identBucket)
		}
		s.idents[k] = b
	}
	return b
}

// next reserves segs IDs of the bucket and returns the first.
func (b *identBucket) next(s *Stack, segs int) uint16 {
	now := uint32(s.now() / (time.Second / HZ))
	var delta uint32
	if b.stamp != now {
		delta = s.rng.Uint32N(now - b.stamp)
		b.stamp = now
	}
	b.id += uint32(segs) + delta
	return uint16(b.id - uint32(segs))
}

// identRef is one bucket of a namespace's IP ID generator, held by a
// tunnel's recorded encapsulation (link.IdentCounter).
type identRef struct {
	s *Stack
	b *identBucket
}

func (r identRef) Next() uint16 { return r.b.next(r.s, 1) }

// IdentCounter returns the IP ID generator IPIdent(src, dst, proto) draws
// from, for a caller that sends many packets of one flow.
func (s *Stack) IdentCounter(src, dst netip.Addr, proto uint8) link.IdentCounter {
	return identRef{s: s, b: s.identBucket(src, dst, proto)}
}

// SendICMPError sends an ICMP error about pkt (which starts at its IPv4
// header) to its source, as icmp_send does (for modules like IPVS).
func (s *Stack) SendICMPError(pkt *packet.Buffer, typ, code uint8, info uint32) {
	s.icmpError(pkt, typ, code, info)
}

// IPVSOut sends a packet IPVS has rewritten through LOCAL_OUT: route
// lookup (ip_vs_get_out_rt), OUTPUT, POSTROUTING (ip_vs_nat_send_or_cont).
// The packet carries its IPVS connection (pkt.IPVS), so IPVS does not
// take it again on the way.
func (s *Stack) IPVSOut(pkt *packet.Buffer) { s.LocalOut(pkt) }

// icmpError is icmp_send: an ICMP error about orig (which starts at its
// IPv4 header) back to orig's source. Errors about ICMP errors, non-first
// fragments and broadcasts are not sent.
func (s *Stack) icmpError(orig *packet.Buffer, typ, code uint8, info uint32) {
	oip := packet.IPv4(orig.Bytes())
	if len(oip) < packet.IPv4HeaderLen || oip.FragOffset() != 0 || s.isBroadcast(oip.Dst()) || oip.Src().IsUnspecified() {
		return
	}
	if oip.Protocol() == packet.ProtoICMP && len(oip) >= oip.HeaderLen()+1 {
		if !isInfoType(oip[oip.HeaderLen()]) {
			return
		}
	}
	dst := oip.Src()
	var src netip.Addr
	if s.IsLocal(oip.Dst()) {
		src = oip.Dst()
	}
	r, rsrc, ok := s.RouteOutput(dst)
	if !ok {
		return
	}
	if !src.IsValid() {
		src = rsrc
	}
	// Quote as much of the original as fits in 576 bytes, as Linux does.
	quote := min(len(oip), 576-packet.IPv4HeaderLen-packet.ICMPHeaderLen)
	if m := s.RouteMTU(r, dst) - packet.IPv4HeaderLen - packet.ICMPHeaderLen; quote > m {
		quote = m
	}
	pkt, pl := s.NewIPPacket(src, dst, packet.ProtoICMP, packet.ICMPHeaderLen+quote, false, 0)
	ip := packet.IPv4(pkt.Bytes())
	ip[1] = oip.TOS()&0x1e | 0xc0 // IPTOS_PREC_INTERNETCONTROL
	ip.SetChecksum()
	ic := packet.ICMP(pl)
	ic[0], ic[1] = typ, code
	ic[4], ic[5], ic[6], ic[7] = byte(info>>24), byte(info>>16), byte(info>>8), byte(info)
	copy(pl[packet.ICMPHeaderLen:], oip[:quote])
	ic.SetChecksum()
	pkt.Parent, pkt.Flow = orig.ID, orig.Flow
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindICMP, Change: fmt.Sprintf("send %s from %s to %s", icmpName(typ, code, info), src, dst)})
	}
	s.LocalOut(pkt)
}

func isInfoType(t byte) bool {
	return t == packet.ICMPEchoRequest || t == packet.ICMPEchoReply || t == 13 || t == 14
}

func icmpName(typ, code uint8, info uint32) string {
	switch typ {
	case packet.ICMPEchoReply:
		return "ICMP echo reply"
	case packet.ICMPEchoRequest:
		return "ICMP echo request"
	case icmpRedirect:
		return fmt.Sprintf("ICMP redirect host (new nexthop %d.%d.%d.%d)", byte(info>>24), byte(info>>16), byte(info>>8), byte(info))
	case packet.ICMPTimeExceeded:
		if code == 1 {
			return "ICMP time exceeded in fragment reassembly"
		}
		return "ICMP time exceeded in-transit"
	case packet.ICMPDestUnreach:
		switch code {
		case packet.ICMPCodeNetUnreach:
			return "ICMP net unreachable"
		case packet.ICMPCodeHostUnreach:
			return "ICMP host unreachable"
		case 2:
			return "ICMP protocol unreachable"
		case packet.ICMPCodePortUnreach:
			return "ICMP port unreachable"
		case packet.ICMPCodeFragNeeded:
			return fmt.Sprintf("ICMP unreachable - need to frag (mtu %d)", info&0xffff)
		case packet.ICMPCodeAdminProhib:
			return "ICMP host administratively prohibited"
		}
		return fmt.Sprintf("ICMP unreachable code %d", code)
	}
	return fmt.Sprintf("ICMP type %d code %d", typ, code)
}
