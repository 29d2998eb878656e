package netstack_test

import (
	"testing"
	"time"

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

// TestARPLockTime: arp_process takes the first of several different ARP
// replies (two proxy agents answering, such as the VPC's vSwitch and an
// ipvlan slave): within locktime (1 s) of the entry's last update a reply
// with another address is ignored, unless it is gratuitous.
func TestARPLockTime(t *testing.T) {
	first, second := mac(0x21), mac(0x22)
	tests := []struct {
		name  string
		after time.Duration
		tip   string // target IP of the second reply (its sender is 10.0.1.11)
		want  packet.MAC
	}{
		{"a different reply right after: ignored", 10 * time.Microsecond, "10.0.1.10", first},
		{"just inside locktime: ignored", time.Second - time.Millisecond, "10.0.1.10", first},
		{"after locktime: taken", time.Second, "10.0.1.10", second},
		{"gratuitous ARP (target = sender) overrides at once", 10 * time.Microsecond, "10.0.1.11", second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := linktest.NewEnv()
			st := netstack.New(env, "a", 1)
			dev := link.NewDevice(env, "a", "eth0", "veth", link.Ether, 1500, mac(1), nil)
			wire := link.NewDevice(env, "x", "x", "veth", link.Ether, 1500, mac(2), nil)
			link.Connect(dev, wire, 0)
			wire.SetReceiver(&linktest.Sink{})
			st.AddIface(dev)
			require.NoError(t, st.AddAddr("eth0", pfx("10.0.1.10/24")))
			sip := ip("10.0.1.11")
			require.NoError(t, st.AddNeigh("eth0", sip, first, false))
			s.RunFor(tt.after)
			b := make([]byte, packet.EthHeaderLen+packet.ARPLen)
			packet.Ethernet(b).Set(mac(1), second, packet.EtherTypeARP)
			packet.ARP(b[packet.EthHeaderLen:]).Set(packet.ARPReply, second, sip, mac(1), ip(tt.tip))
			wire.Transmit(env.Pool.From(b))
			s.RunFor(0)
			var got packet.MAC
			for _, n := range st.Neighbours() {
				if n.IP == sip {
					got = n.MAC
				}
			}
			assert.Equal(t, tt.want, got)
			assert.Empty(t, env.Trace.DropList())
		})
	}
}
