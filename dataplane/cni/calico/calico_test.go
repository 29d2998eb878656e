package calico_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni"
	"netsim/dataplane/cni/calico"
	"netsim/dataplane/netstack"
	"netsim/sim"
	"netsim/topology"
)

// scen generates a Calico scenario: VPC 10.0.0.0/16 with vsw-a
// 10.0.0.0/24 and (vpc only) vsw-b 10.0.1.0/24; node-1 and node-2 in
// vsw-a, node-3 in vsw-b (vpc) — on l2 only node-1 and node-2.
type scen struct {
	underlay string
	// calico holds the lines of the calico block.
	calico []string
	pods   []string
	flows  []string
}

func (s scen) yaml() string {
	var b strings.Builder
	u := s.underlay
	if u == "" {
		u = "vpc"
	}
	fmt.Fprintf(&b, "name: calico-test\nvpc:\n  name: vpc-test\n  cidr: 10.0.0.0/16\n  underlay: %s\n  vswitches:\n", u)
	b.WriteString("    - {name: vsw-a, zone: cn-hangzhou-h, cidr: 10.0.0.0/24}\n")
	if u == "vpc" {
		b.WriteString("    - {name: vsw-b, zone: cn-hangzhou-i, cidr: 10.0.1.0/24}\n")
	}
	b.WriteString("nodes:\n  - {name: node-1, vswitch: vsw-a, ip: 10.0.0.10}\n  - {name: node-2, vswitch: vsw-a, ip: 10.0.0.11}\n")
	if u == "vpc" {
		b.WriteString("  - {name: node-3, vswitch: vsw-b, ip: 10.0.1.12}\n")
	}
	b.WriteString("cluster:\n  serviceCIDR: 172.21.0.0/20\n  cni:\n    mode: calico\n")
	if len(s.calico) > 0 {
		b.WriteString("    calico:\n")
		for _, l := range s.calico {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	if len(s.pods) > 0 {
		b.WriteString("pods:\n")
		for _, p := range s.pods {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	if len(s.flows) > 0 {
		b.WriteString("flows:\n")
		for _, f := range s.flows {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

func (s scen) world(t *testing.T) *topology.World {
	t.Helper()
	sc, err := topology.Parse("calico-test.yaml", []byte(s.yaml()))
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	w, err := topology.Build(sc, sim.NewLoop())
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	return w
}

func routes(st *netstack.Stack) []string {
	var out []string
	for _, r := range st.Routes.All() {
		out = append(out, r.String())
	}
	return out
}

func neighbours(st *netstack.Stack) []string {
	var out []string
	for _, n := range st.Neighbours() {
		out = append(out, n.Format(0))
	}
	return out
}

func TestHostVethName(t *testing.T) {
	// Expected values computed with Python's hashlib:
	// "cali" + sha1(b"<ns>.<pod>").hexdigest()[:11].
	for in, want := range map[[2]string]string{
		{"default", "web-1"}:                       "cali0761ccbeace",
		{"default", "api-1"}:                       "cali41e47e3dbec",
		{"kube-system", "coredns-7d8b9c6f4-x2k9p"}: "cali2522c41626b",
	} {
		assert.Equal(t, want, calico.HostVethName(in[0], in[1]), "%v", in)
	}
	assert.Equal(t, "Mesh_10_0_1_12", calico.MeshSession(netip.MustParseAddr("10.0.1.12")))
}

// TestNodeRoutes: node-1's routing table in each encapsulation mode
// (node-2 shares node-1's vSwitch, node-3 is in another one).
func TestNodeRoutes(t *testing.T) {
	base := []string{"default via 10.0.0.253 dev eth0", "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10"}
	tests := []struct {
		name    string
		calico  []string
		mode    string
		mtu     int
		want    []string
		neigh   []string
		devices []string
	}{
		{name: "ipip Always (the default)", mode: "calico/ipip", mtu: 1480, devices: []string{"lo", "eth0", "tunl0"}, want: []string{
			"blackhole 192.168.0.0/26 proto bird",
			"192.168.0.64/26 via 10.0.0.11 dev tunl0 proto bird onlink",
			"192.168.0.128/26 via 10.0.1.12 dev tunl0 proto bird onlink"}},
		{name: "ipip CrossSubnet", calico: []string{"ipipMode: CrossSubnet"}, mode: "calico/ipip-crosssubnet", mtu: 1480, devices: []string{"lo", "eth0", "tunl0"}, want: []string{
			"blackhole 192.168.0.0/26 proto bird",
			"192.168.0.64/26 via 10.0.0.11 dev eth0 proto bird",
			"192.168.0.128/26 via 10.0.1.12 dev tunl0 proto bird onlink"}},
		{name: "no encapsulation: gateway recursive across vSwitches", calico: []string{"ipipMode: Never"}, mode: "calico/bgp", mtu: 1500, devices: []string{"lo", "eth0"}, want: []string{
			"blackhole 192.168.0.0/26 proto bird",
			"192.168.0.64/26 via 10.0.0.11 dev eth0 proto bird",
			"192.168.0.128/26 via 10.0.0.253 dev eth0 proto bird"}},
		{name: "vxlan Always", calico: []string{"vxlanMode: Always"}, mode: "calico/vxlan", mtu: 1450, devices: []string{"lo", "eth0", "vxlan.calico"}, want: []string{
			"blackhole 192.168.0.0/26 proto 80",
			"192.168.0.64/26 via 192.168.0.64 dev vxlan.calico proto 80 onlink",
			"192.168.0.128/26 via 192.168.0.128 dev vxlan.calico proto 80 onlink"},
			neigh: []string{"192.168.0.64 dev vxlan.calico lladdr", "192.168.0.128 dev vxlan.calico lladdr"}},
		{name: "vxlan CrossSubnet", calico: []string{"ipipMode: Never", "vxlanMode: CrossSubnet"}, mode: "calico/vxlan-crosssubnet", mtu: 1450, devices: []string{"lo", "eth0", "vxlan.calico"}, want: []string{
			"blackhole 192.168.0.0/26 proto 80",
			"192.168.0.64/26 via 10.0.0.11 dev eth0 proto 80",
			"192.168.0.128/26 via 192.168.0.128 dev vxlan.calico proto 80 onlink"},
			neigh: []string{"192.168.0.128 dev vxlan.calico lladdr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := scen{calico: tc.calico}.world(t)
			assert.Equal(t, tc.mode, w.CNI.Name())
			assert.Equal(t, tc.mtu, w.CNI.PodMTU())
			n1 := w.Nodes[0]
			assert.Equal(t, append(append([]string(nil), base...), tc.want...), routes(n1.Stack))
			var devs []string
			for _, i := range n1.Stack.Ifaces() {
				devs = append(devs, i.Dev.Name)
				if i.Dev.Name == "tunl0" || i.Dev.Name == "vxlan.calico" {
					assert.Equal(t, tc.mtu, i.Dev.MTU)
					assert.Equal(t, []netstack.Addr{{Prefix: netip.MustParsePrefix("192.168.0.0/32")}}, i.Addrs, "tunnel address: ordinal 0 of the block")
				}
			}
			assert.Equal(t, append([]string{}, tc.devices...), devs)
			nb := neighbours(n1.Stack)
			require.Len(t, nb, len(tc.neigh))
			for i, p := range tc.neigh {
				assert.True(t, strings.HasPrefix(nb[i], p) && strings.HasSuffix(nb[i], "PERMANENT"), "neighbour %q", nb[i])
			}
			if vx := calico.VXLAN(n1.CNI); vx != nil {
				assert.Equal(t, uint32(calico.VXLANVNI), vx.VNI)
				assert.Equal(t, uint16(calico.VXLANPort), vx.Port)
				// One FDB entry per peer reached through the tunnel, to its node IP.
				var dsts []string
				for _, dst := range vx.FDB() {
					dsts = append(dsts, dst.String())
				}
				assert.ElementsMatch(t, map[bool][]string{true: {"10.0.1.12"}, false: {"10.0.0.11", "10.0.1.12"}}[len(tc.neigh) == 1], dsts)
			}
		})
	}
}

func TestPodWiring(t *testing.T) {
	tests := []struct {
		name    string
		calico  []string
		wantIPs []string
	}{
		{name: "tunnelled pools give ordinal 0 to the tunnel", wantIPs: []string{"192.168.0.1", "192.168.0.2", "192.168.0.65"}},
		{name: "without tunnel the first pod takes ordinal 0", calico: []string{"ipipMode: Never"}, wantIPs: []string{"192.168.0.0", "192.168.0.1", "192.168.0.64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := scen{calico: tc.calico, pods: []string{"- {name: a, node: node-1}", "- {name: b, node: node-1}", "- {name: c, node: node-2}"}}.world(t)
			require.Len(t, w.Pods, 3)
			for i, p := range w.Pods {
				assert.Equal(t, tc.wantIPs[i], p.IP.String())
				assert.Equal(t, calico.HostVethName("default", p.Name), p.HostVeth.Name)
				assert.Equal(t, calico.HostVethMAC, p.HostVeth.MAC.String())
				assert.Equal(t, []string{"default via 169.254.1.1 dev eth0", "169.254.1.1 dev eth0 scope link"}, routes(p.Stack))
				eth0 := p.Stack.Iface("eth0")
				assert.Equal(t, []netstack.Addr{{Prefix: netip.PrefixFrom(p.IP, 32)}}, eth0.Addrs)
				hi := p.Node.Stack.IfaceOf(p.HostVeth)
				require.NotNil(t, hi)
				assert.True(t, hi.ProxyARP, "proxy_arp=1 on %s", p.HostVeth.Name)
				assert.True(t, hi.Conf.RouteLocalnet, "route_localnet=1 on %s", p.HostVeth.Name)
				assert.Contains(t, routes(p.Node.Stack), p.IP.String()+" dev "+p.HostVeth.Name+" scope link")
			}
		})
	}
}

func TestIPAMErrors(t *testing.T) {
	tests := []struct {
		name, pod, want string
	}{
		{name: "outside the node's block", pod: "- {name: a, node: node-1, ip: 192.168.0.70}", want: "not in the node's affine block 192.168.0.0/26"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scen{pods: []string{tc.pod}}
			sc, err := topology.Parse("calico-test.yaml", []byte(s.yaml()))
			if err == nil {
				_, err = topology.Build(sc, sim.NewLoop())
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// A full block: a /30 block holds the tunnel address and three pods.
	s := scen{calico: []string{"blockSize: 30"}, pods: []string{"- {name: a, node: node-1}", "- {name: b, node: node-1}", "- {name: c, node: node-1}", "- {name: d, node: node-1}"}}
	// The loader counts a node's pods against its block, so the fourth
	// pod is refused where it is declared, before IPAM runs.
	_, err := topology.Parse("calico-test.yaml", []byte(s.yaml()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `pods[3].node: the pod does not fit: node "node-1" already has 3 pods: netsim gives each node one Calico IPAM block /30: 3 pod addresses`)
}

func TestNATOutgoing(t *testing.T) {
	rule := `-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully`
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("natOutgoing ", on), func(t *testing.T) {
			w := scen{calico: []string{fmt.Sprintf("natOutgoing: %v", on)}}.world(t)
			nf := w.Nodes[0].Filter
			save := nf.Save(false, "nat")
			assert.Equal(t, on, strings.Contains(save, rule), "%s", save)
			assert.Contains(t, save, `-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING`)
			all := nf.Set(calico.AllPoolsSet)
			require.NotNil(t, all)
			assert.Equal(t, []string{"192.168.0.0/16"}, all.Members())
			masq := nf.Set(calico.MasqSet)
			require.NotNil(t, masq)
			assert.Equal(t, on, masq.Len() == 1)
		})
	}
}

// TestFlows runs traffic in the modes against their expected outcomes:
// what must work, and what an Alibaba VPC breaks.
func TestFlows(t *testing.T) {
	pods := []string{"- {name: a, node: node-1, ports: [{port: 80}]}", "- {name: b, node: node-2, ports: [{port: 80}]}", "- {name: c, node: node-3, ports: [{port: 80}]}"}
	flow := func(name, to, expect string) string {
		return fmt.Sprintf("- {name: %s, from: pod/a, to: %s, protocol: tcp, port: 80, expect: %s}", name, to, expect)
	}
	tests := []struct {
		name   string
		calico []string
		flows  []string
	}{
		{name: "ipip", flows: []string{
			flow("same-vswitch", "pod/b", "delivered"),
			flow("other-vswitch", "pod/c", "delivered")}},
		{name: "vxlan", calico: []string{"vxlanMode: Always"}, flows: []string{
			flow("same-vswitch", "pod/b", "delivered"),
			flow("other-vswitch", "pod/c", "delivered")}},
		{name: "ipip CrossSubnet on a VPC: same-vSwitch traffic is not encapsulated", calico: []string{"ipipMode: CrossSubnet"}, flows: []string{
			flow("same-vswitch", "pod/b", "{verdict: dropped, reason: vpc-no-route}"),
			flow("other-vswitch", "pod/c", "delivered")}},
		{name: "bgp on a VPC", calico: []string{"ipipMode: Never"}, flows: []string{
			flow("same-vswitch", "pod/b", "{verdict: dropped, reason: vpc-no-route}"),
			flow("other-vswitch", "pod/c", "{verdict: dropped, reason: vpc-no-route}")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scen{calico: tc.calico, pods: pods, flows: tc.flows}
			sc, err := topology.Parse("calico-test.yaml", []byte(s.yaml()))
			require.NoError(t, err)
			r, err := sim.NewRunner(sc)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, len(tc.flows))
			for _, f := range res.Flows {
				assert.True(t, f.Met, "%s: %s", f.Name, f.Mismatch)
			}
		})
	}
}

func TestBGPProtocols(t *testing.T) {
	w := scen{calico: []string{"ipipMode: Never"}}.world(t)
	m := w.CNI.(*calico.Mode)
	lines := m.BGPProtocols(w.Nodes[0].CNI)
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[1], "Mesh_10_0_0_11 "))
	assert.True(t, strings.HasPrefix(lines[2], "Mesh_10_0_1_12 "))
	// VXLAN runs without BIRD.
	w = scen{calico: []string{"vxlanMode: Always"}}.world(t)
	assert.Nil(t, w.CNI.(*calico.Mode).BGPProtocols(w.Nodes[0].CNI))
	var _ cni.Mode = w.CNI.(*calico.Mode)
}
