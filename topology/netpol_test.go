package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netpol"
)

// policyBase is a two-zone VPC cluster whose CNI section is %s.
const policyBase = `name: netpol-test
seed: 1
vpc:
  cidr: 192.168.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-node-i, zone: cn-hangzhou-i, cidr: 192.168.1.0/24}
    - {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}
    - {name: vsw-pod-i, zone: cn-hangzhou-i, cidr: 192.168.32.0/24}
nodes:
  - {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10, instanceType: ecs.g7.3xlarge}
  - {name: node-2, vswitch: vsw-node-i, ip: 192.168.1.11, instanceType: ecs.g7.3xlarge}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
%s
pods:
  - {name: a, namespace: x, node: node-1, labels: {pod: a}}
  - {name: b, namespace: "y", node: node-2, labels: {pod: b}}
  - {name: c, node: node-2, labels: {pod: c}}
resources:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: x, labels: {ns: x}}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-a, namespace: x}
    spec:
      podSelector: {matchLabels: {pod: a}}
      ingress:
        - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {}}]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-egress, namespace: z}
    spec: {podSelector: {}, policyTypes: [Egress]}
`

var policyCNIs = map[string]string{
	"flannel":       "    mode: flannel\n    flannel: {backend: alivpc}",
	"calico":        "    mode: calico\n    calico: {ipipMode: Always}",
	"terway-veth":   "    mode: terway\n    terway:\n      eniMode: shared\n      eniipVirtualType: veth\n      podVSwitches: {cn-hangzhou-h: [vsw-pod-h], cn-hangzhou-i: [vsw-pod-i]}",
	"terway-ipvlan": "    mode: terway\n    terway:\n      eniMode: shared\n      eniipVirtualType: ipvlan\n      podVSwitches: {cn-hangzhou-h: [vsw-pod-h], cn-hangzhou-i: [vsw-pod-i]}",
	"terway-eni":    "    mode: terway\n    terway:\n      eniMode: exclusive\n      podVSwitches: {cn-hangzhou-h: [vsw-pod-h], cn-hangzhou-i: [vsw-pod-i]}",
}

func buildPolicyWorld(t *testing.T, cni string) (*World, string, string) {
	t.Helper()
	src := fmt.Sprintf(policyBase, policyCNIs[cni])
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	s, err := Load(file)
	require.NoError(t, err)
	w, err := Build(s, linktest.New())
	require.NoError(t, err)
	return w, file, src
}

// TestWorldNamespacesAndPolicies: declared namespaces keep their labels
// plus kubernetes.io/metadata.name; every other namespace a pod or a
// policy is in is implicit, with only that label; policies are converted
// in declaration order.
func TestWorldNamespacesAndPolicies(t *testing.T) {
	w, file, _ := buildPolicyWorld(t, "flannel")
	assert.Equal(t, []netpol.Namespace{
		{Name: "default", Labels: map[string]string{netpol.MetadataNameLabel: "default"}},
		{Name: "x", Labels: map[string]string{"ns": "x", netpol.MetadataNameLabel: "x"}},
		{Name: "y", Labels: map[string]string{netpol.MetadataNameLabel: "y"}},
		{Name: "z", Labels: map[string]string{netpol.MetadataNameLabel: "z"}},
	}, w.Namespaces)
	require.NotNil(t, w.Namespace("x"))
	assert.Nil(t, w.Namespace("kube-system"))
	require.Len(t, w.Policies, 2)
	a := w.Policies[0]
	assert.Equal(t, "x/deny-a", a.Ref())
	assert.True(t, a.Ingress)
	assert.False(t, a.Egress)
	require.Len(t, a.IngressRules, 1)
	assert.Equal(t, []netpol.Peer{{NamespaceSelector: &netpol.Selector{MatchLabels: map[string]string{"ns": "x"}}, PodSelector: &netpol.Selector{}}}, a.IngressRules[0].Peers)
	assert.True(t, strings.HasPrefix(a.Source, file+":"), a.Source)
	assert.Equal(t, []string{"x/a"}, w.PolicySelects(a))
	e := w.Policies[1]
	assert.Equal(t, "z/deny-egress", e.Ref())
	assert.True(t, e.Egress)
	assert.False(t, e.Ingress)
	assert.Empty(t, w.PolicySelects(e))
}

// TestPolicyEnforcement: which CNIs enforce NetworkPolicy, and the
// warnings: one per policy, located at the object, on the CNIs that do not
// (at spec.podSelector for a policy selecting exclusive-ENI pods); none on
// the ones that do.
func TestPolicyEnforcement(t *testing.T) {
	tests := []struct {
		cni      string
		enforced bool
		how      string
		// warnings: the path and a part of the text of each policy's warning.
		warnings [][2]string
	}{
		{"calico", true, "felix (Calico)", nil},
		{"terway-veth", true, "felix in Terway's policy container (calico-felix, veth datapath)", nil},
		{"terway-ipvlan", true, "Cilium (modelled as felix-equivalent rules on the ipvlan path)", nil},
		{"terway-eni", false, "exclusive ENI", [][2]string{
			{"resources[1].spec.podSelector", "NetworkPolicy x/deny-a: loaded, not enforced by terway/eni: selects x/a, which use exclusive ENIs: ACK's Terway does not support NetworkPolicy for exclusive-ENI pods"},
			{"resources[2]", "NetworkPolicy z/deny-egress: loaded, not enforced by terway/eni: Terway's exclusive ENI mode does not enforce NetworkPolicy"},
		}},
		{"flannel", false, "flannel does not implement NetworkPolicy (ACK: choose Terway)", [][2]string{
			{"resources[1]", "NetworkPolicy x/deny-a: loaded, not enforced by flannel/alivpc: flannel does not implement NetworkPolicy (ACK: choose Terway), so traffic this policy would deny is delivered"},
			{"resources[2]", "NetworkPolicy z/deny-egress: loaded, not enforced by flannel/alivpc: flannel does not implement NetworkPolicy (ACK: choose Terway)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.cni, func(t *testing.T) {
			w, file, src := buildPolicyWorld(t, tt.cni)
			enforced, how := w.PolicyEnforcement()
			assert.Equal(t, tt.enforced, enforced)
			assert.Contains(t, how, tt.how)
			var got Problems
			for _, p := range w.Warnings {
				if strings.Contains(p.Msg, "NetworkPolicy") {
					got = append(got, p)
				}
			}
			require.Len(t, got, len(tt.warnings), "%v", got)
			for i, want := range tt.warnings {
				assert.Equal(t, file, got[i].File)
				assert.Equal(t, want[0], got[i].Path)
				assert.Contains(t, got[i].Msg, want[1])
				anchor := "    kind: NetworkPolicy\n    metadata: {name: deny-a"
				if i == 1 {
					anchor = "    kind: NetworkPolicy\n    metadata: {name: deny-egress"
				}
				line := strings.Count(src[:strings.Index(src, anchor)], "\n") // the "- apiVersion" line above
				if strings.HasSuffix(want[0], "podSelector") {
					line += 4
				}
				assert.Equal(t, line, got[i].Line, "%s", got[i])
			}
		})
	}
}

// TestPolicyOverview: validate's overview lists the namespaces with their
// labels, whether the CNI enforces the policies, and each policy with what
// it selects, its types and rule counts.
func TestPolicyOverview(t *testing.T) {
	tests := []struct {
		cni  string
		want []string
	}{
		{"calico", []string{
			"  namespace x          kubernetes.io/metadata.name=x,ns=x\n",
			"  namespace y          kubernetes.io/metadata.name=y\n",
			"  NetworkPolicy enforced by felix (Calico): 2 policies\n",
			"  netpol x/deny-a                   selects pod=a in x (x/a); Ingress; 1 ingress rule, 0 egress rules\n",
			"  netpol z/deny-egress              selects every pod in z (no pod); Egress; 0 ingress rules, 0 egress rules\n",
		}},
		{"flannel", []string{
			"  NetworkPolicy NOT enforced (flannel does not implement NetworkPolicy (ACK: choose Terway)): 2 policies loaded, traffic they would deny is delivered\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.cni, func(t *testing.T) {
			w, _, _ := buildPolicyWorld(t, tt.cni)
			var b strings.Builder
			WriteOverview(&b, w)
			for _, want := range tt.want {
				assert.Contains(t, b.String(), want)
			}
		})
	}
}

// TestDuplicateNamespaceAcrossFiles: the same Namespace in a manifest and
// inline in the scenario is an error located at the second one, naming
// the first.
func TestDuplicateNamespaceAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "ns.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"), 0o644))
	src := fmt.Sprintf(policyBase, policyCNIs["calico"]) + "manifests: [ns.yaml]\n"
	file := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	_, err := Load(file)
	require.Error(t, err)
	line := strings.Count(src[:strings.Index(src, "metadata: {name: x, labels")], "\n") + 1
	assert.Contains(t, err.Error(), fmt.Sprintf("%s:%d:22: resources[0].metadata.name: Namespace x: already defined at %s:1: two Namespace objects cannot have the same name", file, line, manifest))
}
