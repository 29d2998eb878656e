package sim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/felix"
	"netsim/dataplane/netpol"
	"netsim/sim"
	"netsim/topology"
)

// policyCluster is a two-node cluster with the CNI block given, pods
// shop/a and ops/b on node-1 and shop/c on node-2, namespace ops labelled
// team=blue, and two policies in shop: default-deny ingress, and TCP 80 from team=blue
// namespaces to app=web pods.
const policyCluster = `
name: felix-e2e
seed: 1
vpc:
  name: vpc-ack
  cidr: 10.0.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-h, zone: cn-hangzhou-h, cidr: 10.0.0.0/24}
    - {name: vsw-pod, zone: cn-hangzhou-h, cidr: 10.0.16.0/24}
nodes:
  - {name: node-1, vswitch: vsw-h, ip: 10.0.0.10}
  - {name: node-2, vswitch: vsw-h, ip: 10.0.0.11}
cluster:
  serviceCIDR: 172.21.0.0/20
PODCIDR  cni:
CNI
pods:
  - {name: a, namespace: shop, node: node-1, labels: {app: web}, ports: [{port: 80}, {port: 81}]}
  - {name: b, namespace: ops, node: node-1, labels: {app: client}, ports: [{port: 80}]}
  - {name: c, namespace: shop, node: node-2, labels: {app: client}, ports: [{port: 80}, {port: 82}]}
resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: ops, labels: {team: blue}}
  - apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 80}]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: egress-shop-only, namespace: ops}
    spec:
      podSelector: {}
      policyTypes: [Egress]
      egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}], ports: [{protocol: TCP, port: 80, endPort: 81}]}]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: default-deny, namespace: shop}
    spec:
      podSelector: {}
      policyTypes: [Ingress]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-blue-web, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      ingress:
        - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
          ports: [{protocol: TCP, port: 80}]
flows:
  - {name: blue-to-web-80, from: pod/ops/b, to: pod/shop/a, protocol: tcp, port: 80, expect: delivered}
  - {name: blue-to-web-81, from: pod/ops/b, to: pod/shop/a, protocol: tcp, port: 81, expect: {verdict: EXPECT81}}
  - {name: same-ns-cross-node, from: pod/shop/c, to: pod/shop/a, protocol: tcp, port: 80, expect: {verdict: EXPECTC}}
  - {name: web-out, from: pod/shop/a, to: pod/ops/b, protocol: tcp, port: 80, expect: delivered}
  - {name: blue-to-svc, from: pod/ops/b, to: svc/shop/web, protocol: tcp, port: 80, expect: delivered}
  - {name: same-ns-to-svc-cross-node, from: pod/shop/c, to: svc/shop/web, protocol: tcp, port: 80, expect: {verdict: EXPECTC}}
  - {name: ops-egress-not-to-itself, from: pod/ops/b, to: pod/shop/c, protocol: tcp, port: 82, expect: {verdict: EXPECTC}}
`

func TestFelixEnforcesWhereTheCNIDoes(t *testing.T) {
	for _, tc := range []struct {
		name, cni string
		enforced  bool
	}{
		{"calico", "    mode: calico\n    calico: {ipipMode: Always}\n", true},
		{"calico-ipvs", "    mode: calico\n    calico: {ipipMode: Always}\n  proxyMode: ipvs\n", true},
		{"terway-veth", "    mode: terway\n    terway:\n      eniMode: shared\n      eniipVirtualType: veth\n      podVSwitches: {cn-hangzhou-h: [vsw-pod]}\n", true},
		{"flannel", "    mode: flannel\n    flannel: {backend: vxlan}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(policyCluster, "CNI\n", tc.cni, 1)
			podCIDR := ""
			if tc.name == "flannel" {
				podCIDR = "  podCIDR: 172.20.0.0/16\n"
			}
			doc = strings.Replace(doc, "PODCIDR", podCIDR, 1)
			want := "delivered"
			if tc.enforced {
				want = "dropped, reason: policy-denied"
			}
			doc = strings.ReplaceAll(doc, "EXPECT81", want)
			doc = strings.ReplaceAll(doc, "EXPECTC", want)
			path := filepath.Join(t.TempDir(), "s.yaml")
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
			s, err := topology.Load(path)
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{Trace: true})
			require.NoError(t, err)
			for _, fl := range res.Flows {
				assert.True(t, fl.Met, "flow %s: %s (verdict %+v)", fl.Name, fl.Mismatch, fl.Verdict)
			}
			save := r.World.Nodes[0].Filter.Save(false, "filter")
			if !tc.enforced {
				assert.NotContains(t, save, "cali-FORWARD")
				return
			}
			// "cali-pi-knp/shop/allow-blue-web" is over 28 characters:
			// felix's shortened, hashed name.
			allow := felix.PolicyChain(&netpol.Policy{Namespace: "shop", Name: "allow-blue-web"}, true)
			assert.Regexp(t, `^cali-pi-_[A-Za-z0-9_-]{19}$`, allow)
			assert.Contains(t, save, ":"+allow+" - ")
			assert.Contains(t, save, ":"+felix.PolicyChain(&netpol.Policy{Namespace: "shop", Name: "default-deny"}, true)+" - ")
			assert.Contains(t, save, `-m comment --comment "KubernetesNetworkPolicy shop/allow-blue-web ingress"`)
			assert.Contains(t, save, `-m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`)
			var txt strings.Builder
			sim.WriteText(&txt, res, 100000)
			out := txt.String()
			assert.Contains(t, out, "pod shop/a is isolated for ingress by shop/allow-blue-web, shop/default-deny; no rule of shop/allow-blue-web allows source ops/b")
			assert.Contains(t, out, "on TCP 81")
			var state strings.Builder
			require.NoError(t, topology.WriteState(&state, r.World, "node-1"))
			// The selector sets felix's rules match, with their members
			// (Calico's state and Terway's both print them).
			assert.Regexp(t, `(?m)^create cali40s:\S+ hash:net family inet`, state.String())
			if strings.Contains(tc.cni, "ipvs") {
				// IPVS forwards via INPUT and OUTPUT: felix marks the
				// workload's packet and polices it in OUTPUT.
				assert.Contains(t, out, "iptables -t filter INPUT → cali-INPUT → cali-forward-check → ")
				assert.Contains(t, out, "iptables -t filter OUTPUT → cali-forward-endpoint-mark → cali-fw-")
				assert.Contains(t, save, ":cali-sm-")
			}
			assert.Contains(t, out, "pod ops/b is isolated for egress by ops/egress-shop-only; no rule of ops/egress-shop-only allows destination shop/c")
			// The allowed flow's trace shows the policy rule that accepted
			// it, in the policy's chain, with felix's policy comment.
			assert.Contains(t, out, allow+" ⇒ -A "+allow+` -p tcp -m comment`)
			assert.Regexp(t, `-m comment --comment "KubernetesNetworkPolicy shop/allow-blue-web ingress" -m set --match-set cali40s:\S+ src -m multiport --dports 80 -j MARK --set-xmark 0x10000/0x10000`, out)
		})
	}
}
