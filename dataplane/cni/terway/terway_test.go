package terway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/terway"
	"netsim/dataplane/netstack"
	"netsim/sim"
	"netsim/topology"
)

// scen generates a Terway scenario: VPC 192.168.0.0/16, node vSwitches
// vsw-node-h (zone h) and vsw-node-i (zone i), pod vSwitches as given.
type scen struct {
	eniMode  string
	policy   string
	podVSW   []string // "- {name: …, zone: …, cidr: …}" items
	zones    []string // "zone: [vsw, …]" lines under podVSwitches
	nodes    []string // "- {name: …, …}" items
	pods     []string
	extra    string // top-level YAML appended (instanceTypes: …)
	services string // resources: items
}

func (s scen) yaml() string {
	var b strings.Builder
	b.WriteString("name: terway-test\nvpc:\n  cidr: 192.168.0.0/16\n  vswitches:\n")
	b.WriteString("    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}\n")
	b.WriteString("    - {name: vsw-node-i, zone: cn-hangzhou-i, cidr: 192.168.1.0/24}\n")
	for _, v := range s.podVSW {
		fmt.Fprintf(&b, "    %s\n", v)
	}
	b.WriteString("nodes:\n")
	for _, n := range s.nodes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	b.WriteString("cluster:\n  serviceCIDR: 172.21.0.0/20\n  cni:\n    mode: terway\n    terway:\n")
	if s.eniMode != "" {
		fmt.Fprintf(&b, "      eniMode: %s\n", s.eniMode)
	}
	if s.policy != "" {
		fmt.Fprintf(&b, "      vswitchSelectionPolicy: %s\n", s.policy)
	}
	b.WriteString("      podVSwitches:\n")
	for _, z := range s.zones {
		fmt.Fprintf(&b, "        %s\n", z)
	}
	if len(s.pods) > 0 {
		b.WriteString("pods:\n")
		for _, p := range s.pods {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	b.WriteString(s.extra)
	return b.String()
}

func (s scen) world(t *testing.T) *topology.World {
	t.Helper()
	sc, err := topology.Parse("terway-test.yaml", []byte(s.yaml()))
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	w, err := topology.Build(sc, sim.NewLoop())
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	return w
}

// twoNodes: node-1 in zone h, node-2 in zone i, one /24 pod vSwitch each.
func twoNodes() scen {
	return scen{
		podVSW: []string{
			"- {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}",
			"- {name: vsw-pod-i, zone: cn-hangzhou-i, cidr: 192.168.32.0/24}",
		},
		zones: []string{"cn-hangzhou-h: [vsw-pod-h]", "cn-hangzhou-i: [vsw-pod-i]"},
		nodes: []string{
			"- {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10}",
			"- {name: node-2, vswitch: vsw-node-i, ip: 192.168.1.11}",
		},
	}
}

func routes(rs []*netstack.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func rules(st *netstack.Stack) []string {
	var out []string
	for _, r := range st.Rules() {
		out = append(out, r.String())
	}
	return out
}

func addrs(i *netstack.Iface) []string {
	var out []string
	for _, a := range i.Addrs {
		out = append(out, a.Prefix.String())
	}
	return out
}

func TestVethNameIsCaliAndSha1OfNamespaceDotName(t *testing.T) {
	// Expected values computed independently (python hashlib.sha1).
	for _, c := range []struct{ ns, name, want string }{
		{"default", "web-1", "cali0761ccbeace"},
		{"kube-system", "coredns-6d8c4cb4d-9xk2p", "cali5ee46706e3f"},
		{"default", "nginx", "calic440f455693"},
	} {
		got := terway.VethName(c.ns, c.name)
		assert.Equal(t, c.want, got)
		assert.Len(t, got, 15, "IFNAMSIZ − 1")
	}
}

func TestMaxPodsFollowsTerwaysFormulas(t *testing.T) {
	for _, c := range []struct {
		l                 terway.Limits
		shared, exclusive int
	}{
		{terway.Limits{Adapters: 4, IPv4PerAdapter: 15}, 45, 3},
		{terway.Limits{Adapters: 8, IPv4PerAdapter: 30}, 210, 7},
		{terway.Limits{Adapters: 1, IPv4PerAdapter: 10}, 0, 0},
	} {
		assert.Equal(t, c.shared, c.l.MaxPods(terway.Shared))
		assert.Equal(t, c.exclusive, c.l.MaxPods(terway.Exclusive))
	}
}

func TestSharedENIVethPolicyRouting(t *testing.T) {
	s := twoNodes()
	s.pods = []string{
		"- {name: web-1, node: node-1}",
		"- {name: web-2, node: node-1}",
		"- {name: api-1, node: node-2}",
	}
	w := s.world(t)
	n1 := w.Node("node-1")
	web1 := w.Pod("web-1")
	require.NotNil(t, web1)
	assert.Equal(t, "192.168.16.1", web1.IP.String(), "the first pod takes the new ENI's primary IP")
	assert.Equal(t, "192.168.16.2", w.Pod("web-2").IP.String(), "the second a secondary IP of the same ENI")
	assert.Equal(t, "192.168.32.1", w.Pod("api-1").IP.String(), "node-2's pods come from its zone's pod vSwitch")

	// Pod side.
	eth0 := web1.Stack.Iface("eth0")
	require.NotNil(t, eth0)
	assert.Equal(t, []string{"192.168.16.1/32"}, addrs(eth0))
	assert.Equal(t, []string{"default via 169.254.1.1 dev eth0 onlink"}, routes(web1.Stack.Routes.All()))
	nb := web1.Stack.Neighbours()
	require.Len(t, nb, 1)
	assert.Equal(t, "169.254.1.1", nb[0].IP.String())
	assert.Equal(t, web1.HostVeth.MAC, nb[0].MAC, "the neighbour is the host veth")
	assert.Equal(t, netstack.NudPermanent, nb[0].State)

	// Host side.
	assert.Equal(t, "cali0761ccbeace", web1.HostVeth.Name)
	eth1 := n1.Stack.Iface("eth1")
	require.NotNil(t, eth1)
	assert.Equal(t, []string{"192.168.0.10/32"}, addrs(eth1), "the node's primary IP /32 on the secondary ENI")
	assert.Equal(t, [3]byte{0x00, 0x16, 0x3e}, [3]byte{eth1.Dev.MAC[0], eth1.Dev.MAC[1], eth1.Dev.MAC[2]}, "Alibaba Cloud's OUI")
	table := uint32(terway.TableBase) + uint32(eth1.Dev.Index)
	assert.Equal(t, uint32(1003), table, "lo 1, eth0 2, eth1 3")
	assert.Equal(t, []string{
		"0:\tfrom all lookup local",
		"512:\tfrom all to 192.168.16.1 lookup main",
		"512:\tfrom all to 192.168.16.2 lookup main",
		"2048:\tfrom 192.168.16.1 lookup 1003",
		"2048:\tfrom 192.168.16.2 lookup 1003",
		"32766:\tfrom all lookup main",
		"32767:\tfrom all lookup default",
	}, rules(n1.Stack))
	assert.Equal(t, []string{"default via 192.168.16.253 dev eth1 onlink"}, routes(n1.Stack.Table(1003).All()))
	assert.Contains(t, routes(n1.Stack.Routes.All()), "192.168.16.1 dev cali0761ccbeace scope link")
	assert.True(t, n1.Stack.Forwarding)
	for _, i := range n1.Stack.Ifaces() {
		assert.Zero(t, n1.Stack.EffectiveConf(i).RPFilter, "rp_filter on %s", i.Dev.Name)
	}

	// The VPC knows the ENI and its addresses.
	enis := terway.ENIs(n1.CNI)
	require.Len(t, enis, 1)
	assert.Equal(t, "192.168.16.1", enis[0].Primary.String())
	assert.Equal(t, "192.168.16.2", enis[0].Secondary[0].String())
	assert.Equal(t, "vsw-pod-h", enis[0].VSwitch.Name)
	assert.Empty(t, w.VPC.CustomRoutes(), "no route entry per node")
}

func TestVSwitchSelection(t *testing.T) {
	// Zone h lists a small vSwitch first and a larger one second.
	base := twoNodes()
	base.podVSW = append(base.podVSW,
		"- {name: vsw-pod-h-small, zone: cn-hangzhou-h, cidr: 192.168.18.0/28}",
		"- {name: vsw-pod-h-big, zone: cn-hangzhou-h, cidr: 192.168.20.0/24}")
	base.zones = []string{"cn-hangzhou-h: [vsw-pod-h-small, vsw-pod-h-big]", "cn-hangzhou-i: [vsw-pod-i]"}
	base.pods = []string{"- {name: web-1, node: node-1}"}
	for _, c := range []struct{ policy, want string }{
		{"", "vsw-pod-h-big"},        // the default "ordered" is "most" in terwayd
		{"ordered", "vsw-pod-h-big"}, // ditto
		{"most", "vsw-pod-h-big"},
	} {
		s := base
		s.policy = c.policy
		w := s.world(t)
		enis := terway.ENIs(w.Node("node-1").CNI)
		require.Len(t, enis, 1)
		assert.Equal(t, c.want, enis[0].VSwitch.Name, "policy %q", c.policy)
	}
}

func TestPodBeyondCapacityIsPending(t *testing.T) {
	s := twoNodes()
	// A made-up type: 2 ENIs × 12 IPs = 12 pods (ACK admits more than 11).
	s.extra = "instanceTypes:\n  - {name: ecs.test.small, eniQuantity: 2, eniPrivateIpAddressQuantity: 12}\n"
	s.nodes[0] = "- {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10, instanceType: ecs.test.small}"
	for i := range 13 {
		s.pods = append(s.pods, fmt.Sprintf("- {name: p-%d, node: node-1}", i))
	}
	w := s.world(t)
	assert.Len(t, w.Pods, 12)
	require.Len(t, w.Pending, 1)
	p := w.Pending[0]
	assert.Equal(t, "p-12", p.Name)
	assert.Equal(t, "FailedScheduling", p.Reason)
	assert.Contains(t, p.Message, "0/2 nodes are available: 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector")
	assert.Len(t, terway.ENIs(w.Node("node-1").CNI), 1, "only one secondary ENI on a 2-ENI instance")

	target, err := w.Resolve("pod/p-12")
	require.NoError(t, err)
	assert.Contains(t, target.Pending, "Pending on node-1")
}

func TestExhaustedPodVSwitchIsPending(t *testing.T) {
	s := twoNodes()
	s.podVSW[1] = "- {name: vsw-pod-i, zone: cn-hangzhou-i, cidr: 192.168.32.0/29}"
	for i := range 5 {
		s.pods = append(s.pods, fmt.Sprintf("- {name: p-%d, node: node-2}", i))
	}
	w := s.world(t)
	assert.Len(t, w.Pods, 4, "a /29 has four assignable addresses")
	require.Len(t, w.Pending, 1)
	p := w.Pending[0]
	assert.Equal(t, "FailedCreatePodSandBox", p.Reason)
	assert.Contains(t, p.Message, "vsw-pod-i no ip left")
	assert.Contains(t, p.Message, "no available vSwitch for zone cn-hangzhou-i")
	assert.Contains(t, p.Message, "InvalidVSwitchId.IpNotEnough")
}

func TestExclusiveENIMovesTheENIIntoThePod(t *testing.T) {
	s := twoNodes()
	s.eniMode = "exclusive"
	for i := range s.nodes {
		s.nodes[i] = strings.TrimSuffix(s.nodes[i], "}") + ", instanceType: ecs.g7.3xlarge}"
	}
	s.pods = []string{"- {name: web-1, node: node-1}"}
	w := s.world(t)
	n1, web1 := w.Node("node-1"), w.Pod("web-1")
	require.NotNil(t, web1)
	assert.Nil(t, n1.Stack.Iface("eth1"), "the ENI is not on the node any more")
	eth0 := web1.Stack.Iface("eth0")
	require.NotNil(t, eth0)
	assert.Equal(t, "device", eth0.Dev.Kind, "eth0 is the ENI, not a veth")
	assert.Equal(t, []string{"192.168.16.1/32"}, addrs(eth0))
	assert.Equal(t, []string{"192.168.16.1/32"}, addrs(web1.Stack.Iface("veth1")))
	assert.Equal(t, []string{
		"default via 192.168.16.253 dev eth0 onlink",
		"169.254.1.1 dev veth1 scope link",
		"172.21.0.0/20 via 169.254.1.1 dev veth1 onlink",
		"192.168.0.10 via 169.254.1.1 dev veth1",
	}, routes(web1.Stack.Routes.All()))
	assert.Contains(t, routes(n1.Stack.Routes.All()), "192.168.16.1 dev "+terway.VethName("default", "web-1")+" scope link")
	assert.Contains(t, n1.Filter.Save(false), `-A POSTROUTING ! -o lo -m comment --comment "terway:masq-outgoing" -j terway-masq`)
	assert.Equal(t, []string{"0:\tfrom all lookup local", "32766:\tfrom all lookup main", "32767:\tfrom all lookup default"}, rules(n1.Stack),
		"no policy rules in exclusive mode")
	enis := terway.ENIs(n1.CNI)
	require.Len(t, enis, 1)
	assert.Equal(t, "default/web-1", enis[0].Pod)
}

func TestIPVlanPodsAreSlavesOfTheENI(t *testing.T) {
	s := twoNodes()
	s.pods = []string{"- {name: web-1, node: node-1}", "- {name: web-2, node: node-1}"}
	y := strings.Replace(s.yaml(), "    terway:\n", "    terway:\n      eniipVirtualType: ipvlan\n", 1)
	sc, err := topology.Parse("terway-test.yaml", []byte(y))
	require.NoError(t, err)
	w, err := topology.Build(sc, sim.NewLoop())
	require.NoError(t, err)
	n1, web1 := w.Node("node-1"), w.Pod("web-1")
	eth1 := n1.Stack.Iface("eth1")
	require.NotNil(t, eth1)
	assert.Empty(t, addrs(eth1), "the ENI has no address in ipvlan mode")
	host := n1.Stack.Iface("ipvl_3")
	require.NotNil(t, host, "host slave named after the ENI's ifindex")
	assert.True(t, host.NoARP)
	assert.Equal(t, []string{"192.168.0.10/32"}, addrs(host))
	eth0 := web1.Stack.Iface("eth0")
	assert.Equal(t, "ipvlan", eth0.Dev.Kind)
	assert.Equal(t, eth1.Dev.MAC, eth0.Dev.MAC, "slaves share the ENI's MAC")
	assert.Equal(t, []string{"192.168.16.1/24"}, addrs(eth0), "the pod IP with the vSwitch prefix")
	assert.Equal(t, []string{
		"default via 192.168.16.253 dev eth0 onlink",
		"192.168.0.10 dev eth0 scope link",
		"192.168.16.0/24 dev eth0 proto kernel scope link src 192.168.16.1",
	}, routes(web1.Stack.Routes.All()))
	assert.Contains(t, routes(n1.Stack.Routes.All()), "192.168.16.1 dev ipvl_3 scope link")
	assert.Len(t, rules(n1.Stack), 3, "no policy rules in ipvlan mode")
	filters, slaves := terway.ENIs(n1.CNI)[0].IPVlanState()
	require.Len(t, filters, 2)
	assert.Equal(t, "169.254.20.10/32", filters[0].Dst.String(), "host_stack_cidrs first")
	assert.Equal(t, "172.21.0.0/20", filters[1].Dst.String(), "then the Service CIDR")
	assert.Len(t, slaves, 3, "ipvl_3 and the two pods")

	// Deleting a pod takes its own slave down, not the shared ipvl_3.
	_, err = w.Apply(&topology.Flow{Action: "delete-pod", ActionSpec: topology.ActionSpec{Pod: "web-1"}})
	require.NoError(t, err)
	assert.True(t, host.Dev.Up(), "ipvl_3 stays up")
	assert.False(t, eth0.Dev.Up(), "web-1's slave is down")
	assert.True(t, w.Pod("web-2").Stack.Iface("eth0").Dev.Up())
}

func TestPendingFollowsTheInstanceTypesCapacity(t *testing.T) {
	for _, c := range []struct {
		instanceType, eniMode string
		maxPods, enis         int
	}{
		{"ecs.g7.large", "shared", (3 - 1) * 6, 2},
		{"ecs.g6.xlarge", "shared", (3 - 1) * 10, 2},
		{"ecs.g7.xlarge", "shared", (4 - 1) * 15, 3},
		{"ecs.g7.3xlarge", "exclusive", 8 - 1, 7},
	} {
		t.Run(c.instanceType+"/"+c.eniMode, func(t *testing.T) {
			s := twoNodes()
			s.eniMode = c.eniMode
			s.nodes[0] = "- {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10, instanceType: " + c.instanceType + "}"
			s.nodes[1] = "- {name: node-2, vswitch: vsw-node-i, ip: 192.168.1.11, instanceType: ecs.g7.3xlarge}"
			for i := range c.maxPods + 1 {
				s.pods = append(s.pods, fmt.Sprintf("- {name: p-%d, node: node-1}", i))
			}
			w := s.world(t)
			assert.Len(t, w.Pods, c.maxPods)
			require.Len(t, w.Pending, 1)
			assert.Equal(t, fmt.Sprintf("p-%d", c.maxPods), w.Pending[0].Name)
			assert.Equal(t, "FailedScheduling", w.Pending[0].Reason)
			assert.Contains(t, w.Pending[0].Message, fmt.Sprintf("pod capacity %d", c.maxPods))
			assert.Len(t, terway.ENIs(w.Node("node-1").CNI), c.enis, "secondary ENIs created")
		})
	}
}
