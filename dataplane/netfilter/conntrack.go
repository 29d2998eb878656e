package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/packet"
)

// Tuple is a conntrack tuple. For ICMP echo, both ports hold the echo ID
// (so that inverting a tuple keeps it).
type Tuple struct {
	Src, Dst     [4]byte
	SPort, DPort uint16
	Proto        uint8
}

// Invert swaps the ends (nf_ct_invert_tuple).
func (t Tuple) Invert() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, SPort: t.DPort, DPort: t.SPort, Proto: t.Proto}
}

// SrcAddr is the source address.
func (t Tuple) SrcAddr() netip.Addr { return netip.AddrFrom4(t.Src) }

// DstAddr is the destination address.
func (t Tuple) DstAddr() netip.Addr { return netip.AddrFrom4(t.Dst) }

// String prints the tuple as conntrack -L does.
func (t Tuple) String() string {
	switch t.Proto {
	case packet.ProtoICMP:
		return fmt.Sprintf("src=%s dst=%s id=%d", t.SrcAddr(), t.DstAddr(), t.SPort)
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
		return fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", t.SrcAddr(), t.DstAddr(), t.SPort, t.DPort)
	}
	return fmt.Sprintf("src=%s dst=%s", t.SrcAddr(), t.DstAddr())
}

// Conn status bits (IPS_*).
const (
	ipsSeenReply uint16 = 1 << iota
	ipsAssured
	ipsConfirmed
	ipsSrcNAT
	ipsDstNAT
	ipsSrcNATDone
	ipsDstNATDone
)

// TCP conntrack states.
const (
	tcpNone uint8 = iota
	tcpSynSent
	tcpSynRecv
	tcpEstablished
	tcpFinWait
	tcpCloseWait
	tcpLastAck
	tcpTimeWait
	tcpClose
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"}

var tcpTimeouts = [...]time.Duration{
	tcpNone: 10 * time.Second, tcpSynSent: 120 * time.Second, tcpSynRecv: 60 * time.Second,
	tcpEstablished: 432000 * time.Second, tcpFinWait: 120 * time.Second, tcpCloseWait: 60 * time.Second,
	tcpLastAck: 30 * time.Second, tcpTimeWait: 120 * time.Second, tcpClose: 10 * time.Second,
}

// Conntrack timeouts (net.netfilter.nf_conntrack_*_timeout).
const (
	UDPTimeout       = 30 * time.Second
	UDPStreamTimeout = 120 * time.Second
	ICMPTimeout      = 30 * time.Second
	GenericTimeout   = 600 * time.Second
)

// Conn is one tracked connection.
type Conn struct {
	// Tuple[0] is the original direction, Tuple[1] the reply direction
	// (after NAT: what replies will look like).
	Tuple   [2]Tuple
	Status  uint16
	TCP     uint8
	SCTP    uint8 // the SCTP state (nf_conntrack_proto_sctp)
	Expires time.Duration
	Mark    uint32
	ID      uint64
	// Packets per direction.
	Packets [2]uint64
	// gone is set when the entry leaves the table (a recorded segment
	// holding it is then no longer valid).
	gone bool
}

// AlterReplySource makes replies expected from rs instead of the original
// destination (ip_vs_update_conntrack: IPVS forwarded the connection to a
// real server). Only an unconfirmed entry can be altered.
func (c *Conn) AlterReplySource(rs netip.AddrPort) bool {
	if c.Status&ipsConfirmed != 0 {
		return false
	}
	c.Tuple[1].Src = rs.Addr().As4()
	if p := c.Tuple[1].Proto; p == packet.ProtoTCP || p == packet.ProtoUDP || p == packet.ProtoSCTP {
		c.Tuple[1].SPort = rs.Port()
	}
	return true
}

// Confirmed reports whether the entry is in the table.
func (c *Conn) Confirmed() bool { return c.Status&ipsConfirmed != 0 }

// SrcNAT reports a source translation.
func (c *Conn) SrcNAT() bool { return c.Status&ipsSrcNAT != 0 }

// DstNAT reports a destination translation.
func (c *Conn) DstNAT() bool { return c.Status&ipsDstNAT != 0 }

type ctRef struct {
	c   *Conn
	dir uint8
}

// Conntrack is a namespace's connection table.
type Conntrack struct {
	m      tupleTable
	nextID uint64
}

func newConntrack() *Conntrack { return &Conntrack{m: newTupleTable()} }

// tupleOf extracts the tuple of an IPv4 packet. For ICMP errors it
// returns ok=false and related=true; the caller looks up the embedded one.
func tupleOf(ip packet.IPv4) (t Tuple, icmpErr bool, ok bool) {
	t.Src, t.Dst, t.Proto = [4]byte(ip[12:16]), [4]byte(ip[16:20]), ip.Protocol()
	hl := ip.HeaderLen()
	if hl < packet.IPv4HeaderLen || hl > len(ip) {
		// A header quoted in an ICMP error is not validated by the stack.
		return t, false, false
	}
	l4 := ip[hl:]
	if ip.FragOffset() != 0 {
		return t, false, true
	}
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP:
		if len(l4) < 4 {
			return t, false, false
		}
		t.SPort, t.DPort = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case packet.ProtoICMP:
		if len(l4) < packet.ICMPHeaderLen {
			return t, false, false
		}
		switch l4[0] {
		case packet.ICMPEchoRequest, packet.ICMPEchoReply, 13, 14:
			id := binary.BigEndian.Uint16(l4[4:6])
			t.SPort, t.DPort = id, id
		case packet.ICMPDestUnreach, packet.ICMPTimeExceeded, 4, 5, 12:
			return t, true, false
		}
	}
	return t, false, true
}

func (ct *Conntrack) lookup(t Tuple, now time.Duration) (*Conn, uint8, bool) {
	r, ok := ct.m.get(t)
	if !ok {
		return nil, 0, false
	}
	if now >= r.c.Expires {
		ct.remove(r.c)
		return nil, 0, false
	}
	return r.c, r.dir, true
}

func (ct *Conntrack) remove(c *Conn) {
	c.gone = true
	if r, ok := ct.m.get(c.Tuple[0]); ok && r.c == c {
		ct.m.del(c.Tuple[0])
	}
	if r, ok := ct.m.get(c.Tuple[1]); ok && r.c == c {
		ct.m.del(c.Tuple[1])
	}
}

// taken reports whether a tuple is used by a confirmed connection.
func (ct *Conntrack) taken(t Tuple, now time.Duration) bool {
	_, _, ok := ct.lookup(t, now)
	return ok
}

// confirm inserts c (__nf_conntrack_confirm). An expired entry holding
// one of its tuples is gone by then (the kernel's GC, and lookups, reap
// expired entries), so only live entries clash.
func (ct *Conntrack) confirm(c *Conn, now time.Duration) bool {
	if c.Status&ipsConfirmed != 0 {
		return true
	}
	if ct.taken(c.Tuple[0], now) || ct.taken(c.Tuple[1], now) {
		return false
	}
	if ct.m.full(2) {
		ct.reap(now)
	}
	ct.m.set(c.Tuple[0], ctRef{c, 0})
	ct.m.set(c.Tuple[1], ctRef{c, 1})
	c.Status |= ipsConfirmed
	return true
}

// reap removes the expired entries, as the kernel's conntrack GC worker
// (gc_worker) does in the background: here when the table would grow, so
// a long run keeps only the connections still within their timeout
// (memory flat in the number of exchanges) and the cost stays amortised.
func (ct *Conntrack) reap(now time.Duration) {
	var dead []*Conn
	ct.m.each(func(_ Tuple, r ctRef) {
		if r.dir == 0 && now >= r.c.Expires {
			dead = append(dead, r.c)
		}
	})
	for _, c := range dead {
		ct.remove(c)
	}
}

// update advances protocol state and the timeout for a packet in dir.
func (c *Conn) update(ip packet.IPv4, dir uint8, now time.Duration) {
	c.Packets[dir]++
	if dir == 1 && c.Status&ipsSeenReply == 0 {
		c.Status |= ipsSeenReply
	}
	switch c.Tuple[0].Proto {
	case packet.ProtoTCP:
		l4 := ip[ip.HeaderLen():]
		if len(l4) < 14 {
			break
		}
		f := l4[13]
		switch {
		case f&packet.TCPRst != 0:
			c.TCP = tcpClose
		case f&packet.TCPSyn != 0 && f&packet.TCPAck == 0 && dir == 0:
			if c.TCP == tcpNone || c.TCP == tcpClose || c.TCP == tcpTimeWait {
				c.TCP = tcpSynSent
			}
		case f&packet.TCPSyn != 0 && f&packet.TCPAck != 0 && dir == 1:
			if c.TCP == tcpSynSent {
				c.TCP = tcpSynRecv
			}
		case f&packet.TCPFin != 0:
			switch c.TCP {
			case tcpEstablished, tcpSynRecv:
				c.TCP = tcpFinWait
			case tcpFinWait:
				c.TCP = tcpLastAck
			case tcpCloseWait:
				c.TCP = tcpLastAck
			}
		case f&packet.TCPAck != 0:
			switch c.TCP {
			case tcpSynRecv:
				if dir == 0 {
					c.TCP = tcpEstablished
					c.Status |= ipsAssured
				}
			case tcpLastAck:
				c.TCP = tcpTimeWait
			case tcpNone:
				// nf_conntrack_tcp_loose=1: pick up a connection mid-stream.
				c.TCP = tcpEstablished
			}
		}
		c.Expires = now + tcpTimeouts[c.TCP]
	case packet.ProtoUDP:
		if c.Status&ipsSeenReply != 0 && c.Packets[0]+c.Packets[1] > 2 {
			c.Status |= ipsAssured
		}
		if c.Status&ipsAssured != 0 {
			c.Expires = now + UDPStreamTimeout
		} else {
			c.Expires = now + UDPTimeout
		}
	case packet.ProtoSCTP:
		c.sctpUpdate(ip, dir)
		c.Expires = now + sctpTimeouts[c.SCTP]
	case packet.ProtoICMP:
		c.Expires = now + ICMPTimeout
	default:
		c.Expires = now + GenericTimeout
	}
}

// Format prints the entry as `conntrack -L` does at time now.
func (c *Conn) Format(now time.Duration) string {
	t := c.Tuple[0]
	var b strings.Builder
	name := map[uint8]string{packet.ProtoTCP: "tcp", packet.ProtoUDP: "udp", packet.ProtoICMP: "icmp", packet.ProtoSCTP: "sctp"}[t.Proto]
	if name == "" {
		name = "unknown"
	}
	left := int((c.Expires - now + time.Second - 1) / time.Second)
	if left < 0 {
		left = 0
	}
	fmt.Fprintf(&b, "%-8s %d %d ", name, t.Proto, left)
	switch t.Proto {
	case packet.ProtoTCP:
		b.WriteString(tcpStateNames[c.TCP] + " ")
	case packet.ProtoSCTP:
		b.WriteString(sctpStateNames[c.SCTP] + " ")
	}
	b.WriteString(fmtTuple(c.Tuple[0], false))
	if c.Status&ipsSeenReply == 0 {
		b.WriteString(" [UNREPLIED]")
	}
	b.WriteString(" " + fmtTuple(c.Tuple[1], true))
	if c.Status&ipsAssured != 0 {
		b.WriteString(" [ASSURED]")
	}
	fmt.Fprintf(&b, " mark=%d use=1", c.Mark)
	return b.String()
}

func fmtTuple(t Tuple, reply bool) string {
	if t.Proto == packet.ProtoICMP {
		typ := 8
		if reply {
			typ = 0
		}
		return fmt.Sprintf("src=%s dst=%s type=%d code=0 id=%d", t.SrcAddr(), t.DstAddr(), typ, t.SPort)
	}
	return t.String()
}

// Entries returns the confirmed connections, oldest first.
func (ct *Conntrack) Entries() []*Conn {
	seen := map[*Conn]bool{}
	var out []*Conn
	ct.m.each(func(_ Tuple, r ctRef) {
		if !seen[r.c] {
			seen[r.c] = true
			out = append(out, r.c)
		}
	})
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}
