package dataplane_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
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
	loop *sim.Loop
	// a and b are the two pods' stacks; lastRefresh is the virtual time
	// of the last steady-state refresh (see run).
	a, b        *netstack.Stack
	aIP         netip.Addr
	lastRefresh time.Duration
	seq         uint16 // pings sent by refresh
	env         *link.Env
	src         *link.Device // pod a's eth0
	frame       []byte
	dst         netip.AddrPort
	world       *topology.World
	// vary makes every datagram different (see varyFrame); sent counts
	// them.
	vary bool
	sent uint32
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
	bw := &benchWorld{loop: r.Loop, env: w.Env, src: eth0, frame: frame, dst: netip.AddrPortFrom(b.IP, 9000), world: w,
		a: a.Stack, b: b.Stack, aIP: a.IP, lastRefresh: r.Loop.Now()}
	// One packet before measuring: creates the conntrack entries.
	bw.send()
	rx := b.Stack.Iface("eth0").Dev.Stats.RxPackets
	bw.send()
	require.Equal(tb, rx+1, b.Stack.Iface("eth0").Dev.Stats.RxPackets, "the datagram must reach pod b")
	return bw
}

// send pushes one datagram from pod a and runs the loop until it is done.
func (bw *benchWorld) send() {
	if bw.vary {
		bw.varyFrame()
	}
	p := bw.env.Pool.From(bw.frame)
	bw.src.Transmit(p)
	bw.loop.Run()
}

// varyFrame gives the next datagram its own IP ID and payload, and every
// 97th a corrupt UDP checksum (the slow path drops it at pod b's socket;
// a replay must not stand for it).
func (bw *benchWorld) varyFrame() {
	bw.sent++
	ip := packet.IPv4(bw.frame[packet.EthHeaderLen:])
	binary.BigEndian.PutUint16(ip[4:6], uint16(bw.sent))
	ip.SetChecksum()
	u := packet.UDP(ip[packet.IPv4HeaderLen:])
	binary.BigEndian.PutUint32(u[packet.UDPHeaderLen:], bw.sent*2654435761)
	packet.SetTransportChecksum(u, ip.Src(), ip.Dst(), packet.ProtoUDP)
	if bw.sent%97 == 0 {
		u[6] ^= 0x5a
	}
}

// refreshEvery is how much virtual time may pass between two steady-state
// refreshes: well under the bridge's FDB ageing (300 s) and conntrack's
// ICMP and unreplied-UDP timeouts (30 s), so nothing the measured flow
// relies on expires.
const refreshEvery = 20 * time.Second

// run sends n datagrams, keeping the world in steady state. Each packet
// advances the virtual clock by the path's modelled latency (50 µs across
// the VPC), so past a few million iterations the FDB entry pod b's MAC was
// learned from would age out (pod b never sends) and every packet would be
// flooded. As a real bidirectional application would, pod b pings pod a
// once every refreshEvery of virtual time, with the timer stopped: the
// reply path relearns b's MAC on the bridges and refreshes the neighbours.
func (bw *benchWorld) run(b benchTimer, n int) {
	for i := 0; i < n; i++ {
		bw.send()
		if i&1023 == 0 && bw.loop.Now()-bw.lastRefresh >= refreshEvery {
			b.StopTimer()
			bw.refresh()
			b.StartTimer()
		}
	}
}

// benchTimer is the part of testing.B that run uses.
type benchTimer interface {
	StopTimer()
	StartTimer()
}

// refresh is one ping from pod b to pod a, run to completion.
func (bw *benchWorld) refresh() {
	bw.seq++
	bw.b.Ping(bw.aIP, 0x6265, bw.seq, 56, netstack.DFWant, 0)
	bw.loop.Run()
	bw.lastRefresh = bw.loop.Now()
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
			bw.run(b, b.N)
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

type noTimer struct{}

func (noTimer) StopTimer()  {}
func (noTimer) StartTimer() {}

// TestBenchmarkSteadyState checks that the benchmark's world stays warm
// however long it runs: after 400 s of virtual time (8 M packets' worth
// at 50 µs a packet), node-2's cni0 still knows pod b's MAC, so no packet
// is flooded, and every datagram reaches pod b.
func TestBenchmarkSteadyState(t *testing.T) {
	bw := newBenchWorld(t, "steady", "vpc", "vxlan", "node-2", false)
	br := flannel.Bridge(bw.world.Node("node-2").CNI)
	require.NotNil(t, br)
	bMAC := bw.b.Iface("eth0").Dev.MAC
	rx := bw.b.Iface("eth0").Dev.Stats.RxPackets
	const steps, per = 40, 2048
	for i := 0; i < steps; i++ {
		// Stand in for 200,000 packets' worth of virtual time.
		bw.loop.AfterFunc(10*time.Second, func() {})
		bw.loop.Run()
		bw.run(noTimer{}, per)
		e := br.FDB()[bMAC]
		require.NotNil(t, e, "step %d: pod b's MAC is not in cni0's FDB", i)
		require.Less(t, bw.loop.Now()-e.Updated, br.Ageing, "step %d: pod b's FDB entry has aged out: packets are flooded", i)
	}
	// Pod b's eth0 also received one echo reply per refresh.
	require.Equal(t, rx+steps*per+uint64(bw.seq), bw.b.Iface("eth0").Dev.Stats.RxPackets, "every datagram reaches pod b")
}

// BenchmarkFastPath runs the cross-node paths, and the paths through
// NetworkPolicy chains, with the fast path's caches on and off
// (link.Env.SlowPath), one after the other in each -count round, so that
// their ratio comes from adjacent runs.
func BenchmarkFastPath(b *testing.B) {
	type world struct {
		name string
		make func(testing.TB) *benchWorld
	}
	var worlds []world
	for _, p := range paths {
		if p.dst == "node-2" {
			worlds = append(worlds, world{p.name, func(tb testing.TB) *benchWorld {
				return newBenchWorld(tb, p.name, p.underlay, p.backend, p.dst, p.viaService)
			}})
		}
	}
	worlds = append(worlds, world{"felix-cross-node-ipip", func(tb testing.TB) *benchWorld { return newFelixBenchWorld(tb, "felix-node-2", "node-2") }})
	for _, p := range terwayPaths {
		if p.name == "terway-ipvlan-policy-cross-node" || p.name == "terway-veth-cross-node" {
			worlds = append(worlds, world{p.name, func(tb testing.TB) *benchWorld { return newTerwayBenchWorld(tb, p.name, p.terway, p.dst) }})
		}
	}
	for _, wd := range worlds {
		for _, slow := range []bool{false, true} {
			name := wd.name + "/fast"
			if slow {
				name = wd.name + "/slow"
			}
			b.Run(name, func(b *testing.B) {
				bw := wd.make(b)
				bw.env.SlowPath = slow
				b.ReportAllocs()
				b.ResetTimer()
				bw.run(b, b.N)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
			})
		}
	}
}
