package link_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// ipOut is a namespace stand-in: it keeps what the tunnel sends and can
// send it back into the tunnel (a route through the device itself).
type ipOut struct {
	sent []*packet.Buffer
	loop *link.IPIP
	dev  *link.Device
}

func (o *ipOut) LocalOut(pkt *packet.Buffer) {
	if o.loop != nil {
		o.loop.Xmit(o.dev, pkt)
		return
	}
	o.sent = append(o.sent, pkt)
}

func (o *ipOut) IPIdent(_, _ netip.Addr, proto uint8) uint16 { return 0x1200 + uint16(proto) }

// innerPacket is an ICMP echo from 192.168.0.1 to 192.168.0.65.
func innerPacket(t *testing.T, env *link.Env, ttl uint8, df bool, tos uint8) *packet.Buffer {
	t.Helper()
	pkt := env.Pool.Get(84)
	b := pkt.Append(84)
	var flags uint16
	if df {
		flags = packet.FlagDF
	}
	packet.IPv4(b).SetHeader(packet.IPv4Fields{TOS: tos, TotalLen: 84, ID: 7, Flags: flags, TTL: ttl, Protocol: packet.ProtoICMP,
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.65")})
	b[20] = 8 // echo request
	return pkt
}

func TestIPIPEncapsulation(t *testing.T) {
	node := netip.MustParseAddr("10.0.0.10")
	peer := netip.MustParseAddr("10.0.1.11")
	tests := []struct {
		name     string
		nextHop  netip.Addr // the route's gateway (invalid: connected route)
		pmtudisc bool
		ttl      uint8 // device TTL (0: inherit)
		innerTTL uint8
		innerDF  bool
		innerTOS uint8
		wantDst  netip.Addr
		wantTTL  uint8
		wantDF   bool
		wantTOS  uint8
	}{
		{name: "tunl0 defaults: ttl inherit, DF copied", nextHop: peer, innerTTL: 63, innerDF: true, wantDst: peer, wantTTL: 63, wantDF: true},
		{name: "inner without DF, outer without DF (nopmtudisc)", nextHop: peer, innerTTL: 64, wantDst: peer, wantTTL: 64},
		{name: "pmtudisc sets DF always", nextHop: peer, pmtudisc: true, innerTTL: 64, wantDst: peer, wantTTL: 64, wantDF: true},
		{name: "fixed ttl", nextHop: peer, ttl: 200, innerTTL: 5, wantDst: peer, wantTTL: 200},
		{name: "connected route: outer destination is the inner one", innerTTL: 64, wantDst: netip.MustParseAddr("192.168.0.65"), wantTTL: 64},
		{name: "ECN ECT(1) copied, CE sent as ECT(0), DSCP not", nextHop: peer, innerTTL: 64, innerTOS: 0xb8 | 0x03, wantDst: peer, wantTTL: 64, wantTOS: 0x02},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			out := &ipOut{}
			tun := link.NewIPIP(env, "node-1", "tunl0", 1480, out, func(netip.Addr) (netip.Addr, bool) { return node, true })
			tun.PMTUDisc, tun.TTL = tc.pmtudisc, tc.ttl
			pkt := innerPacket(t, env, tc.innerTTL, tc.innerDF, tc.innerTOS)
			inner := append([]byte(nil), pkt.Bytes()...)
			pkt.NextHop = tc.nextHop
			tun.Dev.Transmit(pkt)
			require.Len(t, out.sent, 1)
			b := out.sent[0].Bytes()
			require.Len(t, b, 104)
			assert.Equal(t, inner, b[20:], "inner packet carried unchanged")
			// Decode independently, with the checksum verified.
			assert.Zero(t, inetChecksum(b[:20], 0), "outer header checksum")
			g := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
			layersIP := g.Layers()
			require.GreaterOrEqual(t, len(layersIP), 2)
			outer := layersIP[0].(*layers.IPv4)
			assert.Equal(t, layers.IPProtocolIPv4, outer.Protocol)
			assert.Equal(t, node.String(), outer.SrcIP.String())
			assert.Equal(t, tc.wantDst.String(), outer.DstIP.String())
			assert.Equal(t, tc.wantTTL, outer.TTL)
			assert.Equal(t, tc.wantDF, outer.Flags&layers.IPv4DontFragment != 0)
			assert.Equal(t, tc.wantTOS, outer.TOS)
			assert.Equal(t, uint16(0x1204), outer.Id, "ID from the hashed generator for protocol 4")
			assert.Equal(t, uint16(104), outer.Length)
			in := layersIP[1].(*layers.IPv4)
			assert.Equal(t, "192.168.0.65", in.DstIP.String())
		})
	}
}

func TestIPIPDrops(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(env *link.Env, out *ipOut, tun *link.IPIP, noSrc *bool)
		reason trace.Reason
	}{
		{name: "circular route", reason: trace.ReasonNoRoute, setup: func(_ *link.Env, out *ipOut, tun *link.IPIP, _ *bool) {
			out.loop, out.dev = tun, tun.Dev
		}},
		{name: "no route to the outer destination", reason: trace.ReasonNoRoute, setup: func(_ *link.Env, _ *ipOut, _ *link.IPIP, noSrc *bool) {
			*noSrc = true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			env.Trace = &trace.Recorder{Hops: true}
			out := &ipOut{}
			noSrc := false
			tun := link.NewIPIP(env, "node-1", "tunl0", 1480, out, func(netip.Addr) (netip.Addr, bool) {
				return netip.MustParseAddr("10.0.0.10"), !noSrc
			})
			tc.setup(env, out, tun, &noSrc)
			pkt := innerPacket(t, env, 64, true, 0)
			pkt.NextHop = netip.MustParseAddr("10.0.1.11")
			tun.Dev.Transmit(pkt)
			assert.Empty(t, out.sent)
			drops := env.Trace.DropList()
			require.Len(t, drops, 1)
			assert.Equal(t, tc.reason, drops[0].Reason)
		})
	}
}

// rx collects what a device delivers.
type rx struct{ got [][]byte }

func (r *rx) Receive(_ *link.Device, pkt *packet.Buffer) {
	r.got = append(r.got, append([]byte(nil), pkt.Bytes()...))
}

func TestIPIPDecapsulation(t *testing.T) {
	env, _ := linktest.NewEnv()
	env.Trace = &trace.Recorder{Hops: true}
	out := &ipOut{}
	tun := link.NewIPIP(env, "node-2", "tunl0", 1480, out, func(netip.Addr) (netip.Addr, bool) { return netip.MustParseAddr("10.0.0.10"), true })
	r := &rx{}
	tun.Dev.SetReceiver(r)
	pkt := innerPacket(t, env, 63, true, 0)
	inner := append([]byte(nil), pkt.Bytes()...)
	pkt.NextHop = netip.MustParseAddr("10.0.1.11")
	tun.Dev.Transmit(pkt)
	require.Len(t, out.sent, 1)
	tun.ReceiveTunnel(out.sent[0])
	require.Len(t, r.got, 1)
	assert.Equal(t, inner, r.got[0])

	// A protocol 4 packet whose payload is not IPv4 is malformed.
	bad := env.Pool.Get(40)
	b := bad.Append(40)
	packet.IPv4(b).SetHeader(packet.IPv4Fields{TotalLen: 40, TTL: 64, Protocol: packet.ProtoIPIP,
		Src: netip.MustParseAddr("10.0.0.10"), Dst: netip.MustParseAddr("10.0.1.11")})
	tun.ReceiveTunnel(bad)
	require.Len(t, r.got, 1)
	drops := env.Trace.DropList()
	require.NotEmpty(t, drops)
	assert.Equal(t, trace.ReasonMalformed, drops[len(drops)-1].Reason)
}
