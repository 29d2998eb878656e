package k8s

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netpol"
)

// policyDoc is a NetworkPolicy in namespace x with the given spec (YAML
// flow text).
func policyDoc(spec string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: " + spec + "\n"
}

func sel(kv ...string) *netpol.Selector {
	s := &netpol.Selector{MatchLabels: map[string]string{}}
	for i := 0; i < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

// TestPolicyConversion: every shape of a NetworkPolicy becomes the
// netpol.Policy the Kubernetes semantics give: the AND of podSelector and
// namespaceSelector in one peer kept apart from two peers (OR), absent
// selectors nil and empty ones empty, ipBlock with except, ports with TCP
// by default, names kept, endPort, empty lists meaning everything, and
// policyTypes as the API server defaults them.
func TestPolicyConversion(t *testing.T) {
	cidr := netip.MustParsePrefix
	tests := []struct {
		name string
		spec string
		want netpol.Policy
	}{
		{"default deny ingress", `{podSelector: {}}`,
			netpol.Policy{Ingress: true}},
		{"default deny both", `{podSelector: {}, policyTypes: [Ingress, Egress]}`,
			netpol.Policy{Ingress: true, Egress: true}},
		{"egress only when written", `{podSelector: {}, policyTypes: [Egress]}`,
			netpol.Policy{Egress: true}},
		{"egress rules default Egress on", `{podSelector: {matchLabels: {pod: a}}, egress: [{}]}`,
			netpol.Policy{PodSelector: *sel("pod", "a"), Ingress: true, Egress: true, EgressRules: []netpol.Rule{{}}}},
		{"ingress: [{}] allows all", `{podSelector: {}, ingress: [{}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{}}}},
		{"empty ports and from lists mean everything", `{podSelector: {}, ingress: [{from: [], ports: []}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{}}}},
		{"podSelector peer", `{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}`,
			netpol.Policy{PodSelector: *sel("pod", "a"), Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{PodSelector: sel("pod", "b")}}}}}},
		{"empty podSelector peer: every pod of the namespace", `{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{PodSelector: &netpol.Selector{}}}}}}},
		{"empty namespaceSelector peer: every pod of every namespace", `{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{NamespaceSelector: &netpol.Selector{}}}}}}},
		{"namespaceSelector AND podSelector in one peer", `{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: b}}}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{NamespaceSelector: sel("ns", "y"), PodSelector: sel("pod", "b")}}}}}},
		{"namespaceSelector OR podSelector: two peers", `{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}, {podSelector: {matchLabels: {pod: b}}}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{NamespaceSelector: sel("ns", "y")}, {PodSelector: sel("pod", "b")}}}}}},
		{"matchExpressions", `{podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}, {key: pod, operator: NotIn, values: [c]}, {key: tier, operator: Exists}, {key: legacy, operator: DoesNotExist}]}}`,
			netpol.Policy{Ingress: true, PodSelector: netpol.Selector{MatchExpressions: []netpol.Requirement{
				{Key: "pod", Operator: netpol.In, Values: []string{"a", "b"}},
				{Key: "pod", Operator: netpol.NotIn, Values: []string{"c"}},
				{Key: "tier", Operator: netpol.Exists},
				{Key: "legacy", Operator: netpol.DoesNotExist},
			}}}},
		{"ipBlock with except", `{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.10/32, 192.168.2.0/24]}}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Peers: []netpol.Peer{{IPBlock: &netpol.IPBlock{CIDR: cidr("192.168.0.0/16"), Except: []netip.Prefix{cidr("192.168.1.10/32"), cidr("192.168.2.0/24")}}}}}}}},
		{"ipBlock cidr with host bits is masked", `{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.1.2.3/8}}]}]}`,
			netpol.Policy{Ingress: true, Egress: true, EgressRules: []netpol.Rule{{Peers: []netpol.Peer{{IPBlock: &netpol.IPBlock{CIDR: cidr("10.0.0.0/8")}}}}}}},
		{"ports: TCP default, UDP, SCTP, named, endPort, protocol only", `{podSelector: {}, ingress: [{ports: [{port: 80}, {protocol: UDP, port: 53}, {protocol: SCTP, port: 80}, {port: serve-81-tcp}, {port: 8000, endPort: 8100}, {protocol: UDP}]}]}`,
			netpol.Policy{Ingress: true, IngressRules: []netpol.Rule{{Ports: []netpol.Port{
				{Protocol: "TCP", Port: 80},
				{Protocol: "UDP", Port: 53},
				{Protocol: "SCTP", Port: 80},
				{Protocol: "TCP", Name: "serve-81-tcp"},
				{Protocol: "TCP", Port: 8000, EndPort: 8100},
				{Protocol: "UDP"},
			}}}}},
		{"egress deny except DNS left as written", `{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]}`,
			netpol.Policy{PodSelector: *sel("pod", "a"), Egress: true, EgressRules: []netpol.Rule{{Ports: []netpol.Port{{Protocol: "UDP", Port: 53}, {Protocol: "TCP", Port: 53}}}}}},
		{"rules kept in order, ingress ignored for isolation when only Egress typed", `{podSelector: {}, policyTypes: [Egress], ingress: [{}], egress: [{to: [{podSelector: {}}]}, {}]}`,
			netpol.Policy{Egress: true, IngressRules: []netpol.Rule{{}}, EgressRules: []netpol.Rule{{Peers: []netpol.Peer{{PodSelector: &netpol.Selector{}}}}, {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := decodeText(t, "# "+tt.name+"\n"+policyDoc(tt.spec))
			require.Empty(t, errs)
			require.Len(t, objs.NetworkPolicies, 1)
			got := objs.NetworkPolicies[0].Policy
			require.NotNil(t, got)
			want := tt.want
			want.Namespace, want.Name, want.Source = "x", "p", "x.yaml:2"
			if want.PodSelector.MatchLabels == nil && len(want.PodSelector.MatchExpressions) == 0 {
				want.PodSelector = netpol.Selector{}
			}
			assert.Equal(t, &want, got)
		})
	}
}

// TestPolicySelectorsMatch: the converted selectors select what the
// API server's label selector selects.
func TestPolicySelectorsMatch(t *testing.T) {
	objs, errs := decodeText(t, policyDoc(`{podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}, {key: env, operator: NotIn, values: [prod]}, {key: legacy, operator: DoesNotExist}]}}`))
	require.Empty(t, errs)
	p := objs.NetworkPolicies[0].Policy
	tests := []struct {
		ns     string
		labels map[string]string
		want   bool
	}{
		{"x", map[string]string{"pod": "a"}, true},
		{"x", map[string]string{"pod": "b", "env": "dev"}, true},
		{"x", map[string]string{"pod": "c"}, false},
		{"x", map[string]string{"pod": "a", "env": "prod"}, false},
		{"x", map[string]string{"pod": "a", "legacy": ""}, false},
		{"x", nil, false},
		{"y", map[string]string{"pod": "a"}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.Selects(tt.ns, tt.labels), "%s %v", tt.ns, tt.labels)
	}
}

// TestInvalidPolicyNotConverted: a policy with an error has no Policy.
func TestInvalidPolicyNotConverted(t *testing.T) {
	d := NewDecoder(twoNodes)
	d.Decode("x.yaml", []byte(policyDoc(`{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}`)))
	require.Len(t, d.objs.NetworkPolicies, 1)
	assert.Nil(t, d.objs.NetworkPolicies[0].Policy)
	_, errs := d.Objects()
	assert.NotEmpty(t, errs)
}

// TestNamespaces: Namespace objects keep their labels and get
// kubernetes.io/metadata.name from the API server; a namespace written
// with another value for that label is overwritten with a warning.
func TestNamespaces(t *testing.T) {
	tests := []struct {
		name, doc  string
		wantLabels map[string]string
		wantWarn   string
	}{
		{"labels kept, name label added", "metadata: {name: x, labels: {ns: x}}",
			map[string]string{"ns": "x", netpol.MetadataNameLabel: "x"}, ""},
		{"no labels", "metadata: {name: \"y\"}",
			map[string]string{netpol.MetadataNameLabel: "y"}, ""},
		{"name label overwritten", "metadata: {name: z, labels: {kubernetes.io/metadata.name: other}}",
			map[string]string{netpol.MetadataNameLabel: "z"}, `x.yaml:3:59: metadata.labels.kubernetes.io/metadata.name: Namespace z: the API server sets kubernetes.io/metadata.name to the namespace's name: "z" replaces "other"`},
		{"metadata.namespace ignored (cluster-scoped)", "metadata: {name: w, namespace: other}",
			map[string]string{netpol.MetadataNameLabel: "w"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := decodeText(t, "apiVersion: v1\nkind: Namespace\n"+tt.doc+"\n")
			require.Empty(t, errs)
			require.Len(t, objs.Namespaces, 1)
			n := objs.Namespaces[0]
			assert.Equal(t, "", n.Namespace)
			assert.Equal(t, tt.wantLabels, n.Labels)
			assert.Equal(t, "Namespace "+n.Name, n.String())
			if tt.wantWarn == "" {
				assert.Empty(t, objs.Warnings)
			} else {
				require.Len(t, objs.Warnings, 1)
				assert.Equal(t, tt.wantWarn, objs.Warnings[0].Error())
			}
		})
	}
}

// TestNamespaceErrors: bad names, bad labels and a duplicate are located
// errors.
func TestNamespaceErrors(t *testing.T) {
	doc := func(meta string) string { return "apiVersion: v1\nkind: Namespace\nmetadata: " + meta + "\n" }
	tests := []struct {
		name, text, want string
	}{
		{"upper-case name", doc("{name: Prod}"), `x.yaml:3:18: metadata.name: Namespace Prod: "Prod" is not a valid name`},
		{"dotted name (a label, not a subdomain)", doc("{name: a.b}"), `x.yaml:3:18: metadata.name: Namespace a.b: "a.b" is not a valid name`},
		{"bad label value", doc("{name: x, labels: {ns: 'a b'}}"), `x.yaml:3:34: metadata.labels.ns: Namespace x: label value "a b" is not valid`},
		{"bad label key", doc("{name: x, labels: {'-ns': x}}"), `metadata.labels.-ns: Namespace x: label key "-ns" is not valid`},
		{"duplicate", doc("{name: x}") + "---\n" + doc("{name: x}"), `x.yaml:7:18: metadata.name: Namespace x: already defined at x.yaml:1: two Namespace objects cannot have the same name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := decodeText(t, tt.text)
			require.NotEmpty(t, errs)
			assert.Contains(t, errs.Error(), tt.want)
		})
	}
}

// TestNamespaceSourceString: messages name a namespace without a
// namespace of its own.
func TestNamespaceSourceString(t *testing.T) {
	objs, errs := decodeText(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
	require.Empty(t, errs)
	assert.Equal(t, "x", objs.Namespaces[0].Ref())
	assert.True(t, strings.HasPrefix(fmt.Sprint(objs.Namespaces[0].Source), "x.yaml:"))
}
