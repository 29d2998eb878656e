package link_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// terwayIPVlanNode wires Terway's legacy ipvlan datapath with real
// namespaces, the way dataplane/cni/terway is meant to (see the usage
// example in the ipvlan notes):
//
//	pod a eth0 10.0.1.10/24 ─┐
//	pod b eth0 10.0.1.11/24 ─┼─ ipvlan l2 on node eth1 (ifindex 3) ── vsw: gateway 10.0.1.253
//	node ipvl_3 10.0.0.5 ────┘   + clsact egress: 192.168.0.0/16 → ipvl_3
//
// The node's primary ENI eth0 holds the node IP 10.0.0.5/24; ipvl_3
// carries it in the ipvlan table, and 192.168.0.10 stands for a Service
// address the host answers (kube-ipvs0 would hold it).
type terwayIPVlanNode struct {
	env        *link.Env
	s          *linktest.Sched
	node, a, b *netstack.Stack
	gw         *netstack.Stack
	events     map[string][]netstack.Event
}

func newTerwayIPVlanNode(t *testing.T) *terwayIPVlanNode {
	t.Helper()
	env, s := linktest.NewEnv()
	w := &terwayIPVlanNode{env: env, s: s, events: map[string][]netstack.Event{}}
	listen := func(st *netstack.Stack) {
		st.OnEvent = func(st *netstack.Stack, ev netstack.Event) { w.events[st.Name] = append(w.events[st.Name], ev) }
	}
	gwIP := netip.MustParseAddr("10.0.1.253")
	svc := netip.MustParseAddr("192.168.0.10")

	// The node: primary ENI eth0 with the node IP, secondary ENI eth1 (no
	// address in ipvlan mode), forwarding on.
	w.node = netstack.New(env, "node", 1)
	w.node.Forwarding = true
	eth0 := link.NewDevice(env, "node", "eth0", "device", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, 1}, nowhere{})
	w.node.AddIface(eth0)
	require.NoError(t, w.node.AddAddr("eth0", netip.PrefixFrom(nodeIP, 24)))
	eth1 := link.NewDevice(env, "node", "eth1", "device", link.Ether, 1500, eniMAC, nil)
	w.node.AddIface(eth1)
	require.Equal(t, int32(3), eth1.Index)
	// A local address standing for a Service VIP.
	dummy := link.NewDevice(env, "node", "kube-ipvs0", "dummy", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, 9}, nil)
	w.node.AddIface(dummy).NoARP = true
	require.NoError(t, w.node.AddAddr("kube-ipvs0", netip.PrefixFrom(svc, 32)))
	w.node.ListenUDP(53, true)
	listen(w.node)

	// The vSwitch side of eth1: a namespace owning the gateway address.
	w.gw = netstack.New(env, "vsw", 9)
	vsw := link.NewDevice(env, "vsw", "gw", "device", link.Ether, 1500, gwMAC, nil)
	w.gw.AddIface(vsw)
	require.NoError(t, w.gw.AddAddr("gw", netip.MustParsePrefix("10.0.1.253/24")))
	link.Connect(eth1, vsw, 50*time.Microsecond)
	listen(w.gw)

	port, err := link.NewIPVlanPort(eth1, link.IPVlanL2)
	require.NoError(t, err)

	// Pods: eth0 an ipvlan slave with the pod IP and the vSwitch prefix,
	// default via the gateway onlink, the node IP /32 scope link with a
	// permanent neighbour on the pod's own MAC.
	pod := func(name string, seed uint64, ip netip.Addr) *netstack.Stack {
		st := netstack.New(env, name, seed)
		sl, err := port.AddSlave(name, "eth0", 1500)
		require.NoError(t, err)
		st.AddIface(sl.Dev)
		require.NoError(t, st.AddAddr("eth0", netip.PrefixFrom(ip, 24)))
		require.NoError(t, sl.AddAddr(ip))
		ifc := st.Iface("eth0")
		require.NoError(t, st.AddRoute(&netstack.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: gwIP, Dev: ifc, Onlink: true}))
		require.NoError(t, st.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(nodeIP, 32), Dev: ifc, Scope: "link"}))
		require.NoError(t, st.AddNeigh("eth0", nodeIP, sl.Dev.MAC, true))
		listen(st)
		return st
	}
	w.a = pod("default/a", 2, podAIP)
	w.b = pod("default/b", 3, podBIP)
	w.b.ListenUDP(8080, true)

	// The host slave ipvl_3: NOARP, the node IP (in the ipvlan table; the
	// stack already has it on eth0), a /32 route per pod.
	host, err := port.AddSlave("node", link.IPVlanHostName(eth1.Index), 1500)
	require.NoError(t, err)
	w.node.AddIface(host.Dev).NoARP = true
	require.NoError(t, host.AddAddr(nodeIP))
	for _, ip := range []netip.Addr{podAIP, podBIP} {
		require.NoError(t, w.node.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(ip, 32), Dev: w.node.Iface("ipvl_3"), Scope: "link"}))
	}
	tc := link.NewClsact(eth1)
	for _, c := range []netip.Prefix{nlDNS, svcCIDR} {
		_, err := tc.AddRedirect(link.TerwayRedirectPrio, c, host.Dev)
		require.NoError(t, err)
	}
	env.Trace.Hops = true
	return w
}

func (w *terwayIPVlanNode) kinds(ns string) []netstack.EventKind {
	var out []netstack.EventKind
	for _, ev := range w.events[ns] {
		out = append(out, ev.Kind)
	}
	return out
}

// nodes returns the namespaces that hops of IP packets were recorded in
// (ARP requests are broadcast to every slave and out of the ENI: they
// are left out).
func (w *terwayIPVlanNode) nodes() map[string]bool {
	arp := map[uint64]bool{}
	for _, h := range w.env.Trace.HopList() {
		if h.Kind == trace.KindARP {
			arp[h.Packet] = true
		}
	}
	out := map[string]bool{}
	for _, h := range w.env.Trace.HopList() {
		if !arp[h.Packet] {
			out[h.Node] = true
		}
	}
	return out
}

func TestTerwayIPVlanDatapathWithStacks(t *testing.T) {
	t.Run("pod to pod on one ENI never enters the node's namespace", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		require.True(t, w.a.Ping(podBIP, 1, 1, 56, netstack.DFWant, 1))
		w.s.Run()
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, w.kinds("default/a"))
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, w.kinds("default/b"))
		assert.False(t, w.nodes()["node"], "no hop in the node: its netfilter never sees pod-to-pod traffic")
		assert.False(t, w.nodes()["vsw"], "nor does the VPC")
		assert.Empty(t, w.env.Trace.DropList())
	})
	t.Run("pod to pod stays local when the vSwitch answers ARP for the pod too", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		// The vSwitch proxies ARP for addresses of its ENIs (with its
		// gateway MAC): here for pod b, routed out of another device.
		other := link.NewDevice(w.env, "vsw", "eni-b", "device", link.Ether, 1500, packet.MAC{0xee, 0xff, 0xff, 0xff, 0xff, 0xfe}, nowhere{})
		w.gw.AddIface(other)
		require.NoError(t, w.gw.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(podBIP, 32), Dev: w.gw.Iface("eni-b"), Scope: "link"}))
		w.gw.Iface("gw").ProxyARP = true
		require.True(t, w.a.Ping(podBIP, 1, 1, 56, netstack.DFWant, 1))
		w.s.Run()
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, w.kinds("default/a"))
		var proxied, ignored bool
		for _, h := range w.env.Trace.HopList() {
			proxied = proxied || (h.Node == "vsw" && h.Kind == trace.KindARP && strings.Contains(h.Change, "proxy_arp"))
			ignored = ignored || (h.Node == "default/a" && h.Kind == trace.KindARP && strings.Contains(h.Match, "within locktime"))
		}
		assert.True(t, proxied, "the vSwitch did answer")
		assert.True(t, ignored, "its later reply is ignored: the first one wins")
		for _, n := range w.a.Neighbours() {
			if n.IP == podBIP {
				assert.Equal(t, eniMAC, n.MAC, "pod b at the shared MAC: ipvlan delivers locally")
			}
		}
		assert.False(t, w.nodes()["vsw"], "no IP packet went through the vSwitch")
		assert.Empty(t, w.env.Trace.DropList())
	})
	t.Run("pod to the node IP goes through ipvl_3 both ways", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		require.True(t, w.a.Ping(nodeIP, 1, 1, 56, netstack.DFWant, 1))
		w.s.Run()
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, w.kinds("default/a"))
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, w.kinds("node"))
		var neigh []string
		for _, n := range w.node.Neighbours() {
			neigh = append(neigh, n.Format(0))
		}
		assert.Contains(t, neigh, "10.0.1.10 dev ipvl_3 lladdr 00:16:3e:0a:0b:0c NOARP", "the reply's neighbour: ipvl_3's own address")
		assert.False(t, w.nodes()["vsw"])
		assert.Empty(t, w.env.Trace.DropList())
	})
	t.Run("pod to a Service address is redirected into the host stack", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		w.a.ListenUDP(40000, false)
		require.True(t, w.a.SendUDP(40000, netip.MustParseAddrPort("192.168.0.10:53"), 20, netstack.DFWant, 1))
		w.s.Run()
		require.Equal(t, []netstack.EventKind{netstack.EvUDPRecv}, w.kinds("node"))
		assert.Equal(t, netip.MustParseAddrPort("10.0.1.10:40000"), w.events["node"][0].Src, "the pod's own address: no NAT on the way in")
		assert.Equal(t, []netstack.EventKind{netstack.EvUDPRecv}, w.kinds("default/a"), "the echo comes back through ipvl_3")
		var redirect bool
		for _, h := range w.env.Trace.HopList() {
			redirect = redirect || (h.Kind == trace.KindNote && h.Match == "tc filter egress prio 40000 u32 dst 192.168.0.0/16: mirred ingress redirect dev ipvl_3")
		}
		assert.True(t, redirect, "the trace names the filter")
		assert.False(t, w.nodes()["vsw"], "the request never reached the VPC")
		assert.Empty(t, w.env.Trace.DropList())
	})
	t.Run("pod to the gateway leaves by the ENI and the reply is demuxed back", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		require.True(t, w.a.Ping(netip.MustParseAddr("10.0.1.253"), 1, 1, 56, netstack.DFWant, 1))
		w.s.Run()
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, w.kinds("default/a"))
		assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, w.kinds("vsw"))
		for _, n := range w.gw.Neighbours() {
			assert.Equal(t, eniMAC, n.MAC, "the VPC sees the pod at the ENI's MAC")
		}
		assert.Empty(t, w.env.Trace.DropList())
	})
	t.Run("UDP between pods", func(t *testing.T) {
		w := newTerwayIPVlanNode(t)
		w.a.ListenUDP(40001, false)
		require.True(t, w.a.SendUDP(40001, netip.AddrPortFrom(podBIP, 8080), 100, netstack.DFWant, 1))
		w.s.Run()
		assert.Equal(t, []netstack.EventKind{netstack.EvUDPRecv}, w.kinds("default/b"))
		assert.Equal(t, []netstack.EventKind{netstack.EvUDPRecv}, w.kinds("default/a"))
		assert.False(t, w.nodes()["node"])
		assert.Empty(t, w.env.Trace.DropList())
	})
}

// nowhere is a wire to nothing (the primary ENI, unused here): what it is
// given is freed.
type nowhere struct{}

func (nowhere) Xmit(_ *link.Device, pkt *packet.Buffer) { pkt.Free() }
