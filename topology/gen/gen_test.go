package gen_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
	"netsim/topology/gen"
)

// TestGenerated checks that every CNI's generated scenario loads and
// validates without a problem, builds, and that its flows meet their
// expectations.
func TestGenerated(t *testing.T) {
	sizes := []struct{ nodes, pods int }{{2, 2}, {4, 3}, {7, 30}}
	for _, mode := range gen.Modes() {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s/%dx%d", mode, sz.nodes, sz.pods), func(t *testing.T) {
				data, err := gen.Generate(gen.Options{CNI: mode, Nodes: sz.nodes, Pods: sz.pods})
				require.NoError(t, err)
				s, err := topology.Parse("gen.yaml", data)
				require.NoError(t, err, "%s", data)
				assert.Len(t, s.Nodes, sz.nodes)
				assert.Len(t, s.Pods, sz.nodes*sz.pods)
				r, err := sim.NewRunner(s)
				require.NoError(t, err)
				res, err := r.Run(sim.Options{})
				require.NoError(t, err)
				assert.Empty(t, res.Warnings, "a generated scenario has no warnings")
				require.Len(t, res.Flows, 5)
				for _, f := range res.Flows {
					assert.True(t, f.Met, "flow %s: %s", f.Name, sim.VerdictLine(f))
				}
			})
		}
	}
}

// TestGenerateRefuses checks the generator's own bounds.
func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name string
		o    gen.Options
		want string
	}{
		{"unknown CNI", gen.Options{CNI: "weave", Nodes: 2, Pods: 2}, `unknown CNI "weave"`},
		{"one node", gen.Options{CNI: gen.Terway, Nodes: 1, Pods: 2}, "1 nodes: want 2 to 15000"},
		{"too many nodes", gen.Options{CNI: gen.Terway, Nodes: gen.MaxNodes + 1, Pods: 2}, "15001 nodes"},
		{"one pod", gen.Options{CNI: gen.CalicoIPIP, Nodes: 2, Pods: 1}, "1 pods per node"},
		{"more pods than any instance type holds", gen.Options{CNI: gen.Terway, Nodes: 2, Pods: gen.MaxPods}, "no built-in instance type holds 250 Terway pods"},
		{"more pods than a flannel node CIDR holds", gen.Options{CNI: gen.FlannelVXLAN, Nodes: 2, Pods: 254}, "254 pods per node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gen.Generate(tt.o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestVSwitchSizing checks that the generated vSwitches follow ACK's
// rules at the largest sizes: the scenario loads without a problem (the
// planning rules included), without building it.
func TestVSwitchSizing(t *testing.T) {
	if os.Getenv("NETSIM_SCALE") == "" || testing.Short() {
		t.Skip("loads 150,000 pods (some 40 s): set NETSIM_SCALE=1")
	}
	for _, tt := range []gen.Options{
		{CNI: gen.Terway, Nodes: 5000, Pods: 30},
		{CNI: gen.CalicoIPIP, Nodes: 5000, Pods: 30},
		{CNI: gen.FlannelAliVPC, Nodes: 1000, Pods: 30},
		{CNI: gen.Terway, Nodes: 2000, Pods: 60},
	} {
		t.Run(fmt.Sprintf("%s/%dx%d", tt.CNI, tt.Nodes, tt.Pods), func(t *testing.T) {
			data, err := gen.Generate(tt)
			require.NoError(t, err)
			s, err := topology.Parse("gen.yaml", data)
			require.NoError(t, err)
			assert.Len(t, s.Pods, tt.Nodes*tt.Pods)
		})
	}
}

// TestPodVSwitchSplit checks that a zone whose pods do not fit in one
// /16 (ACK's largest vSwitch) gets several pod vSwitches, each no larger.
func TestPodVSwitchSplit(t *testing.T) {
	data, err := gen.Generate(gen.Options{CNI: gen.Terway, Nodes: 9000, Pods: 30})
	require.NoError(t, err)
	text, _, _ := strings.Cut(string(data), "nodes:\n") // the vSwitches
	// 3,000 nodes × 30 pods a zone = 90,000 addresses: a /16 and a /17.
	assert.Contains(t, text, "- {name: vsw-pod-a1, zone: cn-hangzhou-h, cidr: 10.1.0.0/16}\n")
	assert.Contains(t, text, "- {name: vsw-pod-a2, zone: cn-hangzhou-h, cidr: 10.2.0.0/17}\n")
	assert.NotContains(t, text, "vsw-pod-a3")
	assert.True(t, strings.Contains(string(data), "cn-hangzhou-h: [vsw-pod-a1, vsw-pod-a2]\n"), "the zone lists both")
}
