package felix

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netpol"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

type fakeSched struct{ now time.Duration }

func (s *fakeSched) Now() time.Duration { return s.now }
func (s *fakeSched) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {
	panic("felix tests deliver no packets")
}
func (s *fakeSched) AfterFunc(time.Duration, func()) { panic("felix tests set no timers") }

type fakeHost struct{ local map[netip.Addr]bool }

func (h fakeHost) IsLocal(a netip.Addr) bool { return h.local[a] }
func (h fakeHost) MasqueradeSource(*link.Device, netip.Addr) (netip.Addr, bool) {
	return netip.Addr{}, false
}

const nodeIP = "192.168.0.10"

// rig is node-1 with its netfilter, an eth0 toward the VPC and one cali
// veth per local workload.
type rig struct {
	t     *testing.T
	env   *link.Env
	nf    *netfilter.Netfilter
	eth0  *link.Device
	devs  map[netip.Addr]*link.Device
	input Input
}

// universe is x/a, x/b, y/a, y/b on node-1 and z/c on node-2; namespace
// y carries team=blue.
func universe() Input {
	ns := []netpol.Namespace{
		{Name: "x", Labels: map[string]string{netpol.MetadataNameLabel: "x"}},
		{Name: "y", Labels: map[string]string{netpol.MetadataNameLabel: "y", "team": "blue"}},
		{Name: "z", Labels: map[string]string{netpol.MetadataNameLabel: "z"}},
	}
	wl := []Workload{
		{Namespace: "x", Name: "a", Labels: map[string]string{"pod": "a", "app": "web"}, IP: netip.MustParseAddr("10.0.1.10"), Node: "node-1", Iface: "cali1a2b3c4d5e6",
			Ports: []NamedPort{{Name: "http", Protocol: "TCP", Port: 8080}, {Name: "dns", Protocol: "UDP", Port: 53}}},
		{Namespace: "x", Name: "b", Labels: map[string]string{"pod": "b"}, IP: netip.MustParseAddr("10.0.1.11"), Node: "node-1", Iface: "cali1a2b3c4d5e7"},
		{Namespace: "y", Name: "a", Labels: map[string]string{"pod": "a"}, IP: netip.MustParseAddr("10.0.1.20"), Node: "node-1", Iface: "cali9f8e7d6c5b4"},
		{Namespace: "y", Name: "b", Labels: map[string]string{"pod": "b", "app": "web"}, IP: netip.MustParseAddr("10.0.1.21"), Node: "node-1", Iface: "cali0123456789a",
			Ports: []NamedPort{{Name: "http", Protocol: "TCP", Port: 9090}}},
		{Namespace: "z", Name: "c", Labels: map[string]string{"pod": "c"}, IP: netip.MustParseAddr("10.0.2.30"), Node: "node-2", Iface: "cali5555555555a"},
	}
	return Input{Node: "node-1", Namespaces: ns, Workloads: wl}
}

func newRig(t *testing.T, in Input) *rig {
	t.Helper()
	env := link.NewEnv(&fakeSched{now: time.Hour})
	r := &rig{t: t, env: env, input: in, devs: map[netip.Addr]*link.Device{},
		nf:   netfilter.New(env, "node-1", fakeHost{local: map[netip.Addr]bool{netip.MustParseAddr(nodeIP): true}}, 1),
		eth0: link.NewDevice(env, "node-1", "eth0", "device", link.Ether, 1500, packet.MAC{0, 0x16, 0x3e, 0, 0, 1}, nil)}
	for _, w := range in.Workloads {
		if w.Node == in.Node {
			r.devs[w.IP] = link.NewDevice(env, "node-1", w.Iface, "veth", link.Ether, 1500, packet.MAC{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}, nil)
		}
	}
	require.NoError(t, Sync(r.nf, in))
	return r
}

func (r *rig) dev(a string) *link.Device {
	if d, ok := r.devs[netip.MustParseAddr(a)]; ok {
		return d
	}
	return r.eth0
}

// send runs a packet through the hooks the kernel runs for it on node-1:
// forwarded (PREROUTING, FORWARD, POSTROUTING), to the node (PREROUTING,
// INPUT) or from the node (OUTPUT, POSTROUTING).
func (r *rig) send(b []byte) netstack.Verdict {
	r.t.Helper()
	ip := packet.IPv4(b)
	src, dst := ip.Src().String(), ip.Dst().String()
	pkt := r.env.Pool.From(b)
	var hooks []netstack.Hook
	var in, out *link.Device
	switch {
	case src == nodeIP:
		hooks, out = []netstack.Hook{netstack.LocalOut, netstack.LocalOutFilter, netstack.PostRouting}, r.dev(dst)
	case dst == nodeIP:
		hooks, in = []netstack.Hook{netstack.PreRouting, netstack.LocalIn, netstack.LocalInNAT}, r.dev(src)
	default:
		hooks, in, out = []netstack.Hook{netstack.PreRouting, netstack.Forward, netstack.PostRouting}, r.dev(src), r.dev(dst)
	}
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
		if v := r.nf.Hook(h, pkt, hin, hout); v.Kind != netstack.Accept {
			return v
		}
	}
	return netstack.Verdict{}
}

func ipLayer(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto,
		SrcIP: net.IP(netip.MustParseAddr(src).AsSlice()), DstIP: net.IP(netip.MustParseAddr(dst).AsSlice())}
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

// probe builds the first packet of a connection: a TCP SYN, a UDP
// datagram or an SCTP INIT-like chunk header, from sport to dport.
func probe(t testing.TB, proto, src string, sport uint16, dst string, dport uint16) []byte {
	switch proto {
	case "udp":
		return serialize(t, ipLayer(src, dst, layers.IPProtocolUDP), &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("x"))
	case "sctp":
		return serialize(t, ipLayer(src, dst, layers.IPProtocolSCTP), &layers.SCTP{SrcPort: layers.SCTPPort(sport), DstPort: layers.SCTPPort(dport), VerificationTag: 1},
			gopacket.Payload([]byte{1, 0, 0, 4}))
	}
	return serialize(t, ipLayer(src, dst, layers.IPProtocolTCP), &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1, Window: 64240})
}

// synAck is the reply to a TCP probe.
func synAck(t testing.TB, src string, sport uint16, dst string, dport uint16) []byte {
	return serialize(t, ipLayer(src, dst, layers.IPProtocolTCP), &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, ACK: true, Seq: 7, Ack: 2, Window: 64240})
}

func sel(kv ...string) *netpol.Selector {
	s := netpol.Selector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return &s
}
