// Package flanneld is the userspace forwarder of flannel's udp backend: the
// loop flanneld runs over flannel0's /dev/net/tun file descriptor and its
// UDP socket on <node IP>:8285 (pkg/backend/udp/proxy_amd64.c upstream).
//
// Design notes (read in flannel-io/flannel pkg/backend/udp, not copied):
//
//   - flanneld keeps its own route table, one entry per lease learned
//     from the subnet manager: <peer subnet> → <peer public IP>:<port>.
//     Its own lease is not in it. Lookups take the first entry that
//     contains the destination (a linear scan that swaps the hit to the
//     front), not the longest prefix.
//   - tun_to_udp: read one packet from the TUN. No entry for the
//     destination: write an ICMP destination unreachable, code 0 (net
//     unreachable), back into the TUN — from the TUN's address (the
//     node's <subnet>.0), TTL 8, ID 0, TOS 0, quoting the IP header and 8
//     bytes — except about an ICMP packet (any type) or a non-first
//     fragment, and drop the packet. Otherwise decrement the TTL (RFC 1624
//     checksum patch); reaching 0 drops it with the log line "Discarding
//     IP fragment … due to zero TTL" and no ICMP (a TODO upstream). Then
//     sendto(2) the whole IP packet, unchanged but for the TTL, as the
//     payload of one UDP datagram to the peer: no flannel header.
//   - udp_to_tun: recv(2) one datagram into an MTU-sized buffer, decrement
//     the TTL again (0 drops it the same way) and write(2) it into the TUN.
//     A packet therefore loses two TTL in flanneld on top of the two the
//     kernels' forwarding takes.
//   - The socket is an ordinary unconnected UDP socket (IP_PMTUDISC_WANT):
//     the datagram gets DF when it fits the route MTU, an ID from the
//     kernel's hash generator, a full UDP checksum, and goes out through
//     OUTPUT and POSTROUTING as locally generated traffic from
//     <node IP>:8285.
//
// netsim runs the loop synchronously and keeps the packet's buffer: the
// inner packet stays where it is and the outer IPv4 and UDP headers are
// prepended into its headroom (where the real process copies the packet
// into its buffer on read and back into an skb on sendto). The ICMP net
// unreachable takes one buffer from the pool. The forwarding path allocates
// nothing.
package flanneld

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// DefaultPort is the udp backend's default port (udp_amd64.go defaultPort).
const DefaultPort = 8285

// EncapOverhead is what the outer headers add: IPv4 20 + UDP 8
// (udp_network_amd64.go encapOverhead); flannel0's MTU is the NIC's less this.
const EncapOverhead = packet.IPv4HeaderLen + packet.UDPHeaderLen

// netUnreachTTL is the TTL of flanneld's ICMP net unreachable.
const netUnreachTTL = 8

// Route is one entry of flanneld's route table: a lease's subnet and the
// peer's public address and port.
type Route struct {
	Dst     netip.Prefix
	NextHop netip.AddrPort
}

// String prints the entry as netsim shows it.
func (r Route) String() string { return r.Dst.String() + " → " + r.NextHop.String() }

// Proxy is flanneld's udp forwarder on one node.
type Proxy struct {
	env    *link.Env
	node   string
	tun    *link.TUN
	stack  *netstack.Stack
	local  netip.AddrPort
	tunIP  netip.Addr
	mtu    int
	routes []Route
	// shared are the cluster's leases after routes (ShareLeases), nil
	// without them.
	shared *sharedLeases
}

// New starts the forwarder for tun in stack: it reads tun and receives UDP
// on local (the node IP and port flanneld binds). tunIP is flannel0's
// address (the source of the ICMP net unreachable); mtu is the buffer size
// (flannel0's MTU).
func New(stack *netstack.Stack, tun *link.TUN, local netip.AddrPort, tunIP netip.Addr, mtu int) *Proxy {
	p := &Proxy{env: stack.Env(), node: stack.Name, tun: tun, stack: stack, local: local, tunIP: tunIP, mtu: mtu}
	tun.Attach(p)
	stack.BindTunnel(local.Port(), p)
	return p
}

// SetRoute is CMD_SET_ROUTE: a lease was added (or its next hop changed).
func (p *Proxy) SetRoute(dst netip.Prefix, nextHop netip.AddrPort) {
	dst = dst.Masked()
	for i := range p.routes {
		if p.routes[i].Dst == dst {
			p.routes[i].NextHop = nextHop
			return
		}
	}
	if p.shared != nil {
		if i, ok := p.shared.exact(dst); ok {
			p.shared.mask(i) // the entry becomes the node's own
		}
	}
	p.routes = append(p.routes, Route{Dst: dst, NextHop: nextHop})
}

// DelRoute is CMD_DEL_ROUTE: a lease expired or was removed. It reports
// whether there was an entry.
func (p *Proxy) DelRoute(dst netip.Prefix) bool {
	dst = dst.Masked()
	for i := range p.routes {
		if p.routes[i].Dst == dst {
			last := len(p.routes) - 1
			p.routes[i] = p.routes[last]
			p.routes = p.routes[:last]
			return true
		}
	}
	if p.shared != nil {
		if i, ok := p.shared.exact(dst); ok {
			p.shared.mask(i)
			return true
		}
	}
	return false
}

// Routes returns the table in its current order: the node's own entries,
// then the shared leases it takes in node order (ShareLeases).
func (p *Proxy) Routes() []Route {
	if p.shared == nil {
		return p.routes
	}
	out := make([]Route, 0, p.tableLen())
	out = append(out, p.routes...)
	for i := range p.shared.l.next {
		if p.shared.has(i) {
			out = append(out, p.shared.route(i))
		}
	}
	return out
}

// Local is the address the socket is bound to.
func (p *Proxy) Local() netip.AddrPort { return p.local }

// findRoute is find_route: the first entry containing dst, moved to the
// front.
func (p *Proxy) findRoute(dst netip.Addr) (Route, bool) {
	for i, r := range p.routes {
		if r.Dst.Contains(dst) {
			if i != 0 {
				p.routes[0], p.routes[i] = p.routes[i], p.routes[0]
			}
			return r, true
		}
	}
	if sh := p.shared; sh != nil {
		if i := sh.l.set.Find(dst); sh.has(i) {
			return sh.route(i), true
		}
	}
	return Route{}, false
}

func (p *Proxy) hop(pkt *packet.Buffer, h trace.Hop) {
	h.Node, h.Device = p.node, "flanneld"
	p.env.Hop(pkt, h)
}

func (p *Proxy) drop(pkt *packet.Buffer, r trace.Reason, detail string) {
	p.env.Drop(pkt, p.node, "flanneld", r, detail)
}

// ReadTUN is tun_to_udp for one packet the kernel routed into flannel0.
func (p *Proxy) ReadTUN(pkt *packet.Buffer) {
	env := p.env
	b := pkt.Bytes()
	tracing := env.Tracing()
	if tracing {
		p.hop(pkt, trace.Hop{Kind: trace.KindApp,
			Change: fmt.Sprintf("read %d bytes from /dev/net/tun (%s): the packet leaves the kernel for flanneld in userspace", len(b), p.tun.Dev.Name)})
	}
	if len(b) < packet.IPv4HeaderLen {
		p.drop(pkt, trace.ReasonMalformed, fmt.Sprintf("flanneld: TUN recv packet too small: %d bytes", len(b)))
		return
	}
	ip := packet.IPv4(b)
	dst := ip.Dst()
	r, ok := p.findRoute(dst)
	if tracing {
		h := trace.Hop{Kind: trace.KindApp, Lookup: "flanneld route " + dst.String()}
		if ok {
			h.Match = r.String()
		} else {
			h.Match = fmt.Sprintf("no lease (%d in the table)", p.tableLen())
		}
		p.hop(pkt, h)
	}
	if !ok {
		p.netUnreachable(pkt)
		return
	}
	if !p.decTTL(pkt, ip) {
		return
	}
	p.send(pkt, r.NextHop)
}

// decTTL is decrement_ttl; false means the packet was dropped.
func (p *Proxy) decTTL(pkt *packet.Buffer, ip packet.IPv4) bool {
	ttl := ip.TTL()
	if ttl <= 1 {
		p.drop(pkt, trace.ReasonFlanneldTTL,
			fmt.Sprintf("flanneld: Discarding IP fragment %s -> %s due to zero TTL (ttl %d; flanneld sends no ICMP time exceeded)", ip.Src(), ip.Dst(), ttl))
		return false
	}
	ip.DecTTL()
	if p.env.Tracing() {
		p.hop(pkt, trace.Hop{Kind: trace.KindTTL, Change: fmt.Sprintf("ttl %d→%d (flanneld)", ttl, ttl-1)})
	}
	return true
}

// send is sock_send_packet: sendto(2) of the packet to the peer from the
// bound socket. The outer headers go into pkt's headroom.
func (p *Proxy) send(pkt *packet.Buffer, to netip.AddrPort) {
	n := pkt.Len()
	total := EncapOverhead + n
	src, dst := p.local.Addr(), to.Addr()
	// IP_PMTUDISC_WANT: DF when the datagram fits the route's MTU.
	var flags uint16
	if r, _, ok := p.stack.RouteOutput(dst); ok && total <= p.stack.RouteMTU(r, dst) {
		flags = packet.FlagDF
	}
	hdr := pkt.Prepend(EncapOverhead)
	packet.IPv4(hdr).SetHeader(packet.IPv4Fields{TotalLen: total, ID: p.stack.IPIdent(src, dst, packet.ProtoUDP),
		Flags: flags, TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst})
	u := packet.UDP(hdr[packet.IPv4HeaderLen:])
	u.SetPorts(p.local.Port(), to.Port())
	u.SetLength(packet.UDPHeaderLen + n)
	packet.SetTransportChecksum(pkt.Bytes()[packet.IPv4HeaderLen:], src, dst, packet.ProtoUDP)
	if p.env.Tracing() {
		df := ""
		if flags != 0 {
			df = ", DF"
		}
		p.hop(pkt, trace.Hop{Kind: trace.KindEncap,
			Change: fmt.Sprintf("flanneld sendto %s from %s: the inner IP packet is the whole UDP payload, udp csum 0x%04x%s (+28 bytes: IP 20, UDP 8; no flannel header)",
				to, p.local, u.Checksum(), df)})
	}
	p.stack.LocalOut(pkt)
}

// ReceiveTunnel is udp_to_tun for one datagram the kernel delivered to
// flanneld's socket (pkt at the outer IPv4 header, UDP checksum checked).
func (p *Proxy) ReceiveTunnel(pkt *packet.Buffer) {
	b := pkt.Bytes()
	oip := packet.IPv4(b)
	hl := oip.HeaderLen()
	u := packet.UDP(b[hl:])
	from := netip.AddrPortFrom(oip.Src(), u.SrcPort())
	n := len(b) - hl - packet.UDPHeaderLen
	if oip.Dst() != p.local.Addr() {
		// The socket is bound to the node IP, not the wildcard.
		p.stack.SendICMPError(pkt, packet.ICMPDestUnreach, packet.ICMPCodePortUnreach, 0)
		p.env.Drop(pkt, p.node, "", trace.ReasonPortUnreachable,
			fmt.Sprintf("no socket on %s:%d/udp: flanneld binds %s only (ICMP port unreachable sent to %s)", oip.Dst(), p.local.Port(), p.local, oip.Src()))
		return
	}
	if p.env.Tracing() {
		p.hop(pkt, trace.Hop{Kind: trace.KindDecap,
			Change: fmt.Sprintf("flanneld recv %d bytes on %s from %s: the payload is the inner IP packet (−28 bytes)", n, p.local, from)})
	}
	pkt.Pull(hl + packet.UDPHeaderLen)
	if n < packet.IPv4HeaderLen {
		p.drop(pkt, trace.ReasonMalformed, fmt.Sprintf("flanneld: UDP recv packet too small: %d bytes", n))
		return
	}
	if n > p.mtu {
		// recv(2) into flanneld's MTU-sized buffer truncates the datagram;
		// the kernel then drops the truncated packet (ip_rcv: total
		// length beyond the data).
		p.drop(pkt, trace.ReasonMalformed,
			fmt.Sprintf("flanneld: %d-byte datagram truncated to its %d-byte buffer (%s MTU); ip_rcv drops the truncated packet", n, p.mtu, p.tun.Dev.Name))
		return
	}
	ip := packet.IPv4(pkt.Bytes())
	if !p.decTTL(pkt, ip) {
		return
	}
	if p.env.Tracing() {
		p.hop(pkt, trace.Hop{Kind: trace.KindApp,
			Change: fmt.Sprintf("write %d bytes to /dev/net/tun (%s): the packet re-enters the kernel, received on %s", n, p.tun.Dev.Name, p.tun.Dev.Name)})
	}
	p.tun.Write(pkt)
}

// netUnreachable is send_net_unreachable followed by the drop of the
// offending packet.
func (p *Proxy) netUnreachable(pkt *packet.Buffer) {
	oip := packet.IPv4(pkt.Bytes())
	ohl := oip.HeaderLen()
	dst := oip.Dst()
	switch {
	case oip.Protocol() == packet.ProtoICMP:
		p.drop(pkt, trace.ReasonFlanneldNoRoute,
			fmt.Sprintf("flanneld has no lease covering %s (no node owns that subnet); flanneld sends no ICMP about any ICMP packet, echo requests included (proxy_amd64.c checks only the protocol)", dst))
		return
	case oip.FragOffset() != 0:
		p.drop(pkt, trace.ReasonFlanneldNoRoute,
			fmt.Sprintf("flanneld has no lease covering %s (no node owns that subnet); no ICMP for a non-first fragment", dst))
		return
	}
	quote := ohl + 8
	icmpLen := packet.ICMPHeaderLen + quote
	q := p.env.Pool.Get(packet.IPv4HeaderLen + icmpLen)
	q.ID, q.Parent, q.Flow = p.env.NewID(), pkt.ID, pkt.Flow
	out := q.Append(packet.IPv4HeaderLen + icmpLen)
	clear(out)
	packet.IPv4(out).SetHeader(packet.IPv4Fields{TotalLen: len(out), TTL: netUnreachTTL, Protocol: packet.ProtoICMP, Src: p.tunIP, Dst: oip.Src()})
	ic := packet.ICMP(out[packet.IPv4HeaderLen:])
	ic[0], ic[1] = packet.ICMPDestUnreach, packet.ICMPCodeNetUnreach
	copy(ic[packet.ICMPHeaderLen:], oip[:min(quote, len(oip))])
	ic.SetChecksum()
	if p.env.Tracing() {
		p.hop(q, trace.Hop{Kind: trace.KindICMP,
			Change: fmt.Sprintf("flanneld writes ICMP destination unreachable (net unreachable) from %s to %s, ttl %d, into /dev/net/tun (%s)", p.tunIP, oip.Src(), netUnreachTTL, p.tun.Dev.Name)})
	}
	p.drop(pkt, trace.ReasonFlanneldNoRoute,
		fmt.Sprintf("flanneld has no lease covering %s (no node owns that subnet): ICMP net unreachable sent back into %s", dst, p.tun.Dev.Name))
	p.tun.Write(q)
}
