package kernel

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/topology"
)

// routeDecision is the comparable part of an `ip route get` answer.
type routeDecision struct {
	Local bool
	Via   string // gateway, "" when directly connected
	Dev   string
	Table string
	Errno string
}

func (d routeDecision) String() string {
	switch {
	case d.Errno != "":
		return "error: " + d.Errno
	case d.Local:
		return "local"
	}
	return fmt.Sprintf("via %q dev %s table %s", d.Via, d.Dev, d.Table)
}

// parseRouteGet reads iproute2's answer, e.g. "10.9.9.9 from 10.0.1.2 via
// 10.0.3.2 dev eth2 table 100 mark 0x10 \n    cache iif eth0", or its
// "RTNETLINK answers: ..." error.
func parseRouteGet(out string, err error) routeDecision {
	if err != nil {
		msg := strings.TrimSpace(out)
		if i := strings.LastIndex(msg, "RTNETLINK answers: "); i >= 0 {
			return routeDecision{Errno: strings.TrimSpace(msg[i+len("RTNETLINK answers: "):])}
		}
		return routeDecision{Errno: msg}
	}
	f := strings.Fields(out)
	d := routeDecision{Table: "main"}
	if len(f) > 0 && (f[0] == "local" || f[0] == "broadcast") {
		d.Local = true
		return d
	}
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "via":
			d.Via = f[i+1]
		case "dev":
			if d.Dev == "" {
				d.Dev = f[i+1]
			}
		case "table":
			d.Table = f[i+1]
		}
	}
	return d
}

// policyTopo is R with three neighbours:
//
//	A 10.0.1.2 ─ eth0 10.0.1.1 │ R │ eth1 10.0.2.1 ─ B 10.0.2.2
//	                           │   │ eth2 10.0.3.1 ─ C 10.0.3.2
//
// R's main table reaches 10.9.0.0/16 via B; table 100 sends everything
// to C; table 300 holds only 10.200.0.0/16; table 400 a blackhole, 500 an
// unreachable, 600 a prohibit route for 10.9.9.0/24; table 700 sends
// everything to B (as Terway's per-ENI table sends pod traffic out its ENI).
var policyCommands = []string{
	"route add 10.9.0.0/16 via 10.0.2.2 dev eth1",
	"route add default via 10.0.3.2 dev eth2 onlink table 100",
	"route add 10.200.0.0/16 dev eth2 table 300",
	"route add blackhole 10.9.9.0/24 table 400",
	"route add unreachable 10.9.9.0/24 table 500",
	"route add prohibit 10.9.9.0/24 table 600",
	"route add default via 10.0.2.2 dev eth1 onlink table 700",
}

// TestPolicyRoutingMatchesTheKernel asks a kernel and netsim the same
// `ip route get DST from SRC iif DEV [mark M]` questions under the same
// rules and rp_filter settings: the rule walk, tables falling through,
// rule and route actions and their errors, and fib_validate_source's
// reverse lookup through the rules.
func TestPolicyRoutingMatchesTheKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel policy routing test: skipped in -short mode")
	}
	prefix := fmt.Sprintf("nsp%d-", os.Getpid())
	if err := Supported(prefix + "probe-"); err != nil {
		t.Skipf("kernel policy routing test skipped: %v", err)
	}
	n := New(prefix)
	t.Cleanup(func() { _ = n.Cleanup() })
	ns := map[string]string{}
	for _, name := range []string{"A", "R", "B", "C"} {
		full, err := n.AddNS(name)
		require.NoError(t, err, strings.Join(n.Log, "\n"))
		ns[name] = full
	}
	r := ns["R"]
	links := []struct{ rdev, peer, raddr, paddr string }{
		{"eth0", "A", "10.0.1.1/24", "10.0.1.2/24"},
		{"eth1", "B", "10.0.2.1/24", "10.0.2.2/24"},
		{"eth2", "C", "10.0.3.1/24", "10.0.3.2/24"},
	}
	for _, l := range links {
		require.NoError(t, n.IP(r, "link", "add", l.rdev, "type", "veth", "peer", "name", "eth0", "netns", ns[l.peer]))
		require.NoError(t, n.IP(r, "addr", "add", l.raddr, "dev", l.rdev))
		require.NoError(t, n.IP(ns[l.peer], "addr", "add", l.paddr, "dev", "eth0"))
		require.NoError(t, n.IP(r, "link", "set", l.rdev, "up"))
		require.NoError(t, n.IP(ns[l.peer], "link", "set", "eth0", "up"))
	}
	require.NoError(t, n.Do(r, func() error { return sysctl("net/ipv4/ip_forward", "1") }))
	for _, c := range policyCommands {
		require.NoError(t, n.IP(r, strings.Fields(c)...), strings.Join(n.Log, "\n"))
	}

	// The same R in netsim.
	env, _ := linktest.NewEnv()
	sr := netstack.New(env, "R", 1)
	for i, l := range links {
		dev, _ := link.NewVethPair(env, "R", l.rdev, linktest.MAC(byte(0x10+i)), l.peer, "eth0", linktest.MAC(byte(0xa0+i)), 1500)
		sr.AddIface(dev)
		require.NoError(t, sr.AddAddr(l.rdev, netip.MustParsePrefix(l.raddr)))
	}
	sr.Forwarding = true
	for _, c := range policyCommands {
		spec, err := topology.ParseRouteSpec(strings.TrimPrefix(c, "route add "))
		require.NoError(t, err)
		rt := &netstack.Route{Dst: spec.Dst, Gw: spec.Gw, Onlink: spec.Onlink, Type: spec.Type}
		if spec.Dev != "" {
			rt.Dev = sr.Iface(spec.Dev)
		}
		table := spec.Table
		if table == 0 {
			table = netstack.TableMain
		}
		require.NoError(t, sr.AddTableRoute(table, rt), c)
	}

	tests := []struct {
		name     string
		rules    []string // ip rule add arguments
		rpFilter string   // conf.all.rp_filter
		dst, src string
		iif      string
		mark     uint32
	}{
		{name: "main table", dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "no route", dst: "10.10.0.1", src: "10.0.1.2", iif: "eth0"},
		{name: "local", dst: "10.0.2.1", src: "10.0.1.2", iif: "eth0"},
		{name: "from rule", rules: []string{"from 10.0.1.2 lookup 100 pref 2048"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "from rule, other source", rules: []string{"from 10.0.1.2 lookup 100 pref 2048"}, dst: "10.9.9.9", src: "10.0.1.3", iif: "eth0"},
		{name: "to rule first", rules: []string{"from 10.0.1.2 lookup 100 pref 2048", "to 10.9.9.9 lookup main pref 512"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "iif rule", rules: []string{"iif eth0 lookup 100 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "iif rule, other device", rules: []string{"iif eth1 lookup 100 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "oif rule never matches input", rules: []string{"oif eth2 lookup 100 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "fwmark rule, marked", rules: []string{"fwmark 0x10/0x10 lookup 100 pref 600"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0", mark: 0x10},
		{name: "fwmark rule, unmarked", rules: []string{"fwmark 0x10/0x10 lookup 100 pref 600"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "table without a match falls through", rules: []string{"lookup 300 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "blackhole route ends the walk", rules: []string{"lookup 400 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "unreachable route", rules: []string{"lookup 500 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "prohibit route", rules: []string{"lookup 600 pref 100"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "blackhole rule", rules: []string{"from 10.0.1.0/24 blackhole pref 10"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "unreachable rule", rules: []string{"from 10.0.1.0/24 unreachable pref 10"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "prohibit rule", rules: []string{"from 10.0.1.0/24 prohibit pref 10"}, dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "strict rp_filter, main", rpFilter: "1", dst: "10.9.9.9", src: "10.0.1.2", iif: "eth0"},
		{name: "strict rp_filter, asymmetric source", rpFilter: "1", dst: "10.0.2.2", src: "10.9.0.7", iif: "eth0"},
		{name: "loose rp_filter, asymmetric source", rpFilter: "2", dst: "10.0.2.2", src: "10.9.0.7", iif: "eth0"},
		{name: "strict: reply route chosen by a to-rule", rpFilter: "1", rules: []string{"to 10.0.1.2 lookup 100 pref 512"}, dst: "10.0.2.2", src: "10.0.1.2", iif: "eth0"},
		{name: "strict: a from-rule for the destination moves the reverse route", rpFilter: "1", rules: []string{"from 10.0.2.2 lookup 100 pref 512"}, dst: "10.0.2.2", src: "10.0.1.2", iif: "eth0"},
		{name: "strict: the reverse flow enters by the forward route's device", rpFilter: "1", rules: []string{"iif eth1 lookup 100 pref 512"}, dst: "10.0.2.2", src: "10.0.1.2", iif: "eth0"},
		{name: "strict: local delivery's reverse flow enters by lo", rpFilter: "1", rules: []string{"iif lo lookup 100 pref 512"}, dst: "10.0.1.1", src: "10.0.1.2", iif: "eth0"},
		{name: "strict: Terway's rules, VPC to pod", rpFilter: "1",
			rules: []string{"to 10.0.3.2 lookup main pref 512", "from 10.0.3.2 lookup 700 pref 2048"}, dst: "10.0.3.2", src: "10.9.0.7", iif: "eth1"},
		{name: "strict: Terway's rules, pod to VPC", rpFilter: "1",
			rules: []string{"to 10.0.3.2 lookup main pref 512", "from 10.0.3.2 lookup 700 pref 2048"}, dst: "10.9.0.7", src: "10.0.3.2", iif: "eth2"},
		{name: "strict: Terway's rules, the per-ENI table of another ENI", rpFilter: "1",
			rules: []string{"to 10.0.3.2 lookup main pref 512", "from 10.0.3.2 lookup 100 pref 2048"}, dst: "10.0.3.2", src: "10.9.0.7", iif: "eth1"},
		{name: "own address as source", dst: "10.0.2.2", src: "10.0.2.1", iif: "eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := tt.rpFilter
			if rp == "" {
				rp = "0"
			}
			require.NoError(t, n.Do(r, func() error { return sysctl("net/ipv4/conf/all/rp_filter", rp) }))
			sr.ConfAll.RPFilter = rp[0] - '0'
			for _, ru := range tt.rules {
				require.NoError(t, n.IP(r, append([]string{"rule", "add"}, strings.Fields(ru)...)...))
				spec, err := topology.ParseRuleSpec(ru)
				require.NoError(t, err)
				require.NoError(t, sr.AddRule(spec.Rule))
			}
			t.Cleanup(func() {
				for _, ru := range tt.rules {
					_ = n.IP(r, append([]string{"rule", "del"}, strings.Fields(ru)...)...)
					spec, _ := topology.ParseRuleSpec(ru)
					sr.DelRule(spec.Rule)
				}
			})
			args := []string{"-n", r, "route", "get", tt.dst, "from", tt.src, "iif", tt.iif}
			if tt.mark != 0 {
				args = append(args, "mark", fmt.Sprintf("%#x", tt.mark))
			}
			out, err := exec.Command("ip", args...).CombinedOutput()
			kern := parseRouteGet(string(out), err)

			res, gerr := sr.RouteGet(netip.MustParseAddr(tt.dst), netip.MustParseAddr(tt.src), tt.iif, tt.mark)
			require.NoError(t, gerr)
			sim := routeDecision{Local: res.Local, Errno: res.Errno}
			if res.Route != nil {
				sim.Dev = res.Route.Dev.Dev.Name
				if res.Route.Gw.IsValid() {
					sim.Via = res.Route.Gw.String()
				}
				sim.Table = netstack.TableName(res.Table)
			}
			assert.Equal(t, kern.String(), sim.String(), "kernel said: %s; netsim: %s", strings.TrimSpace(string(out)), res.Detail)
		})
	}
}
