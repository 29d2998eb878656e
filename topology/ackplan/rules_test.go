package ackplan_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/ack"
	"netsim/topology/ackplan"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func itype(t *testing.T, name string) ack.InstanceType {
	t.Helper()
	it, ok := ack.Builtin(name)
	require.True(t, ok, name)
	return it
}

// flannelPlan is a valid Flannel ali-vpc plan: 20 nodes in two zones.
func flannelPlan(t *testing.T) *ackplan.Plan {
	g7 := itype(t, "ecs.g7.xlarge")
	return &ackplan.Plan{
		VPC:        ackplan.Block{Prefix: pfx("192.168.0.0/16"), Path: "vpc.cidr"},
		RouteQuota: 200,
		VSwitches: []ackplan.VSwitch{
			{Name: "vsw-a", Zone: "z1", CIDR: pfx("192.168.0.0/20"), Path: "vpc.vswitches[0]"},
			{Name: "vsw-b", Zone: "z2", CIDR: pfx("192.168.16.0/20"), Path: "vpc.vswitches[1]"},
		},
		CNI:          ackplan.CNI{Mode: "flannel", Backend: "alivpc"},
		PodCIDR:      ackplan.Block{Prefix: pfx("172.20.0.0/16"), Path: "cluster.podCIDR"},
		NodeMask:     24,
		NodeMaskPath: "cluster.nodeCIDRMask",
		ServiceCIDR:  ackplan.Block{Prefix: pfx("172.21.0.0/20"), Path: "cluster.serviceCIDR"},
		Pools: []ackplan.Pool{
			{Name: "pool-a", VSwitch: "vsw-a", Nodes: 10, Type: g7, Path: "plan.nodePools[0]", TypePath: "plan.nodePools[0].instanceType"},
			{Name: "pool-b", VSwitch: "vsw-b", Nodes: 10, Type: g7, Path: "plan.nodePools[1]", TypePath: "plan.nodePools[1].instanceType"},
		},
		PodsPerNode:     100,
		Services:        100,
		PodSurgePercent: 25,
		Edition:         "pro",
	}
}

// terwayPlan is a valid Terway shared-ENI plan: node and pod vSwitches
// in two zones, 40 pods on each of 20 ecs.g7.xlarge nodes (45 at most).
func terwayPlan(t *testing.T) *ackplan.Plan {
	p := flannelPlan(t)
	p.CNI = ackplan.CNI{Mode: "terway", ENIMode: "shared", PodVSwitchesPath: "cluster.cni.terway.podVSwitches",
		PodVSwitches: map[string][]string{"z1": {"vsw-pa"}, "z2": {"vsw-pb"}}}
	p.VSwitches = append(p.VSwitches,
		ackplan.VSwitch{Name: "vsw-pa", Zone: "z1", CIDR: pfx("192.168.32.0/19"), Path: "vpc.vswitches[2]"},
		ackplan.VSwitch{Name: "vsw-pb", Zone: "z2", CIDR: pfx("192.168.64.0/19"), Path: "vpc.vswitches[3]"})
	p.PodCIDR = ackplan.Block{Path: "cluster.podCIDR"}
	p.PodsPerNode = 40
	return p
}

// findings is each finding as "RULE SEVERITY PATH".
func findings(res ackplan.Result) []string {
	var out []string
	for _, f := range res.Findings() {
		out = append(out, fmt.Sprintf("%s %s %s", f.Rule.ID, f.Severity, f.Path))
	}
	return out
}

func TestGoodPlansHaveNoFinding(t *testing.T) {
	for name, p := range map[string]*ackplan.Plan{"flannel": flannelPlan(t), "terway": terwayPlan(t)} {
		res := ackplan.Check(p)
		assert.Empty(t, res.Findings(), name)
		for _, rr := range res.Rules {
			if rr.Rule.ID == "terway-pod-vswitch-ref" {
				assert.Equal(t, name == "terway", rr.Applied, "%s: Terway rules apply to Terway plans only", name)
			}
		}
	}
}

func TestRuleTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range ackplan.Rules {
		assert.False(t, seen[r.ID], "rule %s is listed once", r.ID)
		seen[r.ID] = true
		assert.Regexp(t, `^[a-z]+(-[a-z0-9]+)*$`, r.ID)
		assert.NotEmpty(t, r.Title, r.ID)
		assert.Contains(t, r.Source, "", r.ID)
		assert.True(t, strings.Contains(r.Source, "http") || strings.Contains(r.Source, "kubernetes ") || strings.Contains(r.Source, "terway "), "%s: the source names a URL or a repository path: %s", r.ID, r.Source)
		assert.NotNil(t, r.Check, r.ID)
	}
	for _, id := range []string{"vpc-cidr-private", "vpc-cidr-mask", "vswitch-mask", "vswitch-in-vpc", "vswitch-overlap", "vswitch-quota",
		"pod-cidr-private", "pod-cidr-overlap", "service-cidr-private", "service-cidr-mask", "service-cidr-overlap", "node-cidr-mask",
		"pod-cidr-nodes", "route-quota", "node-limit", "pods-per-node", "services-capacity", "node-vswitch-addresses",
		"terway-pod-vswitch-ref", "terway-pod-vswitch-zone", "terway-pod-vswitch-addresses", "route-destination", "route-overlap", "range-overlap"} {
		assert.True(t, seen[id], "rule %s is in the table", id)
		assert.NotNil(t, ackplan.RuleByID(id))
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		base   func(*testing.T) *ackplan.Plan
		change func(p *ackplan.Plan)
		want   []string // every finding, "RULE SEVERITY PATH"
		msg    string   // in the first finding's message
	}{
		{"VPC not private", flannelPlan, func(p *ackplan.Plan) {
			p.VPC.Prefix = pfx("100.64.0.0/16")
			p.VSwitches = p.VSwitches[:0]
		}, []string{"vpc-cidr-private error vpc.cidr"}, "100.64.0.0/16 is not a private range"},
		{"VPC mask", flannelPlan, func(p *ackplan.Plan) { p.VPC.Prefix = pfx("192.168.0.0/29") },
			// the vSwitches are then outside it
			[]string{"vpc-cidr-mask error vpc.cidr"}, "has mask /29: an Alibaba Cloud VPC CIDR mask must be /8 to /28"},
		{"vSwitch mask", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[1].CIDR = pfx("192.168.16.0/30") },
			[]string{"vswitch-mask error vpc.vswitches[1].cidr"}, "must be /16 to /29"},
		{"vSwitch outside the VPC", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[1].CIDR = pfx("10.0.0.0/24") },
			[]string{"vswitch-in-vpc error vpc.vswitches[1].cidr"}, "10.0.0.0/24 is not inside the VPC CIDR 192.168.0.0/16"},
		{"vSwitches overlap", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[1].CIDR = pfx("192.168.8.0/21") },
			[]string{"vswitch-overlap error vpc.vswitches[1].cidr"}, `overlaps vSwitch "vsw-a" (192.168.0.0/20)`},
		{"151 vSwitches", flannelPlan, func(p *ackplan.Plan) {
			p.VPC.Prefix = pfx("10.0.0.0/8")
			p.PodCIDR.Prefix = pfx("172.20.0.0/16")
			p.VSwitches = nil
			for i := 0; i < 151; i++ {
				p.VSwitches = append(p.VSwitches, ackplan.VSwitch{Name: fmt.Sprintf("vsw-%d", i), Zone: "z1",
					CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 24), Path: fmt.Sprintf("vpc.vswitches[%d]", i)})
			}
			p.Pools[0].VSwitch, p.Pools[1].VSwitch = "vsw-0", "vsw-1"
		}, []string{"vswitch-quota error vpc.vswitches[150]"}, "151 vSwitches: a VPC holds at most 150"},
		{"pod CIDR not private", flannelPlan, func(p *ackplan.Plan) { p.PodCIDR.Prefix = pfx("7.0.0.0/16") },
			[]string{"pod-cidr-private error cluster.podCIDR"}, "7.0.0.0/16 is not a private range"},
		{"pod CIDR overlaps the VPC", flannelPlan, func(p *ackplan.Plan) { p.PodCIDR.Prefix = pfx("192.168.128.0/17") },
			[]string{"pod-cidr-overlap error cluster.podCIDR"}, "overlaps the VPC CIDR 192.168.0.0/16: with Flannel"},
		{"Service CIDR not private", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("100.64.0.0/20") },
			[]string{"service-cidr-private error cluster.serviceCIDR"}, "is not a private range"},
		{"Service CIDR mask", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("172.16.0.0/12") },
			[]string{"service-cidr-mask error cluster.serviceCIDR"}, "has mask /12: ACK takes a Service CIDR mask of /16 to /24"},
		{"Service CIDR overlaps the pod CIDR", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("172.20.16.0/20") },
			[]string{"service-cidr-overlap error cluster.serviceCIDR"}, "overlaps cluster.podCIDR 172.20.0.0/16"},
		{"Service CIDR overlaps the VPC", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("192.168.240.0/20") },
			[]string{"service-cidr-overlap error cluster.serviceCIDR"}, "overlaps the VPC CIDR"},
		{"node mask out of range", flannelPlan, func(p *ackplan.Plan) { p.NodeMask = 23 },
			[]string{"node-cidr-mask error cluster.nodeCIDRMask"}, "/23 is out of range: ACK's Flannel \"pods per node\" choices are /24"},
		{"node mask not longer than the pod CIDR", flannelPlan, func(p *ackplan.Plan) { p.PodCIDR.Prefix = pfx("172.20.0.0/24") },
			[]string{"node-cidr-mask error cluster.nodeCIDRMask"}, "/24 must be longer than the pod CIDR's /24"},
		{"Calico block size", func(t *testing.T) *ackplan.Plan {
			p := flannelPlan(t)
			p.CNI = ackplan.CNI{Mode: "calico", CalicoBlock: 19}
			p.NodeMask, p.NodeMaskPath = 19, "cluster.cni.calico.blockSize"
			return p
		}, nil, []string{"node-cidr-mask error cluster.cni.calico.blockSize"}, "Calico's IPv4 blockSize is /20 to /32"},
		{"pod CIDR too small for the nodes", flannelPlan, func(p *ackplan.Plan) { p.PodCIDR.Prefix = pfx("172.20.0.0/20") },
			// 16 node subnets for 20 nodes (and 20 pods of 100 ask for /24)
			[]string{"pod-cidr-nodes error cluster.podCIDR"}, "holds 16 node subnets of /24, but there are 20 nodes: use a larger pod CIDR or a longer nodeCIDRMask (20 nodes need a /19 pod CIDR with /24 node subnets, or nodeCIDRMask /25 in 172.20.0.0/20)"},
		{"pod CIDR too small, and the longer node mask would not hold the pods", flannelPlan, func(p *ackplan.Plan) {
			p.PodCIDR.Prefix = pfx("172.20.0.0/20")
			p.Pools[0].Nodes, p.Pools[1].Nodes = 20, 20
		},
			// 40 nodes need 6 subnet bits: /26 in the /20 holds 63 pods < 100
			[]string{"pod-cidr-nodes error cluster.podCIDR"}, "(40 nodes need a /18 pod CIDR with /24 node subnets; not nodeCIDRMask /26 in 172.20.0.0/20: it holds only 63 pods per node, fewer than plan.podsPerNode 100)"},
		{"pod CIDR without room for the surge", flannelPlan, func(p *ackplan.Plan) {
			p.PodCIDR.Prefix = pfx("172.20.0.0/19")
			p.Pools[0].Nodes = 22
			p.SurgeNodes = 1
		},
			[]string{"pod-cidr-nodes warning cluster.podCIDR"}, "the 32 nodes fit, but not the 1 surge node"},
		{"Flannel node limit", flannelPlan, func(p *ackplan.Plan) {
			p.VPC.Prefix = pfx("10.0.0.0/8")
			p.VSwitches[0].CIDR, p.VSwitches[1].CIDR = pfx("10.0.0.0/16"), pfx("10.1.0.0/16")
			p.PodCIDR.Prefix, p.NodeMask = pfx("172.16.0.0/14"), 26
			p.PodsPerNode = 60
			p.Pools[0].Nodes, p.Pools[1].Nodes = 600, 401
			p.RouteQuota, p.RouteQuotaSet = 1000, true
		}, []string{"route-quota error plan.nodePools[1].nodes", "node-limit error plan.nodePools[1].nodes"}, "1,001 nodes (one entry each) need 1,001 route entries, more than a route table holds even on request (1,000)"},
		{"route quota by default", flannelPlan, func(p *ackplan.Plan) {
			p.PodCIDR.Prefix = pfx("172.16.0.0/14")
			p.Pools[0].Nodes, p.Pools[1].Nodes = 150, 100
			p.VSwitches[0].CIDR, p.VSwitches[1].CIDR = pfx("192.168.0.0/20"), pfx("192.168.16.0/20")
		}, []string{"route-quota warning plan.nodePools[1].nodes"}, "250 nodes (one entry each) need 250 route entries but the default quota is 200: request up to 1,000 (Quota Center) or use Terway"},
		{"route quota written above 1,000", flannelPlan, func(p *ackplan.Plan) { p.RouteQuota, p.RouteQuotaSet = 2000, true },
			[]string{"route-quota error vpc.routeQuota"}, "2,000 is more than a route table's quota can be: 200 custom entries by default, up to 1,000 on request"},
		{"ACK Basic", flannelPlan, func(p *ackplan.Plan) { p.Edition = "basic" },
			[]string{"node-limit error plan.nodePools[1].nodes"}, "20 nodes are more than ACK Basic's 10"},
		{"ACK Basic with a self-managed CNI (the edition's limit)", flannelPlan, func(p *ackplan.Plan) { p.Edition = "basic"; p.CNI.Backend = "vxlan" },
			[]string{"node-limit error plan.nodePools[1].nodes"}, "20 nodes are more than ACK Basic's 10"},
		{"Terway above the default node quota", terwayPlan, func(p *ackplan.Plan) {
			p.VPC.Prefix = pfx("10.0.0.0/8")
			p.VSwitches[0].CIDR, p.VSwitches[1].CIDR = pfx("10.0.0.0/16"), pfx("10.1.0.0/16")
			p.VSwitches[2].CIDR, p.VSwitches[3].CIDR = pfx("10.64.0.0/16"), pfx("10.80.0.0/16")
			p.Pools[0].Nodes, p.Pools[1].Nodes = 3000, 3000
			p.PodsPerNode = 0
		}, []string{"node-limit warning plan.nodePools[1].nodes"}, "6,000 nodes are more than ACK Pro's default 5,000 with Terway: the cluster needs a quota request (up to 15,000)"},
		{"Flannel pods per node", flannelPlan, func(p *ackplan.Plan) { p.NodeMask = 25; p.PodsPerNode = 200 },
			[]string{"pods-per-node error plan.podsPerNode"}, "200 pods per node do not fit a Flannel node CIDR /25, which holds 2^(32−25) − 1 = 127 pods: use nodeCIDRMask /24"},
		{"Terway pods per node", terwayPlan, func(p *ackplan.Plan) { p.PodsPerNode = 50 },
			[]string{"pods-per-node error plan.nodePools[0].instanceType", "pods-per-node error plan.nodePools[1].instanceType"},
			"ecs.g7.xlarge holds 45 pods in shared ENI mode ((EniQuantity 4 − 1) × EniPrivateIpAddressQuantity 15 = 45), but plan.podsPerNode is 50: the smallest ecs.g7 type that holds them is ecs.g7.3xlarge ((EniQuantity 8 − 1) × EniPrivateIpAddressQuantity 15 = 105)"},
		{"Terway join rule", terwayPlan, func(p *ackplan.Plan) { p.Pools[1].Type = itype(t, "ecs.g6.large"); p.PodsPerNode = 0 },
			[]string{"pods-per-node error plan.nodePools[1].instanceType"}, `node pool "pool-b" cannot join the cluster: ecs.g6.large allows (EniQuantity 2 − 1) × EniPrivateIpAddressQuantity 6 = 6 pods in shared ENI mode: ACK requires a maximum number of pods per node greater than 11`},
		{"Terway exclusive join rule", terwayPlan, func(p *ackplan.Plan) { p.CNI.ENIMode = "exclusive"; p.PodsPerNode = 0 },
			[]string{"pods-per-node error plan.nodePools[0].instanceType", "pods-per-node error plan.nodePools[1].instanceType"}, "in exclusive ENI mode ACK requires more than 6 ENIs"},
		{"Services", flannelPlan, func(p *ackplan.Plan) { p.Services = 4094 },
			// a /20 has 4,094 allocatable, one of them the kubernetes Service's
			[]string{"services-capacity error cluster.serviceCIDR"}, "4,094 Services need 4,094 ClusterIPs, but 172.21.0.0/20 has 4,094 allocatable"},
		{"node vSwitch too small", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[0].CIDR = pfx("192.168.0.0/29") },
			// /29: 8 − 4 = 4 addresses for 10 nodes
			[]string{"node-vswitch-addresses error vpc.vswitches[0].cidr"}, `vSwitch "vsw-a" (192.168.0.0/29) has 4 usable addresses (8 minus the 4 Alibaba Cloud reserves), but 10 nodes are planned in it: use a larger vSwitch (at least /28)`},
		{"node vSwitch without room for the surge", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[0].CIDR = pfx("192.168.0.0/28"); p.SurgeNodes = 3 },
			// /28: 12 addresses, 10 nodes + 3
			[]string{"node-vswitch-addresses warning vpc.vswitches[0].cidr"}, "its 10 nodes fit, but not the 3 surge nodes"},
		{"pod vSwitch missing", terwayPlan, func(p *ackplan.Plan) { p.CNI.PodVSwitches["z1"] = []string{"vsw-px"} },
			[]string{"terway-pod-vswitch-ref error cluster.cni.terway.podVSwitches.z1[0]"}, `vSwitch "vsw-px" does not exist (vSwitches are: vsw-a, vsw-b, vsw-pa, vsw-pb) (did you mean "vsw-pa"?)`},
		{"pod vSwitch in another zone", terwayPlan, func(p *ackplan.Plan) { p.CNI.PodVSwitches["z1"] = []string{"vsw-pa", "vsw-pb"} },
			[]string{"terway-pod-vswitch-ref error cluster.cni.terway.podVSwitches.z1[1]"}, `vSwitch "vsw-pb" is in zone z2, not z1`},
		{"zone without pod vSwitch", terwayPlan, func(p *ackplan.Plan) { delete(p.CNI.PodVSwitches, "z2") },
			[]string{"terway-pod-vswitch-zone warning plan.nodePools[1].vswitch"}, `node pool pool-b is in zone z2, which has no pod vSwitch in cluster.cni.terway.podVSwitches: terwayd falls back to the node's own vSwitch vsw-b, so the pods of zone z2 take addresses of the node vSwitch, shared with the nodes (and running out together); add a pod vSwitch for z2 under cluster.cni.terway.podVSwitches`},
		{"zone without pod vSwitch, node vSwitch too small for its pods", terwayPlan, func(p *ackplan.Plan) {
			delete(p.CNI.PodVSwitches, "z2")
			p.VSwitches[1].CIDR = pfx("192.168.16.0/26")
		},
			// the fallback counts vsw-b: /26 = 64 − 4 reserved − 10 nodes = 50 < 400 pods × 1.25
			[]string{"terway-pod-vswitch-zone warning plan.nodePools[1].vswitch", "terway-pod-vswitch-addresses warning cluster.cni.terway.podVSwitches"},
			"node pool pool-b is in zone z2"},
		{"pod vSwitch too small", terwayPlan, func(p *ackplan.Plan) { p.VSwitches[2].CIDR = pfx("192.168.32.0/24") },
			// 10 × 40 = 400 pods, 500 with 25 % surge; a /24 has 252
			[]string{"terway-pod-vswitch-addresses warning cluster.cni.terway.podVSwitches.z1"}, "have 252 free addresses, but 10 nodes × 40 pods = 400 pods need 500 with the 25% rolling-update surge"},
		{"route into 100.64.0.0/10", flannelPlan, func(p *ackplan.Plan) {
			p.Routes = []ackplan.Route{{Destination: pfx("100.64.1.0/24"), NextHop: "ecs-1", Path: "vpc.routes[0]"}}
		}, []string{"route-destination error vpc.routes[0].destination"}, "reserves for cloud services"},
		{"route inside a vSwitch", flannelPlan, func(p *ackplan.Plan) {
			p.Routes = []ackplan.Route{{Destination: pfx("192.168.1.0/24"), NextHop: "ecs-1", Path: "vpc.routes[0]"}}
		}, []string{"route-destination error vpc.routes[0].destination"}, `falls inside vSwitch "vsw-a"`},
		{"route inside the pod CIDR", flannelPlan, func(p *ackplan.Plan) {
			p.Routes = []ackplan.Route{{Destination: pfx("172.20.5.0/24"), NextHop: "ecs-1", Path: "vpc.routes[0]"}}
		}, []string{"route-overlap warning vpc.routes[0].destination"}, "ACK's cloud-controller-manager deletes a custom entry there"},
		{"route to the Service CIDR", flannelPlan, func(p *ackplan.Plan) {
			p.Routes = []ackplan.Route{{Destination: pfx("172.21.0.0/20"), NextHop: "node-1", Path: "vpc.routes[0]"}}
		}, []string{"route-overlap warning vpc.routes[0].destination"}, "overlaps the Service CIDR 172.21.0.0/20"},
		{"on-premises range overlaps the VPC", flannelPlan, func(p *ackplan.Plan) {
			p.Ranges = []ackplan.Range{{Name: "idc", Kind: ackplan.OnPremises, CIDR: pfx("192.168.0.0/24"), Path: "plan.ranges[0]"}}
		}, []string{"range-overlap error plan.ranges[0].cidr"}, `192.168.0.0/24 (on-premises network "idc") overlaps the VPC CIDR 192.168.0.0/16`},
		{"peered VPC overlaps the pod CIDR", flannelPlan, func(p *ackplan.Plan) {
			p.Ranges = []ackplan.Range{{Name: "vpc-2", Kind: ackplan.PeeredVPC, CIDR: pfx("172.20.0.0/16"), Path: "plan.ranges[0]"}}
		}, []string{"range-overlap error plan.ranges[0].cidr"}, `overlaps the pod CIDR 172.20.0.0/16`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.base(t)
			if tt.change != nil {
				tt.change(p)
			}
			res := ackplan.Check(p)
			assert.Equal(t, tt.want, findings(res))
			all := res.Findings()
			require.NotEmpty(t, all)
			assert.Contains(t, all[0].Msg, tt.msg)
			for _, f := range all {
				assert.NotContains(t, f.Msg, "[rule", "the rule ID is carried in Finding.Rule, not in Msg")
			}
		})
	}
}

// TestInvalidSilences: a path that did not parse (Invalid) silences the
// rules that depend on it; an error at a path silences later rules.
func TestInvalidSilences(t *testing.T) {
	p := flannelPlan(t)
	p.PodCIDR.Prefix = pfx("192.168.0.0/16") // overlaps the VPC, and so would the Service CIDR rule if it were a pod CIDR
	p.ServiceCIDR.Prefix = pfx("192.168.0.0/20")
	p.Invalid = []string{"vpc.cidr"}
	got := findings(ackplan.Check(p))
	// Without a VPC CIDR the overlaps are judged against the vSwitches;
	// the pod CIDR broke a rule, so the Service CIDR is not compared with it.
	assert.Equal(t, []string{"pod-cidr-overlap error cluster.podCIDR", "service-cidr-overlap error cluster.serviceCIDR"}, got)
	assert.False(t, p.Valid("cluster.podCIDR"))
}

// TestTerwayFallbackAddresses: in a zone with no pod vSwitch the pods
// take the node vSwitch's addresses, after the nodes' own.
func TestTerwayFallbackAddresses(t *testing.T) {
	p := terwayPlan(t)
	delete(p.CNI.PodVSwitches, "z2")
	p.VSwitches[1].CIDR = pfx("192.168.16.0/26")
	var msg string
	for _, f := range ackplan.Check(p).Findings() {
		if f.Rule.ID == "terway-pod-vswitch-addresses" {
			msg = f.Msg
		}
	}
	free := ackplan.UsableVSwitchAddresses(p.VSwitches[1].CIDR) - p.Pools[1].Nodes
	pods := p.Pools[1].Nodes * p.PodsPerNode
	assert.Contains(t, msg, fmt.Sprintf("zone z2 has no pod vSwitch, so its pods take addresses of its node vSwitches (vsw-b): %d free after the nodes' own, but 10 nodes", free))
	assert.Contains(t, msg, fmt.Sprintf("= %d pods need %d with the 25%% rolling-update surge", pods, pods+pods/4))
}

// TestNodeLimitACKCNIsOnly: ACK's node limits apply to its own CNIs
// (Flannel ali-vpc, Terway); Flannel vxlan/host-gw/udp and Calico are
// self-managed, and the rule says so in its Scope.
func TestNodeLimitACKCNIsOnly(t *testing.T) {
	for _, tt := range []struct {
		backend, mode string
		applies       bool
	}{{"alivpc", "flannel", true}, {"vxlan", "flannel", false}, {"host-gw", "flannel", false}, {"udp", "flannel", false}, {"", "calico", false}} {
		t.Run(tt.mode+"-"+tt.backend, func(t *testing.T) {
			p := flannelPlan(t)
			p.CNI = ackplan.CNI{Mode: tt.mode, Backend: tt.backend}
			p.Pools[0].Nodes = ackplan.FlannelMaxNodes // 1,010 nodes in all
			for _, rr := range ackplan.Check(p).Rules {
				if rr.Rule.ID != "node-limit" {
					continue
				}
				assert.Equal(t, tt.applies, rr.Applied)
				if !tt.applies {
					assert.Empty(t, rr.Findings)
					assert.Contains(t, rr.Rule.Scope, "not ACK CNI options: no ACK node limit modelled")
				} else {
					require.Len(t, rr.Findings, 1)
					assert.Contains(t, rr.Findings[0].Msg, "one VPC route entry per node")
				}
			}
		})
	}
}

// TestFixesPass: the block a finding offers, written in its place, passes
// the rule table (no error at all).
func TestFixesPass(t *testing.T) {
	block := regexp.MustCompile(`(?:use|e\.g\.) (\d+\.\d+\.\d+\.\d+/\d+)`)
	tests := []struct {
		name   string
		base   func(*testing.T) *ackplan.Plan
		change func(*ackplan.Plan)
		rule   string
		apply  func(*ackplan.Plan, netip.Prefix)
	}{
		{"vSwitch outside the VPC", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[1].CIDR = pfx("10.1.0.0/20") },
			"vswitch-in-vpc", func(p *ackplan.Plan, b netip.Prefix) { p.VSwitches[1].CIDR = b }},
		{"vSwitches overlap", flannelPlan, func(p *ackplan.Plan) { p.VSwitches[1].CIDR = pfx("192.168.8.0/22") },
			"vswitch-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.VSwitches[1].CIDR = b }},
		{"Terway vSwitches overlap", terwayPlan, func(p *ackplan.Plan) { p.VSwitches[3].CIDR = pfx("192.168.32.0/19") },
			"vswitch-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.VSwitches[3].CIDR = b }},
		{"pod CIDR overlaps the VPC", flannelPlan, func(p *ackplan.Plan) { p.PodCIDR.Prefix = pfx("192.168.0.0/16") },
			"pod-cidr-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.PodCIDR.Prefix = b }},
		{"pod CIDR overlaps the VPC, ACK's example taken", flannelPlan, func(p *ackplan.Plan) {
			p.PodCIDR.Prefix = pfx("192.168.0.0/16")
			p.ServiceCIDR.Prefix = pfx("172.20.0.0/20")
			p.Ranges = []ackplan.Range{{Name: "idc", Kind: ackplan.OnPremises, CIDR: pfx("172.16.0.0/14"), Path: "plan.ranges[0]"}}
		}, "pod-cidr-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.PodCIDR.Prefix = b }},
		{"Service CIDR overlaps a vSwitch", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("192.168.16.0/20") },
			"service-cidr-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.ServiceCIDR.Prefix = b }},
		{"Service CIDR overlaps the pod CIDR", flannelPlan, func(p *ackplan.Plan) { p.ServiceCIDR.Prefix = pfx("172.20.16.0/20") },
			"service-cidr-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.ServiceCIDR.Prefix = b }},
		{"range overlaps the pod CIDR", flannelPlan, func(p *ackplan.Plan) {
			p.Ranges = []ackplan.Range{{Name: "idc", Kind: ackplan.OnPremises, CIDR: pfx("172.20.0.0/18"), Path: "plan.ranges[0]"}}
		}, "range-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.PodCIDR.Prefix = b }},
		{"range overlaps the Service CIDR", flannelPlan, func(p *ackplan.Plan) {
			p.Ranges = []ackplan.Range{{Name: "idc", Kind: ackplan.OnPremises, CIDR: pfx("172.21.0.0/16"), Path: "plan.ranges[0]"}}
		}, "range-overlap", func(p *ackplan.Plan, b netip.Prefix) { p.ServiceCIDR.Prefix = b }},
		{"range overlaps a vSwitch", flannelPlan, func(p *ackplan.Plan) {
			p.VPC.Prefix = pfx("192.168.0.0/16")
			p.Ranges = []ackplan.Range{{Name: "idc", Kind: ackplan.OnPremises, CIDR: pfx("192.168.16.0/24"), Path: "plan.ranges[0]"}}
		}, "range-overlap", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.base(t)
			tt.change(p)
			var msg string
			for _, f := range ackplan.Check(p).Findings() {
				if f.Rule.ID == tt.rule && msg == "" {
					msg = f.Msg
				}
			}
			require.NotEmpty(t, msg, "rule %s finds nothing", tt.rule)
			m := block.FindStringSubmatch(msg)
			require.NotNil(t, m, "the finding offers a block: %s", msg)
			if tt.apply == nil {
				return // the range sits inside the VPC: only a vSwitch is offered
			}
			q := tt.base(t)
			tt.change(q)
			tt.apply(q, pfx(m[1]))
			for _, f := range ackplan.Check(q).Findings() {
				assert.NotEqual(t, ackplan.Error, f.Severity, "with %s: %s %s: %s", m[1], f.Rule.ID, f.Path, f.Msg)
			}
		})
	}
}

// On ACK Pro, Flannel vxlan (not an ACK CNI option) has no ACK node limit:
// 1,500 nodes, past ACK's Flannel 1,000, break no rule.
func TestNoACKNodeLimitForSelfManagedFlannel(t *testing.T) {
	p := flannelPlan(t)
	p.CNI.Backend = "vxlan"
	p.PodCIDR.Prefix = pfx("10.0.0.0/12")
	p.VSwitches[0].CIDR, p.VSwitches[1].CIDR = pfx("192.168.0.0/18"), pfx("192.168.64.0/18")
	p.Pools[0].Nodes, p.Pools[1].Nodes = 1000, 500
	res := ackplan.Check(p)
	assert.Empty(t, res.Findings())
	for _, rr := range res.Rules {
		if rr.Rule.ID == "node-limit" {
			assert.False(t, rr.Applied, "node-limit applies to ACK's CNIs and ACK Basic only")
		}
	}
}
