package flannel_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/dataplane/vpc"
	"netsim/sim"
)

func TestUDPNodeTables(t *testing.T) {
	tests := []struct {
		name     string
		mtu      int
		flannel  []string
		wantMTU  int
		wantPort uint16
	}{
		{name: "defaults", flannel: []string{"backend: udp"}, wantMTU: 1472, wantPort: 8285},
		{name: "jumbo underlay", mtu: 9000, flannel: []string{"backend: udp"}, wantMTU: 8972, wantPort: 8285},
		{name: "port", flannel: []string{"backend: udp", "port: 9999"}, wantMTU: 1472, wantPort: 9999},
		{name: "MTU override", flannel: []string{"backend: udp", "mtu: 1400"}, wantMTU: 1400, wantPort: 8285},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := scen{mtu: tt.mtu, flannel: tt.flannel, nodes: threeNodes}.world(t)
			assert.Equal(t, "flannel/udp", w.CNI.Name())
			assert.Equal(t, tt.wantMTU, w.CNI.PodMTU(), "FLANNEL_MTU is flannel0's MTU")
			assert.Empty(t, w.Env.VXLANPorts, "nothing is VXLAN")
			assert.Empty(t, w.CNI.Notes())
			assert.Zero(t, w.VPC.CustomRoutes(), "udp needs no VPC route entries")
			for i, n := range w.Nodes {
				subnet := pfx(fmt.Sprintf("172.20.%d.0/24", i))
				fl := n.Stack.Iface("flannel0")
				require.NotNil(t, fl, "%s has flannel0", n.Name)
				assert.Equal(t, "tun", fl.Dev.Kind)
				assert.Equal(t, link.RawIP, fl.Dev.Type, "IFF_TUN|IFF_NO_PI: bare IP packets")
				assert.Equal(t, tt.wantMTU, fl.Dev.MTU)
				assert.True(t, fl.Dev.Up())
				assert.Equal(t, []string{subnet.Addr().String() + "/32"}, addrs(fl))
				assert.Same(t, fl.Dev, flannel.TUN(n.CNI).Dev)
				assert.Equal(t, tt.wantMTU, n.Stack.Iface("cni0").Dev.MTU)
				assert.Equal(t, []string{"lo", "eth0", "cni0", "flannel0"}, ifaceNames(n.Stack))
				assert.Empty(t, neighbours(n.Stack), "no per-peer neighbour")

				gw := vpc.GatewayOf(pfx(n.IP.String() + "/24").Masked())
				assert.ElementsMatch(t, []string{
					"default via " + gw.String() + " dev eth0",
					"172.20.0.0/16 dev flannel0",
					fmt.Sprintf("172.20.%d.0/24 dev cni0 proto kernel scope link src 172.20.%d.1", i, i),
					fmt.Sprintf("%s dev eth0 proto kernel scope link src %s", pfx(n.IP.String()+"/24").Masked(), n.IP),
				}, routes(n.Stack), "one route for the whole network, none per peer")

				px := flannel.Proxy(n.CNI)
				require.NotNil(t, px)
				assert.Equal(t, netip.AddrPortFrom(n.IP, tt.wantPort), px.Local())
				var want, got []string
				for j, p := range w.Nodes {
					if p != n {
						want = append(want, fmt.Sprintf("172.20.%d.0/24 → %s:%d", j, p.IP, tt.wantPort))
					}
				}
				for _, r := range px.Routes() {
					got = append(got, r.String())
				}
				assert.Equal(t, want, got, "flanneld's table: the peers' leases, not its own")
			}
		})
	}
}

func TestUDPOnTheWire(t *testing.T) {
	s := scen{flannel: []string{"backend: udp"}, nodes: threeNodes,
		pods:  []string{"- {name: a, node: node-1}", "- {name: b, node: node-3}"},
		flows: []string{"- {name: a-b, from: pod/a, to: pod/b}"}}
	r := s.runner(t)
	w := r.World
	n1, n3 := w.Node("node-1"), w.Node("node-3")
	tun1, tun3 := flannel.TUN(n1.CNI).Dev, flannel.TUN(n3.CNI).Dev
	capt := &linktest.Capture{Clock: r.Loop.Now, Only: []*link.Device{n1.NIC.Dev, tun1, tun3}}
	w.Env.Capture = capt
	res, err := r.Run(sim.Options{})
	require.NoError(t, err)
	require.Equal(t, "delivered", res.Flows[0].Verdict.Result, "%+v", res.Flows[0].Verdict)

	into := capt.On(tun1, link.Out)
	require.NotEmpty(t, into, "node-1 routed the echo into flannel0")
	tunPkt := packet.IPv4(into[0].Data)
	assert.Equal(t, uint8(63), tunPkt.TTL(), "forwarded once by node-1's kernel")

	var outer packet.IPv4
	for _, f := range capt.On(n1.NIC.Dev, link.Out) {
		if eth := packet.Ethernet(f.Data); eth.Type() == packet.EtherTypeIPv4 && packet.IPv4(eth.Payload()).Protocol() == packet.ProtoUDP {
			outer = packet.IPv4(eth.Payload())
			break
		}
	}
	require.NotNil(t, outer, "flanneld's datagram left node-1's eth0")
	assert.True(t, outer.ChecksumOK())
	assert.Equal(t, n1.IP, outer.Src())
	assert.Equal(t, n3.IP, outer.Dst())
	assert.True(t, outer.DF(), "IP_PMTUDISC_WANT: DF on a datagram that fits")
	assert.Equal(t, uint8(64), outer.TTL())
	u := packet.UDP(outer.Payload())
	assert.Equal(t, uint16(8285), u.SrcPort())
	assert.Equal(t, uint16(8285), u.DstPort())
	assert.True(t, packet.TransportChecksumOK(outer.Payload(), outer.Src(), outer.Dst(), packet.ProtoUDP), "UDP checksum valid")
	inner := packet.IPv4(u[packet.UDPHeaderLen:])
	assert.Equal(t, len(into[0].Data), len(inner), "the payload is exactly the packet read from the TUN")
	assert.Equal(t, w.Pod("a").IP, inner.Src())
	assert.Equal(t, w.Pod("b").IP, inner.Dst())
	assert.Equal(t, uint8(62), inner.TTL(), "flanneld decrements once more")
	assert.True(t, inner.ChecksumOK(), "the TTL patch keeps the header checksum valid")
	assert.Equal(t, tunPkt[20:], inner[20:], "beyond the header, the inner packet is unchanged")

	out := capt.On(tun3, link.In)
	require.NotEmpty(t, out, "node-3's flanneld wrote the packet into its flannel0")
	assert.Equal(t, uint8(61), packet.IPv4(out[0].Data).TTL(), "and decremented it again")
}

// ipPkt makes an IPv4 packet of proto with n payload bytes.
func ipPkt(env *link.Env, src, dst string, proto uint8, ttl uint8, flags uint16, n int) *packet.Buffer {
	p := env.Pool.Get(packet.IPv4HeaderLen + n)
	b := p.Append(packet.IPv4HeaderLen + n)
	for i := range b {
		b[i] = byte(i)
	}
	packet.IPv4(b).SetHeader(packet.IPv4Fields{TotalLen: len(b), TTL: ttl, Flags: flags, Protocol: proto, Src: ip(src), Dst: ip(dst)})
	p.ID = env.NewID()
	return p
}

func TestFlanneldForwarderDrops(t *testing.T) {
	tests := []struct {
		name      string
		pkt       func(env *link.Env) *packet.Buffer
		want      trace.Reason
		wantICMP  bool
		wantInDet string
	}{
		{name: "no lease for the subnet: ICMP net unreachable",
			pkt: func(env *link.Env) *packet.Buffer {
				return ipPkt(env, "172.20.0.2", "172.20.9.9", packet.ProtoUDP, 63, packet.FlagDF, 20)
			},
			want: trace.ReasonFlanneldNoRoute, wantICMP: true, wantInDet: "ICMP net unreachable sent"},
		{name: "no lease, but ICMP: no ICMP about ICMP",
			pkt: func(env *link.Env) *packet.Buffer {
				return ipPkt(env, "172.20.0.2", "172.20.9.9", packet.ProtoICMP, 63, 0, 16)
			},
			want: trace.ReasonFlanneldNoRoute, wantInDet: "no ICMP about any ICMP packet"},
		{name: "no lease, non-first fragment: no ICMP",
			pkt: func(env *link.Env) *packet.Buffer {
				return ipPkt(env, "172.20.0.2", "172.20.9.9", packet.ProtoUDP, 63, 185, 16)
			},
			want: trace.ReasonFlanneldNoRoute, wantInDet: "non-first fragment"},
		{name: "TTL 1 reaches zero in flanneld",
			pkt: func(env *link.Env) *packet.Buffer {
				return ipPkt(env, "172.20.0.2", "172.20.1.2", packet.ProtoUDP, 1, 0, 16)
			},
			want: trace.ReasonFlanneldTTL, wantInDet: "due to zero TTL"},
		{name: "shorter than an IPv4 header",
			pkt: func(env *link.Env) *packet.Buffer {
				p := env.Pool.Get(8)
				p.Append(8)
				return p
			},
			want: trace.ReasonMalformed, wantInDet: "too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := scen{flannel: []string{"backend: udp"}, nodes: twoNodesL2, underlay: "l2"}.world(t)
			w.Env.Trace = &trace.Recorder{}
			n1 := w.Node("node-1")
			tun := flannel.TUN(n1.CNI)
			capt := &linktest.Capture{Only: []*link.Device{tun.Dev}}
			w.Env.Capture = capt
			orig := tt.pkt(w.Env)
			quote := append([]byte(nil), orig.Bytes()[:min(28, orig.Len())]...)
			flannel.Proxy(n1.CNI).ReadTUN(orig)

			drops := w.Env.Trace.DropList()
			require.NotEmpty(t, drops)
			assert.Equal(t, tt.want, drops[0].Reason, "%v", drops)
			assert.Equal(t, "flanneld", drops[0].Device)
			assert.Contains(t, drops[0].Detail, tt.wantInDet)
			written := capt.On(tun.Dev, link.In)
			if !tt.wantICMP {
				assert.Empty(t, written, "nothing written back into flannel0")
				assert.Len(t, drops, 1)
				return
			}
			require.Len(t, written, 1, "the ICMP error is written into flannel0")
			ic := packet.IPv4(written[0].Data)
			assert.True(t, ic.ChecksumOK())
			assert.Equal(t, ip("172.20.0.0"), ic.Src(), "from flannel0's address")
			assert.Equal(t, ip("172.20.0.2"), ic.Dst())
			assert.Equal(t, uint8(8), ic.TTL())
			assert.Zero(t, ic.ID())
			assert.False(t, ic.DF())
			msg := packet.ICMP(ic.Payload())
			assert.Equal(t, uint8(packet.ICMPDestUnreach), msg.Type())
			assert.Equal(t, uint8(packet.ICMPCodeNetUnreach), msg.Code())
			assert.Zero(t, packet.Checksum(msg, 0), "ICMP checksum valid")
			assert.Equal(t, quote, []byte(msg[packet.ICMPHeaderLen:]), "quotes the IP header and 8 bytes")
			// The kernel takes it as received on flannel0 and, its source
			// being flannel0's own address, drops it (fib_validate_source).
			require.Len(t, drops, 2)
			assert.Equal(t, trace.ReasonMartianSource, drops[1].Reason)
		})
	}
}

func TestFlanneldReceiveTruncatesToItsBuffer(t *testing.T) {
	w := scen{flannel: []string{"backend: udp"}, nodes: twoNodesL2, underlay: "l2"}.world(t)
	w.Env.Trace = &trace.Recorder{}
	n1, n2 := w.Node("node-1"), w.Node("node-2")
	// A 1500-byte inner packet in a 1528-byte datagram: more than
	// flanneld's 1472-byte buffer.
	inner := ipPkt(w.Env, "172.20.1.2", "172.20.0.2", packet.ProtoUDP, 64, 0, 1480)
	n := inner.Len()
	hdr := inner.Prepend(28)
	packet.IPv4(hdr).SetHeader(packet.IPv4Fields{TotalLen: 28 + n, TTL: 64, Protocol: packet.ProtoUDP, Src: n2.IP, Dst: n1.IP})
	u := packet.UDP(hdr[20:])
	u.SetPorts(8285, 8285)
	u.SetLength(8 + n)
	packet.SetTransportChecksum(inner.Bytes()[20:], n2.IP, n1.IP, packet.ProtoUDP)
	flannel.Proxy(n1.CNI).ReceiveTunnel(inner)
	drops := w.Env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonMalformed, drops[0].Reason)
	assert.Contains(t, drops[0].Detail, "truncated to its 1472-byte buffer")
	assert.Zero(t, w.Env.Pool.Out)
}
