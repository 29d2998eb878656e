package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

type manipType uint8

const (
	manipSrc manipType = iota
	manipDst
)

func (m manipType) String() string {
	if m == manipSrc {
		return "SNAT"
	}
	return "DNAT"
}

// nat is nf_nat_inet_fn for one hook: for the first packet of a new
// connection the nat chain decides the binding; then every packet of the
// connection is translated from the conntrack entry.
func (nf *Netfilter) nat(c *pktCtx, h netstack.Hook, mt manipType) bool {
	conn := c.conn
	if conn == nil {
		return true
	}
	if c.state == StateRelated {
		nf.icmpReplyTranslation(c, mt)
		return true
	}
	done := ipsSrcNATDone
	if mt == manipDst {
		done = ipsDstNATDone
	}
	if c.dir == 0 && conn.Status&done == 0 && !conn.Confirmed() {
		t := nf.tbl[tNat]
		bound := false
		if ch := t.hook[h]; ch != nil && len(ch.Rules) > 0 {
			r, kind := nf.eval(t, ch, c, nil)
			switch kind {
			case TDNAT, TSNAT, TMasquerade:
				if !nf.setupNAT(c, r, mt) {
					return false
				}
				bound = true
			case TDrop:
				nf.v = netstack.Verdict{Kind: netstack.Drop, Reason: dropReason(r), Detail: ruleDetail("nat", ch, r)}
				return false
			}
		}
		if !bound && mt == manipSrc {
			nf.nullBinding(c)
		}
		conn.Status |= done
	}
	if o := nf.rec; o != nil {
		o.acts = append(o.acts, hookAct{kind: actNAT, mt: mt})
	}
	nf.natPacket(c, mt)
	return true
}

// setupNAT is nf_nat_setup_info: rewrite the connection's reply tuple so
// that replies come back to the translated address.
func (nf *Netfilter) setupNAT(c *pktCtx, r *Rule, mt manipType) bool {
	conn := c.conn
	curr := conn.Tuple[1].Invert()
	nt := curr
	hasPorts := curr.Proto == packet.ProtoTCP || curr.Proto == packet.ProtoUDP || curr.Proto == packet.ProtoSCTP
	switch r.Target {
	case TDNAT:
		nt.Dst = r.natTo.Addr().As4()
		if r.natTo.Port() != 0 && hasPorts {
			nt.DPort = r.natTo.Port()
		}
	case TSNAT:
		nt.Src = r.natTo.Addr().As4()
		if r.natTo.Port() != 0 && hasPorts {
			nt.SPort = r.natTo.Port()
		}
	case TMasquerade:
		a, ok := nf.host.MasqueradeSource(c.out, curr.DstAddr())
		if !ok {
			nf.v = netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered,
				Detail: fmt.Sprintf("MASQUERADE: %s has no address (%s)", devName(c), r.String())}
			return false
		}
		nt.Src = a.As4()
	}
	if mt == manipSrc {
		nf.uniquePort(&nt, r)
	}
	now := nf.env.Now()
	if nt != curr {
		conn.Tuple[1] = nt.Invert()
		if mt == manipSrc {
			conn.Status |= ipsSrcNAT
		} else {
			conn.Status |= ipsDstNAT
		}
	}
	if nf.env.Tracing() {
		from, to := endText(curr, mt), endText(nt, mt)
		nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindNAT, Lookup: r.target,
			Change: fmt.Sprintf("%s %s → %s; conntrack #%d reply tuple %s", mt, from, to, conn.ID, conn.Tuple[1])})
	}
	_ = now
	return true
}

// nullBinding is nf_nat_alloc_null_binding for the source: a connection
// that no SNAT rule translated keeps its source unless its reply tuple is
// already in use (two originals DNATed to the same backend from the same
// client port); then the source port is remapped so that the entry can
// be confirmed, as get_unique_tuple does.
func (nf *Netfilter) nullBinding(c *pktCtx) {
	conn := c.conn
	now := nf.env.Now()
	if !nf.ct.taken(conn.Tuple[1], now) {
		return
	}
	curr := conn.Tuple[1].Invert()
	nt := curr
	nf.uniquePort(&nt, &Rule{})
	if nt == curr {
		return
	}
	conn.Tuple[1] = nt.Invert()
	conn.Status |= ipsSrcNAT
	if nf.env.Tracing() {
		nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindNAT, Lookup: "null binding (reply tuple in use)",
			Change: fmt.Sprintf("SNAT %s → %s; conntrack #%d reply tuple %s", endText(curr, manipSrc), endText(nt, manipSrc), conn.ID, conn.Tuple[1])})
	}
}

func devName(c *pktCtx) string {
	if c.out == nil {
		return "the out device"
	}
	return c.out.String()
}

func endText(t Tuple, mt manipType) string {
	a, p := t.DstAddr(), t.DPort
	if mt == manipSrc {
		a, p = t.SrcAddr(), t.SPort
	}
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
		return netip.AddrPortFrom(a, p).String()
	case packet.ProtoICMP:
		return fmt.Sprintf("%s id %d", a, p)
	}
	return a.String()
}

// uniquePort picks the source port (or ICMP id) of a source translation
// (get_unique_tuple): the original when free, in the --to-ports range, and
// neither --random nor --random-fully is given; otherwise a random free one
// from --to-ports, or without it from the original port's class as
// nf_nat_l4proto_unique_tuple does: 1–511, 600–1023 or 1024–65535.
func (nf *Netfilter) uniquePort(nt *Tuple, r *Rule) {
	now := nf.env.Now()
	randomAll := r.randomFully || r.random
	switch nt.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
		if r.Target == TSNAT && r.natTo.Port() != 0 {
			return
		}
		lo, hi := r.toPorts[0], r.toPorts[1]
		specified := lo != 0
		if !randomAll && !nf.ct.taken(nt.Invert(), now) && (!specified || nt.SPort >= lo && nt.SPort <= hi) {
			return
		}
		if !specified {
			switch {
			case nt.SPort < 512:
				lo, hi = 1, 511
			case nt.SPort < 1024:
				lo, hi = 600, 1023
			default:
				lo, hi = 1024, 65535
			}
		}
		for i := 0; i < 1000; i++ {
			nt.SPort = lo + uint16(nf.rng.IntN(int(hi-lo)+1))
			if !nf.ct.taken(nt.Invert(), now) {
				return
			}
		}
	case packet.ProtoICMP:
		if !randomAll && !nf.ct.taken(nt.Invert(), now) {
			return
		}
		for i := 0; i < 1000; i++ {
			id := uint16(nf.rng.Uint32())
			nt.SPort, nt.DPort = id, id
			if !nf.ct.taken(nt.Invert(), now) {
				return
			}
		}
	}
}

// natApplies reports whether the connection has a translation of manip
// type mt for the packet's direction (nf_nat_packet's statusbit: a source
// translation is undone on replies at destination-manip hooks, and the
// other way round).
func natApplies(c *pktCtx, mt manipType) bool {
	bit := ipsSrcNAT
	if mt == manipDst {
		bit = ipsDstNAT
	}
	if c.dir == 1 {
		bit ^= ipsSrcNAT | ipsDstNAT
	}
	return c.conn.Status&bit != 0
}

// natPacket is nf_nat_packet: translate pkt per its connection.
func (nf *Netfilter) natPacket(c *pktCtx, mt manipType) {
	conn := c.conn
	if !natApplies(c, mt) {
		return
	}
	target := conn.Tuple[1-c.dir].Invert()
	ip := packet.IPv4(c.pkt.Bytes())
	var before string
	if nf.env.Tracing() {
		before = endOf(ip, mt)
	}
	manipPkt(ip, target, mt, true)
	if nf.env.Tracing() {
		dir := "original"
		if c.dir == 1 {
			dir = "reply"
		}
		nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindNAT,
			Change: fmt.Sprintf("%s %s → %s (conntrack #%d, %s direction)", natVerb(mt, c.dir), before, endOf(ip, mt), conn.ID, dir)})
	}
}

func natVerb(mt manipType, dir uint8) string {
	switch {
	case dir == 0:
		return mt.String()
	case mt == manipDst:
		return "de-SNAT dst"
	default:
		return "de-DNAT src"
	}
}

func endOf(ip packet.IPv4, mt manipType) string {
	t, _, _ := tupleOf(ip)
	return endText(t, mt)
}

// manipPkt rewrites the source (manipSrc) or destination address, and the
// port or ICMP echo id when ports is set, keeping every checksum valid with
// incremental updates (RFC 1624). ip may be a truncated packet quoted in an
// ICMP error: checksums beyond the quoted bytes are left alone.
func manipPkt(ip packet.IPv4, t Tuple, mt manipType, ports bool) {
	off := 12
	newA := t.Src
	if mt == manipDst {
		off, newA = 16, t.Dst
	}
	oldA := [4]byte(ip[off : off+4])
	hl := ip.HeaderLen()
	l4 := ip[hl:]
	first := ip.FragOffset() == 0
	if oldA != newA {
		copy(ip[off:off+4], newA[:])
		binary.BigEndian.PutUint16(ip[10:12], packet.ChecksumUpdate32(ip.Checksum(), oldA, newA))
		if first && ports {
			switch ip.Protocol() {
			case packet.ProtoTCP:
				if len(l4) >= 18 {
					binary.BigEndian.PutUint16(l4[16:18], packet.ChecksumUpdate32(binary.BigEndian.Uint16(l4[16:18]), oldA, newA))
				}
			case packet.ProtoUDP:
				if len(l4) >= 8 {
					if cs := binary.BigEndian.Uint16(l4[6:8]); cs != 0 {
						n := packet.ChecksumUpdate32(cs, oldA, newA)
						if n == 0 {
							n = 0xffff
						}
						binary.BigEndian.PutUint16(l4[6:8], n)
					}
				}
			}
		}
	}
	if !ports || !first {
		return
	}
	switch ip.Protocol() {
	case packet.ProtoSCTP:
		// sctp_manip_pkt: the port is rewritten and, SCTP having no
		// pseudo-header, the CRC32c recomputed over the whole packet (an
		// address change alone leaves it valid). A truncated packet quoted
		// in an ICMP error keeps its checksum.
		if len(l4) < packet.SCTPHeaderLen {
			return
		}
		po, np := 0, t.SPort
		if mt == manipDst {
			po, np = 2, t.DPort
		}
		if binary.BigEndian.Uint16(l4[po:po+2]) == np {
			return
		}
		binary.BigEndian.PutUint16(l4[po:po+2], np)
		if tl := ip.TotalLen(); tl <= len(ip) && tl-hl >= packet.SCTPHeaderLen {
			packet.SCTP(ip[hl:tl]).SetChecksum()
		}
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(l4) < 4 {
			return
		}
		po, np := 0, t.SPort
		if mt == manipDst {
			po, np = 2, t.DPort
		}
		old := binary.BigEndian.Uint16(l4[po : po+2])
		if old == np {
			return
		}
		binary.BigEndian.PutUint16(l4[po:po+2], np)
		if ip.Protocol() == packet.ProtoTCP && len(l4) >= 18 {
			binary.BigEndian.PutUint16(l4[16:18], packet.ChecksumUpdate16(binary.BigEndian.Uint16(l4[16:18]), old, np))
		}
		if ip.Protocol() == packet.ProtoUDP && len(l4) >= 8 {
			if cs := binary.BigEndian.Uint16(l4[6:8]); cs != 0 {
				n := packet.ChecksumUpdate16(cs, old, np)
				if n == 0 {
					n = 0xffff
				}
				binary.BigEndian.PutUint16(l4[6:8], n)
			}
		}
	case packet.ProtoICMP:
		if len(l4) < 8 || (l4[0] != packet.ICMPEchoRequest && l4[0] != packet.ICMPEchoReply) {
			return
		}
		old := binary.BigEndian.Uint16(l4[4:6])
		if old == t.SPort {
			return
		}
		binary.BigEndian.PutUint16(l4[4:6], t.SPort)
		binary.BigEndian.PutUint16(l4[2:4], packet.ChecksumUpdate16(binary.BigEndian.Uint16(l4[2:4]), old, t.SPort))
	}
}

// icmpReplyTranslation is nf_nat_icmp_reply_translation: an ICMP error
// about a translated connection gets its quoted packet translated back and
// its outer header translated like the connection's other packets.
func (nf *Netfilter) icmpReplyTranslation(c *pktCtx, mt manipType) {
	conn := c.conn
	if !natApplies(c, mt) {
		return
	}
	ip := packet.IPv4(c.pkt.Bytes())
	icmp := ip[ip.HeaderLen():ip.TotalLen()]
	inner := packet.IPv4(icmp[packet.ICMPHeaderLen:])
	if len(inner) < packet.IPv4HeaderLen || inner.HeaderLen() > len(inner) {
		return
	}
	other := manipSrc
	if mt == manipSrc {
		other = manipDst
	}
	before := ""
	if nf.env.Tracing() {
		before = packet.Summary(ip, false)
	}
	manipPkt(inner, conn.Tuple[1-c.dir], other, true)
	packet.ICMP(icmp).SetChecksum()
	target := conn.Tuple[1-c.dir].Invert()
	manipPkt(ip, target, mt, false)
	if nf.env.Tracing() {
		nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindNAT,
			Change: fmt.Sprintf("ICMP error translated with conntrack #%d: %s ⇒ %s", conn.ID, before, packet.Summary(ip, false))})
	}
}
