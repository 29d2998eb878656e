package netstack_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// peerNode is a node's namespace with eth0 10.0.0.<self+1>/16, a default
// route and a flannel.1-like device, and n peers 172.20.<i>.0/24 via
// 172.20.<i>.0 dev flannel.1 onlink with a permanent neighbour each:
// programmed one by one (eager) or shared.
func peerNode(tb testing.TB, n, self int, eager bool) (*netstack.Stack, *netstack.PeerSet) {
	tb.Helper()
	env, _ := linktest.NewEnv()
	s := netstack.New(env, "node", 1)
	s.AddIface(link.NewDevice(env, "node", "eth0", "device", link.Ether, 1500, mac(1), nil))
	s.AddIface(link.NewDevice(env, "node", "flannel.1", "vxlan", link.Ether, 1450, mac(2), nil))
	require.NoError(tb, s.AddAddr("eth0", netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(self + 1)}), 16)))
	require.NoError(tb, s.AddRoute(&netstack.Route{Dst: defaultRoute(), Gw: ip("10.0.255.253"), Dev: s.Iface("eth0")}))
	peers := make([]netstack.Peer, n)
	for i := range peers {
		d := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(20 + i>>8), byte(i), 0}), 24)
		peers[i] = netstack.Peer{Dst: d, Gw: d.Addr(), MAC: packet.MAC{0x0a, 0, 0, 0, byte(i >> 8), byte(i)}}
	}
	set, err := netstack.NewPeerSet(peers)
	require.NoError(tb, err)
	fl := s.Iface("flannel.1")
	if eager {
		for i, p := range peers {
			if i != self {
				require.NoError(tb, s.AddNeigh("flannel.1", p.Gw, p.MAC, true))
				require.NoError(tb, s.AddRoute(&netstack.Route{Dst: p.Dst, Gw: p.Gw, Dev: fl, Onlink: true}))
			}
		}
		return s, set
	}
	require.NoError(tb, s.AttachPeerNeighbours(set, self, "flannel.1"))
	require.NoError(tb, s.Routes.AttachPeers(set, self, netstack.Route{Dev: fl, Onlink: true}))
	return s, set
}

// lastOf is the last address of an IPv4 prefix.
func lastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | (1<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func routeLines(s *netstack.Stack) []string {
	var out []string
	for _, r := range s.Routes.All() {
		out = append(out, r.String())
	}
	return out
}

func peerNeighLines(s *netstack.Stack) []string {
	var out []string
	for _, n := range s.Neighbours() {
		out = append(out, n.Format(0))
	}
	return out
}

// TestPeerLayerMatchesEager compares a shared peer layer with the same
// entries added one by one: listings, lookups and run-time changes.
func TestPeerLayerMatchesEager(t *testing.T) {
	tests := []struct {
		name string
		op   func(t *testing.T, s *netstack.Stack)
	}{
		{"as attached", func(t *testing.T, s *netstack.Stack) {}},
		{"delete a peer route", func(t *testing.T, s *netstack.Stack) {
			assert.True(t, s.Routes.Delete(s.Routes.Lookup(ip("172.20.3.9"))))
		}},
		{"delete a listed copy", func(t *testing.T, s *netstack.Stack) {
			for _, r := range s.Routes.All() {
				if r.Dst == pfx("172.20.4.0/24") {
					assert.True(t, s.Routes.Delete(r))
				}
			}
		}},
		{"add the same prefix, same metric", func(t *testing.T, s *netstack.Stack) {
			assert.Error(t, s.AddRoute(&netstack.Route{Dst: pfx("172.20.2.0/24"), Dev: s.Iface("eth0")}))
		}},
		{"add the same prefix, other metric", func(t *testing.T, s *netstack.Stack) {
			assert.NoError(t, s.AddRoute(&netstack.Route{Dst: pfx("172.20.2.0/24"), Dev: s.Iface("eth0"), Metric: 10}))
		}},
		{"add and delete a more specific route", func(t *testing.T, s *netstack.Stack) {
			r := &netstack.Route{Dst: pfx("172.20.5.128/25"), Dev: s.Iface("eth0")}
			assert.NoError(t, s.AddRoute(r))
			assert.Equal(t, "172.20.5.128/25 dev eth0", s.Routes.Lookup(ip("172.20.5.200")).String())
			assert.Equal(t, "172.20.5.0/24 via 172.20.5.0 dev flannel.1 onlink", s.Routes.Lookup(ip("172.20.5.100")).String())
			assert.True(t, s.Routes.Delete(r))
		}},
		{"add a covering route", func(t *testing.T, s *netstack.Stack) {
			assert.NoError(t, s.AddRoute(&netstack.Route{Dst: pfx("172.16.0.0/12"), Dev: s.Iface("eth0")}))
		}},
		{"replace and delete neighbours", func(t *testing.T, s *netstack.Stack) {
			assert.NoError(t, s.AddNeigh("flannel.1", ip("172.20.1.0"), mac(99), false))
			s.DelNeigh("flannel.1", ip("172.20.2.0"))
		}},
		{"link down and up", func(t *testing.T, s *netstack.Stack) {
			assert.NoError(t, s.SetLinkUp("flannel.1", false))
			assert.Len(t, s.Flushed(), 7, "every peer route but its own lease")
			assert.NoError(t, s.SetLinkUp("flannel.1", true))
		}},
	}
	var probes []netip.Addr
	for i := range 9 {
		probes = append(probes, netip.AddrFrom4([4]byte{172, 20, byte(i), 0}), netip.AddrFrom4([4]byte{172, 20, byte(i), 200}))
	}
	probes = append(probes, ip("10.0.3.3"), ip("8.8.8.8"), ip("172.19.255.255"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eager, _ := peerNode(t, 8, 1, true)
			shared, _ := peerNode(t, 8, 1, false)
			tt.op(t, eager)
			tt.op(t, shared)
			assert.Equal(t, routeLines(eager), routeLines(shared))
			assert.Equal(t, peerNeighLines(eager), peerNeighLines(shared))
			assert.Equal(t, eager.Routes.Len(), shared.Routes.Len())
			for _, a := range probes {
				re, rs := eager.Routes.Lookup(a), shared.Routes.Lookup(a)
				if assert.Equal(t, re == nil, rs == nil, a) && re != nil {
					assert.Equal(t, re.String(), rs.String(), a)
				}
			}
		})
	}
}

// TestPeerRouteIdentity: a shared route is one *Route per node from its
// first lookup on, as a table of its own would return.
func TestPeerRouteIdentity(t *testing.T) {
	s, _ := peerNode(t, 4, 0, false)
	r := s.Routes.Lookup(ip("172.20.2.7"))
	require.NotNil(t, r)
	assert.Same(t, r, s.Routes.Lookup(ip("172.20.2.200")))
	assert.Equal(t, "default via 10.0.255.253 dev eth0", s.Routes.Lookup(ip("172.20.0.7")).String(), "its own lease is not a peer route")
	assert.Equal(t, 3, s.Routes.PeerRoutes())
}

// TestNewPeerSet refuses what a shared layer cannot represent.
func TestNewPeerSet(t *testing.T) {
	tests := []struct {
		name  string
		peers []netstack.Peer
		err   string
	}{
		{"disjoint", []netstack.Peer{{Dst: pfx("10.244.0.0/24")}, {Dst: pfx("10.244.1.0/24")}}, ""},
		{"mixed lengths", []netstack.Peer{{Dst: pfx("10.244.0.0/24")}, {Dst: pfx("10.244.2.0/23")}}, ""},
		{"overlap", []netstack.Peer{{Dst: pfx("10.244.0.0/16")}, {Dst: pfx("10.244.1.0/24")}}, "overlaps"},
		{"not masked", []netstack.Peer{{Dst: pfx("10.244.0.1/24")}}, "not a masked"},
		{"neighbour outside", []netstack.Peer{{Dst: pfx("10.244.0.0/24"), Gw: ip("10.0.0.1"), MAC: mac(1)}}, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := netstack.NewPeerSet(tt.peers)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			for i, p := range tt.peers {
				assert.Equal(t, i, set.Find(p.Dst.Addr()))
				assert.Equal(t, i, set.Find(lastOf(p.Dst)))
			}
			assert.Equal(t, -1, set.Find(ip("10.245.0.1")))
			assert.Equal(t, -1, set.Find(ip("10.243.255.255")))
		})
	}
}

// BenchmarkPeerLookup compares, in one run, the lookups a cross-node
// packet makes on its node (route to the remote pod, neighbour of its
// gateway, route to the remote node) with the per-peer entries one by one
// and shared.
func BenchmarkPeerLookup(b *testing.B) {
	for _, n := range []int{2, 1000} {
		for _, eager := range []bool{true, false} {
			name := "shared"
			if eager {
				name = "eager"
			}
			b.Run(fmt.Sprintf("peers=%d/%s", n, name), func(b *testing.B) {
				s, _ := peerNode(b, n, 0, eager)
				dst := netip.AddrFrom4([4]byte{172, byte(20 + (n-1)>>8), byte(n - 1), 7})
				peer := ip("10.0.0.2")
				var sink int
				b.ReportAllocs()
				for b.Loop() {
					r := s.Routes.Lookup(dst)
					sink += r.Dst.Bits()
					sink += s.Routes.Lookup(peer).Dst.Bits()
				}
				_ = sink
			})
		}
	}
}
