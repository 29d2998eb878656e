package flanneld

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSharedLeases checks a forwarder's table with the cluster's leases
// shared against the same table set lease by lease (SetRoute per peer):
// lookups, deletes and updates of shared leases, the count and listing.
func TestSharedLeases(t *testing.T) {
	pf, nh := netip.MustParsePrefix, netip.MustParseAddrPort
	subnets := []netip.Prefix{pf("10.244.0.0/24"), pf("10.244.1.0/24"), pf("10.244.2.0/24"), pf("10.244.3.0/24")}
	next := []netip.AddrPort{nh("192.168.0.10:8285"), nh("192.168.0.11:8285"), nh("192.168.0.12:8285"), nh("192.168.0.13:8285")}
	l, err := NewLeases(subnets, next)
	require.NoError(t, err)
	const self = 1
	tests := []struct {
		name string
		ops  func(p *Proxy) bool
	}{
		{"as built", func(p *Proxy) bool { return false }},
		{"del a lease", func(p *Proxy) bool { return p.DelRoute(pf("10.244.2.0/24")) }},
		{"del own subnet (no entry)", func(p *Proxy) bool { return p.DelRoute(pf("10.244.1.0/24")) }},
		{"del twice", func(p *Proxy) bool { p.DelRoute(pf("10.244.3.0/24")); return p.DelRoute(pf("10.244.3.0/24")) }},
		{"set a lease's next hop", func(p *Proxy) bool { p.SetRoute(pf("10.244.0.0/24"), nh("192.168.0.99:8285")); return false }},
		{"set a new subnet", func(p *Proxy) bool { p.SetRoute(pf("10.244.9.0/24"), nh("192.168.0.19:8285")); return false }},
	}
	probes := []string{"10.244.0.5", "10.244.1.5", "10.244.2.5", "10.244.3.5", "10.244.9.5", "10.245.0.1"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eager, shared := &Proxy{}, &Proxy{}
			for i := range subnets {
				if i != self {
					eager.SetRoute(subnets[i], next[i])
				}
			}
			shared.ShareLeases(l, self)
			assert.Equal(t, tt.ops(eager), tt.ops(shared))
			assert.ElementsMatch(t, routeStrings(eager), routeStrings(shared))
			assert.Equal(t, len(eager.routes), shared.tableLen())
			for _, a := range probes {
				re, oke := eager.findRoute(netip.MustParseAddr(a))
				rs, oks := shared.findRoute(netip.MustParseAddr(a))
				assert.Equal(t, oke, oks, a)
				assert.Equal(t, re, rs, a)
			}
		})
	}
}
