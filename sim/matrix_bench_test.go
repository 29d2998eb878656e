package sim

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	generate "netsim/topology/gen"
)

// rePodLine is a pod line of a generated scenario.
var rePodLine = regexp.MustCompile(`(?m)^  - \{name: (p-\d+-\d+), node: (node-\d+)(.*)\}$`)

// policyClusterYAML rewrites a generated scenario (topology/gen): every
// pod listens on TCP 80, UDP 80 and TCP 8080, every third pod is labelled
// tier=locked, and a NetworkPolicy isolates the locked pods for ingress,
// allowing only app=api pods on TCP 80: a matrix over it has allowed,
// policy-denied (where the CNI enforces policies) and refused cells.
func policyClusterYAML(data []byte) []byte {
	n := 0
	text := rePodLine.ReplaceAllStringFunc(string(data), func(line string) string {
		m := rePodLine.FindStringSubmatch(line)
		n++
		var labels []string
		switch {
		case strings.Contains(m[3], "app: api"):
			labels = append(labels, "app: api")
		case strings.Contains(m[3], "app: db"):
			labels = append(labels, "app: db")
		}
		if n%3 == 0 {
			labels = append(labels, "tier: locked")
		}
		return fmt.Sprintf("  - {name: %s, node: %s, labels: {%s}, ports: [{port: 80, name: http}, {port: 80, protocol: UDP, name: dns}, {port: 8080, name: alt}]}",
			m[1], m[2], strings.Join(labels, ", "))
	})
	policy := `  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: locked-from-api, namespace: default}
    spec:
      podSelector: {matchLabels: {tier: locked}}
      policyTypes: [Ingress]
      ingress:
        - from: [{podSelector: {matchLabels: {app: api}}}]
          ports: [{port: 80, protocol: TCP}]
flows:`
	return []byte(strings.Replace(text, "\nflows:", "\n"+policy, 1))
}

// BenchmarkMatrixProbe measures one matrix probe (ns/probe, allocs/probe):
// the full matrix of a generated 4 × 25-pod cluster (9,900 probes an
// iteration) on TCP 80, TCP 81 (refused) and UDP 80, the world built once.
func BenchmarkMatrixProbe(b *testing.B) {
	for _, cni := range []string{generate.CalicoIPIP, generate.FlannelVXLAN, generate.Terway} {
		for _, probe := range []struct {
			proto string
			port  int
		}{{"tcp", 80}, {"tcp", 81}, {"udp", 80}} {
			b.Run(fmt.Sprintf("%s/%s-%d", cni, probe.proto, probe.port), func(b *testing.B) {
				r, err := NewRunner(policyCluster(b, cni, 4, 25))
				require.NoError(b, err)
				o, err := MatrixOptions{Ports: []int{probe.port}, Protocols: []string{probe.proto}}.Normalize()
				require.NoError(b, err)
				probes := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					m, err := r.Matrix(o)
					require.NoError(b, err)
					probes += m.Counts(0, "").Probes
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(probes), "ns/probe")
			})
		}
	}
}
