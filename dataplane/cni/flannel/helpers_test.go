package flannel_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
	"netsim/sim"
	"netsim/topology"
)

func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// nodeSpec is one node of a generated scenario.
type nodeSpec struct{ name, vswitch, ip string }

// scen generates a scenario file. The VPC is 192.168.0.0/16 with vsw-a
// 192.168.0.0/24 and (vpc underlay only) vsw-b 192.168.1.0/24; the pod
// CIDR is 172.20.0.0/16.
type scen struct {
	underlay string // "vpc" (default) or "l2"
	mtu      int    // vpc.mtu (0: default)
	quota    int    // vpc.routeQuota (0: default)
	nodeMask int    // cluster.nodeCIDRMask (0: default)
	// flannel holds the lines of the flannel block ("backend: vxlan", …).
	flannel []string
	nodes   []nodeSpec
	// pods and flows are raw YAML list items, indented by two spaces.
	pods  []string
	flows []string
}

// threeNodes: node-1 and node-2 share vsw-a, node-3 is in vsw-b.
var threeNodes = []nodeSpec{
	{"node-1", "vsw-a", "192.168.0.10"},
	{"node-2", "vsw-a", "192.168.0.11"},
	{"node-3", "vsw-b", "192.168.1.12"},
}

// twoNodesL2 are two nodes on the one segment of an l2 underlay.
var twoNodesL2 = []nodeSpec{
	{"node-1", "vsw-a", "192.168.0.10"},
	{"node-2", "vsw-a", "192.168.0.11"},
}

func (s scen) yaml() string {
	var b strings.Builder
	b.WriteString("name: flannel-test\nvpc:\n  name: vpc-test\n  cidr: 192.168.0.0/16\n")
	underlay := s.underlay
	if underlay == "" {
		underlay = "vpc"
	}
	fmt.Fprintf(&b, "  underlay: %s\n", underlay)
	if s.mtu != 0 {
		fmt.Fprintf(&b, "  mtu: %d\n", s.mtu)
	}
	if s.quota != 0 {
		fmt.Fprintf(&b, "  routeQuota: %d\n", s.quota)
	}
	b.WriteString("  vswitches:\n    - {name: vsw-a, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}\n")
	if underlay == "vpc" {
		b.WriteString("    - {name: vsw-b, zone: cn-hangzhou-i, cidr: 192.168.1.0/24}\n")
	}
	b.WriteString("nodes:\n")
	for _, n := range s.nodes {
		fmt.Fprintf(&b, "  - {name: %s, vswitch: %s", n.name, n.vswitch)
		if n.ip != "" {
			fmt.Fprintf(&b, ", ip: %s", n.ip)
		}
		b.WriteString("}\n")
	}
	b.WriteString("cluster:\n  podCIDR: 172.20.0.0/16\n  serviceCIDR: 172.21.0.0/20\n")
	if s.nodeMask != 0 {
		fmt.Fprintf(&b, "  nodeCIDRMask: %d\n", s.nodeMask)
	}
	b.WriteString("  cni:\n    mode: flannel\n    flannel:\n")
	for _, l := range s.flannel {
		fmt.Fprintf(&b, "      %s\n", l)
	}
	if len(s.flannel) == 0 {
		b.WriteString("      backend: vxlan\n")
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

// parse loads the generated scenario, which must be valid.
func (s scen) parse(t *testing.T) *topology.Scenario {
	t.Helper()
	sc, err := topology.Parse("flannel-test.yaml", []byte(s.yaml()))
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	return sc
}

// runner builds the generated scenario into a world with a runner.
func (s scen) runner(t *testing.T) *sim.Runner {
	t.Helper()
	r, err := sim.NewRunner(s.parse(t))
	require.NoError(t, err, "scenario:\n%s", s.yaml())
	return r
}

// world builds the generated scenario with topology.Build.
func (s scen) world(t *testing.T) *topology.World {
	t.Helper()
	w, err := topology.Build(s.parse(t), sim.NewLoop())
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

func ifaceNames(st *netstack.Stack) []string {
	var out []string
	for _, i := range st.Ifaces() {
		out = append(out, i.Dev.Name)
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

// lineOf returns the 1-based line and column of the first occurrence of
// needle in text.
func lineOf(t *testing.T, text, needle string) (int, int) {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if c := strings.Index(l, needle); c >= 0 {
			return i + 1, c + 1
		}
	}
	t.Fatalf("%q not in\n%s", needle, text)
	return 0, 0
}

// netstackFor makes a fresh pod namespace in w.
func netstackFor(w *topology.World, name string) *netstack.Stack {
	return netstack.New(w.Env, "default/"+name, 1)
}
