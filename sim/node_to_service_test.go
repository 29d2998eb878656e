package sim_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

// nodeToServiceScenario: a Service whose only endpoint is a pod on node-2,
// reached from node-1 itself (a process in the root namespace).
const nodeToServiceScenario = `
name: node-to-service
seed: 5
vpc:
  cidr: 192.168.0.0/16
  underlay: %s
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-a, ip: 192.168.0.11}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  proxyMode: %s
  cni: {mode: flannel, flannel: {backend: %s}}
pods:
  - name: api-1
    node: node-2
    labels: {app: api}
    ports: [{port: 8080, protocol: TCP}, {port: 53, protocol: UDP}]
resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: api}
    spec:
      selector: {app: api}
      ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP, targetPort: 53}]
flows:
  - {name: node-to-clusterip, from: node/node-1, to: svc/api, protocol: %s, port: %d, count: 2}
`

// TestNodeToClusterIPWithRemoteEndpoint: the node's own connection to a
// ClusterIP is delivered to the pod on the other node, in both proxy
// modes. In IPVS mode the ClusterIP is local (kube-ipvs0), so the socket's
// source is the ClusterIP itself; ip_vs_local_request4 DNATs the packet at
// LOCAL_OUT, it is routed again to the pod, and KUBE-POSTROUTING
// masquerades it (KUBE-SERVICES marked it: the source is not in the pod
// CIDR) to the out device's address — flannel.1's 172.20.0.0 with vxlan,
// eth0's with host-gw (on an L2 underlay, where host-gw works). In
// iptables mode the source is picked from the route to the ClusterIP
// (eth0's address), the nat OUTPUT chain DNATs and marks it (KUBE-SVC-…
// "! -s podCIDR" → KUBE-MARK-MASQ), so it is masqueraded the same way.
func TestNodeToClusterIPWithRemoteEndpoint(t *testing.T) {
	underlay := func(backend string) string {
		if backend == "host-gw" {
			return "l2"
		}
		return "vpc"
	}
	tests := []struct {
		mode, backend, proto string
		port                 int
		seen                 string
	}{
		{mode: "ipvs", backend: "vxlan", proto: "tcp", port: 80, seen: "172.20.0.0"},
		{mode: "ipvs", backend: "vxlan", proto: "udp", port: 53, seen: "172.20.0.0"},
		{mode: "ipvs", backend: "host-gw", proto: "tcp", port: 80, seen: "192.168.0.10"},
		{mode: "iptables", backend: "vxlan", proto: "tcp", port: 80, seen: "172.20.0.0"},
		{mode: "iptables", backend: "vxlan", proto: "udp", port: 53, seen: "172.20.0.0"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.mode, tt.backend, tt.proto), func(t *testing.T) {
			s, err := topology.Parse("node-to-service.yaml", fmt.Appendf(nil, nodeToServiceScenario, underlay(tt.backend), tt.mode, tt.backend, tt.proto, tt.port))
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, 1)
			f := res.Flows[0]
			assert.Equal(t, "delivered", f.Verdict.Result, "%s at %s: %s", f.Verdict.Reason, f.Verdict.Where, f.Verdict.Detail)
			assert.Equal(t, 2, f.Delivered)
			assert.Equal(t, tt.seen, f.SeenSource)
		})
	}
}
