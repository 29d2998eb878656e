package link

import (
	"fmt"
	"net/netip"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// IPIP device design notes (Linux net/ipv4/ipip.c and ip_tunnel.c, as
// Calico uses the fallback device tunl0):
//
//   - Loading the ipip module creates tunl0 in every namespace: a raw IP
//     device (ARPHRD_TUNNEL, IFF_NOARP) with no remote, no local, `ttl
//     inherit` and `nopmtudisc` (`ip -d link show tunl0`: "ipip any remote
//     any local any ttl inherit nopmtudisc"), because its parameters are
//     all zero. calico-node/felix only sets the MTU (NIC − 20), brings it
//     up and puts the node's tunnel address on it as a /32.
//   - Transmit (ipip_tunnel_xmit → ip_tunnel_xmit): with no remote, the
//     outer destination is the next hop of the route that chose the device
//     (rt_nexthop: the gateway of `<block> via <node> dev tunl0 onlink`, or
//     the inner destination on a connected route). The outer source is what
//     the route to that destination selects (the NIC's address). TTL 0
//     ("inherit") copies the inner TTL; the outer DF is the device's
//     frag_off (0 with nopmtudisc) ORed with the inner DF, since tunl0 has
//     ignore_df unset; TOS 0 keeps the inner ECN bits
//     (ip_tunnel_ecn_encap, CE as ECT(0)); the ID comes from the hashed
//     generator (iptunnel_xmit → __ip_select_ident); the header checksum is
//     computed by ip_local_out. Conntrack is reset, the mark kept
//     (skb_scrub_packet with xnet=false), and the packet is sent through
//     the namespace as a locally generated one (OUTPUT, POSTROUTING).
//   - A route to the outer destination through tunl0 itself is a
//     "circular route": the packet is dropped (collisions counter).
//   - Receive: the IPv4 protocol 4 handler (tunnel4 → ipip_rcv) runs after
//     INPUT for a packet addressed to a local address; the fallback device
//     matches any outer source and destination. The outer header is
//     pulled and the inner packet enters the namespace on tunl0.
//     IP_ECN_decapsulate (outer CE marking the inner packet) is not
//     modelled.

// SourceFunc returns the source address the namespace picks for a
// locally generated packet to dst (ip_route_output's saddr selection).
type SourceFunc func(dst netip.Addr) (netip.Addr, bool)

// IPIP is an IPv4-in-IPv4 tunnel device without a fixed remote (tunl0).
type IPIP struct {
	// Dev is the device: RawIP, kind "ipip", MTU underlay − 20.
	Dev *Device
	// TTL of the outer header; 0 ("inherit", tunl0's default) copies the
	// inner TTL.
	TTL uint8
	// PMTUDisc is `pmtudisc`: the outer DF is always set. Off
	// (`nopmtudisc`, tunl0's default) the outer DF copies the inner DF.
	PMTUDisc bool

	out     IPOutput
	src     SourceFunc
	sending bool
}

// IPIPOverhead is the outer IPv4 header an IPIP tunnel adds.
const IPIPOverhead = packet.IPv4HeaderLen

// NewIPIP creates an IPIP device sending through out, picking the outer
// source with src.
func NewIPIP(env *Env, ns, name string, mtu int, out IPOutput, src SourceFunc) *IPIP {
	t := &IPIP{out: out, src: src}
	t.Dev = NewDevice(env, ns, name, "ipip", RawIP, mtu, packet.MAC{}, t)
	return t
}

// Xmit encapsulates an inner IPv4 packet and sends it through the namespace.
func (t *IPIP) Xmit(d *Device, pkt *packet.Buffer) {
	env := d.env
	if t.sending {
		d.Stats.TxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonNoRoute,
			fmt.Sprintf("circular route: the route to the tunnel's outer destination goes through %s itself", d.Name))
		return
	}
	inner := packet.IPv4(pkt.Bytes())
	if !inner.Valid() {
		d.Stats.TxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonMalformed, "IPIP: the packet to encapsulate is not IPv4")
		return
	}
	remote := pkt.NextHop
	if !remote.IsValid() {
		remote = inner.Dst()
	}
	local, ok := t.src(remote)
	if !ok {
		d.Stats.TxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonNoRoute,
			fmt.Sprintf("IPIP: no route to the outer destination %s", remote))
		return
	}
	ttl, flags, how := t.encap(pkt, local, remote)
	if r := env.Rec(); r != nil {
		r.Add(&ipipEncapOp{t: t, cfg: t.config(), local: local, remote: remote})
	}
	if env.Tracing() {
		df := ""
		if flags != 0 {
			df = ", DF copied from the inner header"
			if t.PMTUDisc {
				df = ", DF (pmtudisc)"
			}
		}
		env.Hop(pkt, trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindEncap,
			Change: fmt.Sprintf("IPIP encap: outer %s > %s proto 4, %s %d%s (+20 bytes: outer IP; destination = the route's gateway)",
				local, remote, how, ttl, df)})
	}
	t.sending = true
	t.out.LocalOut(pkt)
	t.sending = false
}

// ReceiveTunnel takes a local IP protocol 4 packet (pkt at the outer IPv4
// header) and hands the inner packet to the device.
func (t *IPIP) ReceiveTunnel(pkt *packet.Buffer) {
	d := t.Dev
	env := d.env
	outer := packet.IPv4(pkt.Bytes())
	hl := outer.HeaderLen()
	if !packet.IPv4(pkt.Bytes()[hl:]).Valid() {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonMalformed, "IPIP packet without a valid inner IPv4 header")
		return
	}
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindDecap,
			Change: fmt.Sprintf("IPIP decap: from %s, inner packet to %s (−20 bytes)", outer.Src(), d.Name)})
	}
	pkt.Pull(hl)
	resetCT(pkt)
	if r := env.Rec(); r != nil {
		r.Add(&ipipDecapOp{t: t, cfg: t.config(), hl: hl})
	}
	d.Input(pkt)
}

// encap puts the outer header from local to remote on the inner packet pkt.
func (t *IPIP) encap(pkt *packet.Buffer, local, remote netip.Addr) (ttl uint8, flags uint16, how string) {
	inner := packet.IPv4(pkt.Bytes())
	resetCT(pkt)
	ttl = t.TTL
	how = "ttl"
	if ttl == 0 {
		ttl, how = inner.TTL(), "ttl inherit"
	}
	if t.PMTUDisc || inner.DF() {
		flags = packet.FlagDF
	}
	tos := inner.TOS() & 0x03
	if tos == 0x03 {
		tos = 0x02
	}
	innerLen := inner.TotalLen()
	hdr := pkt.Prepend(packet.IPv4HeaderLen)
	packet.IPv4(hdr).SetHeader(packet.IPv4Fields{
		TOS: tos, TotalLen: packet.IPv4HeaderLen + innerLen, ID: t.out.IPIdent(local, remote, packet.ProtoIPIP),
		Flags: flags, TTL: ttl, Protocol: packet.ProtoIPIP, Src: local, Dst: remote,
	})
	return ttl, flags, how
}

// RecordsFlows marks the tunnel as recording its work (FlowAware).
func (*IPIP) RecordsFlows() {}

// ipipConfig is what an IPIP device's encapsulation depends on besides
// the packet and the routes.
type ipipConfig struct {
	ttl  uint8
	pmtu bool
	up   bool
}

func (t *IPIP) config() ipipConfig { return ipipConfig{ttl: t.TTL, pmtu: t.PMTUDisc, up: t.Dev.up} }

// ipipEncapOp is a packet encapsulated in IPIP toward remote (the outer
// header, a fresh IP ID from the namespace's generator). The source
// address came from the namespace's routes, which the next op (the outer
// packet's route decision) checks.
type ipipEncapOp struct {
	t             *IPIP
	cfg           ipipConfig
	local, remote netip.Addr
}

func (o *ipipEncapOp) Valid(time.Duration) bool { return o.t.config() == o.cfg && !o.t.sending }

func (o *ipipEncapOp) Apply(pkt *packet.Buffer, _ time.Duration) { o.t.encap(pkt, o.local, o.remote) }

// ipipDecapOp is an IPIP packet's outer header removed.
type ipipDecapOp struct {
	t   *IPIP
	cfg ipipConfig
	hl  int
}

func (o *ipipDecapOp) Valid(time.Duration) bool { return o.t.config() == o.cfg }

func (o *ipipDecapOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	pkt.Pull(o.hl)
	resetCT(pkt)
}
