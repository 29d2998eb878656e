package vpc_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
)

// host is an instance with a namespace and eth0, recording socket events.
type host struct {
	st     *netstack.Stack
	eth0   *link.Device
	events []netstack.Event
}

func newHost(t *testing.T, env *link.Env, name string, mac packet.MAC, addr string) *host {
	t.Helper()
	h := &host{st: netstack.New(env, name, 1)}
	h.eth0 = link.NewDevice(env, name, "eth0", "device", link.Ether, 1500, mac, nil)
	h.st.AddIface(h.eth0)
	require.NoError(t, h.st.AddAddr("eth0", pfx(addr)))
	h.st.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { h.events = append(h.events, ev) }
	return h
}

func (h *host) kinds() []netstack.EventKind {
	var out []netstack.EventKind
	for _, e := range h.events {
		out = append(out, e.Kind)
	}
	return out
}

func neighLines(st *netstack.Stack, env *link.Env) []string {
	var out []string
	for _, n := range st.Neighbours() {
		out = append(out, n.Format(env.Now()))
	}
	return out
}

func TestL2HostsReachEachOtherByARP(t *testing.T) {
	env, s := linktest.NewEnv()
	capt := linktest.NewCapture(env, s)
	l2 := vpc.NewL2(env, "lab", 1500, latency)
	h1 := newHost(t, env, "h1", packet.MAC{0x00, 0x16, 0x3e, 0, 0, 1}, "192.168.0.10/24")
	h2 := newHost(t, env, "h2", packet.MAC{0x00, 0x16, 0x3e, 0, 0, 2}, "192.168.0.11/24")
	h3 := newHost(t, env, "h3", packet.MAC{0x00, 0x16, 0x3e, 0, 0, 3}, "192.168.0.12/24")
	l2.Attach("h1", h1.eth0)
	l2.Attach("h2", h2.eth0)
	l2.Attach("h3", h3.eth0)

	require.Len(t, l2.Switch.Ports(), 3)
	assert.Equal(t, "h1", l2.Switch.Ports()[0].Name, "ports are named after the instance")
	assert.Equal(t, "lab", l2.Switch.Ports()[0].NS)

	require.True(t, h1.st.Ping(ip("192.168.0.11"), 1, 1, 56, netstack.DFWant, 1))
	s.Run()

	assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, h2.kinds(), "h2's kernel answered the ping")
	require.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, h1.kinds(), "h1 got the reply")
	assert.Equal(t, ip("192.168.0.11"), h1.events[0].Src.Addr())
	assert.Empty(t, env.Trace.DropList())

	// Both learned each other's real MAC: nothing answers on their behalf.
	assert.Equal(t, []string{"192.168.0.11 dev eth0 lladdr 00:16:3e:00:00:02 REACHABLE"}, neighLines(h1.st, env))
	// h2 learned h1 from the ARP request itself: Linux creates that entry
	// STALE (neigh_event_ns), and a STALE entry is used without probing.
	assert.Equal(t, []string{"192.168.0.10 dev eth0 lladdr 00:16:3e:00:00:01 STALE"}, neighLines(h2.st, env))
	assert.Empty(t, neighLines(h3.st, env), "h3 saw the broadcast request but it was not for it")
	assert.Empty(t, h3.events)

	// The ARP request was flooded to every other port; the reply and the
	// ICMP exchange were switched by the learned FDB.
	var inH3 int
	for _, f := range capt.On(h3.eth0, link.In) {
		inH3++
		assert.Equal(t, packet.Broadcast, packet.Ethernet(f.Data).Dst(), "h3 only sees the broadcast")
		assert.Equal(t, uint16(packet.EtherTypeARP), packet.Ethernet(f.Data).Type())
	}
	assert.Equal(t, 1, inH3)
	var h2in []uint16
	for _, f := range capt.On(h2.eth0, link.In) {
		h2in = append(h2in, packet.Ethernet(f.Data).Type())
		if packet.Ethernet(f.Data).Type() == packet.EtherTypeIPv4 {
			assert.Equal(t, h2.eth0.MAC, packet.Ethernet(f.Data).Dst(), "unicast to h2's own MAC")
			assert.Equal(t, h1.eth0.MAC, packet.Ethernet(f.Data).Src())
		}
	}
	assert.Equal(t, []uint16{packet.EtherTypeARP, packet.EtherTypeIPv4}, h2in)

	fdb := l2.Switch.FDB()
	for _, h := range []*host{h1, h2} {
		e, ok := fdb[h.eth0.MAC]
		require.True(t, ok, "the switch learned %s", h.eth0.MAC)
		assert.False(t, e.Local)
		assert.Equal(t, h.st.Name, e.Port.Name)
	}
	_, learned := fdb[h3.eth0.MAC]
	assert.False(t, learned, "h3 never sent")
	assert.Zero(t, env.Pool.Out)
}

// TestVPCHostsPingAcrossVSwitches runs two real namespaces over the
// vRouter: ARP for the gateway is answered by the vSwitch, the echo goes
// through the route table to the other vSwitch, and back.
func TestVPCHostsPingAcrossVSwitches(t *testing.T) {
	env, s, v := newVPC(t, 0)
	a, err := v.AddVSwitch("vsw-a", "z1", pfx("192.168.0.0/24"))
	require.NoError(t, err)
	b, err := v.AddVSwitch("vsw-b", "z2", pfx("192.168.1.0/24"))
	require.NoError(t, err)
	h1 := newHost(t, env, "h1", packet.MAC{0x00, 0x16, 0x3e, 0, 0, 1}, "192.168.0.10/24")
	h2 := newHost(t, env, "h2", packet.MAC{0x00, 0x16, 0x3e, 0, 0, 2}, "192.168.1.11/24")
	for _, x := range []struct {
		h  *host
		sw *vpc.VSwitch
		a  string
	}{{h1, a, "192.168.0.10"}, {h2, b, "192.168.1.11"}} {
		_, err := v.Attach(x.h.st.Name, x.sw, x.h.eth0, ip(x.a))
		require.NoError(t, err)
		require.NoError(t, x.h.st.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: x.sw.Gateway, Dev: x.h.st.Iface("eth0")}))
	}

	require.True(t, h1.st.Ping(ip("192.168.1.11"), 7, 1, 56, netstack.DFWant, 1))
	s.Run()
	assert.Empty(t, env.Trace.DropList())
	require.Equal(t, []netstack.EventKind{netstack.EvEchoReply}, h1.kinds())
	assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest}, h2.kinds())
	assert.Equal(t, []string{"192.168.0.253 dev eth0 lladdr ee:ff:ff:ff:ff:ff REACHABLE"}, neighLines(h1.st, env))
	assert.Equal(t, []string{"192.168.1.253 dev eth0 lladdr ee:ff:ff:ff:ff:ff REACHABLE"}, neighLines(h2.st, env))
	assert.Zero(t, env.Pool.Out)
}
