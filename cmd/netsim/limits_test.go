package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMatrixSizeLimit checks that a matrix over maxMatrixProbes is a usage
// error before anything is built, and that narrowing it makes it run.
func TestMatrixSizeLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.SplitN(small("delivered"), "pods:\n", 2)[0] + "pods:\n")
	for i := range 230 {
		fmt.Fprintf(&b, "  - {name: p-%d, node: node-%d, namespace: ns-%d}\n", i, i%2+1, i%10)
	}
	b.WriteString("flows: []\n")
	file := writeScenario(t, "big.yaml", b.String())
	tests := []struct {
		name  string
		args  []string
		first string
	}{
		{"matrix", []string{"matrix", file, "--port", ports(21)}, "netsim matrix: 230 pods × 230 columns × 21 ports × 1 protocol are 1,110,900 probes, more than netsim's limit of 1,100,000 (about 15 s and 1.5 GB): narrow it with --namespaces, --port, --protocol or --sample\n"},
		{"with an external column", []string{"matrix", file, "--port", ports(7), "--protocol", "tcp,udp,sctp", "--external", "node/node-1"}, "netsim matrix: 230 pods × 231 columns × 7 ports × 3 protocols are 1,115,730 probes"},
		{"diff --matrix", []string{"diff", file, file, "--matrix", "--port", ports(21)}, "netsim diff: " + file + ": 230 pods × 230 columns × 21 ports × 1 protocol are 1,110,900 probes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := netsim(t, tt.args...)
			assert.Equal(t, exitBadInput, code, stderr)
			assert.Empty(t, stdout)
			assert.True(t, strings.HasPrefix(stderr, tt.first), stderr)
		})
	}
	code, _, stderr := netsim(t, "matrix", file, "--namespaces", "ns-1,ns-2", "--port", "80")
	assert.Equal(t, exitOK, code, "46 pods × 46 × 1 port are within the limit: %s", stderr)
}

// ports is "1,2,…,n".
func ports(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprint(i + 1)
	}
	return strings.Join(p, ",")
}

func TestThousandsInt(t *testing.T) {
	for n, want := range map[int]string{0: "0", 100: "100", 1000: "1,000", 105800: "105,800", 8000000: "8,000,000", -1000: "-1,000"} {
		assert.Equal(t, want, thousandsInt(n))
	}
}

// TestTraceAllLimit checks that --trace-all over maxTracedExchanges is a
// usage error, and that --flow narrows what is counted.
func TestTraceAllLimit(t *testing.T) {
	text := strings.Replace(small("delivered"), "  - {name: b-to-a, from: pod/b, to: pod/a, expect: delivered}", "  - {name: b-to-a, from: pod/b, to: pod/a, count: 4500, expect: delivered}\n  - {name: many, from: pod/a, to: pod/b, count: 600, expect: delivered}", 1)
	require.NotEqual(t, small("delivered"), text)
	file := writeScenario(t, "s.yaml", text)
	code, stdout, stderr := netsim(t, "run", file, "--trace-all")
	assert.Equal(t, exitBadInput, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "netsim run: --trace-all would trace 5,101 exchanges (the most: flow b-to-a, count 4,500), more than netsim's limit of 5,000 traced exchanges (about 10 s): leave --trace-all out (the first exchange of each flow is traced), pick one flow with --flow, or lower count\n", stderr)

	code, _, stderr = netsim(t, "run", file, "--trace-all", "--flow", "many", "--level", "minimal")
	assert.Equal(t, exitOK, code, stderr)
}

// TestPendingWarningsCollapse checks that many Pending pods (Terway out of
// addresses) are a few warning lines with a count, not one a pod.
func TestPendingWarningsCollapse(t *testing.T) {
	data, err := os.ReadFile("../../scenarios/terway-eniip.yaml")
	require.NoError(t, err)
	text := strings.Replace(string(data), "\nflows:", `
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: big}
    spec:
      replicas: 300
      selector: {matchLabels: {app: big}}
      template:
        metadata: {labels: {app: big}}
        spec: {containers: [{name: c, image: nginx}]}
flows:`, 1)
	require.NotEqual(t, string(data), text)
	file := writeScenario(t, "tw.yaml", text)
	code, stdout, stderr := netsim(t, "validate", file)
	require.Equal(t, exitOK, code, stderr)
	pending := 0
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, "warning:") && strings.Contains(l, "is Pending") {
			pending++
		}
	}
	assert.LessOrEqual(t, pending, 4, stdout)
	assert.Regexp(t, `manifests: pod default/big-\S+ on node-\d is Pending: .* \(and \d+ more like it\)`, stdout)
}
