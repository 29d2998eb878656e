package flanneld

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func routeStrings(p *Proxy) []string {
	var out []string
	for _, r := range p.Routes() {
		out = append(out, r.String())
	}
	return out
}

// TestRouteTable follows proxy_amd64.c: set_route updates in place or
// appends, del_route moves the last entry into the hole, find_route takes
// the first containing entry and swaps it to the front.
func TestRouteTable(t *testing.T) {
	nh := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	pf := netip.MustParsePrefix
	tests := []struct {
		name   string
		ops    func(p *Proxy) (netip.Prefix, bool)
		want   []string
		found  string
		exists bool
	}{
		{name: "set appends, set again updates", ops: func(p *Proxy) (netip.Prefix, bool) {
			p.SetRoute(pf("10.244.1.0/24"), nh("192.168.0.11:8285"))
			p.SetRoute(pf("10.244.2.0/24"), nh("192.168.0.12:8285"))
			p.SetRoute(pf("10.244.1.7/24"), nh("192.168.0.21:8285"))
			return netip.Prefix{}, false
		}, want: []string{"10.244.1.0/24 → 192.168.0.21:8285", "10.244.2.0/24 → 192.168.0.12:8285"}},
		{name: "del moves the last entry into the hole", ops: func(p *Proxy) (netip.Prefix, bool) {
			for _, s := range []string{"10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"} {
				p.SetRoute(pf(s), nh("192.168.0.1:8285"))
			}
			return pf("10.244.1.0/24"), p.DelRoute(pf("10.244.1.0/24"))
		}, want: []string{"10.244.3.0/24 → 192.168.0.1:8285", "10.244.2.0/24 → 192.168.0.1:8285"}, exists: true},
		{name: "del of an unknown subnet", ops: func(p *Proxy) (netip.Prefix, bool) {
			p.SetRoute(pf("10.244.1.0/24"), nh("192.168.0.1:8285"))
			return netip.Prefix{}, p.DelRoute(pf("10.244.9.0/24"))
		}, want: []string{"10.244.1.0/24 → 192.168.0.1:8285"}},
		{name: "a hit is swapped to the front", ops: func(p *Proxy) (netip.Prefix, bool) {
			p.SetRoute(pf("10.244.1.0/24"), nh("192.168.0.11:8285"))
			p.SetRoute(pf("10.244.2.0/24"), nh("192.168.0.12:8285"))
			p.SetRoute(pf("10.244.3.0/24"), nh("192.168.0.13:8285"))
			r, ok := p.findRoute(netip.MustParseAddr("10.244.3.9"))
			return r.Dst, ok
		}, want: []string{"10.244.3.0/24 → 192.168.0.13:8285", "10.244.2.0/24 → 192.168.0.12:8285", "10.244.1.0/24 → 192.168.0.11:8285"},
			found: "10.244.3.0/24", exists: true},
		{name: "first match, not longest match", ops: func(p *Proxy) (netip.Prefix, bool) {
			p.SetRoute(pf("10.244.0.0/16"), nh("192.168.0.11:8285"))
			p.SetRoute(pf("10.244.3.0/24"), nh("192.168.0.13:8285"))
			r, ok := p.findRoute(netip.MustParseAddr("10.244.3.9"))
			return r.Dst, ok
		}, want: []string{"10.244.0.0/16 → 192.168.0.11:8285", "10.244.3.0/24 → 192.168.0.13:8285"},
			found: "10.244.0.0/16", exists: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Proxy{}
			got, ok := tt.ops(p)
			assert.Equal(t, tt.want, routeStrings(p))
			assert.Equal(t, tt.exists, ok)
			if tt.found != "" {
				assert.Equal(t, tt.found, got.String())
			}
		})
	}
}
