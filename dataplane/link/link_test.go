package link_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// ethFrame returns an Ethernet II frame of n bytes (header included) with
// an IPv4 EtherType and a recognisable payload.
func ethFrame(dst, src packet.MAC, n int) []byte {
	b := make([]byte, n)
	packet.Ethernet(b).Set(dst, src, packet.EtherTypeIPv4)
	for i := packet.EthHeaderLen; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

type ctMarker struct{ id int }

func TestVethDeliversAndScrubs(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		mark  uint32
		ct    any
	}{
		{name: "no delay, no metadata"},
		{name: "mark and conntrack are scrubbed", mark: 0x4000, ct: &ctMarker{1}},
		{name: "wire delay", delay: 50 * time.Microsecond, mark: 7, ct: &ctMarker{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := linktest.NewEnv()
			a, b := link.NewVethPair(env, "node", "veth1", linktest.MAC(1), "pod", "eth0", linktest.MAC(2), 1500)
			link.Connect(a, b, tt.delay)
			require.Same(t, b, a.Peer)
			require.Same(t, a, b.Peer)
			sink := &linktest.Sink{Clock: s.Now}
			b.SetReceiver(sink)
			noBack := &linktest.Sink{}
			a.SetReceiver(noBack)

			frame := ethFrame(b.MAC, a.MAC, 98)
			pkt := env.Pool.From(frame)
			pkt.ID, pkt.Flow = 42, 3
			pkt.Mark, pkt.CT, pkt.CTReply, pkt.CTRelated = tt.mark, tt.ct, true, true
			a.Transmit(pkt)
			s.Run()

			require.Len(t, sink.Frames, 1, "the peer receives the frame")
			got := sink.Frames[0]
			assert.Equal(t, frame, got.Data, "bytes are unchanged")
			assert.Equal(t, tt.delay, got.Time, "the frame spends Delay on the wire")
			assert.Equal(t, "pod/eth0", got.Device)
			assert.Equal(t, uint64(42), got.ID, "the trace identity survives")
			assert.Equal(t, int32(3), got.Flow)
			assert.Zero(t, got.Mark, "skb_scrub_packet clears the mark across namespaces")
			assert.False(t, got.HasCT, "and the conntrack reference")
			assert.Empty(t, noBack.Frames, "nothing comes back to the sender")
			assert.Equal(t, link.Stats{TxPackets: 1, TxBytes: 98}, a.Stats)
			assert.Equal(t, link.Stats{RxPackets: 1, RxBytes: 98}, b.Stats)
			assert.Empty(t, env.Trace.DropList())
			assert.Zero(t, env.Pool.Out)
		})
	}
}

func TestInputDrops(t *testing.T) {
	tests := []struct {
		name     string
		typ      link.LinkType
		mtu      int
		size     int
		down     bool
		detached bool
		want     trace.Reason // ReasonNone: delivered
	}{
		{name: "ether frame of MTU+14 fits", typ: link.Ether, mtu: 1500, size: 1514},
		{name: "room for a VLAN tag (is_skb_forwardable)", typ: link.Ether, mtu: 1500, size: 1518},
		{name: "ether frame over MTU+14+4", typ: link.Ether, mtu: 1500, size: 1519, want: trace.ReasonRxOversize},
		{name: "full 1500-byte packet into a 1450 veth", typ: link.Ether, mtu: 1450, size: 1514, want: trace.ReasonRxOversize},
		{name: "raw IP device counts no link header", typ: link.RawIP, mtu: 1500, size: 1500},
		{name: "raw IP one byte over", typ: link.RawIP, mtu: 1500, size: 1501, want: trace.ReasonRxOversize},
		{name: "device down", typ: link.Ether, mtu: 1500, size: 60, down: true, want: trace.ReasonLinkDown},
		{name: "down beats oversize", typ: link.Ether, mtu: 1500, size: 2000, down: true, want: trace.ReasonLinkDown},
		{name: "not attached", typ: link.Ether, mtu: 1500, size: 60, detached: true, want: trace.ReasonLinkDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			d := link.NewDevice(env, "node", "eth0", "device", tt.typ, tt.mtu, linktest.MAC(1), nil)
			sink := &linktest.Sink{}
			if !tt.detached {
				d.SetReceiver(sink)
			}
			d.SetUp(!tt.down)
			d.Input(env.Pool.From(ethFrame(d.MAC, linktest.MAC(2), tt.size)))
			drops := env.Trace.DropList()
			if tt.want == trace.ReasonNone {
				assert.Len(t, sink.Frames, 1)
				assert.Empty(t, drops)
				assert.Equal(t, uint64(1), d.Stats.RxPackets)
			} else {
				assert.Empty(t, sink.Frames)
				require.Len(t, drops, 1)
				assert.Equal(t, tt.want, drops[0].Reason)
				assert.Equal(t, "node", drops[0].Node)
				assert.Equal(t, "eth0", drops[0].Device)
				if !tt.detached {
					assert.Equal(t, uint64(1), d.Stats.RxDropped)
					assert.Zero(t, d.Stats.RxPackets)
				}
			}
			assert.Zero(t, env.Pool.Out, "dropped buffers go back to the pool")
		})
	}
}

func TestTransmitOnDownDevice(t *testing.T) {
	env, s := linktest.NewEnv()
	c := linktest.NewCapture(env, s)
	a, b := link.NewVethPair(env, "node", "veth1", linktest.MAC(1), "pod", "eth0", linktest.MAC(2), 1500)
	sink := &linktest.Sink{}
	b.SetReceiver(sink)
	a.SetUp(false)
	assert.False(t, a.Up())
	a.Transmit(env.Pool.From(ethFrame(b.MAC, a.MAC, 60)))
	s.Run()
	assert.Empty(t, sink.Frames)
	assert.Empty(t, c.All(), "tcpdump sees nothing on a down device")
	assert.Equal(t, []trace.Reason{trace.ReasonLinkDown}, linktest.Drops(env))
	assert.Equal(t, uint64(1), a.Stats.TxDropped)

	// The peer being down drops at the peer, after the wire.
	a.SetUp(true)
	b.SetUp(false)
	a.Transmit(env.Pool.From(ethFrame(b.MAC, a.MAC, 60)))
	s.Run()
	assert.Empty(t, sink.Frames)
	drops := env.Trace.DropList()
	require.Len(t, drops, 2)
	assert.Equal(t, trace.ReasonLinkDown, drops[1].Reason)
	assert.Equal(t, "pod", drops[1].Node)
	assert.Equal(t, uint64(1), b.Stats.RxDropped)
	assert.Len(t, c.On(a, link.Out), 1)
	assert.Zero(t, env.Pool.Out)
}

func TestDeviceSummaryDecodes(t *testing.T) {
	env, _ := linktest.NewEnv()
	d := link.NewDevice(env, "node", "eth0", "device", link.Ether, 1500, linktest.MAC(1), nil)
	assert.Equal(t, "node/eth0", d.String())
	// A frame built with gopacket reads back as the same frame.
	m1, m2 := linktest.MAC(1), linktest.MAC(2)
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
	udp := &layers.UDP{SrcPort: 1234, DstPort: 53}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: m1[:], DstMAC: m2[:], EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload([]byte("hello"))))
	sum := d.Summary(env.Pool.From(buf.Bytes()))
	assert.Contains(t, sum, "10.0.0.1")
	assert.Contains(t, sum, "10.0.0.2")
}
