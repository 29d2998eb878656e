package netstack_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

func TestRuleStringIsIPRuleShow(t *testing.T) {
	tests := []struct {
		rule netstack.Rule
		want string
	}{
		{netstack.Rule{Priority: 0, Table: netstack.TableLocal}, "0:\tfrom all lookup local"},
		{netstack.Rule{Priority: 512, To: pfx("10.0.1.5/32"), Table: netstack.TableMain}, "512:\tfrom all to 10.0.1.5 lookup main"},
		{netstack.Rule{Priority: 2048, From: pfx("10.0.1.5/32"), Table: 1003}, "2048:\tfrom 10.0.1.5 lookup 1003"},
		{netstack.Rule{Priority: 600, FwMark: 0x10, FwMask: 0x10, Table: 100}, "600:\tfrom all fwmark 0x10/0x10 lookup 100"},
		{netstack.Rule{Priority: 100, FwMark: 0x4000, Table: 7}, "100:\tfrom all fwmark 0x4000 lookup 7"},
		{netstack.Rule{Priority: 512, OIF: "eth1", Table: 200}, "512:\tfrom all oif eth1 lookup 200"},
		{netstack.Rule{Priority: 5, From: pfx("10.1.0.0/16"), IIF: "eth0", Action: netstack.RuleBlackhole}, "5:\tfrom 10.1.0.0/16 iif eth0 blackhole"},
		{netstack.Rule{Priority: 32767, Table: netstack.TableDefault}, "32767:\tfrom all lookup default"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.rule.String())
		})
	}
}

func TestRulesKeepPriorityOrderAndRefuseDuplicates(t *testing.T) {
	w := newWorld(t)
	s := w.R
	assert.False(t, s.CustomRules())
	require.NoError(t, s.AddRule(netstack.Rule{Priority: 2048, From: pfx("10.0.1.5/32"), Table: 1003}))
	require.NoError(t, s.AddRule(netstack.Rule{Priority: 512, To: pfx("10.0.1.5/32"), Table: netstack.TableMain}))
	require.NoError(t, s.AddRule(netstack.Rule{Priority: 512, To: pfx("10.0.1.6/32"), Table: netstack.TableMain}))
	err := s.AddRule(netstack.Rule{Priority: 512, To: pfx("10.0.1.5/32"), Table: netstack.TableMain})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "File exists")
	require.Error(t, s.AddRule(netstack.Rule{Priority: 9}), "a lookup rule needs a table")
	var got []string
	for _, r := range s.Rules() {
		got = append(got, r.String())
	}
	assert.Equal(t, []string{
		"0:\tfrom all lookup local",
		"512:\tfrom all to 10.0.1.5 lookup main",
		"512:\tfrom all to 10.0.1.6 lookup main",
		"2048:\tfrom 10.0.1.5 lookup 1003",
		"32766:\tfrom all lookup main",
		"32767:\tfrom all lookup default",
	}, got)
	assert.True(t, s.CustomRules())
	assert.True(t, s.DelRule(netstack.Rule{Priority: 2048, From: pfx("10.0.1.5/32"), Table: 1003}))
	assert.False(t, s.DelRule(netstack.Rule{Priority: 2048, From: pfx("10.0.1.5/32"), Table: 1003}))
	assert.True(t, s.DelRule(netstack.Rule{Priority: 512, To: pfx("10.0.1.5/32"), Table: netstack.TableMain}))
	assert.True(t, s.DelRule(netstack.Rule{Priority: 512, To: pfx("10.0.1.6/32"), Table: netstack.TableMain}))
	assert.False(t, s.CustomRules(), "back to the three default rules")
	assert.Same(t, &s.Routes, s.Table(netstack.TableMain))
	assert.Empty(t, s.TableIDs())
	// New stacks share one default list until their rules change: deleting
	// a default rule in one leaves every other stack's rules whole.
	fresh, other := netstack.New(w.env, "F", 8), netstack.New(w.env, "O", 9)
	require.True(t, fresh.DelRule(netstack.Rule{Priority: 32767, Table: netstack.TableDefault}))
	assert.Len(t, fresh.Rules(), 2)
	defaults := []string{"0:\tfrom all lookup local", "32766:\tfrom all lookup main", "32767:\tfrom all lookup default"}
	for _, st := range []*netstack.Stack{other, netstack.New(w.env, "P", 10)} {
		var rules []string
		for _, r := range st.Rules() {
			rules = append(rules, r.String())
		}
		assert.Equal(t, defaults, rules, "%s's rules", st.Name)
	}
}

// withC adds a fourth namespace C behind R's eth2 (10.0.3.0/24): R can
// send to 10.9.0.0/16 via B (main table) or via C (table 100).
func withC(t *testing.T, w *world) (*netstack.Stack, *link.Device) {
	c := netstack.New(w.env, "C", 4)
	rEth2, cEth := link.NewVethPair(w.env, "R", "eth2", mac(0x12), "C", "eth0", mac(0xc1), 1500)
	w.R.AddIface(rEth2)
	c.AddIface(cEth)
	require.NoError(t, w.R.AddAddr("eth2", pfx("10.0.3.1/24")))
	require.NoError(t, c.AddAddr("eth0", pfx("10.0.3.2/24")))
	require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.9.0.0/16"), Gw: w.bIP, Dev: w.R.Iface("eth1")}))
	require.NoError(t, w.R.AddNeigh("eth2", ip("10.0.3.2"), cEth.MAC, true))
	require.NoError(t, w.R.Table(100).Add(&netstack.Route{Dst: defaultRoute(), Gw: ip("10.0.3.2"), Dev: w.R.Iface("eth2"), Onlink: true}))
	return c, rEth2
}

// TestPolicyRoutingChoosesTheTable forwards datagrams through R with rules
// selecting table 100 (out eth2 to C) or falling through to main (out
// eth1 to B), and checks the out device, the trace's rule and table, and
// the drop a blackhole rule gives.
func TestPolicyRoutingChoosesTheTable(t *testing.T) {
	tests := []struct {
		name  string
		rules []netstack.Rule
		src   string
		mark  bool
		out   string // "eth1", "eth2" or "" (dropped)
		match string // the route hop's Match on R
		drop  trace.Reason
	}{
		{name: "no rules: main", src: "10.0.1.2", out: "eth1", match: "10.9.0.0/16 via 10.0.2.2 dev eth1"},
		{name: "from rule selects table 100", src: "10.0.1.2", out: "eth2",
			rules: []netstack.Rule{{Priority: 2048, From: pfx("10.0.1.2/32"), Table: 100}},
			match: "rule 2048 from 10.0.1.2 lookup 100: default via 10.0.3.2 dev eth2 table 100 onlink"},
		{name: "from rule for another source: main", src: "10.0.1.3", out: "eth1",
			rules: []netstack.Rule{{Priority: 2048, From: pfx("10.0.1.2/32"), Table: 100}},
			match: "rule 32766 from all lookup main: 10.9.0.0/16 via 10.0.2.2 dev eth1"},
		{name: "to rule with a lower priority wins", src: "10.0.1.2", out: "eth1",
			rules: []netstack.Rule{{Priority: 2048, From: pfx("10.0.1.2/32"), Table: 100}, {Priority: 512, To: pfx("10.9.9.9/32"), Table: netstack.TableMain}},
			match: "rule 512 from all to 10.9.9.9 lookup main: 10.9.0.0/16 via 10.0.2.2 dev eth1"},
		{name: "iif rule", src: "10.0.1.2", out: "eth2",
			rules: []netstack.Rule{{Priority: 100, IIF: "eth0", Table: 100}}},
		{name: "iif rule of another device", src: "10.0.1.2", out: "eth1",
			rules: []netstack.Rule{{Priority: 100, IIF: "eth1", Table: 100}}},
		{name: "oif rule never matches forwarded packets", src: "10.0.1.2", out: "eth1",
			rules: []netstack.Rule{{Priority: 100, OIF: "eth2", Table: 100}}},
		{name: "fwmark rule on a marked packet", src: "10.0.1.2", mark: true, out: "eth2",
			rules: []netstack.Rule{{Priority: 600, FwMark: 0x10, FwMask: 0x10, Table: 100}}},
		{name: "fwmark rule on an unmarked packet", src: "10.0.1.2", out: "eth1",
			rules: []netstack.Rule{{Priority: 600, FwMark: 0x10, FwMask: 0x10, Table: 100}}},
		{name: "a table without a matching route falls through", src: "10.0.1.2", out: "eth1",
			rules: []netstack.Rule{{Priority: 100, Table: 300}}},
		{name: "blackhole rule", src: "10.0.1.2", drop: trace.ReasonNoRoute,
			rules: []netstack.Rule{{Priority: 10, From: pfx("10.0.1.0/24"), Action: netstack.RuleBlackhole}},
			match: "rule 10 from 10.0.1.0/24 blackhole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.env.Trace.Hops = true
			_, rEth2 := withC(t, w)
			require.NoError(t, w.R.Table(300).Add(&netstack.Route{Dst: pfx("10.200.0.0/16"), Dev: w.R.Iface("eth2")}))
			for _, r := range tt.rules {
				require.NoError(t, w.R.AddRule(r))
			}
			if tt.mark {
				w.R.Filter = markAll{0x10} // as a mangle PREROUTING MARK rule would
			}
			w.spoofUDP(ip(tt.src), ip("10.9.9.9"))
			w.run()
			out1 := len(w.ipv4Frames(w.rEth1, link.Out, 17))
			out2 := len(w.ipv4Frames(rEth2, link.Out, 17))
			switch tt.out {
			case "eth1":
				assert.Equal(t, []int{1, 0}, []int{out1, out2})
			case "eth2":
				assert.Equal(t, []int{0, 1}, []int{out1, out2})
			default:
				assert.Equal(t, []int{0, 0}, []int{out1, out2})
			}
			if tt.drop != trace.ReasonNone {
				assert.Equal(t, []trace.Reason{tt.drop}, w.reasons())
			}
			if tt.match != "" {
				var got []string
				for _, h := range w.env.Trace.HopList() {
					if h.Node == "R" && h.Kind == trace.KindRoute {
						got = append(got, h.Match)
					}
				}
				require.NotEmpty(t, got)
				assert.Equal(t, tt.match, got[0])
			}
		})
	}
}

// markAll is a netfilter stand-in that marks every packet at PREROUTING.
type markAll struct{ mark uint32 }

func (m markAll) Pass(h netstack.Hook, pkt *packet.Buffer, _, _ *link.Device) bool {
	if h == netstack.PreRouting {
		pkt.Mark = m.mark
	}
	return true
}

// TestRPFilterUsesTheRules checks fib_validate_source's reverse lookup
// through the rules: the flow from the destination back to the source,
// entering through the forward route's device.
func TestRPFilterUsesTheRules(t *testing.T) {
	tests := []struct {
		name   string
		rules  []netstack.Rule
		drop   bool
		detail string
	}{
		{name: "strict, main table: passes"},
		{name: "strict, a to-rule sends the reply out eth2: dropped", drop: true,
			rules:  []netstack.Rule{{Priority: 512, To: pfx("10.0.1.2/32"), Table: 100}},
			detail: `martian source 10.0.2.2 from 10.0.1.2, on dev eth0: rp_filter=1 (strict; max of conf.all=1 and conf.eth0=0): the route back to 10.0.1.2 is "rule 512 from all to 10.0.1.2 lookup 100: default via 10.0.3.2 dev eth2 table 100 onlink", not via eth0 (fib_validate_source)`},
		{name: "strict, the reverse flow's source is the destination, not the source",
			rules: []netstack.Rule{{Priority: 512, From: pfx("10.0.1.2/32"), To: pfx("10.0.1.0/24"), Table: 100}}},
		{name: "strict, a from-rule on the destination's address selects the reverse table", drop: true,
			rules: []netstack.Rule{{Priority: 512, From: pfx("10.0.2.2/32"), Table: 100}}},
		{name: "the reverse flow enters through the forward route's device (iif eth1)", drop: true,
			rules: []netstack.Rule{{Priority: 512, IIF: "eth1", Table: 100}}},
		{name: "an iif rule of the incoming device does not apply to the reverse flow",
			rules: []netstack.Rule{{Priority: 512, IIF: "eth0", To: pfx("10.0.1.0/24"), Table: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			withC(t, w)
			w.R.ConfAll.RPFilter = 1
			w.B.ListenUDP(9, false)
			for _, r := range tt.rules {
				require.NoError(t, w.R.AddRule(r))
			}
			w.spoofUDP(w.aIP, w.bIP)
			w.run()
			recv := ofKind(w.evB, netstack.EvUDPRecv)
			if !tt.drop {
				assert.Empty(t, w.reasons())
				assert.Len(t, recv, 1)
				return
			}
			assert.Equal(t, []trace.Reason{trace.ReasonRPFilter}, w.reasons())
			assert.Empty(t, recv)
			if tt.detail != "" {
				assert.Equal(t, tt.detail, w.env.Trace.DropList()[0].Detail)
			}
		})
	}
}

// TestLocalOutputUsesTheSource: a locally generated packet is looked up
// with its source (from rules apply once the source is chosen) and iif lo.
func TestLocalOutputUsesTheSource(t *testing.T) {
	w := newWorld(t)
	w.env.Trace.Hops = true
	_, rEth2 := withC(t, w)
	require.NoError(t, w.R.AddRule(netstack.Rule{Priority: 100, From: pfx("10.0.1.1/32"), Table: 100}))
	require.NoError(t, w.R.AddRule(netstack.Rule{Priority: 101, IIF: "lo", To: pfx("10.9.8.0/24"), Table: 100}))
	w.R.ListenUDP(5000, false)
	// Source 10.0.2.1 (eth1's, chosen by the main route): main.
	require.True(t, w.R.SendUDP(5000, netip.MustParseAddrPort("10.9.9.9:7"), 10, netstack.DFWant, 1))
	// iif lo: every locally generated packet.
	require.True(t, w.R.SendUDP(5000, netip.MustParseAddrPort("10.9.8.1:7"), 10, netstack.DFWant, 2))
	w.run()
	assert.Len(t, w.ipv4Frames(w.rEth1, link.Out, 17), 1)
	assert.Len(t, w.ipv4Frames(rEth2, link.Out, 17), 1)
	var lookups []string
	for _, h := range w.env.Trace.HopList() {
		if h.Node == "R" && h.Kind == trace.KindRoute {
			lookups = append(lookups, h.Lookup+" => "+h.Match)
		}
	}
	assert.True(t, strings.HasPrefix(lookups[len(lookups)-1], "route get 10.9.8.1 from "), lookups)
	assert.Contains(t, lookups[len(lookups)-1], "rule 101 from all to 10.9.8.0/24 iif lo lookup 100: default via 10.0.3.2 dev eth2 table 100 onlink")
}

// TestLinkDownFlushesEveryTable: routes through a device that goes down
// leave every table, and come back with it.
func TestLinkDownFlushesEveryTable(t *testing.T) {
	w := newWorld(t)
	withC(t, w)
	require.Equal(t, 1, w.R.Table(100).Len())
	require.NoError(t, w.R.SetLinkUp("eth2", false))
	assert.Zero(t, w.R.Table(100).Len())
	assert.Empty(t, w.R.TableIDs())
	require.NoError(t, w.R.SetLinkUp("eth2", true))
	assert.Equal(t, 1, w.R.Table(100).Len())
	assert.Equal(t, []uint32{100}, w.R.TableIDs())
}

func (markAll) Refusal() netstack.Verdict { return netstack.Verdict{} }

func TestRouteTableAllIsIPRouteShowTableAll(t *testing.T) {
	w := newWorld(t)
	withC(t, w)
	require.NoError(t, w.R.AddTableRoute(1003, &netstack.Route{Dst: defaultRoute(), Gw: ip("10.0.2.253"), Dev: w.R.Iface("eth1"), Onlink: true}))
	err := w.R.AddTableRoute(1004, &netstack.Route{Dst: defaultRoute(), Gw: ip("10.7.0.1"), Dev: w.R.Iface("eth1")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Network is unreachable")
	require.NoError(t, w.R.AddTableRoute(1004, &netstack.Route{Dst: defaultRoute(), Gw: ip("10.0.2.2"), Dev: w.R.Iface("eth1")}))
	assert.Equal(t, []string{
		"default via 10.0.3.2 dev eth2 table 100 onlink",
		"default via 10.0.2.253 dev eth1 table 1003 onlink",
		"default via 10.0.2.2 dev eth1 table 1004",
		"10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.1",
		"10.0.2.0/24 dev eth1 proto kernel scope link src 10.0.2.1",
		"10.0.3.0/24 dev eth2 proto kernel scope link src 10.0.3.1",
		"10.9.0.0/16 via 10.0.2.2 dev eth1",
		"local 10.0.1.1 dev eth0 table local proto kernel scope host src 10.0.1.1",
		"broadcast 10.0.1.255 dev eth0 table local proto kernel scope link src 10.0.1.1",
		"local 10.0.2.1 dev eth1 table local proto kernel scope host src 10.0.2.1",
		"broadcast 10.0.2.255 dev eth1 table local proto kernel scope link src 10.0.2.1",
		"local 10.0.3.1 dev eth2 table local proto kernel scope host src 10.0.3.1",
		"broadcast 10.0.3.255 dev eth2 table local proto kernel scope link src 10.0.3.1",
		"local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1",
		"local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1",
		"broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1",
	}, w.R.RouteTableAll())
}

// TestRouteGetAnswersAsIPRouteGet: the input decision without a packet
// (compared with a kernel in topology/kernel's TestPolicyRoutingMatchesTheKernel).
func TestRouteGetAnswersAsIPRouteGet(t *testing.T) {
	w := newWorld(t)
	withC(t, w)
	require.NoError(t, w.R.AddTableRoute(400, &netstack.Route{Dst: pfx("10.9.9.0/24"), Type: netstack.RouteBlackhole}))
	require.NoError(t, w.R.AddRule(netstack.Rule{Priority: 100, From: pfx("10.0.1.7/32"), Table: 400}))
	require.NoError(t, w.R.AddRule(netstack.Rule{Priority: 101, From: pfx("10.0.1.8/32"), Action: netstack.RuleProhibit}))
	require.NoError(t, w.R.AddRule(netstack.Rule{Priority: 2048, From: pfx("10.0.1.2/32"), Table: 100}))
	tests := []struct {
		dst, src, iif string
		dev, table    string
		local         bool
		errno         string
	}{
		{dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0", dev: "eth2", table: "100"},
		{dst: "10.9.9.9", src: "10.0.1.3", iif: "eth0", dev: "eth1", table: "main"},
		{dst: "10.0.3.1", src: "10.0.1.3", iif: "eth0", local: true},
		{dst: "10.9.9.9", src: "10.0.1.7", iif: "eth0", errno: "Invalid argument"},
		{dst: "10.9.9.9", src: "10.0.1.8", iif: "eth0", errno: "Permission denied"},
		{dst: "10.10.0.1", src: "10.0.1.3", iif: "eth0", errno: "Network is unreachable"},
		{dst: "10.9.9.9", src: "10.0.2.1", iif: "eth0", errno: "Invalid argument"}, // own address
	}
	for _, tt := range tests {
		t.Run(tt.dst+" from "+tt.src, func(t *testing.T) {
			res, err := w.R.RouteGet(ip(tt.dst), ip(tt.src), tt.iif, 0)
			require.NoError(t, err)
			assert.Equal(t, tt.errno, res.Errno, res.Detail)
			assert.Equal(t, tt.local, res.Local)
			if tt.dev != "" {
				require.NotNil(t, res.Route)
				assert.Equal(t, tt.dev, res.Route.Dev.Dev.Name)
				assert.Equal(t, tt.table, netstack.TableName(res.Table))
			}
		})
	}
	assert.Empty(t, w.reasons(), "RouteGet sends and drops nothing")
	_, err := w.R.RouteGet(ip("10.9.9.9"), ip("10.0.1.2"), "eth9", 0)
	assert.Error(t, err)
}

// TestRouteAndRuleActionsSendIPErrorsICMP: the ICMP error ip_error sends
// for each lookup error a forwarded packet meets.
func TestRouteAndRuleActionsSendIPErrorsICMP(t *testing.T) {
	tests := []struct {
		name string
		rule netstack.Rule
		code int // -1: no ICMP
	}{
		{"unreachable rule: net unreachable", netstack.Rule{Priority: 10, Action: netstack.RuleUnreachable}, int(packet.ICMPCodeNetUnreach)},
		{"prohibit rule: administratively prohibited", netstack.Rule{Priority: 10, Action: netstack.RuleProhibit}, int(packet.ICMPCodeAdminProhib)},
		{"blackhole rule: nothing", netstack.Rule{Priority: 10, Action: netstack.RuleBlackhole}, -1},
		{"unreachable route: host unreachable", netstack.Rule{Priority: 10, Table: 500}, int(packet.ICMPCodeHostUnreach)},
		{"prohibit route: administratively prohibited", netstack.Rule{Priority: 10, Table: 600}, int(packet.ICMPCodeAdminProhib)},
		{"blackhole route: nothing", netstack.Rule{Priority: 10, Table: 400}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			withC(t, w)
			require.NoError(t, w.R.AddTableRoute(400, &netstack.Route{Dst: pfx("10.9.9.0/24"), Type: netstack.RouteBlackhole}))
			require.NoError(t, w.R.AddTableRoute(500, &netstack.Route{Dst: pfx("10.9.9.0/24"), Type: netstack.RouteUnreachable}))
			require.NoError(t, w.R.AddTableRoute(600, &netstack.Route{Dst: pfx("10.9.9.0/24"), Type: netstack.RouteProhibit}))
			r := tt.rule
			r.From = pfx("10.0.1.2/32") // not R's own 10.0.1.1: its ICMP error takes the rules too
			require.NoError(t, w.R.AddRule(r))
			require.NoError(t, w.R.AddNeigh("eth0", w.aIP, w.aEth.MAC, true))
			w.spoofUDP(w.aIP, ip("10.9.9.9"))
			w.run()
			assert.Equal(t, []trace.Reason{trace.ReasonNoRoute}, w.reasons())
			errs := w.icmpErrors(w.rEth0, link.Out)
			if tt.code < 0 {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			checkICMPError(t, errs[0], packet.ICMPDestUnreach, uint8(tt.code), w.rIP0, w.aIP, 64)
		})
	}
}
