package netfilter

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

func TestForStack(t *testing.T) {
	env := link.NewEnv(&fakeSched{})
	s := netstack.New(env, "node-1", 1)
	eth0 := link.NewDevice(env, "node-1", "eth0", "device", link.Ether, 1500, packet.MAC{2, 0, 0, 0, 0, 1}, nil)
	tun := link.NewDevice(env, "node-1", "tun0", "tun", link.RawIP, 1500, packet.MAC{}, nil)
	s.AddIface(eth0)
	s.AddIface(tun)
	require.NoError(t, s.AddAddr("eth0", netip.MustParsePrefix("192.168.0.10/24")))
	nf := ForStack(s, 7)
	assert.Same(t, nf, s.Filter)
	assert.Equal(t, "node-1", nf.NS)

	h := stackHost{s}
	assert.True(t, h.IsLocal(mustAddr(nodeIP)))
	assert.False(t, h.IsLocal(mustAddr("192.168.0.11")))
	a, ok := h.MasqueradeSource(eth0, mustAddr("8.8.8.8"))
	assert.True(t, ok)
	assert.Equal(t, mustAddr(nodeIP), a)
	a, ok = h.MasqueradeSource(tun, mustAddr("8.8.8.8"))
	assert.True(t, ok)
	assert.Equal(t, mustAddr(nodeIP), a, "no address on tun0: inet_select_addr falls back to another device's")

	// The stack's host answers addrtype LOCAL.
	require.NoError(t, nf.Restore("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m addrtype --dst-type LOCAL -j DROP\nCOMMIT\n"))
	v := nf.Hook(netstack.LocalIn, env.Pool.From(udpPkt(t, "10.0.0.1", 1, nodeIP, 2, "")), eth0, nil)
	assert.Equal(t, netstack.Drop, v.Kind)
}

// TestMasqueradeSourceSelection: MASQUERADE's source is
// inet_select_addr(out, dst, RT_SCOPE_UNIVERSE) — never a host-scope
// 127.0.0.0/8 address, even when the packet leaves by lo.
func TestMasqueradeSourceSelection(t *testing.T) {
	tests := []struct {
		name    string
		addrs   map[string][]string // device → addresses, in order
		out     string
		dst     string
		want    string
		wantNot bool
	}{
		{name: "out device's first address", addrs: map[string][]string{"eth0": {"192.168.0.10/24", "10.0.0.1/8"}}, out: "eth0", dst: "8.8.8.8", want: "192.168.0.10"},
		{name: "the address whose subnet holds dst", addrs: map[string][]string{"eth0": {"192.168.0.10/24", "10.0.0.1/8"}}, out: "eth0", dst: "10.1.2.3", want: "10.0.0.1"},
		{name: "lo: 127.0.0.1 is host scope, eth0's is used", addrs: map[string][]string{"eth0": {"192.168.0.10/24"}}, out: "lo", dst: "172.20.1.2", want: "192.168.0.10"},
		{name: "a 127/8 address elsewhere is skipped too", addrs: map[string][]string{"eth0": {"127.0.0.2/8", "192.168.0.10/24"}}, out: "eth0", dst: "8.8.8.8", want: "192.168.0.10"},
		{name: "no global address anywhere: ate my IP address", addrs: map[string][]string{}, out: "eth0", dst: "8.8.8.8", wantNot: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := link.NewEnv(&fakeSched{})
			s := netstack.New(env, "node-1", 1)
			eth0 := link.NewDevice(env, "node-1", "eth0", "device", link.Ether, 1500, packet.MAC{2, 0, 0, 0, 0, 1}, nil)
			s.AddIface(eth0)
			for _, p := range tt.addrs["eth0"] {
				require.NoError(t, s.AddAddr("eth0", netip.MustParsePrefix(p)))
			}
			var out *link.Device
			for _, i := range s.Ifaces() {
				if i.Dev.Name == tt.out {
					out = i.Dev
				}
			}
			require.NotNil(t, out, tt.out)
			a, ok := stackHost{s}.MasqueradeSource(out, mustAddr(tt.dst))
			if tt.wantNot {
				assert.False(t, ok, "got %s", a)
				return
			}
			require.True(t, ok)
			assert.Equal(t, mustAddr(tt.want), a)
		})
	}
}
