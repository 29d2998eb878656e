package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNetpolEvaluatorSemantics pins the evaluator on the spec's corner
// cases that the e2e cases do not cover, each probe from y/b to x/a
// (pods of genUniverse: x/a app=web, y/b app=web; x and y tier=front).
func TestNetpolEvaluatorSemantics(t *testing.T) {
	const head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
	tests := []struct {
		name            string
		spec            string
		port            int
		proto           string
		ingress, egress bool
	}{
		{"no policy", "", 80, "TCP", true, true},
		{"policyTypes default Ingress only", "spec: {podSelector: {}}", 80, "TCP", false, true},
		{"NotIn matches a missing key", "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [x]}]}}]}]}", 80, "TCP", true, true},
		{"DoesNotExist rejects a present key", "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}}]}]}", 80, "TCP", false, true},
		{"Exists on namespaces", "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]}", 80, "TCP", true, true},
		{"podSelector alone is the policy's namespace", "spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}", 80, "TCP", false, true},
		{"AND in one peer", "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: a}}}]}]}", 80, "TCP", false, true},
		{"OR in two peers", "spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: a}}}]}]}", 80, "TCP", true, true},
		{"named port of another protocol", "spec: {podSelector: {}, ingress: [{ports: [{port: serve-80-udp, protocol: TCP}]}]}", 80, "TCP", false, true},
		{"named port", "spec: {podSelector: {}, ingress: [{ports: [{port: serve-80-udp, protocol: UDP}]}]}", 80, "UDP", true, true},
		{"endPort range", "spec: {podSelector: {}, ingress: [{ports: [{port: 70, endPort: 80}]}]}", 80, "TCP", true, true},
		{"endPort range excludes", "spec: {podSelector: {}, ingress: [{ports: [{port: 70, endPort: 80}]}]}", 81, "TCP", false, true},
		{"protocol default is TCP", "spec: {podSelector: {}, ingress: [{ports: [{port: 80}]}]}", 80, "UDP", false, true},
		{"ipBlock except", "spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 172.20.0.0/24, except: [172.20.0.14/32]}}]}]}", 80, "TCP", false, true},
		{"ipBlock", "spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 172.20.0.0/28}}]}]}", 80, "TCP", true, true},
		{"egress policy in the source's namespace only", "spec: {podSelector: {}, policyTypes: [Egress]}", 80, "TCP", true, true},
		{"other namespace's policy does not isolate", "spec: {podSelector: {matchLabels: {pod: b}}, policyTypes: [Ingress]}", 80, "TCP", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := genUniverse()
			var text string
			if tt.spec != "" {
				text = head + tt.spec
			}
			pols, err := decodePolicies(text)
			require.NoError(t, err)
			v := evaluate(u, pols, u.pod("y/b"), u.pod("x/a"), tt.port, tt.proto)
			assert.Equal(t, tt.ingress, v.Ingress, "ingress")
			assert.Equal(t, tt.egress, v.Egress, "egress")
		})
	}
	// Egress of the source: a deny-all egress in y isolates y/b.
	u := genUniverse()
	pols, err := decodePolicies("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: y}\nspec: {podSelector: {}, policyTypes: [Egress]}\n")
	require.NoError(t, err)
	v := evaluate(u, pols, u.pod("y/b"), u.pod("x/a"), 80, "TCP")
	assert.Equal(t, tVerdict{Ingress: true, Egress: false}, v)
	assert.False(t, v.Allowed())
}

// TestParseGrid: the grid text round-trips and bad grids are located.
func TestParseGrid(t *testing.T) {
	g, err := parseGrid("- x/a x/b\nx/a # X\nx/b . #\n")
	require.NoError(t, err)
	assert.Equal(t, "-\tx/a\tx/b\nx/a\t#\tX\nx/b\t.\t#\n", g.String())
	for _, bad := range []string{"x/a\n", "- x/a x/b\nx/a # X\n", "- x/a x/b\nx/a # ?\nx/b . #", "- x/a x/b\nx/a # #\nx/b . #"} {
		_, err := parseGrid(bad)
		assert.Error(t, err, bad)
	}
}
