package ipvs

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// IPVS connection timeouts (ipvsadm --set defaults: tcp 900 s, tcpfin 120 s,
// udp 300 s).
const (
	TCPTimeout    = 900 * time.Second
	TCPFinTimeout = 120 * time.Second
	UDPTimeout    = 300 * time.Second
	// SCTPTimeout and SCTPSetupTimeout are ip_vs_proto_sctp's defaults:
	// ESTABLISHED 15 minutes, every other state 10 s.
	SCTPTimeout      = 900 * time.Second
	SCTPSetupTimeout = 10 * time.Second
)

// Conn is an IPVS connection (ip_vs_conn): client → virtual service,
// forwarded to a real server with NAT ("Masq").
type Conn struct {
	Proto   Proto
	Client  netip.AddrPort
	VIP     netip.AddrPort
	RS      netip.AddrPort
	Expires time.Duration
	Active  bool

	closing bool
	vs      *VirtualService
	rs      *RealServer
}

type inKey struct {
	proto  Proto
	client netip.AddrPort
	vip    netip.AddrPort
}

type outKey struct {
	proto  Proto
	rs     netip.AddrPort
	client netip.AddrPort
}

type persistKey struct {
	vs     *VirtualService
	client netip.Addr
}

type persistEntry struct {
	rs      *RealServer
	expires time.Duration
}

// IPVS is one node's IP Virtual Server: the virtual service table and the
// connection table, hooked into the node's stack (Stack.IPVS).
type IPVS struct {
	Table *Table

	env     *link.Env
	ns      string
	in      map[inKey]*Conn
	out     map[outKey]*Conn
	persist map[persistKey]persistEntry
}

// New makes an IPVS for namespace ns and installs it on the stack.
func New(s *netstack.Stack, t *Table) *IPVS {
	v := &IPVS{Table: t, env: s.Env(), ns: s.Name, in: map[inKey]*Conn{}, out: map[outKey]*Conn{}, persist: map[persistKey]persistEntry{}}
	s.IPVS = v
	if nf, ok := s.Filter.(*netfilter.Netfilter); ok {
		nf.SetIPVSLookup(func(pkt *packet.Buffer) (netfilter.IPVSConn, bool) {
			c, ok := pkt.IPVS.(*Conn)
			if !ok || c == nil {
				return netfilter.IPVSConn{}, false
			}
			p := uint8(packet.ProtoTCP)
			switch c.Proto {
			case "UDP":
				p = packet.ProtoUDP
			case "SCTP":
				p = packet.ProtoSCTP
			}
			return netfilter.IPVSConn{VAddr: c.VIP.Addr(), VPort: c.VIP.Port(), Proto: p}, true
		})
	}
	return v
}

func l4(ip packet.IPv4) (Proto, []byte, bool) {
	if ip.IsFragment() {
		return "", nil, false
	}
	b := ip[ip.HeaderLen():ip.TotalLen()]
	switch ip.Protocol() {
	case packet.ProtoTCP:
		if len(b) < packet.TCPHeaderLen {
			return "", nil, false
		}
		return "TCP", b, true
	case packet.ProtoUDP:
		if len(b) < packet.UDPHeaderLen {
			return "", nil, false
		}
		return "UDP", b, true
	case packet.ProtoSCTP:
		if len(b) < packet.SCTPHeaderLen+packet.SCTPChunkHeaderLen {
			return "", nil, false
		}
		return "SCTP", b, true
	}
	return "", nil, false
}

func (v *IPVS) hop(pkt *packet.Buffer, h trace.Hop) {
	h.Node = v.ns
	h.Kind = trace.KindNAT
	v.env.Hop(pkt, h)
}

// LocalIn is IPVS's LOCAL_IN hooks: ip_vs_reply4 (priority NAT_SRC−2)
// gives a reply from a real server to a local client (a connection the
// node itself opened to a virtual service) the virtual service's address
// back as its source and lets it go on to the socket; then
// ip_vs_remote_request4 (NAT_SRC−1) schedules a packet for a virtual
// service, DNATs it and sends it on through LOCAL_OUT.
func (v *IPVS) LocalIn(s *netstack.Stack, in *netstack.Iface, pkt *packet.Buffer) bool {
	if v.reply(pkt) {
		return false
	}
	return v.request(s, in.Dev.Name, pkt)
}

// LocalOut is ip_vs_local_request4 (LOCAL_OUT, priority NAT_DST+2): a
// locally generated packet for a virtual service — the node's own
// connection to a ClusterIP — is scheduled and DNATed before the filter
// table, then routed again to the real server (ip_vs_nat_xmit →
// __ip_vs_get_out_rt) and sent on through LOCAL_OUT, so POSTROUTING sees
// the real server's out device.
func (v *IPVS) LocalOut(s *netstack.Stack, pkt *packet.Buffer) bool {
	return v.request(s, "", pkt)
}

// request is ip_vs_in for the client's direction: schedule (or find the
// connection of) a packet for a virtual service, DNAT it to the real
// server and send it on. It reports whether it took the packet.
func (v *IPVS) request(s *netstack.Stack, dev string, pkt *packet.Buffer) bool {
	ip := packet.IPv4(pkt.Bytes())
	proto, seg, ok := l4(ip)
	if !ok {
		return false
	}
	sport, dport := binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
	vip := netip.AddrPortFrom(ip.Dst(), dport)
	client := netip.AddrPortFrom(ip.Src(), sport)
	now := v.env.Now()
	c := v.in[inKey{proto, client, vip}]
	if c != nil && now >= c.Expires {
		v.expire(c)
		c = nil
	}
	var vs *VirtualService
	if c == nil {
		vs = v.Table.Get(vip.Addr(), vip.Port(), proto)
		if vs == nil {
			return false
		}
		rs, why := v.schedule(vs, client.Addr(), now)
		if rs == nil {
			// ip_vs_leave: no destination — ICMP port unreachable, drop.
			s.SendICMPError(pkt, packet.ICMPDestUnreach, packet.ICMPCodePortUnreach, 0)
			v.env.Drop(pkt, v.ns, dev, trace.ReasonNoEndpoints,
				fmt.Sprintf("IPVS virtual service %s has no real servers (%s); ICMP port unreachable sent", vs.Key(), vs.Comment))
			return true
		}
		c = &Conn{Proto: proto, Client: client, VIP: vip, RS: netip.AddrPortFrom(rs.Addr, rs.Port), vs: vs, rs: rs}
		v.in[inKey{proto, client, vip}] = c
		v.out[outKey{proto, c.RS, client}] = c
		rs.InActConn++
		if v.env.Tracing() {
			v.hop(pkt, trace.Hop{Device: dev, Lookup: fmt.Sprintf("ipvs %s %s (%s)", proto, vip, vs.Comment),
				Match: fmt.Sprintf("%s scheduler %s: → %s", vs.Key(), vs.Scheduler, c.RS), Change: why})
		}
		// ip_vs_update_conntrack: replies are expected from the real server.
		if conn, ok := pkt.CT.(*netfilter.Conn); ok && conn != nil && !conn.Confirmed() {
			conn.AlterReplySource(c.RS)
		}
	}
	v.track(c, seg, now)
	packet.RewriteAddrPort(ip, c.RS, false)
	pkt.IPVS = c
	if v.env.Tracing() {
		v.hop(pkt, trace.Hop{Device: dev, Change: fmt.Sprintf("IPVS masq: %s → %s (ipvs conn %s %s → %s)", vip, c.RS, proto, client, vip)})
	}
	s.IPVSOut(pkt)
	return true
}

// Forward is ip_vs_reply4: a reply from a real server gets the virtual
// service's address back as its source.
func (v *IPVS) Forward(s *netstack.Stack, pkt *packet.Buffer) { v.reply(pkt) }

// reply is ip_vs_out for the real server's direction: a packet from a real
// server to a client of one of the connections gets the virtual service's
// address and port as its source. It reports whether it rewrote pkt.
func (v *IPVS) reply(pkt *packet.Buffer) bool {
	if len(v.out) == 0 {
		return false
	}
	ip := packet.IPv4(pkt.Bytes())
	proto, seg, ok := l4(ip)
	if !ok {
		return false
	}
	rs := netip.AddrPortFrom(ip.Src(), binary.BigEndian.Uint16(seg[0:2]))
	client := netip.AddrPortFrom(ip.Dst(), binary.BigEndian.Uint16(seg[2:4]))
	c := v.out[outKey{proto, rs, client}]
	if c == nil {
		return false
	}
	now := v.env.Now()
	if now >= c.Expires {
		v.expire(c)
		return false
	}
	v.track(c, seg, now)
	packet.RewriteAddrPort(ip, c.VIP, true)
	pkt.IPVS = c
	if v.env.Tracing() {
		v.hop(pkt, trace.Hop{Change: fmt.Sprintf("IPVS reply: source %s → %s (ipvs conn %s %s → %s)", rs, c.VIP, proto, c.Client, c.VIP)})
	}
	return true
}

func (v *IPVS) expire(c *Conn) {
	delete(v.in, inKey{c.Proto, c.Client, c.VIP})
	delete(v.out, outKey{c.Proto, c.RS, c.Client})
	if c.Active {
		c.rs.ActiveConn--
	} else {
		c.rs.InActConn--
	}
}

// track updates the connection state and timeout: a TCP connection is
// "inactive" until the client's first ACK, "active" while established,
// inactive again after a FIN or RST.
func (v *IPVS) track(c *Conn, seg []byte, now time.Duration) {
	switch c.Proto {
	case "UDP":
		c.Expires = now + UDPTimeout
		return
	case "SCTP":
		v.trackSCTP(c, seg, now)
		return
	}
	f := seg[13]
	switch {
	case f&(packet.TCPFin|packet.TCPRst) != 0:
		if c.Active {
			c.Active = false
			c.rs.ActiveConn--
			c.rs.InActConn++
		}
		c.closing = true
		c.Expires = now + TCPFinTimeout
	case c.closing:
		c.Expires = now + TCPFinTimeout
	case f&packet.TCPAck != 0 && f&packet.TCPSyn == 0 && !c.Active:
		c.Active = true
		c.rs.InActConn--
		c.rs.ActiveConn++
		c.Expires = now + TCPTimeout
	default:
		c.Expires = now + TCPTimeout
	}
}

// trackSCTP is ip_vs_proto_sctp's state table in brief: an association is
// inactive until its COOKIE ACK or DATA passes, active while established
// (SCTPTimeout), inactive again after a SHUTDOWN, SHUTDOWN ACK, SHUTDOWN
// COMPLETE or ABORT; every other state times out in SCTPSetupTimeout.
func (v *IPVS) trackSCTP(c *Conn, seg []byte, now time.Duration) {
	switch seg[packet.SCTPHeaderLen] {
	case packet.SCTPChunkAbort, packet.SCTPChunkShutdown, packet.SCTPChunkShutdownAck, packet.SCTPChunkShutdownComplete:
		if c.Active {
			c.Active = false
			c.rs.ActiveConn--
			c.rs.InActConn++
		}
		c.closing = true
	case packet.SCTPChunkCookieAck, packet.SCTPChunkData, packet.SCTPChunkSack:
		if !c.Active && !c.closing {
			c.Active = true
			c.rs.InActConn--
			c.rs.ActiveConn++
		}
	}
	if c.Active {
		c.Expires = now + SCTPTimeout
	} else {
		c.Expires = now + SCTPSetupTimeout
	}
}

// schedule picks a real server (ip_vs_schedule), honouring persistence.
func (v *IPVS) schedule(vs *VirtualService, client netip.Addr, now time.Duration) (*RealServer, string) {
	if len(vs.Reals) == 0 {
		return nil, ""
	}
	if vs.Persistence > 0 {
		k := persistKey{vs, client}
		if e, ok := v.persist[k]; ok && now < e.expires && e.rs.Weight > 0 {
			v.persist[k] = persistEntry{e.rs, now + vs.Persistence}
			return e.rs, fmt.Sprintf("persistent template: client %s stays on %s for %s", client, netip.AddrPortFrom(e.rs.Addr, e.rs.Port), vs.Persistence)
		}
	}
	var rs *RealServer
	var why string
	switch vs.Scheduler {
	case LeastConnection:
		// ip_vs_lc: overhead = active*256 + inactive; lowest wins, first on ties.
		best := -1
		for _, r := range vs.Reals {
			if r.Weight <= 0 {
				continue
			}
			o := r.ActiveConn*256 + r.InActConn
			if best < 0 || o < best {
				best, rs = o, r
			}
		}
		why = fmt.Sprintf("lc: fewest connections (overhead %d)", best)
	case SourceHashing:
		h := fnv.New32a()
		b := client.As4()
		h.Write(b[:])
		n := 0
		for _, r := range vs.Reals {
			if r.Weight > 0 {
				n++
			}
		}
		if n > 0 {
			i := int(h.Sum32() % uint32(n))
			for _, r := range vs.Reals {
				if r.Weight > 0 {
					if i == 0 {
						rs = r
						break
					}
					i--
				}
			}
		}
		why = fmt.Sprintf("sh: hash of source %s", client)
	default:
		for i := 0; i < len(vs.Reals); i++ {
			r := vs.Reals[(vs.rrNext+i)%len(vs.Reals)]
			if r.Weight > 0 {
				rs = r
				vs.rrNext = (vs.rrNext + i + 1) % len(vs.Reals)
				break
			}
		}
		why = "rr: next real server in turn"
	}
	if rs != nil && vs.Persistence > 0 {
		v.persist[persistKey{vs, client}] = persistEntry{rs, now + vs.Persistence}
	}
	return rs, why
}

// Conns returns the live connections (for `ipvsadm -Lnc`).
func (v *IPVS) Conns() []*Conn {
	out := make([]*Conn, 0, len(v.in))
	for _, c := range v.in {
		out = append(out, c)
	}
	return out
}
