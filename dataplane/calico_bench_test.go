package dataplane_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/topology"
)

// calicoPaths are the Calico data paths of the benchmark and the
// allocation test: the bench scenario with mode calico instead of flannel.
var calicoPaths = []struct {
	name, underlay, calico, dst string
}{
	{"calico-same-node", "vpc", "{ipipMode: Always}", "node-1"},
	{"calico-cross-node-ipip", "vpc", "{ipipMode: Always}", "node-2"},
	{"calico-cross-node-vxlan", "vpc", "{vxlanMode: Always}", "node-2"},
	{"calico-cross-node-bgp", "l2", "{ipipMode: Never}", "node-2"},
}

// calicoBenchText is the bench scenario with mode calico.
func calicoBenchText(name, underlay, calicoOpts, dstNode string) string {
	text := string(fmt.Appendf(nil, benchScenario, name, underlay, "vxlan", dstNode, "pod/b"))
	return strings.Replace(text, "mode: flannel\n    flannel: {backend: vxlan}", "mode: calico\n    calico: "+calicoOpts, 1)
}

func newCalicoBenchWorld(tb testing.TB, name, underlay, calicoOpts, dstNode string) *benchWorld {
	tb.Helper()
	text := calicoBenchText(name, underlay, calicoOpts, dstNode)
	require.Contains(tb, text, "mode: calico")
	// The bench nodes have no default route on l2: give the BGP nodes one,
	// which the host needs to proxy-ARP 169.254.1.1 for its pods.
	if underlay == "l2" {
		text = strings.Replace(text, "flows:\n", "flows:\n  - {action: add-node-route, node: node-1, route: default via 192.168.0.1 dev eth0}\n  - {action: add-node-route, node: node-2, route: default via 192.168.0.1 dev eth0}\n", 1)
	}
	s, err := topology.Parse(name+".yaml", []byte(text))
	require.NoError(tb, err)
	return newBenchWorldFrom(tb, s, false)
}

// BenchmarkCalicoPodToPod is BenchmarkPodToPod on Calico's paths.
func BenchmarkCalicoPodToPod(b *testing.B) {
	for _, p := range calicoPaths {
		b.Run(p.name, func(b *testing.B) {
			bw := newCalicoBenchWorld(b, p.name, p.underlay, p.calico, p.dst)
			b.ReportAllocs()
			b.ResetTimer()
			bw.run(b, b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// TestCalicoForwardingAllocatesNothing: a warm packet through tunl0,
// vxlan.calico or a BGP route allocates nothing.
func TestCalicoForwardingAllocatesNothing(t *testing.T) {
	for _, p := range calicoPaths {
		t.Run(p.name, func(t *testing.T) {
			bw := newCalicoBenchWorld(t, p.name, p.underlay, p.calico, p.dst)
			allocs := testing.AllocsPerRun(1000, bw.send)
			require.Zero(t, allocs, "allocations per packet on the %s path", p.name)
			require.Zero(t, bw.env.Pool.Out, "every buffer went back to the pool")
		})
	}
}
