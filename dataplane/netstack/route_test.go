package netstack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
)

// node is a namespace with eth0 10.0.1.2/24 and flannel.1 10.244.0.0/32.
func routeNode(t *testing.T) *netstack.Stack {
	t.Helper()
	env, _ := linktest.NewEnv()
	s := netstack.New(env, "node", 1)
	s.AddIface(link.NewDevice(env, "node", "eth0", "device", link.Ether, 1500, mac(1), nil))
	s.AddIface(link.NewDevice(env, "node", "flannel.1", "vxlan", link.Ether, 1450, mac(2), nil))
	require.NoError(t, s.AddAddr("eth0", pfx("10.0.1.2/24")))
	require.NoError(t, s.AddAddr("flannel.1", pfx("10.244.0.0/32")))
	return s
}

func TestRouteString(t *testing.T) {
	s := routeNode(t)
	eth0, fl := s.Iface("eth0"), s.Iface("flannel.1")
	tests := []struct {
		name  string
		route *netstack.Route
		want  string
	}{
		{"connected (from ip addr add)", s.Routes.Lookup(ip("10.0.1.9")),
			"10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2"},
		{"via", &netstack.Route{Dst: pfx("10.96.0.0/12"), Gw: ip("10.0.1.1"), Dev: eth0},
			"10.96.0.0/12 via 10.0.1.1 dev eth0"},
		{"flannel onlink", &netstack.Route{Dst: pfx("10.244.1.0/24"), Gw: ip("10.244.1.0"), Dev: fl, Onlink: true},
			"10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink"},
		{"default", &netstack.Route{Dst: pfx("0.0.0.0/0"), Gw: ip("10.0.1.1"), Dev: eth0},
			"default via 10.0.1.1 dev eth0"},
		{"default with metric", &netstack.Route{Dst: pfx("0.0.0.0/0"), Gw: ip("10.0.1.254"), Dev: eth0, Metric: 100},
			"default via 10.0.1.254 dev eth0 metric 100"},
		{"dhcp-style", &netstack.Route{Dst: pfx("0.0.0.0/0"), Gw: ip("10.0.1.253"), Dev: eth0, Proto: "dhcp", Src: ip("10.0.1.2"), Metric: 200},
			"default via 10.0.1.253 dev eth0 proto dhcp src 10.0.1.2 metric 200"},
		{"link scope with src", &netstack.Route{Dst: pfx("10.7.0.0/16"), Dev: eth0, Scope: "link", Src: ip("10.0.1.2")},
			"10.7.0.0/16 dev eth0 scope link src 10.0.1.2"},
		{"mtu lock", &netstack.Route{Dst: pfx("10.9.0.0/16"), Gw: ip("10.0.1.1"), Dev: eth0, MTU: 1400},
			"10.9.0.0/16 via 10.0.1.1 dev eth0 mtu lock 1400"},
		{"flags before metrics", &netstack.Route{Dst: pfx("10.244.2.0/24"), Gw: ip("10.244.2.0"), Dev: fl, Onlink: true, MTU: 1400},
			"10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink mtu lock 1400"},
		{"host route", &netstack.Route{Dst: pfx("10.0.9.9/32"), Gw: ip("10.0.1.1"), Dev: eth0},
			"10.0.9.9 via 10.0.1.1 dev eth0"},
		{"blackhole", &netstack.Route{Dst: pfx("10.8.0.0/16"), Type: netstack.RouteBlackhole}, "blackhole 10.8.0.0/16"},
		{"unreachable", &netstack.Route{Dst: pfx("10.8.1.0/24"), Type: netstack.RouteUnreachable}, "unreachable 10.8.1.0/24"},
		{"prohibit", &netstack.Route{Dst: pfx("10.8.2.0/24"), Type: netstack.RouteProhibit}, "prohibit 10.8.2.0/24"},
	}
	for _, tt := range tests {
		require.NotNil(t, tt.route, tt.name)
		assert.Equal(t, tt.want, tt.route.String(), tt.name)
	}
}

func TestRouteStringHostPrefix(t *testing.T) {
	// `ip route` prints a /32 without the length.
	r := &netstack.Route{Dst: pfx("10.0.9.9/32"), Gw: ip("10.0.1.1")}
	assert.Equal(t, "10.0.9.9 via 10.0.1.1", r.String())
}

func TestRouteTable(t *testing.T) {
	s := routeNode(t)
	eth0, fl := s.Iface("eth0"), s.Iface("flannel.1")
	add := func(r *netstack.Route) { require.NoError(t, s.AddRoute(r)) }
	add(&netstack.Route{Dst: pfx("0.0.0.0/0"), Gw: ip("10.0.1.1"), Dev: eth0})
	add(&netstack.Route{Dst: pfx("0.0.0.0/0"), Gw: ip("10.0.1.254"), Dev: eth0, Metric: 100})
	add(&netstack.Route{Dst: pfx("10.244.1.0/24"), Gw: ip("10.244.1.0"), Dev: fl, Onlink: true})
	add(&netstack.Route{Dst: pfx("10.96.0.0/12"), Gw: ip("10.0.1.1"), Dev: eth0})

	var lines []string
	for _, r := range s.Routes.All() {
		lines = append(lines, r.String())
	}
	assert.Equal(t, []string{
		"default via 10.0.1.1 dev eth0",
		"default via 10.0.1.254 dev eth0 metric 100",
		"10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2",
		"10.96.0.0/12 via 10.0.1.1 dev eth0",
		"10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
	}, lines)
	assert.Equal(t, 5, s.Routes.Len())

	lookups := []struct{ dst, want string }{
		{"10.244.1.7", "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink"},
		{"10.0.1.77", "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2"},
		{"10.100.0.1", "10.96.0.0/12 via 10.0.1.1 dev eth0"},
		{"8.8.8.8", "default via 10.0.1.1 dev eth0"},
	}
	for _, l := range lookups {
		r := s.Routes.Lookup(ip(l.dst))
		require.NotNil(t, r, l.dst)
		assert.Equal(t, l.want, r.String(), "ip route get %s", l.dst)
	}
	r, src, ok := s.RouteOutput(ip("10.244.1.7"))
	require.True(t, ok)
	assert.Equal(t, ip("10.244.0.0"), src, "source is flannel.1's address")
	assert.Equal(t, 1450, s.RouteMTU(r, ip("10.244.1.7")))
	_, src, ok = s.RouteOutput(ip("10.0.1.2"))
	require.True(t, ok)
	assert.Equal(t, ip("10.0.1.2"), src, "local destination goes via lo")

	// Errors as RTNETLINK reports them.
	err := s.AddRoute(&netstack.Route{Dst: pfx("10.96.0.0/12"), Gw: ip("10.0.1.1"), Dev: eth0})
	assert.ErrorContains(t, err, "File exists")
	err = s.AddRoute(&netstack.Route{Dst: pfx("10.244.2.0/24"), Gw: ip("10.244.2.0"), Dev: fl})
	assert.ErrorContains(t, err, "Network is unreachable", "a gateway not on-link needs onlink")
	err = s.AddRoute(&netstack.Route{Dst: pfx("10.5.0.0/16")})
	assert.ErrorContains(t, err, "needs a device")
	assert.Error(t, s.AddAddr("eth0", pfx("10.244.0.0/24")), "address already on flannel.1")

	// Delete by prefix, metric and device.
	assert.True(t, s.Routes.Delete(&netstack.Route{Dst: pfx("0.0.0.0/0"), Dev: eth0}))
	assert.Equal(t, "default via 10.0.1.254 dev eth0 metric 100", s.Routes.Lookup(ip("8.8.8.8")).String())
	assert.False(t, s.Routes.Delete(&netstack.Route{Dst: pfx("10.200.0.0/16"), Dev: eth0}))
	assert.Equal(t, 4, s.Routes.Len())
}

func TestRouteLinkdown(t *testing.T) {
	s := routeNode(t)
	r := s.Routes.Lookup(ip("10.0.1.9"))
	s.Iface("eth0").Dev.SetUp(false) // carrier gone, routes not flushed
	assert.Equal(t, "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2 linkdown", r.String())
}
