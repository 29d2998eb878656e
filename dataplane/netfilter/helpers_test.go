package netfilter

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// fakeSched is a link.Scheduler whose clock the test moves by hand;
// netfilter only reads the time.
type fakeSched struct{ now time.Duration }

func (s *fakeSched) Now() time.Duration { return s.now }
func (s *fakeSched) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {
	panic("netfilter does not deliver packets")
}
func (s *fakeSched) AfterFunc(time.Duration, func()) { panic("netfilter sets no timers") }

// fakeHost is the namespace netfilter asks about local addresses and the
// MASQUERADE source of an out device.
type fakeHost struct {
	local map[netip.Addr]bool
	masq  map[string]netip.Addr
}

func (h *fakeHost) IsLocal(a netip.Addr) bool { return h.local[a] }

func (h *fakeHost) MasqueradeSource(out *link.Device, _ netip.Addr) (netip.Addr, bool) {
	if out == nil {
		return netip.Addr{}, false
	}
	a, ok := h.masq[out.Name]
	return a, ok
}

// rig is one node: a pod bridge cni0 (10.244.1.1/24), the VXLAN device
// flannel.1 toward other nodes' pods, and eth0 (192.168.0.10) toward the
// VPC and the Internet.
type rig struct {
	t                   *testing.T
	sched               *fakeSched
	env                 *link.Env
	host                *fakeHost
	nf                  *Netfilter
	cni0, flannel, eth0 *link.Device
	tun0                *link.Device // an out device with no address
}

const nodeIP = "192.168.0.10"

func newRig(t *testing.T, seed uint64) *rig {
	t.Helper()
	s := &fakeSched{now: time.Hour}
	env := link.NewEnv(s)
	h := &fakeHost{
		local: map[netip.Addr]bool{mustAddr(nodeIP): true, mustAddr("10.244.1.1"): true, mustAddr("10.244.1.0"): true},
		masq:  map[string]netip.Addr{"eth0": mustAddr(nodeIP), "cni0": mustAddr("10.244.1.1"), "flannel.1": mustAddr("10.244.1.0")},
	}
	r := &rig{t: t, sched: s, env: env, host: h, nf: New(env, "node-1", h, seed)}
	r.cni0 = link.NewDevice(env, "node-1", "cni0", "bridge", link.Ether, 1450, packet.MAC{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01}, nil)
	r.flannel = link.NewDevice(env, "node-1", "flannel.1", "vxlan", link.Ether, 1450, packet.MAC{0x5e, 1, 2, 3, 4, 5}, nil)
	r.eth0 = link.NewDevice(env, "node-1", "eth0", "device", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, 1}, nil)
	r.tun0 = link.NewDevice(env, "node-1", "tun0", "tun", link.RawIP, 1500, packet.MAC{}, nil)
	return r
}

func (r *rig) traceOn() *trace.Recorder {
	rec := &trace.Recorder{Hops: true, Clock: r.sched.Now}
	r.env.Trace = rec
	return rec
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func (r *rig) restore(doc string) {
	r.t.Helper()
	require.NoError(r.t, r.nf.Restore(doc))
}

// step is the result of a packet going through some hooks.
type step struct {
	v     netstack.Verdict
	at    netstack.Hook // the hook that decided when not accepted
	pkt   *packet.Buffer
	bytes []byte // a copy of the packet after the hooks
}

func (r *rig) run(b []byte, in, out *link.Device, hooks ...netstack.Hook) step {
	r.t.Helper()
	pkt := r.env.Pool.From(b)
	for _, h := range hooks {
		var hin, hout *link.Device
		switch h {
		case netstack.PreRouting, netstack.LocalIn, netstack.LocalInNAT:
			hin = in
		case netstack.Forward, netstack.PostRouting:
			hin, hout = in, out
		case netstack.LocalOut, netstack.LocalOutFilter:
			hout = out
		}
		v := r.nf.Hook(h, pkt, hin, hout)
		if v.Kind != netstack.Accept {
			return step{v: v, at: h, pkt: pkt, bytes: append([]byte(nil), pkt.Bytes()...)}
		}
	}
	return step{pkt: pkt, bytes: append([]byte(nil), pkt.Bytes()...)}
}

// forward runs a packet through PREROUTING, FORWARD and POSTROUTING.
func (r *rig) forward(b []byte, in, out *link.Device) step {
	return r.run(b, in, out, netstack.PreRouting, netstack.Forward, netstack.PostRouting)
}

// input runs a packet through PREROUTING and INPUT.
func (r *rig) input(b []byte, in *link.Device) step {
	return r.run(b, in, nil, netstack.PreRouting, netstack.LocalIn, netstack.LocalInNAT)
}

// output runs a locally generated packet through OUTPUT and POSTROUTING.
func (r *rig) output(b []byte, out *link.Device) step {
	return r.run(b, nil, out, netstack.LocalOut, netstack.LocalOutFilter, netstack.PostRouting)
}

func ipLayer(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Id: 0x1234, Protocol: proto,
		SrcIP: net.IP(mustAddr(src).AsSlice()), DstIP: net.IP(mustAddr(dst).AsSlice())}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var ip *layers.IPv4
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			ip = v
		case *layers.TCP:
			require.NoError(t, v.SetNetworkLayerForChecksum(ip))
		case *layers.UDP:
			require.NoError(t, v.SetNetworkLayerForChecksum(ip))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

// tcpFlags is "S", "SA", "A", "PA", "FA", "R".
func tcpPkt(t testing.TB, src string, sport uint16, dst string, dport uint16, flags string, payload string) []byte {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Window: 64240}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK, tcp.Ack = true, 5000
		case 'P':
			tcp.PSH = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		}
	}
	return serialize(t, ipLayer(src, dst, layers.IPProtocolTCP), tcp, gopacket.Payload(payload))
}

func udpPkt(t testing.TB, src string, sport uint16, dst string, dport uint16, payload string) []byte {
	return serialize(t, ipLayer(src, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(payload))
}

func echoPkt(t testing.TB, src, dst string, reply bool, id, seq uint16) []byte {
	typ := uint8(layers.ICMPv4TypeEchoRequest)
	if reply {
		typ = layers.ICMPv4TypeEchoReply
	}
	return serialize(t, ipLayer(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}, gopacket.Payload("0123456789abcdef"))
}

// icmpErr builds an ICMP error from src to dst quoting the first n bytes
// of the offending packet (n <= 0: all of it); for "fragmentation
// needed" mtu is the next-hop MTU.
func icmpErr(t testing.TB, src, dst string, typ, code uint8, mtu uint16, quoted []byte, n int) []byte {
	if n > 0 && n < len(quoted) {
		quoted = quoted[:n]
	}
	return serialize(t, ipLayer(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Seq: mtu}, gopacket.Payload(quoted))
}

// requireChecksums decodes b with gopacket and checks that recomputing
// every checksum (IPv4 header, TCP/UDP with the pseudo-header, ICMP over
// the whole message) gives back exactly b.
func requireChecksums(t testing.TB, b []byte) gopacket.Packet {
	t.Helper()
	pk := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	require.GreaterOrEqual(t, len(pk.Layers()), 2, "gopacket decodes % x", b)
	if e := pk.ErrorLayer(); e != nil {
		// Only the application payload (e.g. a test "DNS" query) may
		// fail to decode.
		require.Greater(t, len(pk.Layers()), 2, "gopacket decodes % x: %v", b, e.Error())
	}
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ls := []gopacket.SerializableLayer{ip}
	switch l := pk.Layers()[1].(type) {
	case *layers.TCP:
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
		ls = append(ls, l, gopacket.Payload(l.Payload))
	case *layers.UDP:
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
		ls = append(ls, l, gopacket.Payload(l.Payload))
	case *layers.ICMPv4:
		ls = append(ls, l, gopacket.Payload(l.Payload))
	default:
		t.Fatalf("unexpected layer %v", l.LayerType())
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...))
	require.Equal(t, buf.Bytes(), b, "recomputed checksums equal the packet's")
	require.True(t, packet.IPv4(b).ChecksumOK())
	return pk
}

// endpoints returns "src:sport > dst:dport" of a TCP/UDP packet.
func endpoints(b []byte) (src netip.AddrPort, dst netip.AddrPort) {
	ip := packet.IPv4(b)
	u := packet.UDP(ip.Payload())
	return netip.AddrPortFrom(ip.Src(), u.SrcPort()), netip.AddrPortFrom(ip.Dst(), u.DstPort())
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// ruleAt returns rule i of a chain.
func (r *rig) rule(table, chain string, i int) *Rule {
	r.t.Helper()
	c := r.nf.Table(table).Chains[chain]
	require.NotNil(r.t, c, "chain %s/%s", table, chain)
	require.Less(r.t, i, len(c.Rules))
	return c.Rules[i]
}
