package topology

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni"
	"netsim/dataplane/link"
)

// peerScaleYAML is a generated Flannel cluster of n nodes with p pods each
// (the pods: list), for the per-peer state tests and benchmarks: one VPC
// 10.0.0.0/8 with two vSwitches of a /16 each (nodes alternate between
// them), pod network 172.16.0.0/12 in /24 leases.
//
// backend is flannel's backend, or "calico: {…}" for Calico with that
// calico block.
func peerScaleYAML(n, p int, backend string) string {
	var b strings.Builder
	name, mask := "calico", ""
	cniBlock := "mode: calico\n    " + backend
	if !strings.HasPrefix(backend, "calico:") {
		name, mask, cniBlock = "flannel", "\n  nodeCIDRMask: 24", "mode: flannel\n    flannel: {backend: "+backend+"}"
	}
	fmt.Fprintf(&b, `name: peers-%d-%s
seed: 1
vpc:
  cidr: 10.0.0.0/8
  underlay: vpc
  mtu: 1500
  vswitches:
    - {name: vsw-a, zone: cn-hangzhou-h, cidr: 10.1.0.0/16}
    - {name: vsw-b, zone: cn-hangzhou-i, cidr: 10.2.0.0/16}
nodes:
`, n, name)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: node-%d, vswitch: vsw-%c}\n", i+1, 'a'+i%2)
	}
	fmt.Fprintf(&b, `cluster:
  podCIDR: 172.16.0.0/12%s
  serviceCIDR: 192.168.0.0/20
  cni:
    %s
`, mask, cniBlock)
	if p > 0 {
		b.WriteString("pods:\n")
		for i := range n {
			for j := range p {
				fmt.Fprintf(&b, "  - {name: pod-%d-%d, node: node-%d}\n", i+1, j+1, i+1)
			}
		}
	}
	return b.String()
}

// peerScaleScenario parses a generated cluster. Past the load limits
// (nodes, pods) it parses the largest cluster the limits allow and adds the
// other nodes and pods to the loaded scenario, as copies of the first
// two.
func peerScaleScenario(tb testing.TB, n, p int, backend string) *Scenario {
	tb.Helper()
	parsed := min(n, maxNodes, maxPeerNodes)
	if p > 0 {
		parsed = min(parsed, maxPods/p)
	}
	s, err := Parse("peers.yaml", []byte(peerScaleYAML(parsed, p, backend)))
	require.NoError(tb, err)
	for i := parsed; i < n; i++ {
		node := s.Nodes[i%2]
		node.Name = fmt.Sprintf("node-%d", i+1)
		s.Nodes = append(s.Nodes, node)
		for j := range p {
			pod := s.Pods[0]
			pod.Name, pod.Node = fmt.Sprintf("pod-%d-%d", i+1, j+1), node.Name
			s.Pods = append(s.Pods, pod)
		}
	}
	return s
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkBuildFlannelVXLAN builds Flannel VXLAN clusters of N nodes × 30
// pods and reports the build's time (build-s) and the live heap after it
// (heap-MiB, the built world kept alive). N = 2,000 runs when
// NETSIM_SCALE_2000 is set (it takes minutes without the shared peer
// state).
//
//	go test ./topology -run '^$' -bench BuildFlannelVXLAN -benchtime 1x
func BenchmarkBuildFlannelVXLAN(b *testing.B) {
	sizes := []int{100, 500, 1000}
	if os.Getenv("NETSIM_SCALE_2000") != "" {
		sizes = append(sizes, 2000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			s := peerScaleScenario(b, n, 30, "vxlan")
			base := heapAfterGC()
			var w *World
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				w = nil
				start := time.Now()
				var err error
				w, err = Build(s, nopScheduler{})
				total += time.Since(start)
				require.NoError(b, err)
			}
			b.StopTimer()
			heap := heapAfterGC() - base
			b.ReportMetric(total.Seconds()/float64(b.N), "build-s")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			runtime.KeepAlive(w)
		})
	}
}

// buildPeers builds s with the per-peer state shared (as Build does) or
// programmed pair by pair (eager).
func buildPeers(t *testing.T, s *Scenario, eager bool) *World {
	t.Helper()
	b := &builder{s: s, w: &World{Scenario: s, Env: link.NewEnv(nopScheduler{})}, eagerPeers: eager}
	b.build()
	require.Empty(t, b.probs)
	return b.w
}

// peersState is what a world's nodes hold and answer: `netsim show`, the
// notes, and each node's route lookup for every pod, every lease's
// gateway and addresses around the leases.
func peersState(t *testing.T, w *World) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, WriteState(&b, w, ""))
	b.WriteString(strings.Join(w.Notes, "\n"))
	for _, h := range w.Nodes {
		var probes []netip.Addr
		for _, p := range w.Pods {
			probes = append(probes, p.IP)
		}
		for _, n := range w.Nodes {
			probes = append(probes, n.PodCIDR.Addr(), n.PodCIDR.Addr().Prev(), cni.Nth(n.PodCIDR, 200), n.IP)
		}
		for _, a := range probes {
			text := "no route"
			if r := h.Stack.Routes.Lookup(a); r != nil {
				text = r.String()
			}
			fmt.Fprintf(&b, "%s: %s → %s\n", h.Name, a, text)
		}
		fmt.Fprintf(&b, "%s: %d routes\n", h.Name, h.Stack.Routes.Len())
	}
	return b.String()
}

// TestSharedPeersMatchPairByPair builds generated clusters with the
// per-peer state shared and pair by pair, and compares what the nodes hold
// and look up, before and after run-time changes to shared entries.
func TestSharedPeersMatchPairByPair(t *testing.T) {
	for _, cniMode := range []string{"vxlan", "vxlan, directRouting: true", "host-gw", "udp",
		"calico: {ipipMode: Always, vxlanMode: Never}", "calico: {ipipMode: CrossSubnet, vxlanMode: Never}",
		"calico: {ipipMode: Never, vxlanMode: Always}", "calico: {ipipMode: Never, vxlanMode: CrossSubnet}"} {
		t.Run(cniMode, func(t *testing.T) {
			s := peerScaleScenario(t, 7, 2, cniMode)
			shared, eager := buildPeers(t, s, false), buildPeers(t, s, true)
			if cniMode != "udp" {
				require.NotZero(t, shared.Nodes[0].Stack.Routes.PeerRoutes(), "the shared layer is in use")
				require.Zero(t, eager.Nodes[0].Stack.Routes.PeerRoutes())
			}
			require.Equal(t, peersState(t, eager), peersState(t, shared))
			tunnel := map[string]string{"vxlan": "flannel.1", "vxlan, directRouting: true": "flannel.1", "host-gw": "eth0", "udp": "flannel0"}[cniMode]
			if tunnel == "" {
				tunnel = "tunl0"
				if strings.Contains(cniMode, "vxlanMode: Always") || strings.Contains(cniMode, "vxlanMode: Cross") {
					tunnel = "vxlan.calico"
				}
			}
			lease := func(i int) netip.Prefix { return eager.Nodes[i].PodCIDR }
			inside := func(i int) netip.Prefix { // the upper half of node i's lease
				p := lease(i)
				return netip.PrefixFrom(cni.Nth(p, 1<<(31-p.Bits())), p.Bits()+1)
			}
			steps := []Flow{
				{Name: "del", Action: "delete-node-route", ActionSpec: ActionSpec{Node: "node-1", Route: lease(2).String()}},
				{Name: "del-other-node", Action: "delete-node-route", ActionSpec: ActionSpec{Node: "node-3", Route: lease(5).String()}},
				{Name: "del-own-lease", Action: "delete-node-route", ActionSpec: ActionSpec{Node: "node-3", Route: lease(2).String()}},
				{Name: "re-add", Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-1", Route: lease(2).String() + " via 10.1.0.1 dev eth0"}},
				{Name: "same-prefix-other-metric", Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-2", Route: lease(3).String() + " via 10.2.0.1 dev eth0 metric 100"}},
				{Name: "same-prefix-same-metric", Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-2", Route: lease(6).String() + " via 10.2.0.1 dev eth0"}},
				{Name: "more-specific", Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-2", Route: inside(4).String() + " via 10.2.0.1 dev eth0"}},
				{Name: "covering", Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-2", Route: "172.16.0.0/12 via 10.2.0.1 dev eth0 metric 5"}},
				{Name: "del-more-specific", Action: "delete-node-route", ActionSpec: ActionSpec{Node: "node-2", Route: inside(4).String()}},
				{Name: "down", Action: "link-down", ActionSpec: ActionSpec{Node: "node-4", Device: tunnel}},
				{Name: "up", Action: "link-up", ActionSpec: ActionSpec{Node: "node-4", Device: tunnel}},
				{Name: "eth0-down", Action: "link-down", ActionSpec: ActionSpec{Node: "node-5", Device: "eth0"}},
			}
			for _, f := range steps {
				oe, errE := eager.Apply(&f)
				os, errS := shared.Apply(&f)
				require.Equal(t, errE, errS, f.Name)
				require.Equal(t, oe, os, f.Name)
				require.Equal(t, peersState(t, eager), peersState(t, shared), "after %s", f.Name)
			}
		})
	}
}
