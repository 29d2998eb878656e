package sim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/sim"
	"netsim/topology"
)

// ipvlanPolicyCluster is Terway's ipvlan datapath with pods x/a (app=web),
// z/b on node-1 and z/d, x/e on node-2; namespace z is team=blue. In x
// every pod is isolated both ways (deny-all) and x/a admits TCP 80 from
// team=blue namespaces (allow-web).
const ipvlanPolicyCluster = `
name: cilium-ipvlan
seed: 1
vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}
nodes:
  - {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-node-h, ip: 192.168.0.11}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway:
      eniMode: shared
      eniipVirtualType: ipvlan
      podVSwitches: {cn-hangzhou-h: [vsw-pod-h]}
pods:
  - {name: a, namespace: x, node: node-1, labels: {app: web}, ports: [{port: 80}, {port: 81}]}
  - {name: b, namespace: z, node: node-1, ports: [{port: 80}]}
  - {name: d, namespace: z, node: node-2, ports: [{port: 80}]}
  - {name: e, namespace: x, node: node-2, ports: [{port: 80}]}
resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: z, labels: {team: blue}}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-all, namespace: x}
    spec:
      podSelector: {}
      policyTypes: [Ingress, Egress]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-web, namespace: x}
    spec:
      podSelector: {matchLabels: {app: web}}
      ingress:
        - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
          ports: [{protocol: TCP, port: 80}]
flows:
FLOWS
`

// TestCiliumEnforcesOnTheIPVlanPath: on Terway's ipvlan datapath the
// modelled Cilium judges every pod's frames at its ipvlan slave, on one
// ENI and across nodes, with replies of allowed connections passing by
// conntrack.
func TestCiliumEnforcesOnTheIPVlanPath(t *testing.T) {
	tests := []struct {
		name, from, to string
		port           int
		protocol       string
		denied         bool
		// detail is a part of the drop's detail when denied.
		detail string
	}{
		// a's SYN-ACK leaves a, isolated for egress by deny-all: it passes
		// only as the reply of the connection b opened.
		{name: "same-eni-allowed-and-its-reply", from: "pod/z/b", to: "pod/x/a", port: 80, protocol: "tcp"},
		{name: "same-eni-denied-port", from: "pod/z/b", to: "pod/x/a", port: 81, protocol: "tcp", denied: true,
			detail: "Cilium (modelled with felix's rules): pod x/a is isolated for ingress by x/allow-web, x/deny-all; no rule of x/allow-web allows source z/b (192.168.16.2) on TCP 81"},
		{name: "same-eni-denied-udp", from: "pod/z/b", to: "pod/x/a", port: 80, protocol: "udp", denied: true,
			detail: "no rule of x/allow-web allows source z/b (192.168.16.2) on UDP 80"},
		{name: "same-eni-denied-egress", from: "pod/x/a", to: "pod/z/b", port: 80, protocol: "tcp", denied: true,
			detail: "pod x/a is isolated for egress by x/deny-all"},
		{name: "cross-node-allowed", from: "pod/z/d", to: "pod/x/a", port: 80, protocol: "tcp"},
		{name: "cross-node-denied-egress", from: "pod/x/e", to: "pod/z/b", port: 80, protocol: "tcp", denied: true,
			detail: "pod x/e is isolated for egress by x/deny-all"},
		{name: "cross-node-denied-ingress", from: "pod/z/d", to: "pod/x/e", port: 80, protocol: "tcp", denied: true,
			detail: "pod x/e is isolated for ingress by x/deny-all"},
		{name: "cross-node-not-isolated", from: "pod/z/b", to: "pod/z/d", port: 80, protocol: "tcp"},
	}
	var flows strings.Builder
	for _, tt := range tests {
		expect := "delivered"
		if tt.denied {
			expect = "{verdict: dropped, reason: policy-denied}"
		}
		flows.WriteString("  - {name: " + tt.name + ", from: " + tt.from + ", to: " + tt.to + ", protocol: " + tt.protocol +
			", port: " + itoa(tt.port) + ", expect: " + expect + "}\n")
	}
	doc := strings.Replace(ipvlanPolicyCluster, "FLOWS\n", flows.String(), 1)
	path := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	s, err := topology.Load(path)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	for _, p := range r.World.Warnings {
		assert.NotContains(t, p.Msg, "not enforced", "%s", p)
	}
	// x/a and z/b are slaves of one ENI: their frames never leave it.
	pa, pb := r.World.Pod("x/a"), r.World.Pod("z/b")
	require.NotNil(t, pa)
	require.NotNil(t, pb)
	sa, sb := link.AsIPVlan(pa.HostVeth), link.AsIPVlan(pb.HostVeth)
	require.NotNil(t, sa)
	require.NotNil(t, sb)
	require.Same(t, sa.Port, sb.Port, "x/a and z/b should be slaves of one ENI")
	// The node's own netfilter has no felix chains: the rules are the
	// modelled Cilium's.
	n1 := r.World.Node("node-1")
	assert.NotContains(t, n1.Filter.Save(false, "filter"), "cali-FORWARD")
	require.NotNil(t, n1.Cilium)
	assert.Contains(t, n1.Cilium.NF.Save(false, "filter"), ":cali-FORWARD")

	res, err := r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	require.Len(t, res.Flows, len(tests))
	var txt strings.Builder
	sim.WriteText(&txt, res, 1000000)
	out := txt.String()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := res.Flows[i]
			assert.True(t, fl.Met, "flow %s: %s (verdict %+v)", fl.Name, fl.Mismatch, fl.Verdict)
			if tt.denied {
				assert.True(t, strings.Contains(out, tt.detail), "no drop detail %q in:\n%s", tt.detail, policyDrops(out))
				assert.Zero(t, fl.Delivered)
			} else {
				assert.Positive(t, fl.Delivered)
				assert.Empty(t, fl.Dropped)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// policyDrops returns the lines of out that mention policy-denied.
func policyDrops(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "policy-denied") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
