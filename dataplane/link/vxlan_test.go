package link_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// inetChecksum is RFC 1071 written out independently of package packet:
// over data holding a correct checksum it is 0.
func inetChecksum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// udpChecksum is the RFC 768 checksum over the IPv4 pseudo-header of ip
// and the UDP datagram seg, written out independently of package packet:
// 0 when the datagram's checksum is correct.
func udpChecksum(ip, seg []byte) uint16 {
	pseudo := make([]byte, 0, 12+len(seg))
	pseudo = append(pseudo, ip[12:20]...)
	pseudo = append(pseudo, 0, 17, byte(len(seg)>>8), byte(len(seg)))
	return inetChecksum(append(pseudo, seg...), 0)
}

const vxlanPort = 8472

var (
	vtepA = packet.MAC{0xba, 0x55, 0x54, 0x26, 0x24, 0x4d}
	vtepB = packet.MAC{0x5e, 0x1b, 0x3c, 0x9a, 0x07, 0x21}
)

// flannelNode is one node of a two-node flannel vxlan cluster: eth0 on the
// shared L2 segment, flannel.1, and one pod behind a veth ("vethpod",
// the pod subnet's .1 — standing in for cni0).
type flannelNode struct {
	ns     *netstack.Stack
	eth    *link.Device
	vx     *link.VXLAN
	ip     netip.Addr
	subnet netip.Prefix
	vtep   packet.MAC
	pod    *netstack.Stack
	podEth *link.Device
	podIP  netip.Addr
	events []netstack.Event
	podEv  []netstack.Event
}

type flannelWorld struct {
	env  *link.Env
	s    *linktest.Sched
	capt *linktest.Capture
	a, b *flannelNode
}

func newFlannelNode(env *link.Env, name string, ip netip.Addr, subnet netip.Prefix, ethMAC, vtep packet.MAC, seed uint64) *flannelNode {
	n := &flannelNode{ip: ip, subnet: subnet, vtep: vtep}
	n.ns = netstack.New(env, name, seed)
	n.ns.Forwarding = true
	n.ns.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { n.events = append(n.events, ev) }
	n.eth = link.NewDevice(env, name, "eth0", "device", link.Ether, 1500, ethMAC, nil)
	n.ns.AddIface(n.eth)
	must(n.ns.AddAddr("eth0", netip.PrefixFrom(ip, 24)))

	n.vx = link.NewVXLAN(env, name, "flannel.1", 1, vxlanPort, ip, 1450, vtep, n.ns)
	n.ns.AddIface(n.vx.Dev)
	must(n.ns.AddAddr("flannel.1", netip.PrefixFrom(subnet.Addr(), 32)))
	n.ns.BindTunnel(vxlanPort, n.vx)

	gw := subnet.Addr().Next()
	n.podIP = gw.Next()
	podName := name + "/pod"
	n.pod = netstack.New(env, podName, seed+100)
	n.pod.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { n.podEv = append(n.podEv, ev) }
	pe, he := link.NewVethPair(env, podName, "eth0", packet.MAC{0x0a, 0x58, 0x0a, 0xf4, subnet.Addr().As4()[2], 2},
		name, "vethpod", packet.MAC{0x0a, 0x58, 0x0a, 0xf4, subnet.Addr().As4()[2], 1}, 1450)
	n.podEth = pe
	n.ns.AddIface(he)
	must(n.ns.AddAddr("vethpod", netip.PrefixFrom(gw, 24)))
	n.pod.AddIface(pe)
	must(n.pod.AddAddr("eth0", netip.PrefixFrom(n.podIP, 24)))
	must(n.pod.AddRoute(&netstack.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: gw, Dev: n.pod.Iface("eth0")}))
	return n
}

// addPeer programs n for peer as flanneld does: permanent neighbour, FDB
// entry, onlink route.
func (n *flannelNode) addPeer(peer *flannelNode) {
	gw := peer.subnet.Addr()
	must(n.ns.AddNeigh("flannel.1", gw, peer.vtep, true))
	n.vx.AddFDB(peer.vtep, peer.ip)
	must(n.ns.AddRoute(&netstack.Route{Dst: peer.subnet, Gw: gw, Dev: n.ns.Iface("flannel.1"), Onlink: true}))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func newFlannelWorld(t *testing.T) *flannelWorld {
	t.Helper()
	env, s := linktest.NewEnv()
	env.VXLANPorts = []uint16{vxlanPort}
	w := &flannelWorld{env: env, s: s, capt: linktest.NewCapture(env, s)}
	w.a = newFlannelNode(env, "node-a", netip.MustParseAddr("192.168.0.10"), netip.MustParsePrefix("10.244.0.0/24"),
		packet.MAC{0x00, 0x16, 0x3e, 0x00, 0x00, 0x0a}, vtepA, 1)
	w.b = newFlannelNode(env, "node-b", netip.MustParseAddr("192.168.0.11"), netip.MustParsePrefix("10.244.1.0/24"),
		packet.MAC{0x00, 0x16, 0x3e, 0x00, 0x00, 0x0b}, vtepB, 2)
	link.Connect(w.a.eth, w.b.eth, 0)
	w.a.addPeer(w.b)
	w.b.addPeer(w.a)
	return w
}

// vxlanFrames returns the frames leaving dev that are UDP to the VXLAN port.
func vxlanFrames(c *linktest.Capture, dev *link.Device) [][]byte {
	var out [][]byte
	for _, f := range c.Bytes(dev, link.Out) {
		if len(f) >= 14+20+8 && packet.Ethernet(f).Type() == packet.EtherTypeIPv4 &&
			f[14+9] == packet.ProtoUDP && binary.BigEndian.Uint16(f[14+20+2:]) == vxlanPort {
			out = append(out, f)
		}
	}
	return out
}

// wireCheck holds what a kernel flannel.1 must have put in one frame.
type wireCheck struct {
	outerSrcMAC, outerDstMAC packet.MAC
	outerSrc, outerDst       netip.Addr
	innerSrcMAC, innerDstMAC packet.MAC
	innerSrc, innerDst       netip.Addr
	innerTTL                 uint8
	innerTOS                 uint8
}

// checkVXLANFrame decodes frame with gopacket and checks every field a
// kernel flannel.1 (VNI 1, dstport 8472, udpcsum, df unset, ttl auto,
// tos 0) writes. It returns the outer UDP source port.
func checkVXLANFrame(t *testing.T, frame []byte, w wireCheck) uint16 {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, p.ErrorLayer(), "outer frame decodes")
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)

	// Outer Ethernet: eth0's MAC to the underlay neighbour's.
	assert.Equal(t, w.outerSrcMAC[:], []byte(eth.SrcMAC), "outer source MAC is eth0's")
	assert.Equal(t, w.outerDstMAC[:], []byte(eth.DstMAC), "outer destination MAC is the resolved neighbour")
	assert.Equal(t, layers.EthernetTypeIPv4, eth.EthernetType)

	// Outer IPv4.
	outer := frame[14:]
	innerFrameLen := len(frame) - 14 - 20 - 8 - 8
	assert.Equal(t, byte(0x45), outer[0], "version 4, IHL 5")
	assert.Zero(t, ip4.TOS&^0x03, "outer DSCP 0 (vxlan tos 0)")
	wantECN := w.innerTOS & 0x03
	if wantECN == 3 {
		wantECN = 2 // INET_ECN_encapsulate: CE inner becomes ECT(0) outer
	}
	assert.Equal(t, wantECN, ip4.TOS, "outer TOS is 0 plus the inner ECN (ip_tunnel_ecn_encap)")
	assert.Equal(t, 20+8+8+innerFrameLen, int(ip4.Length), "outer total length = inner IP + 50 − 14")
	assert.Equal(t, len(outer), int(ip4.Length))
	assert.Zero(t, ip4.Flags&layers.IPv4DontFragment, "DF clear: vxlan df unset")
	assert.Zero(t, ip4.Flags&layers.IPv4MoreFragments)
	assert.Zero(t, ip4.FragOffset)
	assert.Equal(t, uint8(64), ip4.TTL, "outer TTL from the route: 64")
	assert.Equal(t, layers.IPProtocolUDP, ip4.Protocol)
	assert.Equal(t, w.outerSrc.AsSlice(), []byte(ip4.SrcIP.To4()), "outer source is local (the node IP)")
	assert.Equal(t, w.outerDst.AsSlice(), []byte(ip4.DstIP.To4()), "outer destination is the FDB dst")
	assert.Zero(t, inetChecksum(outer[:20], 0), "outer IPv4 header checksum")

	// Outer UDP.
	assert.Equal(t, layers.UDPPort(vxlanPort), udp.DstPort)
	assert.GreaterOrEqual(t, int(udp.SrcPort), 32768, "source port in ip_local_port_range")
	assert.LessOrEqual(t, int(udp.SrcPort), 60999, "source port in ip_local_port_range")
	assert.Equal(t, 8+8+innerFrameLen, int(udp.Length))
	assert.NotZero(t, udp.Checksum, "flannel.1 has udpcsum: the outer UDP checksum is computed")
	assert.Zero(t, udpChecksum(outer[:20], outer[20:]), "outer UDP checksum over the pseudo-header and the whole datagram")

	// VXLAN header, decoded explicitly from the UDP payload.
	vp := gopacket.NewPacket(udp.Payload, layers.LayerTypeVXLAN, gopacket.Default)
	require.Nil(t, vp.ErrorLayer(), "VXLAN payload decodes")
	vx := vp.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
	assert.True(t, vx.ValidIDFlag)
	assert.Equal(t, uint32(1), vx.VNI)
	vh := udp.Payload[:8]
	assert.Equal(t, []byte{0x08, 0, 0, 0}, vh[:4], "flags 0x08 (I) and 24 reserved bits")
	assert.Equal(t, []byte{0, 0, 1}, vh[4:7], "VNI 1")
	assert.Zero(t, vh[7], "reserved byte after the VNI")

	// Inner frame.
	ieth, ok := vp.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	require.True(t, ok, "inner Ethernet decodes")
	assert.Equal(t, w.innerSrcMAC[:], []byte(ieth.SrcMAC), "inner source MAC is the local VTEP")
	assert.Equal(t, w.innerDstMAC[:], []byte(ieth.DstMAC), "inner destination MAC is the peer VTEP")
	iip, ok := vp.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	require.True(t, ok, "inner IPv4 decodes")
	inner := udp.Payload[8+14:]
	assert.Equal(t, w.innerSrc.AsSlice(), []byte(iip.SrcIP.To4()))
	assert.Equal(t, w.innerDst.AsSlice(), []byte(iip.DstIP.To4()))
	assert.Equal(t, w.innerTTL, iip.TTL)
	assert.Zero(t, inetChecksum(inner[:20], 0), "inner IPv4 header checksum")
	if iip.Protocol == layers.IPProtocolICMPv4 {
		assert.Zero(t, inetChecksum(inner[20:iip.Length], 0), "inner ICMP checksum")
	}
	return uint16(udp.SrcPort)
}

func TestVXLANWireFormatForwarded(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	require.True(t, a.pod.Ping(b.podIP, 7, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	require.True(t, a.pod.Ping(b.podIP, 7, 2, 56, netstack.DFWant, 1))
	w.s.Run()

	// Both pings were answered end to end.
	var replies int
	for _, ev := range a.podEv {
		if ev.Kind == netstack.EvEchoReply {
			replies++
		}
	}
	assert.Equal(t, 2, replies, "pod A got both echo replies")
	assert.Empty(t, w.env.Trace.DropList())

	// Node A resolved node B on eth0 first: an ARP request is the first frame out.
	out := w.capt.Bytes(a.eth, link.Out)
	require.NotEmpty(t, out)
	assert.Equal(t, packet.Broadcast, packet.Ethernet(out[0]).Dst())
	assert.Equal(t, uint16(packet.EtherTypeARP), packet.Ethernet(out[0]).Type())

	reqs := vxlanFrames(w.capt, a.eth)
	require.Len(t, reqs, 2, "one encapsulated echo request per ping")
	want := wireCheck{
		outerSrcMAC: a.eth.MAC, outerDstMAC: b.eth.MAC, outerSrc: a.ip, outerDst: b.ip,
		innerSrcMAC: vtepA, innerDstMAC: vtepB, innerSrc: a.podIP, innerDst: b.podIP,
		innerTTL: 63, // the pod sent 64, node A forwarded once
	}
	sport1 := checkVXLANFrame(t, reqs[0], want)
	sport2 := checkVXLANFrame(t, reqs[1], want)
	assert.Equal(t, sport1, sport2, "the same inner flow keeps its outer source port")
	assert.Equal(t, 14+20+8+8+14+20+8+56, len(reqs[0]), "ICMP 56 data bytes: 84-byte inner packet + 50 + outer Ethernet")
	id1 := binary.BigEndian.Uint16(reqs[0][14+4:])
	id2 := binary.BigEndian.Uint16(reqs[1][14+4:])
	assert.NotEqual(t, id1, id2, "outer IP IDs differ per packet")

	// The replies come back the same way from node B.
	reps := vxlanFrames(w.capt, b.eth)
	require.Len(t, reps, 2)
	checkVXLANFrame(t, reps[0], wireCheck{
		outerSrcMAC: b.eth.MAC, outerDstMAC: a.eth.MAC, outerSrc: b.ip, outerDst: a.ip,
		innerSrcMAC: vtepB, innerDstMAC: vtepA, innerSrc: b.podIP, innerDst: a.podIP, innerTTL: 63,
	})

	// Decapsulation: flannel.1 on node B receives exactly the inner frame.
	in := w.capt.Bytes(b.vx.Dev, link.In)
	require.Len(t, in, 2)
	assert.Equal(t, reqs[0][50:], in[0], "flannel.1 rx = outer frame minus 14+20+8+8 bytes")
	// And node B forwards it to the pod with the TTL decremented again.
	podIn := w.capt.Bytes(b.podEth, link.In)
	var echo []byte
	for _, f := range podIn {
		if packet.Ethernet(f).Type() == packet.EtherTypeIPv4 {
			echo = f
			break
		}
	}
	require.NotNil(t, echo)
	assert.Equal(t, uint8(62), packet.IPv4(echo[14:]).TTL())
	assert.Zero(t, inetChecksum(echo[14:34], 0))
}

func TestVXLANWireFormatFromNode(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	// ping 10.244.1.0 from node A itself: source is flannel.1's address.
	require.True(t, a.ns.Ping(b.subnet.Addr(), 9, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	reqs := vxlanFrames(w.capt, a.eth)
	require.Len(t, reqs, 1)
	checkVXLANFrame(t, reqs[0], wireCheck{
		outerSrcMAC: a.eth.MAC, outerDstMAC: b.eth.MAC, outerSrc: a.ip, outerDst: b.ip,
		innerSrcMAC: vtepA, innerDstMAC: vtepB, innerSrc: a.subnet.Addr(), innerDst: b.subnet.Addr(),
		innerTTL: 64, // locally generated, not forwarded
	})
	var got []netstack.EventKind
	for _, ev := range b.events {
		got = append(got, ev.Kind)
	}
	assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, got, "node B's kernel answered")
	got = got[:0]
	for _, ev := range a.events {
		got = append(got, ev.Kind)
	}
	assert.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, got)
}

func TestVXLANLargestInnerPacket(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		df      netstack.DFMode
		podMTU  int
		frames  int
		reason  trace.Reason
		wantMTU int
	}{
		{name: "1450-byte inner packet fills a 1514-byte frame", size: 1450 - 28, df: netstack.DFDo, podMTU: 1450, frames: 1},
		{name: "one byte more with DF is frag-needed at flannel.1", size: 1451 - 28, df: netstack.DFDo, podMTU: 1500,
			reason: trace.ReasonFragNeeded, wantMTU: 1450},
		{name: "one byte more without DF is fragmented before encap", size: 1451 - 28, df: netstack.DFDont, podMTU: 1500, frames: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFlannelWorld(t)
			a, b := w.a, w.b
			a.podEth.MTU = tt.podMTU
			a.ns.Iface("vethpod").Dev.MTU = tt.podMTU
			require.True(t, a.pod.Ping(b.podIP, 1, 1, tt.size, tt.df, 1))
			w.s.Run()
			frames := vxlanFrames(w.capt, a.eth)
			require.Len(t, frames, tt.frames)
			for _, f := range frames {
				assert.LessOrEqual(t, len(f), 1514, "never over eth0's MTU: the outer packet is not fragmented")
				assert.Zero(t, binary.BigEndian.Uint16(f[14+6:])&0x3fff, "outer packet not fragmented")
			}
			if tt.frames == 1 {
				assert.Len(t, frames[0], 1514)
			}
			if tt.reason != trace.ReasonNone {
				require.NotEmpty(t, w.env.Trace.DropList())
				d := w.env.Trace.DropList()[0]
				assert.Equal(t, tt.reason, d.Reason)
				assert.Equal(t, "node-a", d.Node)
				var errs []netstack.Event
				for _, ev := range a.podEv {
					if ev.Kind == netstack.EvError {
						errs = append(errs, ev)
					}
				}
				require.Len(t, errs, 1)
				assert.Equal(t, tt.wantMTU, errs[0].MTU)
				assert.Equal(t, uint8(3), errs[0].ICMPType)
				assert.Equal(t, uint8(4), errs[0].ICMPCode)
			} else {
				var replies int
				for _, ev := range a.podEv {
					if ev.Kind == netstack.EvEchoReply {
						replies++
					}
				}
				assert.Equal(t, 1, replies)
			}
		})
	}
}

// innerFrame is a VTEP-to-VTEP frame carrying an ICMP echo request.
func innerFrame(tos uint8, src, dst netip.Addr) []byte {
	b := make([]byte, 14+20+8+8)
	packet.Ethernet(b).Set(vtepB, vtepA, packet.EtherTypeIPv4)
	packet.IPv4(b[14:]).SetHeader(packet.IPv4Fields{TOS: tos, TotalLen: 36, ID: 1, TTL: 64, Protocol: packet.ProtoICMP, Src: src, Dst: dst})
	ic := packet.ICMP(b[34:])
	ic[0] = packet.ICMPEchoRequest
	ic.SetChecksum()
	return b
}

func TestVXLANOuterTOS(t *testing.T) {
	tests := []struct {
		name     string
		innerTOS uint8
		want     uint8
	}{
		{"not ECT", 0x00, 0x00},
		{"ECT(1) copied", 0x01, 0x01},
		{"ECT(0) copied", 0x02, 0x02},
		{"CE becomes ECT(0)", 0x03, 0x02},
		{"DSCP is not inherited (tos 0)", 0xb8, 0x00},
		{"DSCP dropped, ECN kept", 0xba, 0x02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFlannelWorld(t)
			a, b := w.a, w.b
			w.a.vx.Dev.Transmit(w.env.Pool.From(innerFrame(tt.innerTOS, a.subnet.Addr(), b.subnet.Addr())))
			w.s.Run()
			frames := vxlanFrames(w.capt, a.eth)
			require.Len(t, frames, 1)
			assert.Equal(t, tt.want, frames[0][15])
			checkVXLANFrame(t, frames[0], wireCheck{
				outerSrcMAC: a.eth.MAC, outerDstMAC: b.eth.MAC, outerSrc: a.ip, outerDst: b.ip,
				innerSrcMAC: vtepA, innerDstMAC: vtepB, innerSrc: a.subnet.Addr(), innerDst: b.subnet.Addr(),
				innerTTL: 64, innerTOS: tt.innerTOS,
			})
		})
	}
}

// hookRecorder is a netfilter stand-in that remembers what each hook saw.
type hookRecorder struct {
	seen []hookSeen
}

type hookSeen struct {
	hook  netstack.Hook
	vxlan bool
	ct    any
	mark  uint32
}

func (h *hookRecorder) Refusal() netstack.Verdict { return netstack.Verdict{} }

func (h *hookRecorder) Pass(hk netstack.Hook, pkt *packet.Buffer, _, _ *link.Device) bool {
	ip := packet.IPv4(pkt.Bytes())
	isVX := ip.Protocol() == packet.ProtoUDP && len(ip) >= 24 && binary.BigEndian.Uint16(ip[22:24]) == vxlanPort
	h.seen = append(h.seen, hookSeen{hook: hk, vxlan: isVX, ct: pkt.CT, mark: pkt.Mark})
	return true
}

// TestVXLANEncapResetsConntrack: the outer packet is a new skb as far as
// conntrack goes (iptunnel_xmit → skb_scrub_packet → nf_reset_ct); it
// must not carry the inner packet's connection into OUTPUT/POSTROUTING,
// where NAT would rewrite the outer header with the inner connection's
// translation. The mark survives (same namespace: xnet false).
func TestVXLANEncapResetsConntrack(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	rec := &hookRecorder{}
	a.ns.Filter = rec
	pkt := w.env.Pool.From(innerFrame(0, a.podIP, b.podIP))
	type conn struct{}
	pkt.CT, pkt.CTReply, pkt.Mark = &conn{}, true, 0x4000
	a.vx.Dev.Transmit(pkt)
	w.s.Run()
	var outer []hookSeen
	for _, s := range rec.seen {
		if s.vxlan && (s.hook == netstack.LocalOut || s.hook == netstack.PostRouting) {
			outer = append(outer, s)
		}
	}
	require.Len(t, outer, 2, "the outer packet passes OUTPUT and POSTROUTING")
	for _, s := range outer {
		assert.Nil(t, s.ct, "%s: no conntrack entry carried over from the inner packet", s.hook)
		assert.Equal(t, uint32(0x4000), s.mark, "%s: the mark is kept in the same namespace", s.hook)
	}
	require.Len(t, vxlanFrames(w.capt, a.eth), 1)
}

// TestVXLANDecapDrops: node B's checks of a received VXLAN packet. The
// outer UDP checksum is checked first (udp_queue_rcv_one_skb validates it
// before calling the encap socket): a wrong one is dropped at eth0, 0
// means none and is accepted; the VXLAN header is checked by flannel.1.
func TestVXLANDecapDrops(t *testing.T) {
	resum := func(f []byte) {
		packet.SetTransportChecksum(f[14+20:], packet.IPv4(f[14:]).Src(), packet.IPv4(f[14:]).Dst(), packet.ProtoUDP)
	}
	tests := []struct {
		name   string
		mutate func(f []byte)
		want   trace.Reason
		device string
	}{
		{"VNI mismatch", func(f []byte) { f[14+20+8+6] = 2; resum(f) }, trace.ReasonVXLANBadVNI, "flannel.1"},
		{"VNI with high bits", func(f []byte) { f[14+20+8+4] = 1; resum(f) }, trace.ReasonVXLANBadVNI, "flannel.1"},
		{"I flag clear", func(f []byte) { f[14+20+8] = 0; resum(f) }, trace.ReasonMalformed, "flannel.1"},
		{"outer UDP checksum wrong", func(f []byte) { f[14+20+6] ^= 0x5a }, trace.ReasonMalformed, "eth0"},
		{"inner byte changed, checksum not", func(f []byte) { f[len(f)-1] ^= 0xff }, trace.ReasonMalformed, "eth0"},
		{"outer UDP checksum 0 is accepted", func(f []byte) { f[14+20+6], f[14+20+7] = 0, 0 }, trace.ReasonNone, ""},
		{"unchanged is delivered", func([]byte) {}, trace.ReasonNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFlannelWorld(t)
			a, b := w.a, w.b
			require.True(t, a.ns.Ping(b.subnet.Addr(), 1, 1, 56, netstack.DFWant, 1))
			w.s.Run()
			frames := vxlanFrames(w.capt, a.eth)
			require.Len(t, frames, 1)
			f := append([]byte(nil), frames[0]...)
			tt.mutate(f)
			w.env.Trace.Reset()
			b.events = nil
			w.capt.Reset()
			b.eth.Input(w.env.Pool.From(f))
			w.s.Run()
			if tt.want == trace.ReasonNone {
				assert.Empty(t, w.env.Trace.DropList())
				require.Len(t, b.events, 1)
				assert.Equal(t, netstack.EvEchoRequest, b.events[0].Kind)
				assert.Len(t, w.capt.On(b.vx.Dev, link.In), 1)
			} else {
				drops := w.env.Trace.DropList()
				require.Len(t, drops, 1)
				assert.Equal(t, tt.want, drops[0].Reason)
				assert.Equal(t, "node-b", drops[0].Node)
				assert.Equal(t, tt.device, drops[0].Device)
				assert.Empty(t, b.events, "nothing reached node B's stack")
				assert.Empty(t, w.capt.On(b.vx.Dev, link.In))
			}
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}

// TestVXLANZeroCsumTX: a device created with noudpcsum
// (VXLAN_F_UDP_ZERO_CSUM_TX) sends the outer UDP checksum as 0, and the
// peer accepts it.
func TestVXLANZeroCsumTX(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	a.vx.ZeroCsumTX = true
	w.env.Trace.Hops = true
	require.True(t, a.pod.Ping(b.podIP, 1, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	assert.Empty(t, w.env.Trace.DropList())
	out := vxlanFrames(w.capt, a.eth)
	require.Len(t, out, 1)
	assert.Zero(t, packet.UDP(out[0][14+20:]).Checksum(), "noudpcsum: checksum 0")
	back := vxlanFrames(w.capt, b.eth)
	require.Len(t, back, 1)
	assert.Zero(t, udpChecksum(back[0][14:34], back[0][34:]), "node B (udpcsum) still computes its checksum")
	assert.NotZero(t, packet.UDP(back[0][14+20:]).Checksum())
	var encap []string
	for _, h := range w.env.Trace.HopList() {
		if h.Kind == trace.KindEncap {
			encap = append(encap, h.Change)
		}
	}
	require.Len(t, encap, 2)
	assert.Contains(t, encap[0], "udp csum 0x0000")
	assert.Contains(t, encap[1], fmt.Sprintf("udp csum 0x%04x", packet.UDP(back[0][14+20:]).Checksum()))
}

func TestVXLANFDBMiss(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	assert.Equal(t, map[packet.MAC]netip.Addr{vtepB: b.ip}, a.vx.FDB())
	assert.Equal(t, "5e:1b:3c:9a:07:21 dev flannel.1 dst 192.168.0.11 self permanent", a.vx.FDBString(vtepB, b.ip))
	a.vx.DelFDB(vtepB)
	require.True(t, a.pod.Ping(b.podIP, 1, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonVXLANFDBMiss, drops[0].Reason)
	assert.Equal(t, "node-a", drops[0].Node)
	assert.Equal(t, "flannel.1", drops[0].Device)
	assert.Empty(t, vxlanFrames(w.capt, a.eth), "nothing is encapsulated")
	assert.Len(t, w.capt.On(a.vx.Dev, link.Out), 1, "tcpdump -i flannel.1 still sees the inner frame")
	assert.Zero(t, w.env.Pool.Out)
}

func TestVXLANTraceHops(t *testing.T) {
	w := newFlannelWorld(t)
	w.env.Trace.Hops = true
	require.True(t, w.a.pod.Ping(w.b.podIP, 1, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	kinds := map[trace.Kind]int{}
	for _, h := range w.env.Trace.HopList() {
		kinds[h.Kind]++
	}
	assert.Equal(t, 2, kinds[trace.KindEncap], "request and reply encapsulated")
	assert.Equal(t, 2, kinds[trace.KindDecap])
	assert.Zero(t, kinds[trace.KindDrop])
}

func TestSrcPortRange(t *testing.T) {
	seen := map[uint16]bool{}
	f := innerFrame(0, netip.MustParseAddr("10.244.0.2"), netip.MustParseAddr("10.244.1.2"))
	udp := make([]byte, 14+20+8)
	packet.Ethernet(udp).Set(vtepB, vtepA, packet.EtherTypeIPv4)
	for i := range 20000 {
		ip := packet.IPv4(udp[14:])
		ip.SetHeader(packet.IPv4Fields{TotalLen: 28, TTL: 64, Protocol: packet.ProtoUDP,
			Src: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("10.244.1.2")})
		binary.BigEndian.PutUint16(udp[34:], uint16(i))
		binary.BigEndian.PutUint16(udp[36:], 80)
		p := link.SrcPort(udp)
		require.GreaterOrEqual(t, int(p), 32768)
		require.LessOrEqual(t, int(p), 60999)
		seen[p] = true
	}
	assert.Greater(t, len(seen), 10000, "flows spread over the range")
	assert.Equal(t, link.SrcPort(f), link.SrcPort(append([]byte(nil), f...)), "deterministic")
	// Fragments hash on addresses only, so every fragment of a datagram
	// leaves with the same port.
	frag := append([]byte(nil), udp...)
	binary.BigEndian.PutUint16(frag[14+6:], packet.FlagMF)
	other := append([]byte(nil), frag...)
	binary.BigEndian.PutUint16(other[34:], 999)
	assert.Equal(t, link.SrcPort(frag), link.SrcPort(other))
}

// TestVXLANZeroAlloc: once neighbours are resolved, forwarding a pod's
// packet through flannel.1 (encap on node A, decap on node B) allocates
// nothing per packet.
func TestVXLANZeroAlloc(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	require.True(t, a.pod.Ping(b.podIP, 1, 1, 8, netstack.DFWant, 1))
	w.s.Run()
	require.Len(t, b.podEv, 1)
	got := 0
	b.pod.ListenUDP(9000, false)
	b.pod.OnEvent = func(_ *netstack.Stack, ev netstack.Event) {
		if ev.Kind == netstack.EvUDPRecv {
			got++
		}
	}
	w.env.Capture, w.env.Trace = nil, nil
	hostVeth := a.ns.Iface("vethpod").Dev
	frame := make([]byte, 14+20+8+64)
	packet.Ethernet(frame).Set(hostVeth.MAC, a.podEth.MAC, packet.EtherTypeIPv4)
	packet.IPv4(frame[14:]).SetHeader(packet.IPv4Fields{TotalLen: 92, ID: 5, TTL: 64, Protocol: packet.ProtoUDP, Src: a.podIP, Dst: b.podIP})
	u := packet.UDP(frame[34:])
	u.SetPorts(40000, 9000)
	u.SetLength(72)
	packet.SetTransportChecksum(frame[34:], a.podIP, b.podIP, packet.ProtoUDP)
	inject := func() {
		hostVeth.Input(w.env.Pool.From(frame))
		w.s.Run()
	}
	for range 10 {
		inject()
	}
	before := got
	allocs := testing.AllocsPerRun(500, inject)
	assert.Zero(t, allocs)
	assert.Equal(t, before+501, got, "every datagram reached pod B")
	assert.Zero(t, w.env.Pool.Out)
}

// TestVXLANServiceDNATToRemotePod: node A DNATs a ClusterIP to a pod on
// node B (kube-proxy iptables mode). The inner packet is translated once
// in PREROUTING; the VXLAN outer packet is conntracked on its own and
// must leave 192.168.0.10 → 192.168.0.11:8472 untouched.
func TestVXLANServiceDNATToRemotePod(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	nf := netfilter.ForStack(a.ns, 1)
	require.NoError(t, nf.Append("nat",
		`-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.2:5353`))
	b.pod.ListenUDP(5353, true)
	a.pod.ListenUDP(40000, false)
	require.True(t, a.pod.SendUDP(40000, netip.MustParseAddrPort("10.96.0.10:53"), 32, netstack.DFWant, 1))
	w.s.Run()
	assert.Empty(t, w.env.Trace.DropList())

	frames := vxlanFrames(w.capt, a.eth)
	require.Len(t, frames, 1)
	checkVXLANFrame(t, frames[0], wireCheck{
		outerSrcMAC: a.eth.MAC, outerDstMAC: b.eth.MAC, outerSrc: a.ip, outerDst: b.ip,
		innerSrcMAC: vtepA, innerDstMAC: vtepB, innerSrc: a.podIP, innerDst: b.podIP, innerTTL: 63,
	})
	inner := packet.IPv4(frames[0][64:])
	assert.Equal(t, uint16(5353), packet.UDP(inner[20:]).DstPort(), "the inner packet is DNATed")
	recv := 0
	for _, ev := range b.podEv {
		if ev.Kind == netstack.EvUDPRecv {
			recv++
			assert.Equal(t, uint16(5353), ev.Dst.Port())
		}
	}
	assert.Equal(t, 1, recv, "the pod on node B got the datagram")
	// The echo comes back de-DNATed: from the ClusterIP.
	var back []netstack.Event
	for _, ev := range a.podEv {
		if ev.Kind == netstack.EvUDPRecv {
			back = append(back, ev)
		}
	}
	require.Len(t, back, 1)
	assert.Equal(t, "10.96.0.10:53", back[0].Src.String())
}

// TestVXLANCircularRoute: when the route to the remote VTEP points into
// flannel.1 itself, the kernel drops ("circular route") instead of
// encapsulating forever.
func TestVXLANCircularRoute(t *testing.T) {
	w := newFlannelWorld(t)
	a, b := w.a, w.b
	require.NoError(t, a.ns.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(b.ip, 32), Gw: b.subnet.Addr(), Dev: a.ns.Iface("flannel.1"), Onlink: true}))
	require.True(t, a.pod.Ping(b.podIP, 1, 1, 56, netstack.DFWant, 1))
	w.s.Run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonNoRoute, drops[0].Reason)
	assert.Equal(t, "flannel.1", drops[0].Device)
	assert.Contains(t, drops[0].Detail, "circular route")
	assert.Empty(t, vxlanFrames(w.capt, a.eth))
	assert.Zero(t, w.env.Pool.Out)
	// The device works again once the route is fixed.
	require.True(t, a.ns.Routes.Delete(a.ns.Routes.Lookup(b.ip)))
	require.True(t, a.pod.Ping(b.podIP, 1, 2, 56, netstack.DFWant, 1))
	w.s.Run()
	assert.Len(t, vxlanFrames(w.capt, a.eth), 1)
}
