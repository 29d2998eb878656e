package kubeproxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache gives every node exactly what IPTables renders for it, over
// every golden shape together and over configurations that differ in each
// thing IPTables reads from a node (its endpoints, its primary address
// under source ranges, its NodePort addresses), asked in an order that
// mixes hits and misses; nodes that see the Services alike share one
// rendering.
func TestRulesCacheMatchesIPTables(t *testing.T) {
	var svcs []*Service
	for _, s := range shapes {
		svcs = append(svcs, s.svcs...)
	}
	node := func(name string, ips ...string) Config {
		c := ackConfig()
		c.NodeName = name
		c.NodeIPs = nil
		for _, ip := range ips {
			c.NodeIPs = append(c.NodeIPs, addr(ip))
		}
		return c
	}
	var cfgs []Config
	for i := range 3 {
		for _, n := range []string{"node-1", "node-2", "node-3", "node-4", "node-5", ""} {
			// node-4 and node-5 run no endpoint; the primary address
			// 192.168.0.x is inside a LoadBalancer's source range,
			// 10.0.0.x is not.
			cfgs = append(cfgs, node(n, fmt.Sprintf("192.168.0.%d", 10+i), "172.20.0.1"))
			cfgs = append(cfgs, node(n, fmt.Sprintf("10.0.0.%d", 10+i)))
			// The same primary address, other NodePort addresses.
			np := node(n, "192.168.0.10", fmt.Sprintf("10.0.%d.1", i))
			np.NodePortAddresses = []netip.Prefix{prefix("10.0.0.0/8")}
			cfgs = append(cfgs, np)
		}
	}
	liberal := node("node-4", "10.0.0.10")
	liberal.ConntrackTCPBeLiberal = true
	cfgs = append(cfgs, liberal)

	c := NewRulesCache(svcs)
	for _, cfg := range append(cfgs, cfgs...) {
		want, werr := IPTables(cfg, svcs)
		got, gerr := c.IPTables(cfg)
		require.Equal(t, werr, gerr)
		assert.Equal(t, want.Restore(), got.Restore(), "%s %v %v", cfg.NodeName, cfg.NodeIPs, cfg.NodePortAddresses)
		assert.Equal(t, want, got, "%s %v", cfg.NodeName, cfg.NodeIPs)
	}
	assert.Less(t, len(c.rules), len(cfgs), "nodes without endpoints share")

	// Without source ranges or NodePort addresses, the nodes without
	// endpoints share one rendering whatever their addresses.
	plain := NewRulesCache(shapes[0].svcs) // an endpoint on node-2
	for i := range 100 {
		_, err := plain.IPTables(node(fmt.Sprintf("n%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)))
		require.NoError(t, err)
	}
	_, err := plain.IPTables(node("node-2", "10.1.0.1"))
	require.NoError(t, err)
	assert.Len(t, plain.rules, 2)
}

// A Rules from the cache is shared: appending to its slices does not
// change what the next node gets.
func TestRulesCacheSharedRulesAreClipped(t *testing.T) {
	c := NewRulesCache(shapes[0].svcs)
	a, err := c.IPTables(ackConfig())
	require.NoError(t, err)
	want := a.Restore()
	_ = append(a.NATRules, "-A KUBE-SERVICES -j DROP")
	_ = append(a.FilterRules, "-A KUBE-FORWARD -j DROP")
	b, err := c.IPTables(ackConfig())
	require.NoError(t, err)
	assert.Equal(t, want, b.Restore())
}
