package sim_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

const spreadScenario = `
name: spread
seed: %d
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  proxyMode: %s
  cni: {mode: flannel}
pods:
  - {name: client, node: node-1}
resources:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
flows:
  - {name: spread, from: pod/client, to: svc/web, protocol: tcp, port: 80, count: %d, expect: delivered}
`

// chiSquare is Pearson's statistic against a uniform split.
func chiSquare(counts map[string]int, total int) float64 {
	exp := float64(total) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		d := float64(c) - exp
		x += d * d / exp
	}
	return x
}

// TestClusterIPSpreadIsUniform: 3000 connections to a Service with three
// endpoints, through kube-proxy's `-m statistic --mode random
// --probability 1/(n-i)` rules, split so that a chi-square test does not
// reject uniformity at 1 % (critical value 9.21 for 2 degrees of freedom),
// for a fixed seed and for several seeds.
func TestClusterIPSpreadIsUniform(t *testing.T) {
	const n = 3000
	for _, seed := range []int64{1, 2, 3, 42, 2026} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s, err := topology.Parse("spread.yaml", fmt.Appendf(nil, spreadScenario, seed, "iptables", n))
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			f := res.Flows[0]
			require.Equal(t, n, f.Delivered, "every connection delivered")
			require.Len(t, f.Responders, 3, "all three endpoints answered")
			x := chiSquare(f.Responders, n)
			require.Less(t, x, 9.21, "χ² = %.2f for %v", x, f.Responders)
		})
	}
}

// TestIPVSRoundRobinIsExact: IPVS rr gives each of three real servers
// exactly a third.
func TestIPVSRoundRobinIsExact(t *testing.T) {
	s, err := topology.Parse("spread.yaml", fmt.Appendf(nil, spreadScenario, 1, "ipvs", 300))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	res, err := r.Run(sim.Options{})
	require.NoError(t, err)
	f := res.Flows[0]
	require.Equal(t, 300, f.Delivered)
	require.Len(t, f.Responders, 3)
	for pod, c := range f.Responders {
		require.Equal(t, 100, c, pod)
	}
}
