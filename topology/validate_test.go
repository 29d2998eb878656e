package topology

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/hint"
)

// baseScenario is a valid scenario for the table tests to break.
func baseScenario() *Scenario {
	return &Scenario{
		Name: "base",
		VPC: VPC{
			CIDR: "192.168.0.0/16",
			VSwitches: []VSwitch{
				{Name: "vsw-a", Zone: "z-a", CIDR: "192.168.0.0/24"},
				{Name: "vsw-b", Zone: "z-b", CIDR: "192.168.1.0/24"},
			},
			Routes: []VPCRoute{{Destination: "10.0.0.0/8", NextHop: "ecs-1"}},
		},
		Nodes: []Node{
			{Name: "node-1", VSwitch: "vsw-a", IP: "192.168.0.10", PodCIDR: "172.20.1.0/24"},
			{Name: "node-2", VSwitch: "vsw-b"},
		},
		Instances: []Instance{{Name: "ecs-1", VSwitch: "vsw-b", IP: "192.168.1.10"}},
		Cluster: Cluster{
			PodCIDR:     "172.20.0.0/16",
			ServiceCIDR: "172.21.0.0/20",
			CNI:         CNI{Mode: "flannel"},
		},
		Pods: []Pod{
			{Name: "web-1", Node: "node-1", IP: "172.20.1.5", Labels: map[string]string{"app": "web"}},
			{Name: "web-2", Namespace: "shop", Node: "node-2"},
		},
		Failures: []Failure{
			{Type: "delete-vpc-route", Node: "node-2"},
			{Type: "link-down", Pod: "shop/web-2", Device: "eth0"},
		},
		Flows: []Flow{
			{Name: "f1", From: "pod/web-1", To: "pod/shop/web-2", Expect: &Expect{Verdict: "delivered"}},
			{Name: "f2", From: "node/node-1", To: "ecs/ecs-1", Protocol: "udp", Port: 53},
			{Name: "f3", From: "ecs/ecs-1", To: "192.168.0.10", Protocol: "tcp", Port: 80,
				Expect: &Expect{Verdict: "dropped", Reason: "conn-refused"}},
		},
	}
}

func TestValidateBaseIsValid(t *testing.T) {
	s := baseScenario()
	assert.Empty(t, s.Validate())
}

func TestValidateDefaults(t *testing.T) {
	s := baseScenario()
	require.Empty(t, s.Validate())
	assert.Equal(t, int64(1), s.Seed)
	assert.Equal(t, "vpc", s.VPC.Underlay)
	assert.Equal(t, 1500, s.VPC.MTU)
	assert.Equal(t, 50*time.Microsecond, *s.VPC.Latency)
	assert.Equal(t, 200, s.VPC.RouteQuota)
	assert.Equal(t, 24, s.Cluster.NodeCIDRMask)
	require.NotNil(t, s.Cluster.CNI.Flannel, "created for mode flannel")
	assert.Equal(t, "vxlan", s.Cluster.CNI.Flannel.Backend)
	assert.Equal(t, 1, *s.Cluster.CNI.Flannel.VNI)
	assert.Equal(t, 8472, *s.Cluster.CNI.Flannel.Port)
	assert.True(t, *s.Cluster.CNI.Flannel.IPMasq)
	assert.Equal(t, "default", s.Pods[0].Namespace)
	assert.Equal(t, "shop", s.Pods[1].Namespace)
	assert.Equal(t, "icmp", s.Flows[0].Protocol)
	assert.Equal(t, 56, *s.Flows[0].Size)
	assert.Equal(t, 1, s.Flows[0].Count)
	assert.Equal(t, "udp", s.Flows[1].Protocol)

	// Explicit values are kept.
	s = baseScenario()
	s.Seed = 42
	s.VPC.Latency = ptr(time.Duration(0))
	s.Cluster.CNI.Flannel = &Flannel{Backend: "ali-vpc", VNI: ptr(7), IPMasq: ptr(false)}
	s.Flows[0].Size = ptr(0)
	require.Empty(t, s.Validate())
	assert.Equal(t, int64(42), s.Seed)
	assert.Equal(t, time.Duration(0), *s.VPC.Latency)
	assert.Equal(t, "alivpc", s.Cluster.CNI.Flannel.Backend)
	assert.Equal(t, 7, *s.Cluster.CNI.Flannel.VNI)
	assert.False(t, *s.Cluster.CNI.Flannel.IPMasq)
	assert.Equal(t, 0, *s.Flows[0].Size)
}

// TestFlannelPortDefaultFollowsTheBackend: 8472 for vxlan, 8285 for udp
// (flannel's udp_amd64.go defaultPort), an explicit port kept.
func TestFlannelPortDefaultFollowsTheBackend(t *testing.T) {
	tests := []struct {
		backend string
		port    *int
		want    int
	}{
		{backend: "vxlan", want: 8472},
		{backend: "", want: 8472},
		{backend: "udp", want: 8285},
		{backend: "udp", port: ptr(9000), want: 9000},
	}
	for _, tt := range tests {
		t.Run(tt.backend+"/"+strconv.Itoa(tt.want), func(t *testing.T) {
			s := baseScenario()
			s.Cluster.CNI.Flannel = &Flannel{Backend: tt.backend, Port: tt.port}
			require.Empty(t, s.Validate())
			assert.Equal(t, tt.want, *s.Cluster.CNI.Flannel.Port)
		})
	}
	s := baseScenario()
	s.Cluster.CNI.Flannel = &Flannel{Backend: "udp", Port: ptr(0)}
	probs := s.Validate()
	require.Len(t, probs, 1)
	assert.Equal(t, "cluster.cni.flannel.port", probs[0].Path)
	assert.Contains(t, probs[0].String(), "the default is 8285")
}

// TestValidateRules breaks the base scenario one way at a time and checks
// the problem reported: its path and a part of its message.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		path   string
		msg    string
	}{
		{"name required", func(s *Scenario) { s.Name = "" }, "name", "required"},
		{"name charset", func(s *Scenario) { s.Name = "a_b" }, "name", "lowercase letters"},
		{"name trailing dash", func(s *Scenario) { s.Name = "ab-" }, "name", "not a valid name"},

		{"vpc cidr required", func(s *Scenario) { s.VPC.CIDR = "" }, "vpc.cidr", "required"},
		{"vpc cidr ipv6", func(s *Scenario) { s.VPC.CIDR = "fd00::/8" }, "vpc.cidr", "not an IPv4 CIDR"},
		{"vpc cidr canonical", func(s *Scenario) { s.VPC.CIDR = "192.168.0.1/16" }, "vpc.cidr", "write 192.168.0.0/16"},
		{"vpc cidr private", func(s *Scenario) { s.VPC.CIDR = "11.0.0.0/16" }, "vpc.cidr", "not a private range"},
		{"vpc cidr wider than the private block", func(s *Scenario) { s.VPC.CIDR = "172.0.0.0/8" }, "vpc.cidr", "not a private range"},
		{"vpc cidr too small", func(s *Scenario) {
			s.VPC.CIDR = "192.168.0.0/29"
			s.VPC.VSwitches = s.VPC.VSwitches[:1]
			s.VPC.VSwitches[0].CIDR = "192.168.0.0/29"
		}, "vpc.cidr", "/8 to /28"},
		{"underlay", func(s *Scenario) { s.VPC.Underlay = "L2" }, "vpc.underlay", `did you mean "l2"?`},
		{"mtu low", func(s *Scenario) { s.VPC.MTU = 575 }, "vpc.mtu", "576 to 9000"},
		{"mtu high", func(s *Scenario) { s.VPC.MTU = 9001 }, "vpc.mtu", "576 to 9000"},
		{"route quota", func(s *Scenario) { s.VPC.RouteQuota = -5 }, "vpc.routeQuota", "greater than 0"},
		{"latency negative", func(s *Scenario) { s.VPC.Latency = ptr(-time.Microsecond) }, "vpc.latency", "0 to 1s"},
		{"latency high", func(s *Scenario) { s.VPC.Latency = ptr(1001 * time.Millisecond) }, "vpc.latency", "0 to 1s"},

		{"no vswitches", func(s *Scenario) { s.VPC.VSwitches = nil }, "vpc.vswitches", "at least one vSwitch"},
		{"vswitch name dup", func(s *Scenario) { s.VPC.VSwitches[1].Name = "vsw-a" }, "vpc.vswitches[1].name", "already used by vpc.vswitches[0]"},
		{"vswitch zone", func(s *Scenario) { s.VPC.VSwitches[0].Zone = "" }, "vpc.vswitches[0].zone", "required"},
		{"vswitch outside", func(s *Scenario) { s.VPC.VSwitches[1].CIDR = "10.1.0.0/24" }, "vpc.vswitches[1].cidr", "not inside the VPC CIDR 192.168.0.0/16"},
		{"vswitch overlap", func(s *Scenario) { s.VPC.VSwitches[1].CIDR = "192.168.0.0/23" }, "vpc.vswitches[1].cidr", `overlaps vSwitch "vsw-a" (192.168.0.0/24)`},
		{"vswitch mask", func(s *Scenario) { s.VPC.VSwitches[1].CIDR = "192.168.1.0/30" }, "vpc.vswitches[1].cidr", "/16 to /29"},
		{"l2 one vswitch", func(s *Scenario) { s.VPC.Underlay = "l2"; s.VPC.Routes = nil; s.Failures = nil }, "vpc.vswitches", "exactly one vSwitch"},

		{"route dest canonical", func(s *Scenario) { s.VPC.Routes[0].Destination = "10.0.0.1/8" }, "vpc.routes[0].destination", "canonical"},
		{"route dest equals vswitch", func(s *Scenario) { s.VPC.Routes[0].Destination = "192.168.1.0/24" }, "vpc.routes[0].destination", `is the CIDR of vSwitch "vsw-b"`},
		{"route dest inside vswitch", func(s *Scenario) { s.VPC.Routes[0].Destination = "192.168.1.128/25" }, "vpc.routes[0].destination", `falls inside vSwitch "vsw-b"`},
		{"route dest 100.64", func(s *Scenario) { s.VPC.Routes[0].Destination = "100.100.0.0/16" }, "vpc.routes[0].destination", "100.64.0.0/10"},
		{"route dup", func(s *Scenario) { s.VPC.Routes = append(s.VPC.Routes, s.VPC.Routes[0]) }, "vpc.routes[1].destination", "already the destination of vpc.routes[0]"},
		{"route next hop", func(s *Scenario) { s.VPC.Routes[0].NextHop = "ecs-2" }, "vpc.routes[0].nextHop", `"ecs-2" is not a node or instance (nodes and instances are: node-1, node-2, ecs-1) (did you mean "ecs-1"?)`},
		{"route next hop required", func(s *Scenario) { s.VPC.Routes[0].NextHop = "" }, "vpc.routes[0].nextHop", "required"},

		{"no nodes", func(s *Scenario) { s.Nodes = nil; s.Pods = nil; s.Failures = nil; s.Flows = nil; s.VPC.Routes = nil }, "nodes", "at least one node"},
		{"node name dup with instance", func(s *Scenario) { s.Instances[0].Name = "node-2" }, "instances[0].name", "already used by nodes[1]"},
		{"node name invalid", func(s *Scenario) { s.Nodes[1].Name = "Node/2" }, "nodes[1].name", "not a valid name"},
		{"node vswitch unknown", func(s *Scenario) { s.Nodes[1].VSwitch = "vsw-x" }, "nodes[1].vswitch", `vSwitch "vsw-x" does not exist (vSwitches are: vsw-a, vsw-b)`},
		{"node ip bad", func(s *Scenario) { s.Nodes[0].IP = "192.168.0.300" }, "nodes[0].ip", "not an IPv4 address"},
		{"node ip outside", func(s *Scenario) { s.Nodes[0].IP = "192.168.1.10" }, "nodes[0].ip", `not inside vSwitch "vsw-a"`},
		{"node ip first", func(s *Scenario) { s.Nodes[0].IP = "192.168.0.0" }, "nodes[0].ip", "reserved"},
		{"node ip last three", func(s *Scenario) { s.Nodes[0].IP = "192.168.0.254" }, "nodes[0].ip", "reserved"},
		{"instance ip dup", func(s *Scenario) { s.Instances[0].VSwitch = "vsw-a"; s.Instances[0].IP = "192.168.0.10" }, "instances[0].ip", "already the address of nodes[0]"},
		{"node pod cidr outside", func(s *Scenario) { s.Nodes[0].PodCIDR = "172.30.1.0/24"; s.Pods[0].IP = "" }, "nodes[0].podCIDR", "not inside cluster.podCIDR"},
		{"node pod cidr mask", func(s *Scenario) { s.Nodes[0].PodCIDR = "172.20.1.0/25" }, "nodes[0].podCIDR", "cluster.nodeCIDRMask is /24"},
		{"node pod cidr dup", func(s *Scenario) { s.Nodes[1].PodCIDR = "172.20.1.0/24" }, "nodes[1].podCIDR", "already the pod CIDR of nodes[0]"},

		{"pod cidr required", func(s *Scenario) { s.Cluster.PodCIDR = "" }, "cluster.podCIDR", "required"},
		{"pod cidr public", func(s *Scenario) { s.Cluster.PodCIDR = "8.8.0.0/16" }, "cluster.podCIDR", "not a private range"},
		{"pod cidr overlaps vpc", func(s *Scenario) { s.Cluster.PodCIDR = "192.168.0.0/16" }, "cluster.podCIDR", "overlaps the VPC CIDR"},
		{"pod cidr capacity", func(s *Scenario) {
			s.Cluster.PodCIDR = "172.20.0.0/24"
			s.Nodes[0].PodCIDR = ""
			s.Pods[0].IP = ""
		}, "cluster.nodeCIDRMask", "must be longer than the pod CIDR's /24"},
		{"pod cidr too few subnets", func(s *Scenario) {
			s.Cluster.PodCIDR = "172.20.0.0/27"
			s.Cluster.NodeCIDRMask = 28
			s.Nodes = append(s.Nodes, Node{Name: "node-3", VSwitch: "vsw-a"})
			s.Nodes[0].PodCIDR = ""
			s.Pods[0].IP = ""
		}, "cluster.podCIDR", "holds 2 node subnets of /28, but there are 3 nodes"},
		{"node mask range", func(s *Scenario) { s.Cluster.NodeCIDRMask = 29 }, "cluster.nodeCIDRMask", "/24 (256 addresses per node) to /28"},
		{"service cidr required", func(s *Scenario) { s.Cluster.ServiceCIDR = "" }, "cluster.serviceCIDR", "required"},
		{"service cidr mask", func(s *Scenario) { s.Cluster.ServiceCIDR = "172.21.0.0/25" }, "cluster.serviceCIDR", "/16 to /24"},
		{"service cidr overlaps vpc", func(s *Scenario) { s.Cluster.ServiceCIDR = "192.168.4.0/24" }, "cluster.serviceCIDR", "overlaps the VPC CIDR"},
		{"service cidr overlaps pods", func(s *Scenario) { s.Cluster.ServiceCIDR = "172.20.0.0/20" }, "cluster.serviceCIDR", "overlaps cluster.podCIDR"},

		{"cni mode required", func(s *Scenario) { s.Cluster.CNI.Mode = "" }, "cluster.cni.mode", "known modes: calico, flannel, terway"},
		{"cni mode unknown", func(s *Scenario) { s.Cluster.CNI.Mode = "weave" }, "cluster.cni.mode", `unknown CNI mode "weave" (known modes: calico, flannel, terway)`},
		{"terway block with flannel", func(s *Scenario) { s.Cluster.CNI.Terway = &Terway{} }, "cluster.cni.terway", `a terway block needs mode "terway", but the mode is "flannel"`},
		{"backend", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Backend: "vxlna"} }, "cluster.cni.flannel.backend", `did you mean "vxlan"?`},
		{"direct routing", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Backend: "alivpc", DirectRouting: true} }, "cluster.cni.flannel.directRouting", "vxlan backend"},
		{"vni", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{VNI: ptr(1 << 24)} }, "cluster.cni.flannel.vni", "1 to 16777215"},
		{"port", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Port: ptr(0)} }, "cluster.cni.flannel.port", "1 to 65535"},
		{"flannel mtu", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{MTU: 9500} }, "cluster.cni.flannel.mtu", "576 to 9000"},

		{"pod name", func(s *Scenario) { s.Pods[0].Name = "Web" }, "pods[0].name", "DNS-1123 label"},
		{"pod name long", func(s *Scenario) { s.Pods[0].Name = strings.Repeat("a", 64) }, "pods[0].name", "DNS-1123 label"},
		{"pod namespace", func(s *Scenario) { s.Pods[1].Namespace = "Shop" }, "pods[1].namespace", "DNS-1123 label"},
		{"pod dup", func(s *Scenario) { s.Pods[1].Namespace = "default"; s.Pods[1].Name = "web-1" }, "pods[1].name", "pod default/web-1 is already defined at pods[0]"},
		{"pod node", func(s *Scenario) { s.Pods[1].Node = "node-9" }, "pods[1].node", `node "node-9" does not exist (nodes are: node-1, node-2)`},
		{"pod on instance", func(s *Scenario) { s.Pods[1].Node = "ecs-1" }, "pods[1].node", "is an instance, not a node"},
		{"pod ip outside node pod cidr", func(s *Scenario) { s.Pods[0].IP = "172.20.2.5" }, "pods[0].ip", `not inside the pod CIDR 172.20.1.0/24 of node "node-1"`},
		{"pod ip gateway", func(s *Scenario) { s.Pods[0].IP = "172.20.1.1" }, "pods[0].ip", "cni0 gateway"},
		{"pod ip dup", func(s *Scenario) { s.Pods[1].IP = "172.20.1.5" }, "pods[1].ip", "already the address of pods[0]"},
		{"pod mtu", func(s *Scenario) { s.Pods[0].MTU = 100 }, "pods[0].mtu", "576 to 9000"},
		{"label key", func(s *Scenario) { s.Pods[0].Labels = map[string]string{"-app": "web"} }, "pods[0].labels.-app", "label key"},
		{"label prefix", func(s *Scenario) { s.Pods[0].Labels = map[string]string{"Example.com/app": "web"} }, "pods[0].labels.Example.com/app", "DNS subdomain"},
		{"label value", func(s *Scenario) { s.Pods[0].Labels = map[string]string{"app": strings.Repeat("x", 64)} }, "pods[0].labels.app", "label value"},

		{"failure type required", func(s *Scenario) { s.Failures[0].Type = "" }, "failures[0].type", "known types: delete-vpc-route, link-down"},
		{"failure type unknown", func(s *Scenario) { s.Failures[0].Type = "delete-route" }, "failures[0].type", `did you mean "delete-vpc-route"?`},
		{"delete route both", func(s *Scenario) { s.Failures[0].Destination = "10.0.0.0/8" }, "failures[0]", "not both"},
		{"delete route neither", func(s *Scenario) { s.Failures[0].Node = "" }, "failures[0]", "needs destination"},
		{"delete route bad cidr", func(s *Scenario) { s.Failures[0] = Failure{Type: "delete-vpc-route", Destination: "10.0.0.0"} }, "failures[0].destination", "not an IPv4 CIDR"},
		{"delete route instance", func(s *Scenario) { s.Failures[0].Node = "ecs-1" }, "failures[0].node", `node "ecs-1" does not exist`},
		{"delete route with pod", func(s *Scenario) { s.Failures[0].Pod = "web-1" }, "failures[0].pod", `not used by type "delete-vpc-route"`},
		{"delete route on l2", func(s *Scenario) {
			s.VPC.Underlay = "l2"
			s.VPC.VSwitches = s.VPC.VSwitches[:1]
			s.VPC.Routes = nil
			s.Nodes[1].VSwitch = "vsw-a"
			s.Instances = nil
			s.Flows = s.Flows[:1]
		}, "failures[0].type", "l2 underlay has no VPC route table"},
		{"link down device", func(s *Scenario) { s.Failures[1].Device = "" }, "failures[1].device", "required"},
		{"link down both", func(s *Scenario) { s.Failures[1].Node = "node-1" }, "failures[1]", "not both"},
		{"link down neither", func(s *Scenario) { s.Failures[1].Pod = "" }, "failures[1]", "needs node"},
		{"link down pod missing", func(s *Scenario) { s.Failures[1].Pod = "web-2" }, "failures[1].pod", `pod "default/web-2" does not exist`},
		{"link down pod ref", func(s *Scenario) { s.Failures[1].Pod = "a/b/c" }, "failures[1].pod", "NAME or NAMESPACE/NAME"},
		{"link down destination", func(s *Scenario) { s.Failures[1].Destination = "10.0.0.0/8" }, "failures[1].destination", `not used by type "link-down"`},
		{"link down instance ok, unknown host", func(s *Scenario) { s.Failures[1] = Failure{Type: "link-down", Node: "ecs-9", Device: "eth0"} }, "failures[1].node", "not a node or instance"},

		{"flow name", func(s *Scenario) { s.Flows[1].Name = "" }, "flows[1].name", "required"},
		{"flow name dup", func(s *Scenario) { s.Flows[1].Name = "f1" }, "flows[1].name", "already used by flows[0]"},
		{"flow from required", func(s *Scenario) { s.Flows[0].From = "" }, "flows[0].from", "required"},
		{"flow from ip", func(s *Scenario) { s.Flows[0].From = "10.0.0.1" }, "flows[0].from", "is an address"},
		{"flow to form", func(s *Scenario) { s.Flows[0].To = "vm/web" }, "flows[0].to", "not an endpoint"},
		{"flow to bare node", func(s *Scenario) { s.Flows[0].To = "node-2" }, "flows[0].to", `did you mean "node/node-2"?`},
		{"flow to ipv6", func(s *Scenario) { s.Flows[0].To = "fd00::1" }, "flows[0].to", "not an endpoint"},
		{"flow to missing instance", func(s *Scenario) { s.Flows[1].To = "ecs/ecs-2" }, "flows[1].to", `instance "ecs-2" does not exist (instances are: ecs-1)`},
		{"flow node is instance", func(s *Scenario) { s.Flows[1].From = "node/ecs-1" }, "flows[1].from", `write "ecs/ecs-1"`},
		{"flow to itself", func(s *Scenario) { s.Flows[1].To = "node/node-1" }, "flows[1].to", "to itself"},
		{"protocol", func(s *Scenario) { s.Flows[0].Protocol = "gre" }, "flows[0].protocol", "expected icmp (the default), udp, tcp or sctp"},
		{"sctp port required", func(s *Scenario) { s.Flows[0].Protocol = "sctp" }, "flows[0].port", "required for sctp"},
		{"sctp size", func(s *Scenario) { s.Flows[2].Protocol, s.Flows[2].Size = "sctp", ptr(4097) }, "flows[2].size", "0 to 4096"},
		{"pod port range", func(s *Scenario) { s.Pods[0].Ports = []ListenPort{{Port: 70000}} }, "pods[0].ports[0].port", "1 to 65535"},
		{"node port protocol", func(s *Scenario) { s.Nodes[0].Ports = []ListenPort{{Port: 22, Protocol: "ssh"}} }, "nodes[0].ports[0].protocol", `unknown protocol "ssh"`},
		{"instance port name", func(s *Scenario) { s.Instances[0].Ports = []ListenPort{{Port: 3306, Name: "MySQL"}} }, "instances[0].ports[0].name", "not a valid port name"},
		{"udp port required", func(s *Scenario) { s.Flows[1].Port = 0 }, "flows[1].port", "required for udp"},
		{"tcp port range", func(s *Scenario) { s.Flows[2].Port = 65536 }, "flows[2].port", "1 to 65535"},
		{"icmp port", func(s *Scenario) { s.Flows[0].Port = 7 }, "flows[0].port", "icmp has no ports"},
		{"icmp size", func(s *Scenario) { s.Flows[0].Size = ptr(65508) }, "flows[0].size", "0 to 65507"},
		{"udp size negative", func(s *Scenario) { s.Flows[1].Size = ptr(-1) }, "flows[1].size", "0 to 65507"},
		{"tcp size", func(s *Scenario) { s.Flows[2].Size = ptr(65496) }, "flows[2].size", "0 to 65495"},
		{"count", func(s *Scenario) { s.Flows[0].Count = 100001 }, "flows[0].count", "1 to 100000"},
		{"count negative", func(s *Scenario) { s.Flows[0].Count = -1 }, "flows[0].count", "1 to 100000"},
		{"verdict required", func(s *Scenario) { s.Flows[0].Expect = &Expect{} }, "flows[0].expect.verdict", "required"},
		{"verdict unknown", func(s *Scenario) { s.Flows[0].Expect = &Expect{Verdict: "deliverd"} }, "flows[0].expect.verdict", `did you mean "delivered"?`},
		{"verdict is a reason", func(s *Scenario) { s.Flows[0].Expect = &Expect{Verdict: "no-route"} }, "flows[0].expect.verdict", "reason: no-route"},
		{"dropped needs reason", func(s *Scenario) { s.Flows[0].Expect = &Expect{Verdict: "dropped"} }, "flows[0].expect", "needs a reason"},
		{"reason unknown", func(s *Scenario) { s.Flows[0].Expect = &Expect{Verdict: "dropped", Reason: "linkdown"} }, "flows[0].expect.reason", `did you mean "link-down"?`},
		{"reason with delivered", func(s *Scenario) { s.Flows[0].Expect.Reason = "no-route" }, "flows[0].expect.reason", "no drop reason"},
		{"seen source bad", func(s *Scenario) { s.Flows[0].Expect.SeenSource = "node-1" }, "flows[0].expect.seenSource", "not an IPv4 address"},
		{"seen source with dropped", func(s *Scenario) {
			s.Flows[0].Expect = &Expect{Verdict: "dropped", Reason: "no-route", SeenSource: "1.2.3.4"}
		}, "flows[0].expect.seenSource", "only for delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseScenario()
			tt.mutate(s)
			probs := s.Validate()
			require.NotEmpty(t, probs, "no problem reported")
			for _, p := range probs {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%s", tt.path, tt.msg, probs.Error())
		})
	}
}

func TestValidateAcceptedEdges(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
	}{
		{"vpc is a whole private block", func(s *Scenario) {
			s.VPC.CIDR = "10.0.0.0/8"
			s.VPC.VSwitches[0].CIDR = "10.0.0.0/16"
			s.VPC.VSwitches[1].CIDR = "10.1.0.0/29"
			s.Nodes[0].IP = ""
			s.Instances[0].IP = ""
		}},
		{"vpc /28", func(s *Scenario) {
			s.VPC.CIDR = "192.168.0.0/28"
			s.VPC.VSwitches = []VSwitch{{Name: "vsw-a", Zone: "z", CIDR: "192.168.0.0/28"}}
			s.Nodes[0].IP = "192.168.0.1"
			s.Nodes[1].VSwitch = "vsw-a"
			s.Instances[0] = Instance{Name: "ecs-1", VSwitch: "vsw-a", IP: "192.168.0.12"}
		}},
		{"route containing a vSwitch", func(s *Scenario) { s.VPC.Routes[0].Destination = "192.168.0.0/16" }},
		{"default route", func(s *Scenario) { s.VPC.Routes[0].Destination = "0.0.0.0/0" }},
		{"mtu bounds", func(s *Scenario) { s.VPC.MTU = 576; s.Pods[0].MTU = 9000 }},
		{"latency 1s", func(s *Scenario) { s.VPC.Latency = ptr(time.Second) }},
		{"node mask 28", func(s *Scenario) {
			s.Cluster.NodeCIDRMask = 28
			s.Nodes[0].PodCIDR = "172.20.1.16/28"
			s.Pods[0].IP = "172.20.1.18"
		}},
		{"service /16 and /24", func(s *Scenario) { s.Cluster.ServiceCIDR = "10.96.0.0/16" }},
		{"sizes at the limit", func(s *Scenario) { s.Flows[0].Size = ptr(65507); s.Flows[2].Size = ptr(65495) }},
		{"link-down on an instance", func(s *Scenario) { s.Failures[1] = Failure{Type: "link-down", Node: "ecs-1", Device: "eth0"} }},
		{"delete route by destination", func(s *Scenario) { s.Failures[0] = Failure{Type: "delete-vpc-route", Destination: "10.0.0.0/8"} }},
		{"labels with prefix and empty value", func(s *Scenario) { s.Pods[0].Labels = map[string]string{"app.kubernetes.io/name": "", "a_b.c": "X-1"} }},
		{"to an address", func(s *Scenario) { s.Flows[0].To = "8.8.8.8" }},
		{"pod in namespace by full ref", func(s *Scenario) { s.Flows[0].To = "pod/shop/web-2"; s.Failures[1].Pod = "shop/web-2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseScenario()
			tt.mutate(s)
			assert.Empty(t, s.Validate().Error())
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
		str  string
		err  bool
	}{
		{in: "pod/web", want: Endpoint{Kind: EndpointPod, Namespace: "default", Name: "web"}, str: "pod/default/web"},
		{in: "pod/shop/web", want: Endpoint{Kind: EndpointPod, Namespace: "shop", Name: "web"}, str: "pod/shop/web"},
		{in: "node/n1", want: Endpoint{Kind: EndpointNode, Name: "n1"}, str: "node/n1"},
		{in: "ecs/e1", want: Endpoint{Kind: EndpointECS, Name: "e1"}, str: "ecs/e1"},
		{in: "10.0.0.1", want: Endpoint{Kind: EndpointIP, IP: netip.MustParseAddr("10.0.0.1")}, str: "10.0.0.1"},
		{in: "pod/", err: true},
		{in: "pod/a/b/c", err: true},
		{in: "node/a/b", err: true},
		{in: "svc/web", want: Endpoint{Kind: EndpointService, Namespace: "default", Name: "web"}, str: "svc/default/web"},
		{in: "vm/web", err: true},
		{in: "web", err: true},
		{in: "::1", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEndpoint(tt.in)
			if tt.err {
				require.Error(t, err)
				assert.ErrorIs(t, err, errBadEndpoint)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.str, got.String())
		})
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		word       string
		candidates []string
		want       []string
	}{
		{"vpcs", []string{"name", "vpc", "nodes"}, []string{"vpc"}},
		{"cdir", []string{"name", "cidr", "mtu"}, []string{"cidr"}},
		{"podCidr", []string{"podCIDR", "serviceCIDR"}, []string{"podCIDR"}},
		{"hostgw", []string{"vxlan", "host-gw", "alivpc"}, []string{"host-gw"}},
		{"noroute", []string{"no-route", "vpc-no-route", "filtered"}, []string{"no-route"}},
		{"route", []string{"no-route", "vpc-no-route", "filtered"}, []string{"no-route", "vpc-no-route"}},
		{"x", []string{"ip", "mtu"}, nil},
		{"zzzzzz", []string{"name", "vpc"}, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hint.Suggest(tt.word, tt.candidates), tt.word)
	}
}

func TestAddressHelpers(t *testing.T) {
	sw := netip.MustParsePrefix("192.168.1.0/24")
	assert.Equal(t, netip.MustParseAddr("192.168.1.255"), lastAddr(sw))
	for _, a := range []string{"192.168.1.0", "192.168.1.253", "192.168.1.254", "192.168.1.255"} {
		assert.True(t, isVSwitchReserved(sw, netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"192.168.1.1", "192.168.1.252"} {
		assert.False(t, isVSwitchReserved(sw, netip.MustParseAddr(a)), a)
	}
	assert.True(t, prefixContains(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")))
	assert.True(t, prefixContains(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")))
	assert.False(t, prefixContains(netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.0.0.0/8")))
	assert.Equal(t, netip.MustParseAddr("10.0.1.0"), addrAdd(netip.MustParseAddr("10.0.0.255"), 1))
	assert.Equal(t, netip.MustParseAddr("10.0.0.254"), addrAdd(netip.MustParseAddr("10.0.1.0"), -2))
}
