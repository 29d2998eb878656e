package ackplan

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/ack"
)

func capPfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func capType(t *testing.T, name string) ack.InstanceType {
	t.Helper()
	it, ok := ack.Builtin(name)
	require.True(t, ok, name)
	return it
}

// flannelPlan is a Flannel plan of nodes in one /16 node vSwitch.
func capFlannelPlan(t *testing.T, backend, podCIDR string, mask, nodes int) *Plan {
	return &Plan{
		VPC:         Block{Prefix: capPfx("192.168.0.0/16"), Path: "vpc.cidr"},
		VSwitches:   []VSwitch{{Name: "vsw-a", Zone: "cn-hangzhou-i", CIDR: capPfx("192.168.0.0/18"), Path: "vpc.vswitches[0]"}},
		CNI:         CNI{Mode: "flannel", Backend: backend},
		PodCIDR:     Block{Prefix: capPfx(podCIDR), Path: "cluster.podCIDR"},
		NodeMask:    mask,
		ServiceCIDR: Block{Prefix: capPfx("172.21.0.0/20"), Path: "cluster.serviceCIDR"},
		Pools:       []Pool{{Name: "pool-a", VSwitch: "vsw-a", Nodes: nodes, Type: capType(t, ack.DefaultInstanceType), Path: "plan.nodePools[0]"}},
		// The loader's default for an unwritten plan.podSurgePercent.
		PodSurgePercent: DefaultPodSurgePercent,
	}
}

// terwayExample is ACK's single-zone Terway example: VPC 192.168.0.0/16,
// node vSwitch 192.168.0.0/19, pod vSwitch 192.168.32.0/19, Service
// 172.21.0.0/20 → "max 8,192 pod IPs" (facts §5, ACK network planning).
func capTerwayExample(t *testing.T, nodes int, it string) *Plan {
	return &Plan{
		VPC: Block{Prefix: capPfx("192.168.0.0/16"), Path: "vpc.cidr"},
		VSwitches: []VSwitch{
			{Name: "node-i", Zone: "cn-hangzhou-i", CIDR: capPfx("192.168.0.0/19"), Path: "vpc.vswitches[0]"},
			{Name: "pod-i", Zone: "cn-hangzhou-i", CIDR: capPfx("192.168.32.0/19"), Path: "vpc.vswitches[1]"},
		},
		CNI:         CNI{Mode: "terway", ENIMode: "shared", PodVSwitches: map[string][]string{"cn-hangzhou-i": {"pod-i"}}},
		ServiceCIDR: Block{Prefix: capPfx("172.21.0.0/20"), Path: "cluster.serviceCIDR"},
		Pools:       []Pool{{Name: "pool-a", VSwitch: "node-i", Nodes: nodes, Type: capType(t, it), Path: "plan.nodePools[0]"}},
		// The loader's default for an unwritten plan.podSurgePercent.
		PodSurgePercent: DefaultPodSurgePercent,
	}
}

func capLimit(t *testing.T, c Capacity, name, zone string) NodeLimit {
	t.Helper()
	for _, l := range c.Limits {
		if l.Name == name && l.Zone == zone {
			return l
		}
	}
	require.Failf(t, "no limit", "%s zone %q in %+v", name, zone, c.Limits)
	return NodeLimit{}
}

func capVSwitch(t *testing.T, c Capacity, name string) VSwitchCapacity {
	t.Helper()
	for _, v := range c.VSwitches {
		if v.Name == name {
			return v
		}
	}
	require.Failf(t, "no vSwitch", "%s", name)
	return VSwitchCapacity{}
}

// TestPodsPerNode checks each CNI's pods-per-node figure against ACK's
// published examples.
func TestPodsPerNode(t *testing.T) {
	// ACK: ecs.g7.4xlarge, 8 ENIs × 30 addresses → (8 − 1) × 30 = 210.
	c := ComputeCapacity(capTerwayExample(t, 10, "ecs.g7.4xlarge"))
	require.Len(t, c.Pools, 1)
	assert.Equal(t, 210, c.Pools[0].PodsPerNode)
	assert.Equal(t, "(EniQuantity 8 − 1) × EniPrivateIpAddressQuantity 30 = 210", c.Pools[0].Formula)
	assert.Equal(t, SourceTerwayShared, c.Pools[0].Source)
	assert.Empty(t, c.Pools[0].JoinRefused)
	assert.Equal(t, "terway/shared", c.CNI)

	p := capTerwayExample(t, 10, "ecs.g7.4xlarge")
	p.CNI.ENIMode = "exclusive"
	c = ComputeCapacity(p)
	assert.Equal(t, 7, c.Pools[0].PodsPerNode, "exclusive ENI: EniQuantity − 1")
	assert.Equal(t, "EniQuantity 8 − 1 = 7", c.Pools[0].Formula)
	assert.Equal(t, "terway/exclusive", c.CNI)

	// A 2-ENI type is refused by ACK's "greater than 11" rule.
	c = ComputeCapacity(capTerwayExample(t, 10, "ecs.g6.large"))
	assert.Equal(t, 6, c.Pools[0].PodsPerNode)
	assert.Contains(t, c.Pools[0].JoinRefused, "greater than 11")
	// An unverified type says so.
	c = ComputeCapacity(capTerwayExample(t, 10, "ecs.g8i.xlarge"))
	assert.Contains(t, c.Pools[0].Unverified, "unverified: EniQuantity")
	assert.Contains(t, c.Notes[len(c.Notes)-1], "ecs.g8i.xlarge figures are unverified")

	// terraform's node_cidr_mask: "24 means 2^(32-24)-1=255".
	for mask, want := range map[int]int{24: 255, 25: 127, 26: 63, 27: 31, 28: 15} {
		c = ComputeCapacity(capFlannelPlan(t, "vxlan", "172.20.0.0/16", mask, 3))
		assert.Equal(t, want, c.Pools[0].PodsPerNode, "/%d", mask)
		assert.Equal(t, SourceFlannelMask, c.Pools[0].Source)
	}

	// Calico: kubelet's 110, the block size named.
	p = capFlannelPlan(t, "", "172.20.0.0/16", 0, 3)
	p.CNI = CNI{Mode: "calico"}
	c = ComputeCapacity(p)
	assert.Equal(t, 64, c.Pools[0].PodsPerNode)
	assert.Equal(t, "one /26 IPAM block: 2^(32−26) = 64", c.Pools[0].Formula)
	p.CNI.CalicoBlock = 24
	c = ComputeCapacity(p)
	assert.Equal(t, 110, c.Pools[0].PodsPerNode, "a /24 block holds 256, kubelet's 110 binds")
	assert.Equal(t, "one /24 IPAM block: 2^(32−24) = 256, kubelet --max-pods 110 binds: 110", c.Pools[0].Formula)

	// The requirement next to the figure.
	p = capFlannelPlan(t, "vxlan", "172.20.0.0/16", 26, 3)
	p.PodsPerNode = 100
	c = ComputeCapacity(p)
	assert.False(t, c.Pools[0].MeetsRequired, "63 pods per node < 100")
	p.PodsPerNode = 60
	assert.True(t, ComputeCapacity(p).Pools[0].MeetsRequired)
}

// TestMaxNodes checks the node limits and which binds, against ACK's
// examples: /16 pod CIDR + /24 mask → 256 nodes, + /26 → 1,024; a
// 200-entry route quota binds a 300-node ali-vpc plan.
func TestMaxNodes(t *testing.T) {
	tests := []struct {
		name       string
		plan       func() *Plan
		binding    string
		maxNodes   int
		checkLimit string
		limitMax   int
		raised     int
	}{
		{"/16 pod CIDR, /24 mask: 256 nodes", func() *Plan { return capFlannelPlan(t, "vxlan", "172.20.0.0/16", 24, 10) },
			LimitPodCIDR, 256, LimitPodCIDR, 256, 0},
		{"ali-vpc, /16 pod CIDR, /26 mask: 1,024 subnets, ACK's Flannel 1,000, the route quota's 200 binds", func() *Plan { return capFlannelPlan(t, "alivpc", "172.20.0.0/16", 26, 10) },
			LimitRouteQuota, 200, LimitACK, 1000, 0},
		{"VXLAN (self-managed, no ACK node limit): /16 in /26 → the pod CIDR's 1,024 binds", func() *Plan { return capFlannelPlan(t, "vxlan", "172.20.0.0/16", 26, 10) },
			LimitPodCIDR, 1024, LimitPodCIDR, 1024, 0},
		{"ali-vpc, 300 nodes: the 200-entry route quota binds", func() *Plan { return capFlannelPlan(t, "alivpc", "172.20.0.0/16", 24, 300) },
			LimitRouteQuota, 200, LimitRouteQuota, 200, 1000},
		{"ali-vpc with 2 custom routes and a declared range", func() *Plan {
			p := capFlannelPlan(t, "alivpc", "172.20.0.0/16", 24, 100)
			p.Routes = []Route{{Destination: capPfx("0.0.0.0/0")}, {Destination: capPfx("10.1.0.0/16")}}
			p.Ranges = []Range{{Name: "idc", CIDR: capPfx("10.1.0.0/16")}, {Name: "peer", CIDR: capPfx("10.2.0.0/16")}}
			return p
		}, LimitRouteQuota, 197, LimitRouteQuota, 197, 997},
		{"ali-vpc, quota raised to 1,000: the pod CIDR binds", func() *Plan {
			p := capFlannelPlan(t, "alivpc", "172.20.0.0/16", 24, 100)
			p.RouteQuota, p.RouteQuotaSet = 1000, true
			return p
		}, LimitPodCIDR, 256, LimitRouteQuota, 1000, 1000},
		{"ACK Basic: 10 nodes", func() *Plan {
			p := capFlannelPlan(t, "vxlan", "172.20.0.0/16", 24, 5)
			p.Edition = "basic"
			return p
		}, LimitACK, 10, LimitACK, 10, 0},
		{"Terway: 5,000 nodes by default, 15,000 on request", func() *Plan { return capTerwayExample(t, 10, "ecs.g7.4xlarge") },
			LimitPodVSwitches, capSurgeFit(8188, 0, 210, 25), LimitACK, 5000, 15000},
		{"Calico: /16 pool in /26 blocks", func() *Plan {
			p := capFlannelPlan(t, "", "172.20.0.0/16", 0, 10)
			p.CNI = CNI{Mode: "calico"}
			return p
		}, LimitPodCIDR, 1024, LimitPodCIDR, 1024, 0},
		{"a /24 node vSwitch: 252 nodes", func() *Plan {
			p := capFlannelPlan(t, "vxlan", "172.20.0.0/16", 26, 10)
			p.VSwitches[0].CIDR = capPfx("192.168.0.0/24")
			return p
		}, LimitNodeVSwitch, 252, LimitNodeVSwitch, 252, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ComputeCapacity(tt.plan())
			assert.Equal(t, tt.binding, c.Binding)
			assert.Equal(t, tt.maxNodes, c.MaxNodes)
			l := capLimit(t, c, tt.checkLimit, "")
			assert.Equal(t, tt.limitMax, l.MaxNodes)
			assert.Equal(t, tt.raised, l.Raised)
			assert.NotEmpty(t, l.Source)
			assert.NotEmpty(t, l.Formula)
			n := 0
			for _, l := range c.Limits {
				if l.Binding {
					n++
					assert.Equal(t, tt.binding, l.Name)
					assert.Empty(t, l.Zone, "only a cluster-wide limit binds")
				}
			}
			assert.Equal(t, 1, n, "exactly one binding limit")
		})
	}
	// Calico and Flannel VXLAN/host-gw/udp are not ACK CNI options: no
	// ACK node limit is modelled, and the report says so.
	p := capFlannelPlan(t, "", "172.20.0.0/16", 0, 10)
	p.CNI = CNI{Mode: "calico"}
	for _, backend := range []string{"calico", "vxlan", "host-gw", "udp"} {
		if backend != "calico" {
			p.CNI = CNI{Mode: "flannel", Backend: backend}
			p.NodeMask, p.NodeMaskPath = 24, "cluster.nodeCIDRMask"
		}
		c := ComputeCapacity(p)
		for _, l := range c.Limits {
			assert.NotEqual(t, LimitACK, l.Name, backend)
		}
		assert.Contains(t, c.Heading(), "self-managed: not an ACK CNI option, no ACK node limit modelled", backend)
		assert.NotContains(t, c.Heading(), "ACK Pro", backend)
	}
	// The formulas say the arithmetic.
	c := ComputeCapacity(capFlannelPlan(t, "alivpc", "172.20.0.0/16", 24, 300))
	assert.Equal(t, "2^(24−16) = 256", capLimit(t, c, LimitPodCIDR, "").Formula)
	assert.Equal(t, "quota 200 − 0 custom entries − 0 declared ranges = 200 (quota 1,000 on request: 1,000)", capLimit(t, c, LimitRouteQuota, "").Formula)
	assert.Equal(t, "flannel/alivpc, ACK Pro", c.Heading())
	assert.Equal(t, 300, c.Routes.Used)
	assert.Equal(t, 200, c.Routes.Quota)
}

// TestTerwayExample compares ACK's "max 8,192 pod IPs" with the formula:
// a /19 is 8,192 addresses, Alibaba reserves 4 of each vSwitch, so 8,188
// are a pod's.
func TestTerwayExample(t *testing.T) {
	c := ComputeCapacity(capTerwayExample(t, 10, "ecs.g7.4xlarge"))
	pod := capVSwitch(t, c, "pod-i")
	assert.Equal(t, "pod", pod.Role)
	assert.Equal(t, 8192-4, pod.Usable, "ACK's 8,192 is the /19's size; 4 addresses are reserved")
	node := capVSwitch(t, c, "node-i")
	assert.Equal(t, "node", node.Role)
	assert.Equal(t, 8188, node.Usable)
	assert.Equal(t, 10, node.Nodes)
	// 10 nodes × 210 pods (nodes filled up, no plan.podsPerNode).
	assert.Equal(t, 2100, pod.Pods)
	assert.Contains(t, c.Notes, "no plan.podsPerNode: each node is counted full, at its pod limit, in the pod vSwitches' use and their node limit (state the workload with plan.podsPerNode)")
	assert.Equal(t, 8188-2100, pod.Left)
	assert.Equal(t, 525, pod.Surge, "25% of 2,100")
	assert.Equal(t, "+25% surge: 525 pods", pod.Headroom)
	assert.Equal(t, 8188-2100-525, pod.LeftAfterSurge)
	// Pod vSwitch ÷ (210 pods a node + 25% surge), as the rule
	// terway-pod-vswitch-addresses counts: 31 nodes in the zone (38
	// without the surge: 31 × 210 = 6,510 + 1,628 = 8,138 ≤ 8,188).
	l := capLimit(t, c, LimitPodVSwitches, "")
	assert.Equal(t, capSurgeFit(8188, 0, 210, 25), l.MaxNodes)
	assert.Equal(t, 31, l.MaxNodes)
	assert.Equal(t, "8,188 usable pod vSwitch addresses ÷ (210 pods per node + 25% surge) per node = 31 (38 without the surge)", l.Formula)
	// The Service CIDR: 2^12 − 2 allocatable, one for kubernetes.
	require.NotNil(t, c.Services)
	assert.Equal(t, 4094, c.Services.Allocatable)
	assert.Equal(t, 4093, c.Services.Available)
	require.Len(t, c.Zones, 2, "the zone's node and pod vSwitches apart")
	assert.Equal(t, ZoneCapacity{Zone: "cn-hangzhou-i", Role: "node", Nodes: 10, Usable: 8188, Used: 10, Left: 8178, LeftAfterSurge: 8178}, c.Zones[0])
	assert.Equal(t, ZoneCapacity{Zone: "cn-hangzhou-i", Role: "pod", Nodes: 10, Usable: 8188, Used: 2100, Surge: 525, Left: 6088, LeftAfterSurge: 5563}, c.Zones[1])
}

// TestSurge checks the headroom with a stated workload and surge nodes.
func TestSurge(t *testing.T) {
	p := capTerwayExample(t, 30, "ecs.g7.xlarge")
	p.PodsPerNode = 40 // ≤ 45
	p.PodSurgePercent = 50
	p.SurgeNodes = 2
	c := ComputeCapacity(p)
	pod := capVSwitch(t, c, "pod-i")
	assert.Equal(t, 1200, pod.Pods, "30 nodes × 40 pods")
	assert.Equal(t, 600, pod.Surge)
	assert.Equal(t, "+50% surge: 600 pods", pod.Headroom)
	node := capVSwitch(t, c, "node-i")
	assert.Equal(t, 2, node.Surge)
	assert.Equal(t, "+2 surge nodes", node.Headroom)
	assert.Equal(t, 8188-30-2, node.LeftAfterSurge)
	assert.Equal(t, 32, capLimit(t, c, LimitACK, "").Planned)
	l := capLimit(t, c, LimitPodVSwitches, "")
	assert.Equal(t, capSurgeFit(8188, 0, 40, 50), l.MaxNodes, "the requirement, not the node's 45, is what a node takes, with the 50% surge")
	assert.Contains(t, l.Formula, "plan.podsPerNode")

	// A pod vSwitch too small: left after surge is negative.
	p.VSwitches[1].CIDR = capPfx("192.168.32.0/21") // 2044 usable < 1800? no: 2044 ≥ 1800
	p.PodSurgePercent = 100                         // 1200 + 1200 = 2400 > 2044
	c = ComputeCapacity(p)
	assert.Equal(t, 2044-2400, capVSwitch(t, c, "pod-i").LeftAfterSurge)

	// plan.podSurgePercent: 0 is no surge, as the rule counts it: the
	// limit is the plain quotient.
	p.PodSurgePercent = 0
	c = ComputeCapacity(p)
	assert.Equal(t, 0, c.PodSurgePercent)
	assert.Equal(t, 2044/40, capLimit(t, c, LimitPodVSwitches, "").MaxNodes)
	assert.Equal(t, 0, capVSwitch(t, c, "pod-i").Surge)
}

// TestPodTotals checks the cluster's pods against the workload.
func TestPodTotals(t *testing.T) {
	p := capTerwayExample(t, 10, "ecs.g7.xlarge") // 45 pods a node
	c := ComputeCapacity(p)
	assert.Equal(t, PodTotals{Capacity: 450, Formula: "the nodes hold 10 × 45 = 450 pods"}, c.Pods)
	p.PodsPerNode = 40
	c = ComputeCapacity(p)
	assert.Equal(t, 450, c.Pods.Capacity)
	assert.Equal(t, 400, c.Pods.Planned)
	assert.Equal(t, 100, c.Pods.Surge)
	assert.Equal(t, "the nodes hold 10 × 45 = 450 pods; the workload 10 nodes × 40 = 400 pods, +25% surge: 100 pods → 500: SHORT by 50", c.Pods.Formula)
	p.Pools[0].Nodes = 1000
	assert.Equal(t, "the nodes hold 1,000 × 45 = 45,000 pods; the workload 1,000 nodes × 40 = 40,000 pods, +25% surge: 10,000 pods → 50,000: SHORT by 5,000", ComputeCapacity(p).Pods.Formula)
	p.Pools[0].Nodes = 10
	// An instance type the loader could not resolve: no figures.
	p.Pools[0].Type = ack.InstanceType{}
	c = ComputeCapacity(p)
	assert.Equal(t, 0, c.Pools[0].PodsPerNode)
	assert.Equal(t, "unknown instance type: no ENI figures", c.Pools[0].Formula)
	// No pools: empty lists, not null.
	js, err := json.Marshal(ComputeCapacity(&Plan{CNI: CNI{Mode: "flannel"}}))
	require.NoError(t, err)
	assert.Contains(t, string(js), `"pools":[]`)
	assert.Contains(t, string(js), `"zones":[]`)
	assert.Contains(t, string(js), `"vswitches":[]`)
}

// TestTwoPodVSwitches checks pods are spread the most-free-first way.
func TestTwoPodVSwitches(t *testing.T) {
	p := capTerwayExample(t, 10, "ecs.g7.xlarge") // 450 pods
	p.VSwitches = append(p.VSwitches, VSwitch{Name: "pod-i2", Zone: "cn-hangzhou-i", CIDR: capPfx("192.168.64.0/24"), Path: "vpc.vswitches[2]"})
	p.CNI.PodVSwitches["cn-hangzhou-i"] = []string{"pod-i", "pod-i2"}
	c := ComputeCapacity(p)
	a, b := capVSwitch(t, c, "pod-i"), capVSwitch(t, c, "pod-i2")
	assert.Equal(t, 450, a.Pods, "pod-i has 8188 free: it takes every pod before pod-i2's 252 is reached")
	assert.Equal(t, 0, b.Pods)
	assert.Equal(t, 8188+252, c.Zones[1].Usable, "the zone's pod vSwitches")
	assert.Equal(t, "pod", c.Zones[1].Role)
	assert.Equal(t, capSurgeFit(8188+252, 0, 45, 25), capLimit(t, c, LimitPodVSwitches, "").MaxNodes)
}

func TestSpread(t *testing.T) {
	tests := []struct {
		free   []int
		demand int
		want   []int
	}{
		{[]int{100, 10}, 50, []int{50, 0}},
		{[]int{100, 10}, 95, []int{93, 2}}, // levels: 7 and 8 free left
		{[]int{10, 10}, 5, []int{3, 2}},
		{[]int{10, 10}, 20, []int{10, 10}},
		{[]int{10, 10}, 25, []int{15, 10}}, // short: the rest on the first
		{[]int{5}, 0, []int{0}},
	}
	for _, tt := range tests {
		got := capSpread(tt.free, tt.demand)
		assert.Equal(t, tt.want, got, "spread(%v, %d)", tt.free, tt.demand)
		sum := 0
		for _, g := range got {
			sum += g
		}
		assert.Equal(t, tt.demand, sum)
	}
}

func TestPodCIDRNodes(t *testing.T) {
	// The Service CIDR figure is the rule table's AllocatableClusterIPs;
	// ipallocator: a /24 has "254 addresses usable out of 256 total".
	assert.Equal(t, 254, AllocatableClusterIPs(capPfx("10.0.0.0/24")))
	assert.Equal(t, 4094, AllocatableClusterIPs(capPfx("172.21.0.0/20")))
	assert.Equal(t, 256, PodCIDRNodes(16, 24))
	assert.Equal(t, 1024, PodCIDRNodes(16, 26))
	assert.Equal(t, 0, PodCIDRNodes(24, 16))
}

// TestInvalidFieldsAreLeftOut checks that a field the loader marked
// invalid is not used.
func TestInvalidFieldsAreLeftOut(t *testing.T) {
	p := capFlannelPlan(t, "vxlan", "172.20.0.0/16", 24, 3)
	p.NodeMaskPath = "cluster.nodeCIDRMask"
	p.Invalid = []string{"cluster.podCIDR", "cluster.serviceCIDR", "cluster.nodeCIDRMask"}
	c := ComputeCapacity(p)
	assert.Nil(t, c.Services)
	assert.Equal(t, 0, c.Pools[0].PodsPerNode)
	for _, l := range c.Limits {
		assert.NotEqual(t, LimitPodCIDR, l.Name)
	}
}

func TestWriteCapacity(t *testing.T) {
	p := capFlannelPlan(t, "alivpc", "172.20.0.0/16", 24, 300)
	p.PodsPerNode = 100
	p.Services = 5000
	c := ComputeCapacity(p)
	var b bytes.Buffer
	require.NoError(t, WriteCapacity(&b, c))
	out := b.String()
	for _, s := range []string{
		"Capacity (flannel/alivpc, ACK Pro) — modelled from the plan, not measured",
		"Maximum nodes: 200, bound by route-quota (planned 300)",
		"2^(32−24) − 1 = 255",
		"100 ok",
		"VPC route entries, one per node",
		"← binds, exceeded",
		"Services: 172.21.0.0/20 holds 4,094 ClusterIPs, 4,093 after the kubernetes Service; plan.services 5,000: SHORT",
		"VPC route entries: 300 used of 200 (0 custom + 300 nodes, one each); the quota can be raised to 1,000 on request",
		"over the quota by 100",
		"[1] " + SourceFlannelMask,
		"modelled, not measured",
	} {
		assert.Contains(t, out, s)
	}
	// Every [n] cited is listed.
	assert.Contains(t, out, "Sources\n")
	js, err := json.Marshal(c)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"binding":"route-quota"`)
	assert.Contains(t, string(js), `"max_nodes_on_request":1000`)
	assert.Error(t, WriteCapacity(capFailWriter{}, c))
}

type capFailWriter struct{}

func (capFailWriter) Write([]byte) (int, error) { return 0, assert.AnError }

// TestTwoZones checks per-zone limits and their cluster-wide sum, and a
// zone with nodes but no pod vSwitch (Terway then uses the node vSwitch).
func TestTwoZones(t *testing.T) {
	p := capTerwayExample(t, 10, "ecs.g7.xlarge") // 45 pods a node
	p.VSwitches = append(p.VSwitches, VSwitch{Name: "node-j", Zone: "cn-hangzhou-j", CIDR: capPfx("192.168.64.0/24"), Path: "vpc.vswitches[2]"})
	p.Pools = append(p.Pools, Pool{Name: "pool-j", VSwitch: "node-j", Nodes: 4, Type: capType(t, "ecs.g7.xlarge"), Path: "plan.nodePools[1]"})
	c := ComputeCapacity(p)
	i := capLimit(t, c, LimitPodVSwitches, "cn-hangzhou-i")
	j := capLimit(t, c, LimitPodVSwitches, "cn-hangzhou-j")
	all := capLimit(t, c, LimitPodVSwitches, "")
	assert.Equal(t, capSurgeFit(8188, 0, 45, 25), i.MaxNodes)
	assert.Equal(t, 145, i.MaxNodes, "145 × 45 = 6,525 + 1,632 surge = 8,157 ≤ 8,188")
	assert.Equal(t, 10, i.Planned)
	// Zone j's pods come from its node vSwitch: one address per node
	// first, then 45 pods and their surge: 4 × 46 + 45 = 229 ≤ 252.
	assert.Equal(t, capSurgeFit(252, 1, 45, 25), j.MaxNodes, "zone j's pods come from its node vSwitch")
	assert.Equal(t, 4, j.MaxNodes)
	assert.Equal(t, "pods on the node vSwitch in zone cn-hangzhou-j", j.What)
	assert.Contains(t, j.Formula, "1 node address + 45 pods per node + 25% surge")
	assert.Equal(t, 4, j.Planned)
	assert.Equal(t, i.MaxNodes+j.MaxNodes, all.MaxNodes)
	assert.Equal(t, "145 + 4 = 149 (each zone bounds its own nodes)", all.Formula)
	nj := capVSwitch(t, c, "node-j")
	assert.Equal(t, "node+pod", nj.Role)
	assert.Equal(t, 4, nj.Nodes)
	assert.Equal(t, 180, nj.Pods)
	assert.Equal(t, 252-184, nj.Left)
	assert.Contains(t, c.Notes, "zone cn-hangzhou-j has nodes but no pod vSwitch: Terway gives pods addresses from the node vSwitch (the primary ENI's)")
	require.Len(t, c.Zones, 3) // i: node, pod; j: node+pod
	assert.Equal(t, ZoneCapacity{Zone: "cn-hangzhou-j", Role: "node+pod", Nodes: 4, Usable: 252, Used: 184, Surge: 45, Left: 68, LeftAfterSurge: 23}, c.Zones[2])
}

// capSurgeFit is the most nodes whose addresses fit, counted one node at a
// time as the rule terway-pod-vswitch-addresses counts a zone: n ×
// nodeAddr + n × per pods + ⌈n × per × pct / 100⌉ surge pods ≤ usable.
func capSurgeFit(usable, nodeAddr, per, pct int) int {
	n := 0
	for {
		m := n + 1
		pods := m * per
		if m*nodeAddr+pods+(pods*pct+99)/100 > usable {
			return n
		}
		n = m
	}
}
