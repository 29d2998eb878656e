package dataplane_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/sim"
	"netsim/topology"
)

// The benchmarks push one pod-to-pod UDP datagram (64 payload bytes) per
// iteration through a warm world — neighbours resolved, conntrack entries
// confirmed, tracing and capture off — and drain the event loop. One
// iteration is one packet crossing every hop: pod eth0, veth, cni0, node
// routing and netfilter, (VXLAN encap, eth0, the VPC vRouter or the L2
// switch, peer eth0, decap,) node routing, cni0, veth, pod stack, socket.

const benchScenario = `
name: bench-%[1]s
vpc:
  cidr: 192.168.0.0/16
  underlay: %[2]s
  vswitches:
    - {name: vsw-a, zone: zone-a, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-a, ip: 192.168.0.11}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: %[3]s}
pods:
  - {name: a, node: node-1}
  - {name: b, node: %[4]s, labels: {app: b}, ports: [{port: 9000, protocol: UDP}]}
resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
    spec:
      selector: {app: b}
      ports: [{port: 9000, protocol: UDP, targetPort: 9000}]
flows:
  - {name: warm, from: pod/a, to: %[5]s, protocol: udp, port: 9000, size: 64, expect: delivered}
`

type benchWorld struct {
	loop  *sim.Loop
	env   *link.Env
	src   *link.Device // pod a's eth0
	frame []byte
	dst   netip.AddrPort
	world *topology.World
}

func newBenchWorld(tb testing.TB, name, underlay, backend, dstNode string, viaService bool) *benchWorld {
	tb.Helper()
	to := "pod/b"
	if viaService {
		to = "svc/b"
	}
	s, err := topology.Parse(name+".yaml", fmt.Appendf(nil, benchScenario, name, underlay, backend, dstNode, to))
	require.NoError(tb, err)
	return newBenchWorldFrom(tb, s, viaService)
}

// newBenchWorldFrom warms up a parsed bench scenario (pods a and b, the
// Service b, one warm-up flow) and returns it ready for send.
func newBenchWorldFrom(tb testing.TB, s *topology.Scenario, viaService bool) *benchWorld {
	tb.Helper()
	r, err := sim.NewRunner(s)
	require.NoError(tb, err)
	res, err := r.Run(sim.Options{})
	require.NoError(tb, err)
	require.True(tb, res.AllMet(), "warm-up flow: %+v", res.Flows[0].Verdict)
	w := r.World
	a, b := w.Pod("a"), w.Pod("b")
	b.Stack.ListenUDP(9000, false)
	w.Env.Trace = nil // tracing and drop records off
	dst := b.IP
	if viaService {
		dst = w.Service("default", "b").ClusterIP
	}
	// Build the frame pod a would send: its own MAC to its gateway's.
	rt, src, ok := a.Stack.RouteOutput(dst)
	require.True(tb, ok)
	var gwMAC packet.MAC
	for _, n := range a.Stack.Neighbours() {
		if n.IP == rt.Gw || (!rt.Gw.IsValid() && n.IP == b.IP) {
			gwMAC = n.MAC
		}
	}
	require.False(tb, gwMAC.IsZero(), "neighbour of pod a not resolved by the warm-up")
	eth0 := a.Stack.Iface("eth0").Dev
	frame := make([]byte, packet.EthHeaderLen+packet.IPv4HeaderLen+packet.UDPHeaderLen+64)
	packet.Ethernet(frame).Set(gwMAC, eth0.MAC, packet.EtherTypeIPv4)
	ip := packet.IPv4(frame[packet.EthHeaderLen:])
	ip.SetHeader(packet.IPv4Fields{TotalLen: len(ip), ID: 1, Flags: packet.FlagDF, TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst})
	u := packet.UDP(ip[packet.IPv4HeaderLen:])
	u.SetPorts(40000, 9000)
	u.SetLength(packet.UDPHeaderLen + 64)
	packet.SetTransportChecksum(u, src, dst, packet.ProtoUDP)
	bw := &benchWorld{loop: r.Loop, env: w.Env, src: eth0, frame: frame, dst: netip.AddrPortFrom(b.IP, 9000), world: w}
	// One packet before measuring: creates the conntrack entries.
	bw.send()
	rx := b.Stack.Iface("eth0").Dev.Stats.RxPackets
	bw.send()
	require.Equal(tb, rx+1, b.Stack.Iface("eth0").Dev.Stats.RxPackets, "the datagram must reach pod b")
	return bw
}

// send pushes one datagram from pod a and runs the loop until it is done.
func (bw *benchWorld) send() {
	p := bw.env.Pool.From(bw.frame)
	bw.src.Transmit(p)
	bw.loop.Run()
}

var paths = []struct {
	name, underlay, backend, dst string
	// viaService sends to pod b's ClusterIP (same node: br_netfilter's
	// bridged DNAT).
	viaService bool
}{
	{"same-node", "vpc", "vxlan", "node-1", false},
	{"cross-node-vxlan", "vpc", "vxlan", "node-2", false},
	{"cross-node-host-gw", "l2", "host-gw", "node-2", false},
	{"cross-node-alivpc", "vpc", "alivpc", "node-2", false},
	{"cross-node-udp", "vpc", "udp", "node-2", false},
	{"same-node-clusterip", "vpc", "vxlan", "node-1", true},
}

// BenchmarkPodToPod measures ns and packets per second for each path. Run
// all four in one `go test -bench` and compare them as ratios.
func BenchmarkPodToPod(b *testing.B) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			bw := newBenchWorld(b, p.name, p.underlay, p.backend, p.dst, p.viaService)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bw.send()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// TestForwardingAllocatesNothing asserts that a warm packet crossing the
// whole path, every mode, allocates nothing.
func TestForwardingAllocatesNothing(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			bw := newBenchWorld(t, p.name, p.underlay, p.backend, p.dst, p.viaService)
			allocs := testing.AllocsPerRun(1000, bw.send)
			require.Zero(t, allocs, "allocations per packet on the %s path", p.name)
			require.Zero(t, bw.env.Pool.Out, "every buffer went back to the pool")
		})
	}
}
