package kubeproxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Packets pushed through the hooks of node-1 after Install: what the rules
// do, not only what they say.

func shapeServices(names ...string) []*Service {
	var out []*Service
	for _, n := range names {
		for _, sh := range shapes {
			if sh.name == n {
				out = append(out, sh.svcs...)
			}
		}
	}
	return out
}

func installedNode(t *testing.T, seed uint64, shapeNames ...string) *node {
	t.Helper()
	n := newNode(t, seed)
	installFlannel(t, n.nf)
	r, err := IPTables(ackConfig(), shapeServices(shapeNames...))
	require.NoError(t, err)
	require.NoError(t, Install(n.nf, r))
	return n
}

const masqMark = 0x4000

// chi-square over new connections: each of the three endpoints gets about
// a third (statistic --probability 1/3, then 1/2, then the rest).
func TestClusterIPSpreadsOverEndpoints(t *testing.T) {
	n := installedNode(t, 42, "clusterip-3ep")
	want := []netip.AddrPort{netip.MustParseAddrPort("172.20.0.5:8080"), netip.MustParseAddrPort("172.20.1.6:8080"), netip.MustParseAddrPort("172.20.2.7:8080")}
	counts := map[netip.AddrPort]int{}
	const conns = 3000
	for i := 0; i < conns; i++ {
		res := n.forward(syn(t, "172.20.0.9", uint16(20000+i), "172.21.0.21", 8080), n.cni0, n.flannel)
		require.Equal(t, netstack.Accept, res.v.Kind, "connection %d: %s", i, res.v.Detail)
		src, dst := ends(res.bytes)
		require.Equal(t, netip.MustParseAddrPort("172.20.0.9:"+itoa(20000+i)), src, "a pod source is not masqueraded")
		counts[dst]++
		if i == 0 {
			requireChecksums(t, res.bytes)
		}
	}
	require.Len(t, counts, 3, "only the endpoints: %v", counts)
	chi2 := 0.0
	for _, w := range want {
		o, e := float64(counts[w]), float64(conns)/3
		chi2 += (o - e) * (o - e) / e
	}
	// χ² with 2 degrees of freedom, 1% significance: 9.210.
	assert.Less(t, chi2, 9.210, "counts %v", counts)
	t.Logf("counts %v, chi² %.3f", counts, chi2)
}

func TestSessionAffinityKeepsEndpoint(t *testing.T) {
	n := installedNode(t, 7, "affinity-clientip")
	first := n.forward(syn(t, "172.20.0.9", 30000, "172.21.0.27", 80), n.cni0, n.flannel)
	require.Equal(t, netstack.Accept, first.v.Kind)
	_, ep := ends(first.bytes)
	for i := 1; i < 200; i++ {
		res := n.forward(syn(t, "172.20.0.9", uint16(30000+i), "172.21.0.27", 80), n.cni0, n.flannel)
		_, dst := ends(res.bytes)
		require.Equal(t, ep, dst, "connection %d sticks to %s", i, ep)
	}
	// Other clients are spread over both endpoints.
	seen := map[netip.AddrPort]bool{}
	for i := 0; i < 64; i++ {
		res := n.forward(syn(t, "172.20.0."+itoa(20+i), 40000, "172.21.0.27", 80), n.cni0, n.flannel)
		_, dst := ends(res.bytes)
		seen[dst] = true
	}
	assert.Len(t, seen, 2)
	// After sessionAffinityConfig.clientIP.timeoutSeconds (3600 s) the
	// recent entry is stale (--rcheck --seconds 3600 --reap): the client is
	// load-balanced again.
	n.sched.now += 3601 * time.Second
	seen = map[netip.AddrPort]bool{}
	for i := 0; i < 64 && len(seen) < 2; i++ {
		// Each new pick is --set again; move the clock past the timeout
		// every time so that the choice is random each time.
		n.sched.now += 3601 * time.Second
		res := n.forward(syn(t, "172.20.0.9", uint16(50000+i), "172.21.0.27", 80), n.cni0, n.flannel)
		_, dst := ends(res.bytes)
		seen[dst] = true
	}
	assert.Len(t, seen, 2, "after the timeout the endpoint is chosen at random again")
}

// Traffic to a ClusterIP from outside the cluster CIDR gets the
// masquerade mark in KUBE-SVC (! -s 172.20.0.0/16 -j KUBE-MARK-MASQ), is
// accepted by KUBE-FORWARD for its mark, and is masqueraded (mark
// cleared) in KUBE-POSTROUTING.
func TestClusterIPFromOutsideIsMasqueraded(t *testing.T) {
	n := installedNode(t, 1, "clusterip-1ep")
	pre := n.run(syn(t, "192.168.0.50", 40000, "172.21.0.20", 80), n.eth0, nil, netstack.PreRouting)
	require.Equal(t, netstack.Accept, pre.v.Kind)
	assert.Equal(t, uint32(masqMark), pre.pkt.Mark&masqMark, "KUBE-MARK-MASQ set the mark")
	_, dst := ends(pre.bytes)
	assert.Equal(t, netip.MustParseAddrPort("172.20.1.5:8080"), dst)
	require.Equal(t, netstack.Accept, n.nf.Hook(netstack.Forward, pre.pkt, n.eth0, n.flannel).Kind)
	require.Equal(t, netstack.Accept, n.nf.Hook(netstack.PostRouting, pre.pkt, n.eth0, n.flannel).Kind)
	src, _ := ends(pre.pkt.Bytes())
	assert.Equal(t, addr("172.20.0.0"), src.Addr(), "MASQUERADE to flannel.1's address")
	assert.Zero(t, pre.pkt.Mark&masqMark, "KUBE-POSTROUTING cleared the mark (--xor-mark)")
	requireChecksums(t, pre.pkt.Bytes())

	// From a pod: no mark, source kept.
	pod := n.forward(syn(t, "172.20.0.9", 40001, "172.21.0.20", 80), n.cni0, n.flannel)
	require.Equal(t, netstack.Accept, pod.v.Kind)
	assert.Zero(t, pod.pkt.Mark)
	src, _ = ends(pod.bytes)
	assert.Equal(t, addr("172.20.0.9"), src.Addr())

	// Hairpin: the endpoint itself through the ClusterIP is masqueraded
	// (the KUBE-SEP rule "-s 172.20.1.5/32 -j KUBE-MARK-MASQ").
	hp := n.run(syn(t, "172.20.1.5", 40002, "172.21.0.20", 80), n.flannel, nil, netstack.PreRouting)
	assert.Equal(t, uint32(masqMark), hp.pkt.Mark&masqMark)
}

func TestNodePort(t *testing.T) {
	tests := []struct {
		name      string
		shape     string
		port      uint16
		wantDst   []string
		wantMark  bool
		wantDrop  trace.Reason
		dropAt    netstack.Hook
		dropMatch string
	}{
		{name: "cluster policy: DNAT to any endpoint and mark", shape: "nodeport-cluster", port: 30080,
			wantDst: []string{"172.20.0.5:8080", "172.20.1.5:8080"}, wantMark: true},
		{name: "local policy with a local endpoint: DNAT to it, source kept", shape: "nodeport-local-with-local-ep", port: 30081,
			wantDst: []string{"172.20.0.6:8080"}},
		{name: "local policy without local endpoints: dropped in filter INPUT", shape: "nodeport-local-without-local-ep", port: 30082,
			wantDrop: trace.ReasonNoLocalEndpoint, dropAt: netstack.LocalIn,
			dropMatch: `-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/web-remote:http has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30082 -j DROP`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := installedNode(t, 3, tc.shape)
			b := syn(t, "192.168.0.50", 41000, "192.168.0.10", tc.port)
			if tc.wantDrop != trace.ReasonNone {
				res := n.input(b, n.eth0)
				require.Equal(t, netstack.Drop, res.v.Kind)
				assert.Equal(t, tc.dropAt, res.at)
				assert.Equal(t, tc.wantDrop, res.v.Reason)
				assert.Equal(t, "no-local-endpoint", res.v.Reason.Code())
				assert.Contains(t, res.v.Detail, tc.dropMatch)
				// Not DNATed: the packet went up to the node's own address.
				_, dst := ends(res.bytes)
				assert.Equal(t, netip.MustParseAddrPort("192.168.0.10:"+itoa(int(tc.port))), dst)
				// A pod of this node still reaches the service through the
				// NodePort (the "pod traffic" short-circuit to KUBE-SVC).
				pod := n.run(syn(t, "172.20.0.9", 41001, "192.168.0.10", tc.port), n.cni0, nil, netstack.PreRouting)
				_, dst = ends(pod.bytes)
				assert.Equal(t, netip.MustParseAddrPort("172.20.1.7:8080"), dst)
				return
			}
			pre := n.run(b, n.eth0, nil, netstack.PreRouting)
			require.Equal(t, netstack.Accept, pre.v.Kind)
			_, dst := ends(pre.bytes)
			assert.Contains(t, tc.wantDst, dst.String())
			assert.Equal(t, tc.wantMark, pre.pkt.Mark&masqMark != 0)
			out := n.flannel
			if strings.HasPrefix(dst.String(), "172.20.0.") {
				out = n.cni0
			}
			require.Equal(t, netstack.Accept, n.nf.Hook(netstack.Forward, pre.pkt, n.eth0, out).Kind)
			require.Equal(t, netstack.Accept, n.nf.Hook(netstack.PostRouting, pre.pkt, n.eth0, out).Kind)
			src, _ := ends(pre.pkt.Bytes())
			if tc.wantMark {
				assert.NotEqual(t, addr("192.168.0.50"), src.Addr(), "masqueraded")
			} else {
				assert.Equal(t, addr("192.168.0.50"), src.Addr(), "client source preserved")
			}
			requireChecksums(t, pre.pkt.Bytes())
		})
	}
}

// A Service without endpoints is REJECTed (ICMP port unreachable) by the
// filter KUBE-SERVICES rule "… has no endpoints"; the verdict says
// no-endpoints.
func TestNoEndpointsRejected(t *testing.T) {
	n := installedNode(t, 1, "no-endpoints")
	res := n.forward(syn(t, "172.20.0.9", 42000, "172.21.0.22", 80), n.cni0, n.eth0)
	require.Equal(t, netstack.Reject, res.v.Kind)
	assert.Equal(t, netstack.Forward, res.at)
	assert.Equal(t, trace.ReasonNoEndpoints, res.v.Reason)
	assert.Equal(t, "no-endpoints", res.v.Reason.Code())
	assert.Equal(t, uint8(packet.ICMPCodePortUnreach), res.v.RejectICMPCode)
	assert.Contains(t, res.v.Detail, `"default/empty:http has no endpoints"`)
	// From the node itself: filter OUTPUT → KUBE-SERVICES.
	out := n.run(syn(t, "192.168.0.10", 42001, "172.21.0.22", 80), nil, n.eth0, netstack.LocalOut, netstack.LocalOutFilter)
	require.Equal(t, netstack.Reject, out.v.Kind)
	assert.Equal(t, trace.ReasonNoEndpoints, out.v.Reason)
}

// internalTrafficPolicy Local: a pod of a node without a local endpoint
// is refused by the filter rule "… has no local endpoints" (DROP); with a
// local endpoint only that one is used, from anywhere.
func TestInternalTrafficPolicyLocal(t *testing.T) {
	n := installedNode(t, 1, "internal-local-without-local-ep", "internal-local-with-local-ep")
	res := n.forward(syn(t, "172.20.0.9", 45000, "172.21.0.31", 6379), n.cni0, n.eth0)
	require.Equal(t, netstack.Drop, res.v.Kind)
	assert.Equal(t, trace.ReasonNoLocalEndpoint, res.v.Reason)
	assert.Contains(t, res.v.Detail, "default/cache-remote:redis has no local endpoints")
	for i := 0; i < 20; i++ {
		ok := n.forward(syn(t, "172.20.0.9", uint16(45100+i), "172.21.0.30", 6379), n.cni0, n.cni0)
		require.Equal(t, netstack.Accept, ok.v.Kind)
		_, dst := ends(ok.bytes)
		assert.Equal(t, netip.MustParseAddrPort("172.20.0.12:6379"), dst)
	}
}

// Ready endpoints only; when none is ready, serving-and-terminating ones.
func TestCategorizeEndpoints(t *testing.T) {
	cfg := ackConfig()
	tests := []struct {
		name                      string
		svc                       *Service
		cluster, local, reachable []string
		hasAny                    bool
	}{
		{"ready only", shapeServices("ready-over-terminating")[0], []string{"172.20.1.15:8080"}, nil, []string{"172.20.1.15:8080"}, true},
		{"terminating fallback", &Service{Namespace: "d", Name: "x", ClusterIP: addr("172.21.0.99"), Ports: http(80, 0),
			Endpoints: map[string][]Endpoint{"http": {{IP: addr("172.20.1.14"), Port: 8080, Serving: true, Terminating: true}, {IP: addr("172.20.1.17"), Port: 8080}}}},
			[]string{"172.20.1.14:8080"}, nil, []string{"172.20.1.14:8080"}, true},
		{"external local with local terminating", &Service{Namespace: "d", Name: "y", Type: TypeNodePort, ClusterIP: addr("172.21.0.98"),
			ExternalTrafficPolicy: "Local", Ports: http(80, 30000),
			Endpoints: map[string][]Endpoint{"http": {ep("172.20.1.20", 8080, "node-2"),
				{IP: addr("172.20.0.20"), Port: 8080, NodeName: "node-1", Serving: true, Terminating: true}}}},
			[]string{"172.20.1.20:8080"}, []string{"172.20.0.20:8080"}, []string{"172.20.0.20:8080", "172.20.1.20:8080"}, true},
		{"nothing", &Service{Namespace: "d", Name: "z", ClusterIP: addr("172.21.0.97"), Ports: http(80, 0),
			Endpoints: map[string][]Endpoint{"http": {{IP: addr("172.20.1.21"), Port: 8080}}}}, nil, nil, nil, false},
	}
	strs := func(es []*endpoint) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.str)
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sps, err := servicePorts(cfg, []*Service{tc.svc})
			require.NoError(t, err)
			c, l, r, any := sps[0].categorize()
			assert.Equal(t, tc.cluster, strs(c))
			assert.Equal(t, tc.local, strs(l))
			assert.Equal(t, tc.reachable, strs(r))
			assert.Equal(t, tc.hasAny, any)
		})
	}
}

func TestIPTablesErrors(t *testing.T) {
	_, err := IPTables(ackConfig(), []*Service{{Namespace: "d", Name: "x", Type: "ExternalName", ClusterIP: addr("172.21.0.9")}})
	require.ErrorContains(t, err, `type "ExternalName" is not proxied`)
	_, err = IPTables(ackConfig(), []*Service{{Namespace: "d", Name: "x", ClusterIP: addr("172.21.0.9"), Ports: []ServicePort{{Protocol: "ICMP", Port: 1}}}})
	require.ErrorContains(t, err, `protocol "ICMP"`)
	_, err = IPVS(ackConfig(), []*Service{{Namespace: "d", Name: "x", ClusterIP: addr("172.21.0.9"), Ports: []ServicePort{{Port: 70000}}}})
	require.ErrorContains(t, err, "out of range")
}

func TestLoadBalancerSourceRanges(t *testing.T) {
	n := installedNode(t, 5, "loadbalancer-sourceranges")
	// Allowed source: DNAT to the local endpoint (Local policy, KUBE-SVL).
	ok := n.forward(syn(t, "203.0.113.5", 43000, "47.100.10.20", 443), n.eth0, n.cni0)
	require.Equal(t, netstack.Accept, ok.v.Kind)
	src, dst := ends(ok.bytes)
	assert.Equal(t, netip.MustParseAddrPort("172.20.0.8:8443"), dst)
	assert.Equal(t, addr("203.0.113.5"), src.Addr())
	// Not in the ranges: not DNATed, dropped by KUBE-PROXY-FIREWALL.
	bad := n.forward(syn(t, "198.51.100.7", 43001, "47.100.10.20", 443), n.eth0, n.eth0)
	require.Equal(t, netstack.Drop, bad.v.Kind)
	assert.Equal(t, trace.ReasonSourceRangeDenied, bad.v.Reason)
	assert.Contains(t, bad.v.Detail, "traffic not accepted by KUBE-FW-")
}

func TestUDPService(t *testing.T) {
	n := installedNode(t, 1, "udp")
	res := n.forward(udp(t, "172.20.0.9", 5140, "172.21.0.28", 514), n.cni0, n.flannel)
	require.Equal(t, netstack.Accept, res.v.Kind)
	_, dst := ends(res.bytes)
	assert.Equal(t, netip.MustParseAddrPort("172.20.1.11:514"), dst)
	requireChecksums(t, res.bytes)
	// TCP to the UDP port is not a service: untouched.
	tcp := n.forward(syn(t, "172.20.0.9", 5141, "172.21.0.28", 514), n.cni0, n.eth0)
	_, dst = ends(tcp.bytes)
	assert.Equal(t, netip.MustParseAddrPort("172.21.0.28:514"), dst)
}

// The ct_state_invalid counter of KUBE-FORWARD counts the INVALID drops;
// the verdict says ct-invalid.
func TestInvalidDroppedAndCounted(t *testing.T) {
	n := installedNode(t, 1, "clusterip-1ep")
	// An ICMP error about no known connection is INVALID.
	b := icmpUnreachAbout(t, "172.20.0.9", "192.168.0.50")
	res := n.run(b, n.cni0, n.eth0, netstack.PreRouting, netstack.Forward)
	require.Equal(t, netstack.Drop, res.v.Kind)
	assert.Equal(t, trace.ReasonCTInvalid, res.v.Reason)
	a := n.nf.NFAcct(nfacctCTStateInvalidDropped)
	require.NotNil(t, a)
	assert.Equal(t, uint64(1), a.Packets)
	assert.Contains(t, n.nf.NFAcctList(), "{ pkts = 00000000000000000001, bytes = ")
}

// IPVS mode: what the ipsets and iptables rules do to packets (the IPVS
// forwarding itself is the ipvs package's).
func TestIPVSModeRules(t *testing.T) {
	cfg := ackConfig()
	r, err := IPVS(cfg, shapeServices("clusterip-1ep", "nodeport-cluster", "nodeport-local-with-local-ep", "loadbalancer-sourceranges", "loadbalancer-cluster-no-node-access"))
	require.NoError(t, err)
	n := newNode(t, 1)
	// kube-ipvs0's addresses are local addresses of the node.
	h := fakeHostOf(n)
	for _, a := range r.Addresses {
		h.local[a.Addr()] = true
	}
	require.NoError(t, InstallIPVS(n.nf, r))

	t.Run("ClusterIP from outside the cluster CIDR gets the mark", func(t *testing.T) {
		res := n.run(syn(t, "192.168.0.50", 44000, "172.21.0.20", 80), n.eth0, nil, netstack.PreRouting)
		require.Equal(t, netstack.Accept, res.v.Kind)
		assert.Equal(t, uint32(masqMark), res.pkt.Mark&masqMark)
		pod := n.run(syn(t, "172.20.0.9", 44001, "172.21.0.20", 80), n.cni0, nil, netstack.PreRouting)
		assert.Zero(t, pod.pkt.Mark)
	})
	t.Run("KUBE-IPVS-FILTER rejects other ports of a VIP", func(t *testing.T) {
		okr := n.input(syn(t, "172.20.0.9", 44002, "172.21.0.20", 80), n.cni0)
		require.Equal(t, netstack.Accept, okr.v.Kind)
		bad := n.input(syn(t, "172.20.0.9", 44003, "172.21.0.20", 22), n.cni0)
		require.Equal(t, netstack.Reject, bad.v.Kind)
		assert.Contains(t, bad.v.Detail, "KUBE-IPVS-IPS dst -j REJECT")
	})
	t.Run("NodePort: Cluster marked, Local returned unmarked", func(t *testing.T) {
		c := n.run(syn(t, "192.168.0.50", 44004, "192.168.0.10", 30080), n.eth0, nil, netstack.PreRouting)
		assert.Equal(t, uint32(masqMark), c.pkt.Mark&masqMark)
		l := n.run(syn(t, "192.168.0.50", 44005, "192.168.0.10", 30081), n.eth0, nil, netstack.PreRouting)
		assert.Zero(t, l.pkt.Mark)
		u := n.run(udp(t, "192.168.0.50", 44006, "192.168.0.10", 30080), n.eth0, nil, netstack.PreRouting)
		assert.Zero(t, u.pkt.Mark, "KUBE-NODE-PORT-TCP is for -p tcp only")
	})
	t.Run("loadBalancerSourceRanges", func(t *testing.T) {
		okr := n.input(syn(t, "203.0.113.9", 44007, "47.100.10.20", 443), n.eth0)
		require.Equal(t, netstack.Accept, okr.v.Kind)
		bad := n.input(syn(t, "198.51.100.9", 44008, "47.100.10.20", 443), n.eth0)
		require.Equal(t, netstack.Drop, bad.v.Kind)
		assert.Equal(t, trace.ReasonSourceRangeDenied, bad.v.Reason)
		assert.Contains(t, bad.v.Detail, "KUBE-SOURCE-RANGES-FIREWALL -j DROP")
	})
	t.Run("hairpin through KUBE-LOOP-BACK", func(t *testing.T) {
		// IPVS sent 172.20.0.5's own connection back to it (through
		// LOCAL_OUT, as ip_vs_nat_send_or_cont does).
		res := n.run(syn(t, "172.20.0.5", 44009, "172.20.0.5", 8080), nil, n.cni0, netstack.LocalOut, netstack.LocalOutFilter, netstack.PostRouting)
		require.Equal(t, netstack.Accept, res.v.Kind)
		src, _ := ends(res.bytes)
		assert.Equal(t, addr("172.20.0.1"), src.Addr(), "MASQUERADE to cni0's address")
	})
	t.Run("external IP: accepted from off-node, not from a pod bridge", func(t *testing.T) {
		// 192.168.0.100 is an external IP of default/pay (Cluster policy).
		off := n.run(syn(t, "192.168.0.50", 44010, "192.168.0.100", 443), n.eth0, nil, netstack.PreRouting)
		assert.Equal(t, uint32(masqMark), off.pkt.Mark&masqMark)
		rules := n.nf.Table("nat").Chains["KUBE-SERVICES"].Rules
		var physdev *netfilter.Rule
		for _, rl := range rules {
			if strings.Contains(rl.String(), "--physdev-is-in") && strings.Contains(rl.String(), "KUBE-EXTERNAL-IP ") {
				physdev = rl
			}
		}
		require.NotNil(t, physdev)
		before := physdev.Packets
		n.run(syn(t, "172.20.0.9", 44011, "192.168.0.100", 443), n.cni0, nil, netstack.PreRouting)
		assert.Equal(t, before, physdev.Packets, "a packet from the pod bridge does not match ! --physdev-is-in")
		n.run(syn(t, "192.168.0.51", 44012, "192.168.0.100", 443), n.eth0, nil, netstack.PreRouting)
		assert.Equal(t, before+1, physdev.Packets)
	})
}

func fakeHostOf(n *node) *fakeHost { return n.host }
