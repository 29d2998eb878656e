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
	"netsim/dataplane/trace"
)

// nextHops records the next hop of each packet a raw-IP device sends.
type nextHops struct{ got []netip.Addr }

func (n *nextHops) Xmit(_ *link.Device, pkt *packet.Buffer) {
	n.got = append(n.got, pkt.NextHop)
	pkt.Free()
}

// TestRawIPNextHop: a packet leaving by a raw-IP device carries the
// route's gateway (rt_nexthop), or its own destination on a connected
// route, for the tunnel driver.
func TestRawIPNextHop(t *testing.T) {
	tests := []struct {
		name  string
		route *netstack.Route
		dst   string
		want  string
	}{
		{name: "onlink gateway", route: &netstack.Route{Dst: pfx("192.168.0.64/26"), Gw: ip("10.0.1.11"), Onlink: true}, dst: "192.168.0.65", want: "10.0.1.11"},
		{name: "connected", route: &netstack.Route{Dst: pfx("192.168.0.64/26")}, dst: "192.168.0.70", want: "192.168.0.70"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			s := netstack.New(env, "node-1", 1)
			rec := &nextHops{}
			tun := s.AddIface(link.NewDevice(env, "node-1", "tunl0", "ipip", link.RawIP, 1480, packet.MAC{}, rec))
			require.NoError(t, s.AddAddr("tunl0", pfx("192.168.0.0/32")))
			tc.route.Dev = tun
			require.NoError(t, s.AddRoute(tc.route))
			pkt, _ := s.NewIPPacket(ip("192.168.0.0"), ip(tc.dst), packet.ProtoUDP, 8, false, 64)
			s.LocalOut(pkt)
			require.Len(t, rec.got, 1)
			assert.Equal(t, tc.want, rec.got[0].String())
		})
	}
}

type protoRx struct{ n int }

func (p *protoRx) ReceiveTunnel(pkt *packet.Buffer) { p.n++; pkt.Free() }

// TestBindIPProto: local packets of a bound IP protocol go to its handler
// after INPUT; unbound, the kernel answers protocol unreachable.
func TestBindIPProto(t *testing.T) {
	for _, bound := range []bool{true, false} {
		env, sched := linktest.NewEnv()
		env.Trace = &trace.Recorder{}
		s := netstack.New(env, "node-2", 1)
		h := &protoRx{}
		if bound {
			s.BindIPProto(packet.ProtoIPIP, h)
		}
		pkt, _ := s.NewIPPacket(ip("127.0.0.1"), ip("127.0.0.1"), packet.ProtoIPIP, 20, false, 64)
		s.LocalOut(pkt)
		sched.Run()
		if bound {
			assert.Equal(t, 1, h.n)
			assert.Empty(t, env.Trace.DropList())
		} else {
			assert.Zero(t, h.n)
			require.NotEmpty(t, env.Trace.DropList())
			assert.Equal(t, trace.ReasonProtoUnreachable, env.Trace.DropList()[0].Reason)
		}
	}
}
