package dataplane_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/topology"
)

// felixPolicies isolate pod b for ingress and allow pod a (the default
// namespace, no labels: every pod) on UDP 9000, so that the warm packets
// pass felix's chains (dispatch, cali-tw-…, the conntrack ACCEPT).
const felixPolicies = `  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: default-deny}
    spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-9000}
    spec:
      podSelector: {}
      ingress: [{from: [{podSelector: {}}], ports: [{protocol: UDP, port: 9000}]}]
      egress: [{to: [{podSelector: {matchLabels: {app: b}}}], ports: [{protocol: UDP, port: 9000}]}]
flows:
`

func newFelixBenchWorld(tb testing.TB, name, dst string) *benchWorld {
	tb.Helper()
	text := strings.Replace(calicoBenchText(name, "vpc", "{ipipMode: Always}", dst), "flows:\n", felixPolicies, 1)
	s, err := topology.Parse(name+".yaml", []byte(text))
	require.NoError(tb, err)
	w := newBenchWorldFrom(tb, s, false)
	require.NotEmpty(tb, w.world.Policies)
	require.Contains(tb, w.world.Nodes[0].Filter.Save(false, "filter"), "cali-tw-", "felix's chains are in")
	return w
}

// TestFelixForwardingAllocatesNothing: a warm packet through felix's
// chains (same node and across nodes) allocates nothing.
func TestFelixForwardingAllocatesNothing(t *testing.T) {
	for _, dst := range []string{"node-1", "node-2"} {
		t.Run(dst, func(t *testing.T) {
			bw := newFelixBenchWorld(t, "felix-"+dst, dst)
			allocs := testing.AllocsPerRun(1000, bw.send)
			require.Zero(t, allocs, "allocations per packet through felix's chains")
			require.Zero(t, bw.env.Pool.Out, "every buffer went back to the pool")
		})
	}
}

// BenchmarkFelixPodToPod is BenchmarkCalicoPodToPod with NetworkPolicies.
func BenchmarkFelixPodToPod(b *testing.B) {
	for _, dst := range []string{"node-1", "node-2"} {
		name := "felix-same-node"
		if dst == "node-2" {
			name = "felix-cross-node-ipip"
		}
		b.Run(name, func(b *testing.B) {
			bw := newFelixBenchWorld(b, "felix-"+dst, dst)
			b.ReportAllocs()
			b.ResetTimer()
			bw.run(b, b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
