package netstack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// TestNoARPNeighbour: on an Ethernet device with IFF_NOARP (Terway's
// ipvl_X) the kernel resolves nothing: arp_constructor makes the entry
// NUD_NOARP with the device's own address, and the frame leaves at once.
func TestNoARPNeighbour(t *testing.T) {
	tests := []struct {
		name     string
		noARP    bool
		wantDst  packet.MAC
		wantARP  bool
		wantNeig string
	}{
		{"NOARP: the device's own MAC, no ARP", true, mac(7), false, "10.9.0.5 dev ipvl_3 lladdr 02:00:00:00:00:07 NOARP"},
		{"ARP device: a who-has first", false, packet.Broadcast, true, "10.9.0.5 dev ipvl_3 INCOMPLETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := linktest.NewEnv()
			c := linktest.NewCapture(env, s)
			st := netstack.New(env, "node", 1)
			dev := link.NewDevice(env, "node", "ipvl_3", "ipvlan", link.Ether, 1500, mac(7), nil)
			sink := &linktest.Sink{}
			wire := link.NewDevice(env, "x", "x", "veth", link.Ether, 1500, mac(8), nil)
			link.Connect(dev, wire, 0)
			wire.SetReceiver(sink)
			st.AddIface(dev).NoARP = tt.noARP
			require.NoError(t, st.AddAddr("ipvl_3", pfx("10.0.0.5/32")))
			require.NoError(t, st.AddRoute(&netstack.Route{Dst: pfx("10.9.0.5/32"), Dev: st.Iface("ipvl_3"), Scope: "link"}))
			require.True(t, st.Ping(ip("10.9.0.5"), 1, 1, 56, netstack.DFWant, 1))
			s.RunFor(0)
			out := c.Bytes(dev, link.Out)
			require.NotEmpty(t, out)
			eth := packet.Ethernet(out[0])
			assert.Equal(t, tt.wantDst, eth.Dst())
			assert.Equal(t, mac(7), eth.Src())
			assert.Equal(t, tt.wantARP, eth.Type() == packet.EtherTypeARP)
			var neigh []string
			for _, n := range st.Neighbours() {
				neigh = append(neigh, n.Format(s.Now()))
			}
			assert.Equal(t, []string{tt.wantNeig}, neigh)
		})
	}
}
