package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

// bigScenario is a scenario text of n pods, one a line, on 250 nodes,
// between a header and a trailer with comments, and with "extra" in the
// middle of the list.
func bigScenario(n int, extra string) string {
	var b strings.Builder
	b.WriteString("# a large cluster\nname: big\ncluster: {podCIDR: 172.20.0.0/16, serviceCIDR: 172.21.0.0/20, cni: {mode: flannel}}\n" +
		"vpc:\n  cidr: 10.0.0.0/8  # the VPC\n  vswitches: [{name: a, zone: z, cidr: 10.0.0.0/16}]\nnodes:\n")
	for i := range 250 {
		fmt.Fprintf(&b, "  - {name: n%d, vswitch: a}\n", i+1)
	}
	b.WriteString("pods:\n")
	for i := range n {
		if i == n/2 && extra != "" {
			b.WriteString(extra + "\n")
		}
		if i%1000 == 7 {
			fmt.Fprintf(&b, "  - {name: p-%d, node: n%d, labels: {app: api}, ports: [{port: 8080, name: http}]}\n", i, i%250+1)
			continue
		}
		fmt.Fprintf(&b, "  - {name: p-%d, node: n%d}\n", i, i%250+1)
	}
	b.WriteString("# the flows\nflows:\n  - {name: f, from: pod/p-1, to: pod/p-2}  # one\n")
	return b.String()
}

func wholeParse(t *testing.T, src string) *yaml.Node {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
	return &doc
}

// The split parse builds the tree the whole parse builds (every node's
// kind, style, tag, value, line, column and comments), and declines any
// list it could not split safely.
func TestParseSplitIsTheWholeParse(t *testing.T) {
	n := splitMinItems + 101
	src := bigScenario(n, "")
	doc := parseSplit([]byte(src))
	require.NotNil(t, doc, "a list of one-line pods is split")
	assert.Equal(t, wholeParse(t, src), doc)
	assert.Len(t, podsList(doc).Content, n)

	for _, tt := range []struct{ name, src string }{
		{"small", bigScenario(100, "")},
		{"quoted", bigScenario(n, `  - {name: "p-x", node: n1}`)},
		{"comment", bigScenario(n, "  # a comment")},
		{"block item", bigScenario(n, "  - name: p-x\n    node: n1")},
		{"anchor", bigScenario(n, "  - {name: p-x, node: &a n1}")},
		{"flow left open", bigScenario(n, "  - {name: p-x, labels: {app: a,\n      tier: b}}")},
		{"two items on a line", bigScenario(n, "  - {name: p-x}, {name: p-y}")},
		{"escape", bigScenario(n, `  - {name: p\x, node: n1}`)},
		{"other indent", bigScenario(n, "    - {name: p-x, node: n1}")},
		{"blank line", bigScenario(n, "")},
		{"second document", bigScenario(n, "") + "---\nname: x\n"},
		{"syntax error", bigScenario(n, "") + "flows: [\n"},
		{"pods twice", bigScenario(n, "") + "pods:\n  - {name: q}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if tt.name == "blank line" {
				src = strings.Replace(src, "  - {name: p-5000,", "\n  - {name: p-5000,", 1)
			}
			assert.Nil(t, parseSplit([]byte(src)))
		})
	}
}

// A scenario loads the same split or whole: the problems of a file
// with a mistake in the second half are placed as the whole parse places
// them, and a file without problems gives the same scenario.
func TestParseSplitLoadsTheSame(t *testing.T) {
	good := bigScenario(splitMinItems+10, "")
	broken := strings.Replace(good, "{name: p-20000, node: n1}", "{name: p-20000, node: n9999}", 1)
	require.NotEqual(t, good, broken)
	for i, src := range []string{broken, good} {
		require.NotNil(t, parseSplit([]byte(src)))
		split, serr := Parse("big.yaml", []byte(src))
		splitParse = false
		whole, werr := Parse("big.yaml", []byte(src))
		splitParse = true
		assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(serr))
		assert.Equal(t, i == 0, werr != nil, "%v", werr)
		if werr == nil {
			assert.Equal(t, whole.Pods, split.Pods)
			assert.Equal(t, whole.Flows, split.Flows)
			assert.Equal(t, whole.Nodes, split.Nodes)
		}
	}
	_, err := Parse("big.yaml", []byte(broken))
	assert.Contains(t, fmt.Sprint(err), `big.yaml:20259:27: pods[20000].node: node "n9999" does not exist`)
}
