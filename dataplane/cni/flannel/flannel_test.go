package flannel_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
	"netsim/sim"
	"netsim/topology"
)

func TestVXLANNodeTables(t *testing.T) {
	tests := []struct {
		name    string
		mtu     int
		flannel []string
		dev     string
		wantMTU int
		vni     uint32
		port    uint16
	}{
		{name: "defaults", flannel: []string{"backend: vxlan"}, dev: "flannel.1", wantMTU: 1450, vni: 1, port: 8472},
		{name: "backend left out", flannel: []string{"ipMasq: true"}, dev: "flannel.1", wantMTU: 1450, vni: 1, port: 8472},
		{name: "jumbo underlay", mtu: 9000, flannel: []string{"backend: vxlan"}, dev: "flannel.1", wantMTU: 8950, vni: 1, port: 8472},
		{name: "small underlay", mtu: 1400, flannel: []string{"backend: vxlan"}, dev: "flannel.1", wantMTU: 1350, vni: 1, port: 8472},
		{name: "vni and port", flannel: []string{"backend: vxlan", "vni: 7", "port: 4789"}, dev: "flannel.7", wantMTU: 1450, vni: 7, port: 4789},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := scen{mtu: tt.mtu, flannel: tt.flannel, nodes: threeNodes}.world(t)
			assert.Equal(t, "flannel/vxlan", w.CNI.Name())
			assert.Equal(t, tt.wantMTU, w.CNI.PodMTU())
			assert.Equal(t, []uint16{tt.port}, w.Env.VXLANPorts, "the port is decoded as VXLAN in traces")
			assert.Empty(t, w.CNI.Notes())
			require.Len(t, w.Nodes, 3)

			vteps := map[string]packet.MAC{}
			for _, n := range w.Nodes {
				mac, ok := flannel.VTEPMAC(n.CNI)
				require.True(t, ok)
				vteps[n.Name] = mac
			}
			assert.Len(t, map[packet.MAC]bool{vteps["node-1"]: true, vteps["node-2"]: true, vteps["node-3"]: true}, 3, "VTEP MACs are distinct")

			for i, n := range w.Nodes {
				subnet := pfx(fmt.Sprintf("172.20.%d.0/24", i))
				assert.Equal(t, subnet, n.PodCIDR, "pod CIDRs in node order")

				fl := n.Stack.Iface(tt.dev)
				require.NotNil(t, fl, "%s has %s", n.Name, tt.dev)
				assert.Equal(t, "vxlan", fl.Dev.Kind)
				assert.Equal(t, tt.wantMTU, fl.Dev.MTU, "MTU underlay − 50")
				assert.Equal(t, []string{subnet.Addr().String() + "/32"}, addrs(fl))
				assert.True(t, fl.Dev.Up())
				vx := flannel.Tunnel(n.CNI)
				require.NotNil(t, vx)
				assert.Same(t, fl.Dev, vx.Dev)
				assert.Equal(t, tt.vni, vx.VNI)
				assert.Equal(t, tt.port, vx.Port)
				assert.Equal(t, n.IP, vx.Local, "local is the node IP")
				assert.Equal(t, vteps[n.Name], fl.Dev.MAC, "the VTEP MAC is flannel.1's MAC")
				assert.Equal(t, []string{"lo", "eth0", "cni0", tt.dev}, ifaceNames(n.Stack))
				assert.True(t, n.Stack.Forwarding)

				// Per peer: neighbour, FDB entry, onlink route; nothing else.
				var wantNeigh, wantRoutes, wantFDB []string
				fdb := vx.FDB()
				for j, p := range w.Nodes {
					if p == n {
						continue
					}
					psub := fmt.Sprintf("172.20.%d.0", j)
					wantNeigh = append(wantNeigh, fmt.Sprintf("%s dev %s lladdr %s PERMANENT", psub, tt.dev, vteps[p.Name]))
					wantRoutes = append(wantRoutes, fmt.Sprintf("%s/24 via %s dev %s onlink", psub, psub, tt.dev))
					wantFDB = append(wantFDB, fmt.Sprintf("%s dev %s dst %s self permanent", vteps[p.Name], tt.dev, p.IP))
					dst, ok := fdb[vteps[p.Name]]
					require.True(t, ok, "FDB entry for %s", p.Name)
					assert.Equal(t, p.IP, dst)
				}
				assert.Equal(t, wantNeigh, neighbours(n.Stack))
				assert.Len(t, fdb, 2)
				var gotFDB []string
				for _, j := range []int{0, 1, 2} {
					p := w.Nodes[j]
					if dst, ok := fdb[vteps[p.Name]]; ok {
						gotFDB = append(gotFDB, vx.FDBString(vteps[p.Name], dst))
					}
				}
				assert.Equal(t, wantFDB, gotFDB)

				gw := vpc.GatewayOf(pfx(n.IP.String() + "/24").Masked())
				own := fmt.Sprintf("172.20.%d.0/24 dev cni0 proto kernel scope link src 172.20.%d.1", i, i)
				all := []string{"default via " + gw.String() + " dev eth0"}
				peerRoutes := wantRoutes
				for k := 0; k < 3; k++ {
					if k == i {
						all = append(all, own)
					} else {
						all = append(all, peerRoutes[0])
						peerRoutes = peerRoutes[1:]
					}
				}
				all = append(all, fmt.Sprintf("%s dev eth0 proto kernel scope link src %s", pfx(n.IP.String()+"/24").Masked(), n.IP))
				assert.Equal(t, all, routes(n.Stack), "ip route of %s", n.Name)
			}
			assert.Zero(t, w.VPC.CustomRoutes(), "vxlan needs no VPC route entries")
		})
	}
}

// TestVXLANRouteText pins the route exactly as flanneld's is printed.
func TestVXLANRouteText(t *testing.T) {
	w := scen{nodes: threeNodes}.world(t)
	assert.Contains(t, routes(w.Node("node-1").Stack), "172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink")
	r := w.Node("node-1").Stack.Routes.Lookup(ip("172.20.1.9"))
	require.NotNil(t, r)
	assert.Equal(t, "172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink", r.String())
}

// fwdRules is a node's filter table: flanneld's FLANNEL-FWD, and
// kubelet's KUBE-FIREWALL and canary, which every node has.
func fwdRules(net string) string {
	return `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A OUTPUT -j KUBE-FIREWALL
-A FLANNEL-FWD -s ` + net + ` -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d ` + net + ` -m comment --comment "flanneld forward" -j ACCEPT
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
`
}

func masqRules(net, pod string) string {
	return `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s ` + pod + ` -d ` + net + ` -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s ` + net + ` -d ` + pod + ` -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s ` + net + ` -d ` + pod + ` -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s ` + net + ` ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s ` + net + ` -d ` + net + ` -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
`
}

const emptyNAT = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
`

// flannelOnly drops the lines of kubelet's and kube-proxy's chains (every
// node has the kubernetes Service, so kube-proxy always writes rules) from
// an iptables-save dump, leaving flanneld's.
func flannelOnly(save string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(save, "\n") {
		if !strings.Contains(l, "KUBE-") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestIPTablesRules(t *testing.T) {
	tests := []struct {
		name     string
		underlay string
		nodes    []nodeSpec
		flannel  []string
		masq     bool
	}{
		{"vxlan", "vpc", threeNodes, []string{"backend: vxlan"}, true},
		{"vxlan, ipMasq left out", "vpc", threeNodes, nil, true},
		{"vxlan without ipMasq", "vpc", threeNodes, []string{"backend: vxlan", "ipMasq: false"}, false},
		{"host-gw", "l2", twoNodesL2, []string{"backend: host-gw"}, true},
		{"host-gw without ipMasq", "l2", twoNodesL2, []string{"backend: host-gw", "ipMasq: false"}, false},
		{"alivpc", "vpc", threeNodes, []string{"backend: alivpc"}, true},
		{"ali-vpc without ipMasq", "vpc", threeNodes, []string{"backend: ali-vpc", "ipMasq: false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := scen{underlay: tt.underlay, nodes: tt.nodes, flannel: tt.flannel}.world(t)
			for _, n := range w.Nodes {
				require.NotNil(t, n.Filter)
				want := emptyNAT + fwdRules("172.20.0.0/16")
				if tt.masq {
					want = masqRules("172.20.0.0/16", n.PodCIDR.String()) + fwdRules("172.20.0.0/16")
				}
				assert.Equal(t, flannelOnly(want), flannelOnly(n.Filter.Save(false)), "iptables-save on %s (kubelet and kube-proxy lines left out)", n.Name)
				if !tt.masq {
					assert.NotContains(t, flannelOnly(n.Filter.Save(false, "nat")), "-A", "no flannel nat rules at all")
				}
			}
			for _, h := range w.Instances {
				assert.Nil(t, h.Filter, "plain instances run no netfilter")
			}
		})
	}
}

// TestIPMasqOnTheWire checks that the rules act: a pod reaching an ECS
// instance is seen from the node's address with ipMasq, from its own
// without.
func TestIPMasqOnTheWire(t *testing.T) {
	tests := []struct {
		name  string
		masq  string
		wantS string
	}{
		{"ipMasq true", "ipMasq: true", "192.168.0.10"},
		{"ipMasq false", "ipMasq: false", "172.20.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scen{underlay: "l2", nodes: twoNodesL2, flannel: []string{"backend: host-gw", tt.masq},
				pods:  []string{"- {name: web-1, node: node-1}"},
				flows: []string{"- {name: out, from: pod/web-1, to: 192.168.0.11}"}}
			r := s.runner(t)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, 1)
			assert.Equal(t, "delivered", res.Flows[0].Verdict.Result, "%+v", res.Flows[0].Verdict)
			assert.Equal(t, tt.wantS, res.Flows[0].SeenSource)
		})
	}
}

func TestVXLANDirectRouting(t *testing.T) {
	s := scen{nodes: threeNodes, flannel: []string{"backend: vxlan", "directRouting: true"},
		pods: []string{
			"- {name: web-1, node: node-1}",
			"- {name: api-2, node: node-2}",
			"- {name: api-3, node: node-3}",
		},
		flows: []string{
			"- {name: same-vswitch, from: pod/web-1, to: pod/api-2}",
			"- {name: other-vswitch, from: pod/web-1, to: pod/api-3}",
		}}
	r := s.runner(t)
	w := r.World
	n1 := w.Node("node-1").Stack
	vtep3, _ := flannel.VTEPMAC(w.Node("node-3").CNI)
	assert.Equal(t, []string{
		"default via 192.168.0.253 dev eth0",
		"172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1",
		"172.20.1.0/24 via 192.168.0.11 dev eth0",
		"172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink",
		"192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.10",
	}, routes(n1), "node-2 shares the vSwitch (on-link), node-3 does not")
	assert.Equal(t, []string{"172.20.2.0 dev flannel.1 lladdr " + vtep3.String() + " PERMANENT"}, neighbours(n1), "no VXLAN neighbour for the direct peer")
	fdb := flannel.Tunnel(w.Node("node-1").CNI).FDB()
	assert.Len(t, fdb, 1, "no FDB entry for the direct peer")
	assert.Equal(t, ip("192.168.1.12"), fdb[vtep3])
	assert.Contains(t, routes(w.Node("node-3").Stack), "172.20.0.0/24 via 172.20.0.0 dev flannel.1 onlink")

	res, err := r.Run(sim.Options{})
	require.NoError(t, err)
	require.Len(t, res.Flows, 2)
	same := res.Flows[0]
	assert.Equal(t, "dropped", same.Verdict.Result)
	assert.Equal(t, "vpc-no-route", same.Verdict.Reason, "the vRouter has no entry for pod addresses: %s", same.Verdict.Detail)
	assert.Contains(t, same.Verdict.Detail, "has no entry for 172.20.1.2")
	assert.Equal(t, "vpc vsw-a", same.Verdict.Where)
	other := res.Flows[1]
	assert.Equal(t, "delivered", other.Verdict.Result, "%+v", other.Verdict)
	assert.Equal(t, "172.20.0.2", other.SeenSource)
}

func TestVXLANDirectRoutingOnL2(t *testing.T) {
	s := scen{underlay: "l2", nodes: twoNodesL2, flannel: []string{"backend: vxlan", "directRouting: true"},
		pods:  []string{"- {name: a, node: node-1}", "- {name: b, node: node-2}"},
		flows: []string{"- {name: a-b, from: pod/a, to: pod/b, size: 1422, df: true}"}}
	r := s.runner(t)
	assert.Contains(t, routes(r.World.Node("node-1").Stack), "172.20.1.0/24 via 192.168.0.11 dev eth0")
	assert.Empty(t, neighbours(r.World.Node("node-1").Stack))
	res, err := r.Run(sim.Options{})
	require.NoError(t, err)
	assert.Equal(t, "delivered", res.Flows[0].Verdict.Result, "%+v", res.Flows[0].Verdict)
	assert.Equal(t, "172.20.0.2", res.Flows[0].SeenSource, "no NAT between pods")
}

func TestHostGW(t *testing.T) {
	t.Run("l2", func(t *testing.T) {
		w := scen{underlay: "l2", nodes: []nodeSpec{
			{"node-1", "vsw-a", "192.168.0.10"}, {"node-2", "vsw-a", "192.168.0.11"}, {"node-3", "vsw-a", "192.168.0.12"},
		}, flannel: []string{"backend: host-gw"}}.world(t)
		assert.Equal(t, "flannel/host-gw", w.CNI.Name())
		assert.Equal(t, 1500, w.CNI.PodMTU(), "no encapsulation overhead")
		assert.Empty(t, w.CNI.Notes())
		assert.Nil(t, w.VPC)
		assert.Empty(t, w.Env.VXLANPorts)
		assert.Equal(t, []string{
			"172.20.0.0/24 via 192.168.0.10 dev eth0",
			"172.20.1.0/24 dev cni0 proto kernel scope link src 172.20.1.1",
			"172.20.2.0/24 via 192.168.0.12 dev eth0",
			"192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11",
		}, routes(w.Node("node-2").Stack), "no default route on l2; one route per peer via its address")
		for _, n := range w.Nodes {
			assert.Equal(t, []string{"lo", "eth0", "cni0"}, ifaceNames(n.Stack), "no tunnel device")
			assert.Nil(t, flannel.Tunnel(n.CNI))
			_, ok := flannel.VTEPMAC(n.CNI)
			assert.False(t, ok)
			assert.Empty(t, neighbours(n.Stack))
			assert.Equal(t, 1500, n.Stack.Iface("cni0").Dev.MTU)
		}
	})
	t.Run("vpc, peer not on-link", func(t *testing.T) {
		w := scen{nodes: threeNodes, flannel: []string{"backend: host-gw"}}.world(t)
		assert.Contains(t, routes(w.Node("node-1").Stack), "172.20.1.0/24 via 192.168.0.11 dev eth0", "the same-vSwitch peer is on-link")
		for _, r := range routes(w.Node("node-1").Stack) {
			assert.NotContains(t, r, "172.20.2.0/24", "the kernel refused the route to node-3")
		}
		for _, r := range routes(w.Node("node-3").Stack) {
			assert.NotContains(t, r, "172.20.0.0/24")
			assert.NotContains(t, r, "172.20.1.0/24")
		}
		// node-1 and node-2 can't reach node-3, node-3 can reach neither.
		require.Len(t, w.CNI.Notes(), 4)
		assert.Equal(t, "node-1: flanneld host-gw: Error adding route to 172.20.2.0/24 via 192.168.1.12 dev eth0: Network is unreachable (192.168.1.12 is not on-link: host-gw needs every node on one L2 segment)", w.CNI.Notes()[0])
		for _, n := range w.CNI.Notes() {
			assert.Contains(t, n, "Network is unreachable")
		}
		assert.True(t, strings.HasPrefix(w.CNI.Notes()[2], "node-3: "), w.CNI.Notes()[2])
		assert.Contains(t, w.CNI.Notes()[2], "172.20.0.0/24 via 192.168.0.10")
	})
}

func TestAliVPC(t *testing.T) {
	for _, backend := range []string{"alivpc", "ali-vpc"} {
		t.Run(backend, func(t *testing.T) {
			w := scen{nodes: threeNodes, flannel: []string{"backend: " + backend},
				pods: []string{"- {name: web-1, node: node-1}"}}.world(t)
			assert.Equal(t, "flannel/alivpc", w.CNI.Name())
			assert.Equal(t, 1500, w.CNI.PodMTU(), "pod MTU = NIC MTU")
			assert.Empty(t, w.Env.VXLANPorts)
			assert.Empty(t, w.CNI.Notes())

			assert.Equal(t, 3, w.VPC.CustomRoutes())
			var custom []string
			for _, e := range w.VPC.Routes() {
				if e.Type == vpc.Custom {
					custom = append(custom, fmt.Sprintf("%s %s %s", e.Destination, e.NextHop, e.Description))
				}
			}
			assert.Equal(t, []string{
				"172.20.0.0/24 node-1 flannel ali-vpc route for node-1",
				"172.20.1.0/24 node-2 flannel ali-vpc route for node-2",
				"172.20.2.0/24 node-3 flannel ali-vpc route for node-3",
			}, custom, "one custom entry per node, next hop the node")

			for i, n := range w.Nodes {
				gw := "192.168.0.253"
				if n.VSwitch == "vsw-b" {
					gw = "192.168.1.253"
				}
				net := pfx(n.IP.String() + "/24").Masked()
				assert.Equal(t, []string{
					"default via " + gw + " dev eth0",
					fmt.Sprintf("172.20.%d.0/24 dev cni0 proto kernel scope link src 172.20.%d.1", i, i),
					fmt.Sprintf("%s dev eth0 proto kernel scope link src %s", net, n.IP),
				}, routes(n.Stack), "no peer routes on %s: the VPC routes between nodes", n.Name)
				assert.Equal(t, []string{"lo", "eth0", "cni0"}, ifaceNames(n.Stack)[:3])
				assert.Nil(t, n.Stack.Iface("flannel.1"))
				assert.Empty(t, neighbours(n.Stack))
			}
			p := w.Pod("web-1")
			require.NotNil(t, p)
			assert.Equal(t, 1500, p.Stack.Iface("eth0").Dev.MTU)
			assert.Equal(t, 1500, p.HostVeth.MTU)
		})
	}
}

func TestAliVPCQuota(t *testing.T) {
	tests := []struct {
		name  string
		quota int
		nodes int
		fail  int // index of the first node over the quota, -1 for none
	}{
		{"at the quota", 3, 3, -1},
		{"one over", 2, 3, 2},
		{"quota 1", 1, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodes []nodeSpec
			for i := range tt.nodes {
				nodes = append(nodes, nodeSpec{fmt.Sprintf("node-%d", i+1), "vsw-a", ""})
			}
			s := scen{quota: tt.quota, nodes: nodes, flannel: []string{"backend: alivpc"}}
			w, err := topology.Build(s.parse(t), sim.NewLoop())
			if tt.fail < 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.nodes, w.VPC.CustomRoutes())
				return
			}
			require.Error(t, err)
			assert.Nil(t, w)
			var probs topology.Problems
			require.True(t, errors.As(err, &probs))
			require.Len(t, probs, tt.nodes-tt.fail, "every node over the quota is reported")
			p := probs[0]
			line, col := lineOf(t, s.yaml(), fmt.Sprintf("{name: node-%d,", tt.fail+1))
			assert.Equal(t, "flannel-test.yaml", p.File)
			assert.Equal(t, fmt.Sprintf("nodes[%d]", tt.fail), p.Path)
			assert.Equal(t, line, p.Line, "located at the node")
			assert.Equal(t, col, p.Column)
			assert.Contains(t, p.Msg, "QuotaExceeded.RouteEntry")
			assert.Contains(t, p.Msg, fmt.Sprintf("already has %d custom route entries, the quota", tt.quota))
			assert.Contains(t, p.Msg, fmt.Sprintf("node-%d", tt.fail+1))
			assert.Contains(t, p.String(), fmt.Sprintf("flannel-test.yaml:%d:%d: nodes[%d]: ", line, col, tt.fail))
		})
	}
}

func TestAliVPCOnL2IsAnError(t *testing.T) {
	s := scen{underlay: "l2", nodes: twoNodesL2, flannel: []string{"backend: alivpc"}}
	w, err := topology.Build(s.parse(t), sim.NewLoop())
	require.Error(t, err)
	assert.Nil(t, w)
	var probs topology.Problems
	require.True(t, errors.As(err, &probs))
	require.Len(t, probs, 1)
	line, col := lineOf(t, s.yaml(), "mode: flannel")
	assert.Equal(t, "cluster.cni", probs[0].Path)
	assert.Equal(t, line, probs[0].Line)
	assert.Equal(t, col, probs[0].Column)
	assert.Contains(t, probs[0].Msg, "alivpc needs an Alibaba Cloud VPC underlay")
	assert.Contains(t, probs[0].Msg, `not "l2"`)
}

func TestNew(t *testing.T) {
	env := link.NewEnv(sim.NewLoop())
	l2 := &cni.Cluster{Env: env, PodCIDR: pfx("172.20.0.0/16"), Underlay: "l2", UnderlayMTU: 1500}
	tests := []struct {
		name     string
		c        *cni.Cluster
		opts     any
		wantName string
		wantMTU  int
		wantPort int // 0: 8472
		wantErr  string
	}{
		{name: "defaults", c: l2, opts: &flannel.Options{}, wantName: "flannel/vxlan", wantMTU: 1450},
		{name: "host-gw", c: l2, opts: &flannel.Options{Backend: "host-gw"}, wantName: "flannel/host-gw", wantMTU: 1500},
		{name: "MTU override", c: l2, opts: &flannel.Options{MTU: 1400}, wantName: "flannel/vxlan", wantMTU: 1400},
		{name: "udp", c: l2, opts: &flannel.Options{Backend: "udp"}, wantName: "flannel/udp", wantMTU: 1472, wantPort: 8285},
		{name: "udp port", c: l2, opts: &flannel.Options{Backend: "udp", Port: 9000}, wantName: "flannel/udp", wantMTU: 1472, wantPort: 9000},
		{name: "unknown backend", c: l2, opts: &flannel.Options{Backend: "ipip"}, wantErr: `flannel: unknown backend "ipip" (expected vxlan, host-gw, udp or alivpc)`},
		{name: "alivpc without a VPC", c: l2, opts: &flannel.Options{Backend: "ali-vpc"}, wantErr: `flannel: backend alivpc needs an Alibaba Cloud VPC underlay (underlay: vpc), not "l2"`},
		{name: "wrong options type", c: l2, opts: flannel.Options{}, wantErr: "flannel: options must be *flannel.Options, got flannel.Options"},
		{name: "nil options", c: l2, opts: (*flannel.Options)(nil), wantErr: "flannel: options must be a non-nil *flannel.Options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := cni.New("flannel", tt.c, tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantName, m.Name())
			assert.Equal(t, tt.wantMTU, m.PodMTU())
			fm := m.(*flannel.Mode)
			assert.Equal(t, 1, fm.Options().VNI)
			wantPort := tt.wantPort
			if wantPort == 0 {
				wantPort = 8472
			}
			assert.Equal(t, wantPort, fm.Options().Port)
			assert.Equal(t, "flannel.1", fm.DeviceName())
		})
	}
	assert.Contains(t, cni.Names(), "flannel")
}

var vethRE = regexp.MustCompile(`^veth[0-9a-f]{8}$`)

func TestPodWiring(t *testing.T) {
	s := scen{nodes: threeNodes, flannel: []string{"backend: vxlan"}, pods: []string{
		"- {name: web-1, node: node-1}",
		"- {name: web-2, node: node-1, ip: 172.20.0.3}",
		"- {name: web-3, node: node-1}",
		"- {name: web-4, node: node-1, ip: 172.20.0.254}",
		"- {name: big, node: node-1, mtu: 1500}",
		"- {name: api-1, namespace: shop, node: node-2}",
		"- {name: web-1, namespace: shop, node: node-2}",
	}}
	w := s.world(t)
	tests := []struct {
		ref, node, ip string
		mtu           int
	}{
		{"default/web-1", "node-1", "172.20.0.2", 1450},
		{"default/web-2", "node-1", "172.20.0.3", 1450},
		{"default/web-3", "node-1", "172.20.0.4", 1450},
		{"default/web-4", "node-1", "172.20.0.254", 1450},
		{"default/big", "node-1", "172.20.0.5", 1500},
		{"shop/api-1", "node-2", "172.20.1.2", 1450},
		{"shop/web-1", "node-2", "172.20.1.3", 1450},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			p := w.Pod(tt.ref)
			require.NotNil(t, p)
			node := w.Node(tt.node)
			assert.Same(t, node, p.Node)
			assert.Equal(t, ip(tt.ip), p.IP)
			sub := node.PodCIDR
			gw := cni.Nth(sub, 1)

			eth0 := p.Stack.Iface("eth0")
			require.NotNil(t, eth0)
			assert.Equal(t, []string{"lo", "eth0"}, ifaceNames(p.Stack))
			assert.Equal(t, cni.MACFromIP(ip(tt.ip)), eth0.Dev.MAC)
			b := ip(tt.ip).As4()
			assert.Equal(t, fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]), eth0.Dev.MAC.String())
			assert.Equal(t, []string{tt.ip + "/24"}, addrs(eth0))
			assert.Equal(t, tt.mtu, eth0.Dev.MTU)
			assert.Equal(t, "veth", eth0.Dev.Kind)
			assert.Equal(t, []string{
				"default via " + gw.String() + " dev eth0",
				"172.20.0.0/16 via " + gw.String() + " dev eth0",
				sub.String() + " dev eth0 proto kernel scope link src " + tt.ip,
			}, routes(p.Stack))
			assert.False(t, p.Stack.Forwarding)
			assert.Nil(t, p.Stack.Filter, "pods run no netfilter")

			hv := p.HostVeth
			require.NotNil(t, hv)
			assert.Regexp(t, vethRE, hv.Name)
			ns, name, _ := strings.Cut(tt.ref, "/")
			assert.Equal(t, cni.VethName(ns, name), hv.Name)
			assert.Equal(t, "veth", hv.Kind)
			assert.True(t, hv.Hairpin, "hairpin on")
			br := flannel.Bridge(node.CNI)
			require.NotNil(t, br)
			assert.Same(t, br, hv.Master, "enslaved to cni0")
			assert.Contains(t, br.Ports(), hv)
			assert.Same(t, eth0.Dev, hv.Peer)
			assert.Same(t, hv, eth0.Dev.Peer)
			assert.Equal(t, tt.mtu, hv.MTU, "both veth ends get the MTU")
			assert.Equal(t, node.Name, hv.NS)
			hi := node.Stack.Iface(hv.Name)
			require.NotNil(t, hi, "the host end is in the node's namespace")
			assert.Empty(t, hi.Addrs)
			assert.NotEqual(t, eth0.Dev.MAC, hv.MAC)
		})
	}

	// Distinct host veth names even for the same pod name in two namespaces.
	assert.NotEqual(t, w.Pod("default/web-1").HostVeth.Name, w.Pod("shop/web-1").HostVeth.Name)

	// cni0 on each node: the gateway address and MAC, pod MTU.
	for i, n := range w.Nodes {
		c0 := n.Stack.Iface("cni0")
		require.NotNil(t, c0)
		gw := fmt.Sprintf("172.20.%d.1", i)
		assert.Equal(t, []string{gw + "/24"}, addrs(c0))
		assert.Equal(t, cni.MACFromIP(ip(gw)), c0.Dev.MAC)
		assert.Equal(t, "bridge", c0.Dev.Kind)
		assert.Equal(t, 1450, c0.Dev.MTU)
	}
	assert.Len(t, flannel.Bridge(w.Node("node-1").CNI).Ports(), 5)
	assert.Empty(t, flannel.Bridge(w.Node("node-3").CNI).Ports(), "cni0 exists from node setup")
}

// TestPinnedIPsHonoured: a pinned address later in the file is not taken
// by host-local allocation for an earlier pod.
func TestPinnedIPsHonoured(t *testing.T) {
	s := scen{nodes: threeNodes, pods: []string{
		"- {name: a, node: node-1}",
		"- {name: b, node: node-1}",
		"- {name: c, node: node-1, ip: 172.20.0.2}",
		"- {name: d, node: node-1, ip: 172.20.0.4}",
		"- {name: e, node: node-1}",
	}}
	w := s.world(t)
	got := map[string]string{}
	var order []string
	for _, p := range w.Pods {
		got[p.Name] = p.IP.String()
		order = append(order, p.Name)
	}
	assert.Equal(t, map[string]string{"a": "172.20.0.3", "b": "172.20.0.5", "c": "172.20.0.2", "d": "172.20.0.4", "e": "172.20.0.6"}, got)
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, order, "pods keep the file's order")
}

func TestPodMTUOverrides(t *testing.T) {
	tests := []struct {
		name     string
		flannel  []string
		pod      string
		podMTU   int
		flMTU    int
		cni0MTU  int
		backend  string
		underlay string
		others   []string
	}{
		// cni0 is created with FLANNEL_MTU but takes the minimum MTU of its
		// ports as soon as one is added (br_mtu_auto_adjust).
		{name: "pod mtu", flannel: []string{"backend: vxlan"}, pod: "- {name: p, node: node-1, mtu: 1500}", podMTU: 1500, flMTU: 1450, cni0MTU: 1500},
		{name: "pod mtu beside a default pod", flannel: []string{"backend: vxlan"}, pod: "- {name: p, node: node-1, mtu: 1500}",
			others: []string{"- {name: q, node: node-1}"}, podMTU: 1500, flMTU: 1450, cni0MTU: 1450},
		{name: "pod mtu smaller", flannel: []string{"backend: vxlan"}, pod: "- {name: p, node: node-1, mtu: 1200}", podMTU: 1200, flMTU: 1450, cni0MTU: 1200},
		{name: "flannel mtu", flannel: []string{"backend: vxlan", "mtu: 1400"}, pod: "- {name: p, node: node-1}", podMTU: 1400, flMTU: 1400, cni0MTU: 1400},
		{name: "flannel and pod mtu", flannel: []string{"backend: vxlan", "mtu: 1400"}, pod: "- {name: p, node: node-1, mtu: 1300}", podMTU: 1300, flMTU: 1400, cni0MTU: 1300},
		{name: "host-gw flannel mtu", flannel: []string{"backend: host-gw", "mtu: 1400"}, pod: "- {name: p, node: node-1}", podMTU: 1400, cni0MTU: 1400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := scen{nodes: threeNodes, flannel: tt.flannel, pods: append([]string{tt.pod}, tt.others...)}.world(t)
			p := w.Pod("p")
			require.NotNil(t, p)
			assert.Equal(t, tt.podMTU, p.Stack.Iface("eth0").Dev.MTU, "pod end")
			assert.Equal(t, tt.podMTU, p.HostVeth.MTU, "host end")
			n := w.Node("node-1")
			assert.Equal(t, tt.cni0MTU, n.Stack.Iface("cni0").Dev.MTU)
			if tt.flMTU != 0 {
				assert.Equal(t, tt.flMTU, n.Stack.Iface("flannel.1").Dev.MTU)
			}
			assert.Equal(t, 1500, n.Stack.Iface("eth0").Dev.MTU, "the NIC keeps the underlay MTU")
		})
	}
}

func TestAddPodErrors(t *testing.T) {
	w := scen{nodes: threeNodes, nodeMask: 28, pods: []string{"- {name: web-1, node: node-1}"}}.world(t)
	n := w.Node("node-1")
	require.Equal(t, pfx("172.20.0.0/28"), n.PodCIDR)
	newPod := func(name, addr string) *cni.Pod {
		p := &cni.Pod{Namespace: "default", Name: name, Node: n.CNI, Stack: netstackFor(w, name)}
		if addr != "" {
			p.IP = ip(addr)
		}
		return p
	}
	tests := []struct {
		name, addr, wantErr string
	}{
		{"duplicate pinned IP", "172.20.0.2", "flannel node-1: pod default/x: requested IP 172.20.0.2 is already allocated to default/web-1"},
		{"the gateway", "172.20.0.1", "flannel node-1: pod default/x: requested IP 172.20.0.1 is not in the host-local range 172.20.0.2–172.20.0.14"},
		{"the network address", "172.20.0.0", "is not in the host-local range"},
		{"the broadcast address", "172.20.0.15", "is not in the host-local range"},
		{"another node's subnet", "172.20.1.5", "is not in the host-local range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.CNI.AddPod(newPod("x", tt.addr))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	// A /28 has .2 to .14: 13 addresses; web-1 has one.
	for i := range 12 {
		p := newPod(fmt.Sprintf("fill-%d", i), "")
		require.NoError(t, w.CNI.AddPod(p))
		assert.Equal(t, cni.Nth(n.PodCIDR, i+3), p.IP)
	}
	err := w.CNI.AddPod(newPod("one-too-many", ""))
	require.Error(t, err)
	assert.Equal(t, "flannel node-1: pod default/one-too-many: host-local: no IP addresses available in range set 172.20.0.2–172.20.0.14", err.Error())
}

// The loader counts the pods of each node against its pod CIDR, so a 14th
// pod on a /28 is refused at the pod before host-local would run dry
// (host-local's own error is TestHostLocal's, above).
func TestHostLocalExhaustedIsALocatedLoadError(t *testing.T) {
	var pods []string
	for i := range 14 {
		pods = append(pods, fmt.Sprintf("- {name: p%d, node: node-1}", i))
	}
	s := scen{nodes: threeNodes, nodeMask: 28, pods: pods}
	_, err := topology.Parse("flannel-test.yaml", []byte(s.yaml()))
	var probs topology.Problems
	require.True(t, errors.As(err, &probs), "%v", err)
	require.Len(t, probs, 1)
	line, _ := lineOf(t, s.yaml(), "{name: p13,")
	assert.Equal(t, "pods[13].node", probs[0].Path)
	assert.Equal(t, line, probs[0].Line)
	assert.Contains(t, probs[0].Msg, "node \"node-1\" already has 13 pods: flannel's node pod CIDR /28 holds 2^(32−28) − 3 = 13 pod addresses")
}

func TestPinnedIPOutsideAllocatedCIDRIsALocatedBuildError(t *testing.T) {
	// node-2's pod CIDR is allocated at build time, so only Build can tell.
	s := scen{nodes: threeNodes, pods: []string{"- {name: p, node: node-2, ip: 172.20.0.7}"}}
	_, err := topology.Build(s.parse(t), sim.NewLoop())
	var probs topology.Problems
	require.True(t, errors.As(err, &probs), "%v", err)
	require.Len(t, probs, 1)
	line, _ := lineOf(t, s.yaml(), "{name: p,")
	assert.Equal(t, "pods[0]", probs[0].Path)
	assert.Equal(t, line, probs[0].Line)
	assert.Contains(t, probs[0].Msg, "requested IP 172.20.0.7 is not in the host-local range 172.20.1.2–172.20.1.254")
}

// TestCrossNodeFramesOnTheWire looks at the echo request as node-1's eth0
// sends it, per backend.
func TestCrossNodeFramesOnTheWire(t *testing.T) {
	tests := []struct {
		name     string
		underlay string
		nodes    []nodeSpec
		flannel  []string
		encap    bool
		port     uint16
		vni      uint32
	}{
		{name: "vxlan", nodes: threeNodes, flannel: []string{"backend: vxlan", "vni: 7", "port: 4789"}, encap: true, port: 4789, vni: 7},
		{name: "alivpc", nodes: threeNodes, flannel: []string{"backend: alivpc"}},
		{name: "host-gw on l2", underlay: "l2", nodes: twoNodesL2, flannel: []string{"backend: host-gw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scen{underlay: tt.underlay, nodes: tt.nodes, flannel: tt.flannel,
				pods:  []string{"- {name: a, node: node-1}", "- {name: b, node: node-2}"},
				flows: []string{"- {name: a-b, from: pod/a, to: pod/b}"}}
			r := s.runner(t)
			w := r.World
			n1, n2 := w.Node("node-1"), w.Node("node-2")
			capt := &linktest.Capture{Clock: r.Loop.Now, Only: []*link.Device{n1.NIC.Dev}}
			w.Env.Capture = capt
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Equal(t, "delivered", res.Flows[0].Verdict.Result, "%+v", res.Flows[0].Verdict)

			var echo []byte
			for _, f := range capt.On(n1.NIC.Dev, link.Out) {
				if packet.Ethernet(f.Data).Type() == packet.EtherTypeIPv4 {
					echo = f.Data
					break
				}
			}
			require.NotNil(t, echo, "an IPv4 frame left node-1's eth0")
			eth := packet.Ethernet(echo)
			assert.Equal(t, n1.NIC.Dev.MAC, eth.Src())
			if w.VPC != nil {
				assert.Equal(t, vpc.GatewayMAC, eth.Dst(), "on a VPC everything goes to the gateway MAC")
			} else {
				assert.Equal(t, n2.NIC.Dev.MAC, eth.Dst(), "on l2 straight to node-2's NIC")
			}
			outer := packet.IPv4(eth.Payload())
			require.True(t, outer.Valid())
			assert.True(t, outer.ChecksumOK())
			inner := outer
			if tt.encap {
				assert.Equal(t, n1.IP, outer.Src())
				assert.Equal(t, n2.IP, outer.Dst())
				require.Equal(t, uint8(packet.ProtoUDP), outer.Protocol())
				u := packet.UDP(outer.Payload())
				assert.Equal(t, tt.port, u.DstPort())
				vx := packet.VXLAN(u[packet.UDPHeaderLen:])
				assert.True(t, vx.ValidFlags())
				assert.Equal(t, tt.vni, vx.VNI())
				ieth := packet.Ethernet(u[packet.UDPHeaderLen+packet.VXLANHeaderLen:])
				v1, _ := flannel.VTEPMAC(n1.CNI)
				v2, _ := flannel.VTEPMAC(n2.CNI)
				assert.Equal(t, v1, ieth.Src())
				assert.Equal(t, v2, ieth.Dst())
				inner = packet.IPv4(ieth.Payload())
			}
			assert.Equal(t, w.Pod("a").IP, inner.Src(), "pod to pod is not masqueraded")
			assert.Equal(t, w.Pod("b").IP, inner.Dst())
			assert.Equal(t, uint8(packet.ProtoICMP), inner.Protocol())
			assert.Equal(t, uint8(63), inner.TTL(), "forwarded once by node-1")
			assert.True(t, inner.ChecksumOK())
		})
	}
}
