package netstack_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

func TestAddAddrAlias(t *testing.T) {
	env, _ := linktest.NewEnv()
	s := netstack.New(env, "node", 1)
	for i, name := range []string{"eth0", "eth1"} {
		s.AddIface(link.NewDevice(env, "node", name, "device", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, byte(i + 1)}, nil))
	}
	require.NoError(t, s.AddAddr("eth0", netip.MustParsePrefix("192.168.0.10/24")))
	routes := s.Routes.Len()
	tests := []struct {
		name, dev, addr, err string
	}{
		{"the node IP on a secondary ENI", "eth1", "192.168.0.10/32", ""},
		{"twice on one device", "eth1", "192.168.0.10/32", "File exists"},
		{"not a /32", "eth1", "192.168.0.11/24", "only an IPv4 /32"},
		{"no such device", "eth9", "192.168.0.10/32", `no device "eth9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.AddAddrAlias(tt.dev, netip.MustParsePrefix(tt.addr))
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
	eth1 := s.Iface("eth1")
	src := s.SourceFor(&netstack.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: eth1})
	assert.Equal(t, "192.168.0.10", src.String(), "the alias is eth1's source address")
	assert.True(t, s.IsLocal(netip.MustParseAddr("192.168.0.10")))
	assert.Equal(t, routes, s.Routes.Len(), "a /32 alias adds no connected route")
}
