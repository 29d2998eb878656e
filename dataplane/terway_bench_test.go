package dataplane_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/topology"
)

// terwayPaths are Terway's data paths in the benchmark and the allocation
// test: the bench scenario with mode terway (pods on VPC addresses of
// secondary ENIs from a pod vSwitch, no pod CIDR) instead of flannel.
var terwayPaths = []struct {
	name, terway, dst string
}{
	{"terway-veth-same-node", "{eniMode: shared, eniipVirtualType: veth}", "node-1"},
	{"terway-veth-cross-node", "{eniMode: shared, eniipVirtualType: veth}", "node-2"},
	{"terway-ipvlan-cross-node", "{eniMode: shared, eniipVirtualType: ipvlan}", "node-2"},
	// With a NetworkPolicy: the modelled Cilium judges at both slaves.
	{"terway-ipvlan-policy-cross-node", "{eniMode: shared, eniipVirtualType: ipvlan}", "node-2"},
	{"terway-exclusive-cross-node", "{eniMode: exclusive}", "node-2"},
}

func newTerwayBenchWorld(tb testing.TB, name, opts, dstNode string) *benchWorld {
	tb.Helper()
	text := string(fmt.Appendf(nil, benchScenario, name, "vpc", "vxlan", dstNode, "pod/b"))
	podVSw := "podVSwitches: {zone-a: [vsw-pod]}"
	opts = strings.TrimSuffix(opts, "}") + ", " + podVSw + "}"
	for _, r := range []struct{ old, new string }{
		{"mode: flannel\n    flannel: {backend: vxlan}", "mode: terway\n    terway: " + opts},
		{"  podCIDR: 172.20.0.0/16\n", ""},
		{"    - {name: vsw-a, zone: zone-a, cidr: 192.168.0.0/24}\n", "    - {name: vsw-a, zone: zone-a, cidr: 192.168.0.0/24}\n    - {name: vsw-pod, zone: zone-a, cidr: 192.168.16.0/24}\n"},
	} {
		require.Contains(tb, text, r.old)
		text = strings.Replace(text, r.old, r.new, 1)
	}
	if strings.Contains(name, "policy") {
		text = strings.Replace(text, "resources:\n", benchPolicy, 1)
	}
	if strings.Contains(opts, "exclusive") {
		// Exclusive ENI needs an instance type with more than six ENIs.
		text = strings.ReplaceAll(text, "vswitch: vsw-a, ip:", "vswitch: vsw-a, instanceType: ecs.g7.4xlarge, ip:")
	}
	s, err := topology.Parse(name+".yaml", []byte(text))
	require.NoError(tb, err)
	return newBenchWorldFrom(tb, s, false)
}

// benchPolicy isolates pod b for ingress and admits UDP 9000 from every
// pod of its namespace.
const benchPolicy = `resources:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: b-udp}
    spec:
      podSelector: {matchLabels: {app: b}}
      ingress: [{from: [{podSelector: {}}], ports: [{protocol: UDP, port: 9000}]}]
`

// BenchmarkTerwayPodToPod is BenchmarkPodToPod on Terway's paths.
func BenchmarkTerwayPodToPod(b *testing.B) {
	for _, p := range terwayPaths {
		b.Run(p.name, func(b *testing.B) {
			bw := newTerwayBenchWorld(b, p.name, p.terway, p.dst)
			b.ReportAllocs()
			b.ResetTimer()
			bw.run(b, b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// TestTerwayForwardingAllocatesNothing: a warm packet through the policy
// rules and per-ENI tables, ipvlan slaves or an exclusive ENI allocates
// nothing.
func TestTerwayForwardingAllocatesNothing(t *testing.T) {
	for _, p := range terwayPaths {
		t.Run(p.name, func(t *testing.T) {
			bw := newTerwayBenchWorld(t, p.name, p.terway, p.dst)
			allocs := testing.AllocsPerRun(1000, bw.send)
			require.Zero(t, allocs, "allocations per packet on the %s path", p.name)
			require.Zero(t, bw.env.Pool.Out, "every buffer went back to the pool")
		})
	}
}
