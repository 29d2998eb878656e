package ackplan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/ack"
)

// cmpCase is a plan and its three variants built by hand, and the
// figures ACK's formulas give for some columns.
type cmpCase struct {
	name                  string
	plan                  Plan
	alivpc, vxlan, terway Plan
	noRoom                bool
	figures               []cmpFigures
}

// cmpFigures are one column's figures, worked out from ACK's formulas.
type cmpFigures struct {
	col                    int
	pods, maxNodes, routes int
	binding                string
}

func cmpCases() []cmpCase {
	g7, _ := ack.Builtin(ack.DefaultInstanceType)
	svc := Block{Prefix: pfx("172.21.0.0/20"), Path: "cluster.serviceCIDR"}

	// A Flannel ali-vpc plan: two zones of 100 nodes, 30 pods a node.
	flannel := Plan{
		VPC:        Block{Prefix: pfx("192.168.0.0/16"), Path: "vpc.cidr"},
		RouteQuota: 200,
		VSwitches: []VSwitch{
			{Name: "vsw-h", Zone: "cn-hangzhou-h", CIDR: pfx("192.168.0.0/24"), Path: "vpc.vswitches[0]"},
			{Name: "vsw-i", Zone: "cn-hangzhou-i", CIDR: pfx("192.168.1.0/24"), Path: "vpc.vswitches[1]"},
		},
		CNI:         CNI{Mode: "flannel", Backend: "alivpc"},
		PodCIDR:     Block{Prefix: pfx("172.20.0.0/16"), Path: "cluster.podCIDR"},
		NodeMask:    24,
		ServiceCIDR: svc,
		Pools: []Pool{
			{Name: "pool-h", VSwitch: "vsw-h", Nodes: 100, Type: g7, Path: "plan.nodePools[0]"},
			{Name: "pool-i", VSwitch: "vsw-i", Nodes: 100, Type: g7, Path: "plan.nodePools[1]"},
		},
		NodeMaskPath: "cluster.nodeCIDRMask", PodsPerNode: 30, PodSurgePercent: 25, Edition: "pro",
	}
	fVXLAN := *clonePlan(&flannel)
	fVXLAN.CNI.Backend = "vxlan"
	fTerway := *clonePlan(&flannel)
	fTerway.CNI = CNI{Mode: "terway", ENIMode: "shared", PodVSwitchesPath: "cluster.cni.terway.podVSwitches",
		PodVSwitches: map[string][]string{"cn-hangzhou-h": {"vsw-pod-h"}, "cn-hangzhou-i": {"vsw-pod-i"}}}
	fTerway.PodCIDR = Block{Path: "cluster.podCIDR"}
	// Each zone: 100 nodes × 30 pods × 1.25 = 3,750, × 2 for growth (as
	// --suggest sizes them) = 7,500 + 4 reserved → a /19, carved from the
	// smallest free blocks that hold one: 192.168.32.0/19 (the first /19
	// holds the two /24s) and the next.
	fTerway.VSwitches = append(fTerway.VSwitches,
		VSwitch{Name: "vsw-pod-h", Zone: "cn-hangzhou-h", CIDR: pfx("192.168.32.0/19"), Path: "vpc.vswitches[2]"},
		VSwitch{Name: "vsw-pod-i", Zone: "cn-hangzhou-i", CIDR: pfx("192.168.64.0/19"), Path: "vpc.vswitches[3]"})

	// A Terway plan: one zone of 50 nodes, 40 pods a node.
	terway := Plan{
		VPC:        Block{Prefix: pfx("10.0.0.0/16"), Path: "vpc.cidr"},
		RouteQuota: 200,
		VSwitches: []VSwitch{
			{Name: "vsw-node", Zone: "cn-beijing-a", CIDR: pfx("10.0.0.0/24"), Path: "vpc.vswitches[0]"},
			{Name: "vsw-pod", Zone: "cn-beijing-a", CIDR: pfx("10.0.16.0/20"), Path: "vpc.vswitches[1]"},
		},
		CNI: CNI{Mode: "terway", ENIMode: "shared", PodVSwitchesPath: "cluster.cni.terway.podVSwitches",
			PodVSwitches: map[string][]string{"cn-beijing-a": {"vsw-pod"}}},
		ServiceCIDR: svc,
		Pools:       []Pool{{Name: "pool-a", VSwitch: "vsw-node", Nodes: 50, Type: g7, Path: "plan.nodePools[0]"}},
		PodsPerNode: 40, PodSurgePercent: 25, Edition: "pro",
	}
	tAliVPC := *clonePlan(&terway)
	tAliVPC.VSwitches = tAliVPC.VSwitches[:1]
	tAliVPC.CNI = CNI{Mode: "flannel", Backend: "alivpc"}
	// 40 pods + 25% = 50: a /26 (63 pods); 50 nodes × 64 is a /20, so
	// ACK's /16 example.
	tAliVPC.NodeMask, tAliVPC.NodeMaskPath = 26, "cluster.nodeCIDRMask"
	tAliVPC.PodCIDR = Block{Prefix: pfx("172.20.0.0/16"), Path: "cluster.podCIDR"}
	tVXLAN := *clonePlan(&tAliVPC)
	tVXLAN.CNI.Backend = "vxlan"

	// A Flannel plan in a VPC with no room for Terway's pod vSwitches.
	small := *clonePlan(&flannel)
	small.VPC.Prefix = pfx("192.168.0.0/24")
	small.VSwitches = []VSwitch{{Name: "vsw-h", Zone: "cn-hangzhou-h", CIDR: pfx("192.168.0.0/25"), Path: "vpc.vswitches[0]"}}
	small.Pools = []Pool{{Name: "pool-h", VSwitch: "vsw-h", Nodes: 100, Type: g7, Path: "plan.nodePools[0]"}}
	sVXLAN := *clonePlan(&small)
	sVXLAN.CNI.Backend = "vxlan"
	sTerway := *clonePlan(&small)
	sTerway.CNI = CNI{Mode: "terway", ENIMode: "shared", PodVSwitchesPath: "cluster.cni.terway.podVSwitches", PodVSwitches: map[string][]string{}}
	sTerway.PodCIDR = Block{Path: "cluster.podCIDR"}

	return []cmpCase{
		{"flannel", flannel, flannel, fVXLAN, fTerway, false, []cmpFigures{
			// /24: 2^(32−24) − 1 = 255 pods; one route entry per node, the
			// default quota 200 binds before the pod CIDR's 2^(24−16) = 256.
			{0, 255, 200, 200, LimitRouteQuota},
			{1, 255, 256, 0, LimitPodCIDR},
			// ecs.g7.xlarge: (4 − 1) × 15 = 45 pods; each zone's /19 pod
			// vSwitch holds (8,192 − 4) / (30 pods + 25% surge) = 218 nodes
			// (272 without the surge), 436 in all.
			{2, 45, 2 * capSurgeFit(8188, 0, 30, 25), 0, LimitPodVSwitches},
		}},
		{"terway", terway, tAliVPC, tVXLAN, terway, false, []cmpFigures{
			// /26: 63 pods; 50 route entries of 200.
			{0, 63, 200, 50, LimitRouteQuota},
			// The node vSwitch /24: 256 − 4 = 252 nodes.
			{1, 63, 252, 0, LimitNodeVSwitch},
		}},
		{"no-room", small, small, sVXLAN, sTerway, true, []cmpFigures{
			// The node vSwitch /25: 128 − 4 = 124 nodes.
			{0, 255, 124, 100, LimitNodeVSwitch},
			{1, 255, 124, 0, LimitNodeVSwitch},
		}},
	}
}

// TestCompare: each column is the variant built by hand, and its figures
// are what Check and ComputeCapacity give for that variant.
func TestCompare(t *testing.T) {
	for _, c := range cmpCases() {
		t.Run(c.name, func(t *testing.T) {
			src := clonePlan(&c.plan)
			cmp, err := Compare(src)
			require.NoError(t, err)
			assert.Equal(t, c.plan, *src, "Compare leaves the plan alone")
			require.Len(t, cmp.Columns, 3)
			assert.Equal(t, cmpNodes(&c.plan), cmp.Nodes)
			for i, hand := range []Plan{c.alivpc, c.vxlan, c.terway} {
				col := cmp.Columns[i]
				assert.Equal(t, compareCNIs[i], col.CNI)
				assert.Equal(t, hand, *col.Plan, col.CNI)

				errs, warns := 0, 0
				for _, f := range Check(clonePlan(&hand)).Findings() {
					if f.Severity == Error {
						errs++
					} else {
						warns++
					}
					assert.Contains(t, col.Rules, f.Rule.ID)
				}
				assert.Equal(t, errs, col.Errors, col.CNI)
				assert.Equal(t, warns, col.Warnings, col.CNI)
				capa := ComputeCapacity(clonePlan(&hand))
				assert.Equal(t, capa, col.Capacity, col.CNI)
				assert.Equal(t, capa.MaxNodes, col.MaxNodes, col.CNI)
				assert.Equal(t, capa.Binding, col.Binding, col.CNI)
				assert.Equal(t, capa.Routes.Used, col.RouteEntries, col.CNI)
				assert.Equal(t, capa.Routes.Quota, col.RouteQuota, col.CNI)
				require.NotEmpty(t, capa.Pools)
				least := capa.Pools[0].PodsPerNode
				for _, pl := range capa.Pools {
					least = min(least, pl.PodsPerNode)
				}
				assert.Equal(t, least, col.PodsPerNode, col.CNI)
			}
			assert.Equal(t, c.noRoom, cmp.Columns[2].NoRoom != "", cmp.Columns[2].NoRoom)
			for _, want := range c.figures {
				col := cmp.Columns[want.col]
				assert.Equal(t, want.pods, col.PodsPerNode, "%s pods per node", col.CNI)
				assert.Equal(t, want.maxNodes, col.MaxNodes, "%s max nodes", col.CNI)
				assert.Equal(t, want.binding, col.Binding, "%s binding", col.CNI)
				assert.Equal(t, want.routes, col.RouteEntries, "%s route entries", col.CNI)
			}

			alivpc, vxlan, terway := cmp.Columns[0], cmp.Columns[1], cmp.Columns[2]
			assert.Equal(t, 0, alivpc.EncapOverhead)
			assert.Equal(t, 50, vxlan.EncapOverhead)
			assert.Equal(t, 1450, vxlan.PodMTU)
			assert.Equal(t, 1500, terway.PodMTU)
			for _, f := range []CompareColumn{alivpc, vxlan} {
				assert.False(t, f.NetworkPolicy)
				assert.False(t, f.SourceIPPreserved)
				assert.False(t, f.PodIPsInVPC)
			}
			assert.True(t, terway.NetworkPolicy)
			assert.True(t, terway.SourceIPPreserved)
			assert.True(t, terway.PodIPsInVPC)

			var out bytes.Buffer
			require.NoError(t, WriteComparison(&out, cmp))
			text := out.String()
			for _, want := range []string{"Flannel ali-vpc", "Flannel VXLAN", "Terway (shared ENI)", "pods per node", "max nodes",
				"route entries", "encapsulation", "50 bytes: pod MTU 1450", "NetworkPolicy", "source IP leaving", "pod IPs in VPC"} {
				assert.Contains(t, text, want)
			}
			// One table: every row's second cell starts under the second title
			// (counted in runes: a cell may hold "→").
			lines := strings.Split(text, "\n")
			col2 := strings.Index(lines[2], "Flannel VXLAN")
			require.Positive(t, col2)
			for _, l := range lines[3:13] {
				r := []rune(l)
				require.Greater(t, len(r), col2, l)
				assert.Equal(t, " ", string(r[col2-1]), "aligned: %q", l)
				assert.NotEqual(t, " ", string(r[col2]), "aligned: %q", l)
			}
		})
	}
}

// TestCompareRefuses: a plan with nothing to compare is an error.
func TestCompareRefuses(t *testing.T) {
	_, err := Compare(&Plan{})
	assert.ErrorContains(t, err, "no VPC CIDR")
	_, err = Compare(&Plan{VPC: Block{Prefix: pfx("10.0.0.0/16"), Path: "vpc.cidr"}})
	assert.ErrorContains(t, err, "no nodes")
}

// TestCompareCheckedPlan: a plan LoadPlan has checked carries its errors'
// paths in Invalid; each column checks again and reports them, and the
// plan's own column keeps the broken range rather than replacing it.
func TestCompareCheckedPlan(t *testing.T) {
	c := cmpCases()[0]
	broken := clonePlan(&c.plan)
	// A Service CIDR inside the VPC: service-cidr-overlap.
	broken.ServiceCIDR.Prefix = pfx("192.168.128.0/20")
	var want []string
	for _, f := range Check(clonePlan(broken)).Findings() {
		if f.Severity == Error {
			want = append(want, f.Rule.ID)
		}
	}
	require.Contains(t, want, "service-cidr-overlap")
	loaded := clonePlan(broken)
	Check(loaded) // as LoadPlan does: the error paths are now Invalid
	require.False(t, loaded.Valid("cluster.serviceCIDR"))
	cmp, err := Compare(loaded)
	require.NoError(t, err)
	for _, col := range cmp.Columns {
		assert.Contains(t, col.Rules, "service-cidr-overlap", col.CNI)
		assert.Equal(t, pfx("192.168.128.0/20"), col.Plan.ServiceCIDR.Prefix, "%s keeps the plan's Service CIDR", col.CNI)
	}
	assert.Equal(t, len(want), cmp.Columns[0].Errors)
	own := *cmp.Columns[0].Plan
	assert.Nil(t, own.Invalid)
	own.Invalid = loaded.Invalid
	assert.Equal(t, *loaded, own)
}

// TestCompareSuggestions: Compare takes every suggestion and its own
// column is the suggestion unchanged.
func TestCompareSuggestions(t *testing.T) {
	for i, cni := range []string{CNIFlannelAliVPC, CNIFlannelVXLAN, CNITerway} {
		sug, err := Suggest(Request{VPC: pfx("192.168.0.0/16"), Nodes: 40, PodsPerNode: 30, CNI: cni, Zones: []string{"cn-hangzhou-h", "cn-hangzhou-i"}})
		require.NoError(t, err)
		cmp, err := Compare(sug.Plan)
		require.NoError(t, err)
		assert.Equal(t, cni, cmp.From)
		assert.Equal(t, *sug.Plan, *cmp.Columns[i].Plan)
		assert.Empty(t, cmp.Columns[i].Derived)
	}
}
