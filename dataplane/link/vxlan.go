package link

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// VXLAN device design notes (how Linux's vxlan driver behaves with the
// settings flannel uses, and what netsim copies):
//
//   - flannel creates "flannel.<VNI>" with `local <node IP>`, `dstport
//     8472`, `nolearning`, no remote/group: every destination comes from
//     static FDB entries (`bridge fdb append <VTEP MAC> dev flannel.1 dst
//     <node IP>`). An inner frame whose destination MAC has no entry (and
//     there is no all-zeros default entry) is dropped.
//   - vxlan_xmit_one: outer IPv4 from `local` to the FDB dst, TTL from the
//     route (64), TOS 0 with the inner ECN bits (CE as ECT(0)), DF clear
//     (df unset), conntrack reset but mark kept (same namespace), IP ID
//     from the IP ID generator; outer UDP source port from the inner flow
//     hash mapped into the local port range 32768–60999
//     (udp_flow_src_port), destination port 8472; VXLAN header flags 0x08
//     (I) and the VNI.
//   - Outer UDP checksum: flanneld creates the device through
//     vishvananda/netlink without UDPCSum, and that library sends
//     IFLA_VXLAN_UDP_CSUM only when it is true. vxlan_nl2conf sets
//     VXLAN_F_UDP_ZERO_CSUM_TX only when the attribute is present and 0,
//     so an IPv4 flannel.1 has `udpcsum` (ip -d link show) and
//     udp_tunnel_xmit_skb fills in the checksum over the pseudo-header and
//     the whole datagram (UDP header, VXLAN header, inner frame). netsim
//     computes it in full; ZeroCsumTX models `noudpcsum`.
//   - The encapsulated packet is then routed and sent by the namespace as
//     a locally generated packet (OUTPUT and POSTROUTING hooks, eth0's
//     neighbour), which is what the trace shows.
//   - On receive, the driver's UDP socket checks the I flag and VNI, strips
//     outer IPv4+UDP+VXLAN (36 bytes), and the inner frame enters the
//     namespace through the VXLAN device. The UDP layer has already
//     validated a non-zero outer checksum (udp_queue_rcv_one_skb checks it
//     before calling the encap socket's encap_rcv): a bad one is dropped
//     there (netsim: reason malformed); 0 means none and is accepted.
//   - The kernel seeds its flow hash at boot; netsim uses a fixed hash so
//     source ports are the same in every run.

// IPOutput is the namespace a tunnel sends encapsulated packets through.
type IPOutput interface {
	LocalOut(pkt *packet.Buffer)
	// IPIdent is the IPv4 ID of a packet without DF from no connected
	// socket (__ip_select_ident, as iptunnel_xmit uses for the outer
	// header): a counter per (dst, src, protocol).
	IPIdent(src, dst netip.Addr, proto uint8) uint16
}

// VXLAN is a VXLAN device.
type VXLAN struct {
	// Dev is the device (e.g. flannel.1), Ether, MTU underlay − 50.
	Dev   *Device
	VNI   uint32
	Port  uint16
	Local netip.Addr
	// TTL of the outer header; 0 means the route's default (64).
	TTL uint8
	// ZeroCsumTX is VXLAN_F_UDP_ZERO_CSUM_TX (`ip link add ... noudpcsum`):
	// the outer UDP checksum is sent as 0. Off, as for flannel.1, the
	// checksum is computed.
	ZeroCsumTX bool

	out IPOutput
	fdb map[packet.MAC]netip.Addr
	// peers is the shared layer of per-peer entries (ShareFDB), nil
	// without one.
	peers *peerFDB
	// sending is set while an encapsulated packet is in the namespace's
	// output path: reaching Xmit again then means the route to the
	// remote VTEP leads back into this device.
	sending bool
	// gen advances with every change to the FDB (own or shared layer).
	gen uint64
}

// Local port range used for outer source ports (ip_local_port_range).
const (
	vxlanPortMin = 32768
	vxlanPortMax = 61000 // exclusive, as udp_flow_src_port adds 1 to 60999
)

// NewVXLAN creates a VXLAN device sending through out.
func NewVXLAN(env *Env, ns, name string, vni uint32, port uint16, local netip.Addr, mtu int, mac packet.MAC, out IPOutput) *VXLAN {
	v := &VXLAN{VNI: vni, Port: port, Local: local, out: out, fdb: make(map[packet.MAC]netip.Addr)}
	v.Dev = NewDevice(env, ns, name, "vxlan", Ether, mtu, mac, v)
	return v
}

// AddFDB adds a static FDB entry: frames for mac go to the VTEP at dst.
func (v *VXLAN) AddFDB(mac packet.MAC, dst netip.Addr) {
	v.gen++
	if v.peers != nil {
		v.peers.mask(mac)
	}
	v.fdb[mac] = dst
}

// DelFDB removes the entry for mac.
func (v *VXLAN) DelFDB(mac packet.MAC) {
	v.gen++
	if v.peers != nil {
		v.peers.mask(mac)
	}
	delete(v.fdb, mac)
}

// FDB returns the entries: the device's own, and with a shared layer
// (ShareFDB) a new map that adds the shared ones.
func (v *VXLAN) FDB() map[packet.MAC]netip.Addr {
	if v.peers == nil {
		return v.fdb
	}
	out := make(map[packet.MAC]netip.Addr, len(v.fdb)+len(v.peers.f.mac))
	for i, mac := range v.peers.f.mac {
		if j, ok := v.peers.lookup(mac); ok && j == int32(i) {
			out[mac] = v.peers.f.dst[i]
		}
	}
	for mac, dst := range v.fdb {
		out[mac] = dst
	}
	return out
}

// FDBString prints an entry as `bridge fdb show dev flannel.1` does.
func (v *VXLAN) FDBString(mac packet.MAC, dst netip.Addr) string {
	return fmt.Sprintf("%s dev %s dst %s self permanent", mac, v.Dev.Name, dst)
}

// SrcPort is the outer UDP source port for an inner frame
// (udp_flow_src_port with a fixed hash of the inner flow).
func SrcPort(inner []byte) uint16 {
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint32(c)
			h *= 16777619
		}
	}
	if len(inner) >= packet.EthHeaderLen+packet.IPv4HeaderLen && packet.Ethernet(inner).Type() == packet.EtherTypeIPv4 {
		ip := packet.IPv4(inner[packet.EthHeaderLen:])
		mix(ip[12:20])
		mix(ip[9:10])
		hl := ip.HeaderLen()
		if (ip.Protocol() == packet.ProtoTCP || ip.Protocol() == packet.ProtoUDP) && !ip.IsFragment() && len(ip) >= hl+4 {
			mix(ip[hl : hl+4])
		}
	} else {
		mix(inner[:min(len(inner), 12)])
	}
	h ^= h << 16
	return uint16((uint64(h)*uint64(vxlanPortMax-vxlanPortMin))>>32) + vxlanPortMin
}

// Xmit encapsulates an inner frame and sends it through the namespace.
func (v *VXLAN) Xmit(d *Device, pkt *packet.Buffer) {
	env := d.env
	if v.sending {
		// vxlan_xmit_one: rt->dst.dev == dev is a "circular route";
		// the packet is dropped (tx_errors, collisions).
		d.Stats.TxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonNoRoute,
			fmt.Sprintf("circular route: the route to the remote VTEP goes through %s itself", d.Name))
		return
	}
	inner := pkt.Bytes()
	dstMAC := packet.Ethernet(inner).Dst()
	remote, ok := v.fdbLookup(dstMAC)
	if env.Tracing() {
		h := trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindFDB, Lookup: "fdb " + dstMAC.String() + " dev " + d.Name}
		if ok {
			h.Match = v.FDBString(dstMAC, remote)
		} else {
			h.Match = "no entry"
		}
		env.Hop(pkt, h)
	}
	if !ok {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonVXLANFDBMiss,
			fmt.Sprintf("no FDB entry for %s on %s (bridge fdb show dev %s) and no default entry", dstMAC, d.Name, d.Name))
		return
	}
	sport, ttl := v.encap(pkt, remote)
	if r := env.Rec(); r != nil {
		r.Add(v.encapOp(pkt.Bytes(), remote))
	}
	if env.Tracing() {
		u := packet.UDP(pkt.Bytes()[packet.IPv4HeaderLen:])
		env.Hop(pkt, trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindEncap,
			Change: fmt.Sprintf("VXLAN encap: outer %s:%d > %s:%d udp csum 0x%04x, vni %d, ttl %d (+50 bytes: IP 20, UDP 8, VXLAN 8, inner Ethernet 14)",
				v.Local, sport, remote, v.Port, u.Checksum(), v.VNI, ttl)})
	}
	v.sending = true
	v.out.LocalOut(pkt)
	v.sending = false
}

// ReceiveTunnel takes a UDP packet for the VXLAN port (pkt at the outer
// IPv4 header), checks it and hands the inner frame to the device.
func (v *VXLAN) ReceiveTunnel(pkt *packet.Buffer) {
	d := v.Dev
	env := d.env
	b := pkt.Bytes()
	ip := packet.IPv4(b)
	hl := ip.HeaderLen()
	if len(b) < hl+packet.UDPHeaderLen+packet.VXLANHeaderLen+packet.EthHeaderLen {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonMalformed, "VXLAN packet too short")
		return
	}
	vx := packet.VXLAN(b[hl+packet.UDPHeaderLen:])
	if !vx.ValidFlags() {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonMalformed, "VXLAN header without the I flag")
		return
	}
	if vx.VNI() != v.VNI {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonVXLANBadVNI,
			fmt.Sprintf("VNI %d on port %d, but %s has VNI %d", vx.VNI(), v.Port, d.Name, v.VNI))
		return
	}
	if env.Tracing() {
		u := packet.UDP(b[hl:])
		env.Hop(pkt, trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindDecap,
			Change: fmt.Sprintf("VXLAN decap: vni %d from %s:%d, inner frame to %s (−50 bytes)", vx.VNI(), ip.Src(), u.SrcPort(), d.Name)})
	}
	pkt.Pull(hl + packet.UDPHeaderLen + packet.VXLANHeaderLen)
	// iptunnel_pull_header → skb_scrub_packet(skb, xnet=false): the inner
	// frame drops the outer packet's conntrack entry; the mark stays.
	resetCT(pkt)
	if r := env.Rec(); r != nil {
		r.Add(&vxlanDecapOp{v: v, cfg: v.config(), hl: hl})
	}
	d.Input(pkt)
}

// resetCT is nf_reset_ct: the packet no longer belongs to a connection.
func resetCT(pkt *packet.Buffer) {
	pkt.CT, pkt.CTReply, pkt.CTRelated, pkt.Hairpin = nil, false, false, false
}

// encap puts the outer headers toward remote on the inner frame pkt.
func (v *VXLAN) encap(pkt *packet.Buffer, remote netip.Addr) (sport uint16, ttl uint8) {
	var tos uint8
	// iptunnel_xmit → skb_scrub_packet(skb, xnet=false): the outer packet
	// starts without the inner packet's conntrack entry (it must not be
	// NATed as the inner connection), but keeps its mark.
	resetCT(pkt)
	inner := pkt.Bytes()
	sport = SrcPort(inner)
	if packet.Ethernet(inner).Type() == packet.EtherTypeIPv4 && len(inner) > packet.EthHeaderLen+1 {
		// ip_tunnel_ecn_encap → INET_ECN_encapsulate: the inner ECN bits,
		// except that CE becomes ECT(0) on the outer header.
		tos = inner[packet.EthHeaderLen+1] & 0x03
		if tos == 0x03 {
			tos = 0x02
		}
	}
	innerLen := len(inner)
	hdr := pkt.Prepend(packet.IPv4HeaderLen + packet.UDPHeaderLen + packet.VXLANHeaderLen)
	ttl = v.TTL
	if ttl == 0 {
		ttl = 64
	}
	packet.IPv4(hdr).SetHeader(packet.IPv4Fields{
		TOS: tos, TotalLen: len(hdr) + innerLen, ID: v.out.IPIdent(v.Local, remote, packet.ProtoUDP), TTL: ttl,
		Protocol: packet.ProtoUDP, Src: v.Local, Dst: remote,
	})
	u := packet.UDP(hdr[packet.IPv4HeaderLen:])
	u.SetPorts(sport, v.Port)
	u.SetLength(packet.UDPHeaderLen + packet.VXLANHeaderLen + innerLen)
	packet.VXLAN(hdr[packet.IPv4HeaderLen+packet.UDPHeaderLen:]).Set(v.VNI)
	if v.ZeroCsumTX {
		u.SetChecksumField(0)
	} else {
		// udp_set_csum: pseudo-header plus the whole datagram; a result
		// of 0 goes out as 0xffff.
		packet.SetTransportChecksum(pkt.Bytes()[packet.IPv4HeaderLen:], v.Local, remote, packet.ProtoUDP)
	}
	return sport, ttl
}

// vxlanConfig is what a VXLAN device's encapsulation depends on besides
// its FDB.
type vxlanConfig struct {
	gen   uint64
	vni   uint32
	port  uint16
	local netip.Addr
	ttl   uint8
	zero  bool
	up    bool
}

func (v *VXLAN) config() vxlanConfig {
	return vxlanConfig{gen: v.gen, vni: v.VNI, port: v.Port, local: v.Local, ttl: v.TTL, zero: v.ZeroCsumTX, up: v.Dev.up}
}

// vxlanEncapOp is a frame encapsulated toward a remote VTEP: the outer
// headers as recorded (the source port is the inner flow's hash, the TOS
// the inner ECN bits, both fixed by the segment's key), a fresh IP ID from
// the namespace's generator and the header checksum.
//
// The outer UDP checksum is local checksum offload's (LCO, the kernel's
// lco_csum, Documentation/networking/checksum-offloads.rst): when the
// inner IPv4 header and UDP checksum are valid, the inner frame sums to
// its Ethernet header plus the complement of its pseudo-header, whatever
// the payload, so the outer checksum is the same for every packet of the
// segment, and the recorded one is written. A replayed packet's inner
// checksums are valid (the segment's entry verified them and every op
// keeps them so); one that does not have the recorded shape (a zero inner
// UDP checksum, Ethernet padding) gets the full sum.
type vxlanEncapOp struct {
	v      *VXLAN
	cfg    vxlanConfig
	remote netip.Addr
	// hdr is the outer IPv4, UDP and VXLAN headers as recorded, with the
	// IP ID and header checksum zeroed; hdrSum is the sum of its IPv4
	// header.
	hdr    [packet.IPv4HeaderLen + packet.UDPHeaderLen + packet.VXLANHeaderLen]byte
	hdrSum uint32
	// lco: hdr's UDP checksum is the LCO one (or 0 with ZeroCsumTX).
	lco   bool
	ident IdentCounter
}

// IdentCounter is one IP ID generator of a namespace (a bucket of the
// kernel's ip_idents): what IPIdent draws from for one (src, dst, proto).
type IdentCounter interface {
	Next() uint16
}

// identCounters is implemented by a namespace that hands out its IP ID
// generators (netstack.Stack).
type identCounters interface {
	IdentCounter(src, dst netip.Addr, proto uint8) IdentCounter
}

// encapOp records the encapsulation of frame b (at its outer header).
func (v *VXLAN) encapOp(b []byte, remote netip.Addr) *vxlanEncapOp {
	o := &vxlanEncapOp{v: v, cfg: v.config(), remote: remote}
	copy(o.hdr[:], b)
	o.hdr[4], o.hdr[5], o.hdr[10], o.hdr[11] = 0, 0, 0, 0
	o.hdrSum = packet.Sum(o.hdr[:packet.IPv4HeaderLen], 0)
	o.lco = v.ZeroCsumTX || lcoShape(b[len(o.hdr):], true)
	if ic, ok := v.out.(identCounters); ok {
		o.ident = ic.IdentCounter(v.Local, remote, packet.ProtoUDP)
	}
	return o
}

// lcoShape reports whether inner frame b has the shape whose sum LCO
// knows: Ethernet, IPv4 without options, UDP with a non-zero checksum,
// no padding; verify also checks the IPv4 and UDP checksums (at
// recording: what the slow run encapsulated may have been corrupt).
func lcoShape(b []byte, verify bool) bool {
	const l3 = packet.EthHeaderLen
	if len(b) < l3+packet.IPv4HeaderLen+packet.UDPHeaderLen || packet.Ethernet(b).Type() != packet.EtherTypeIPv4 {
		return false
	}
	ip := packet.IPv4(b[l3:])
	if ip[0] != 0x45 || ip.Protocol() != packet.ProtoUDP || ip.IsFragment() || ip.TotalLen() != len(ip) {
		return false
	}
	u := packet.UDP(ip[packet.IPv4HeaderLen:])
	if u.Checksum() == 0 {
		return false
	}
	return !verify || ip.ChecksumOK() && packet.TransportChecksumOK(u, ip.Src(), ip.Dst(), packet.ProtoUDP)
}

func (o *vxlanEncapOp) Valid(time.Duration) bool { return o.v.config() == o.cfg && !o.v.sending }

func (o *vxlanEncapOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	resetCT(pkt)
	full := !o.lco || !o.v.ZeroCsumTX && !lcoShape(pkt.Bytes(), false)
	hdr := pkt.Prepend(len(o.hdr))
	copy(hdr, o.hdr[:])
	var id uint16
	if o.ident != nil {
		id = o.ident.Next()
	} else {
		id = o.v.out.IPIdent(o.v.Local, o.remote, packet.ProtoUDP)
	}
	binary.BigEndian.PutUint16(hdr[4:6], id)
	binary.BigEndian.PutUint16(hdr[10:12], packet.Fold(o.hdrSum+uint32(id)))
	if full {
		packet.SetTransportChecksum(pkt.Bytes()[packet.IPv4HeaderLen:], o.v.Local, o.remote, packet.ProtoUDP)
	}
}

// vxlanDecapOp is an encapsulated frame's outer headers removed.
type vxlanDecapOp struct {
	v   *VXLAN
	cfg vxlanConfig
	hl  int
}

func (o *vxlanDecapOp) Valid(time.Duration) bool { return o.v.config() == o.cfg }

func (o *vxlanDecapOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	pkt.Pull(o.hl + packet.UDPHeaderLen + packet.VXLANHeaderLen)
	resetCT(pkt)
}
