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
	_, ok = h.MasqueradeSource(tun, mustAddr("8.8.8.8"))
	assert.False(t, ok, "no address on tun0")

	// The stack's host answers addrtype LOCAL.
	require.NoError(t, nf.Restore("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m addrtype --dst-type LOCAL -j DROP\nCOMMIT\n"))
	v := nf.Hook(netstack.LocalIn, env.Pool.From(udpPkt(t, "10.0.0.1", 1, nodeIP, 2, "")), eth0, nil)
	assert.Equal(t, netstack.Drop, v.Kind)
}
