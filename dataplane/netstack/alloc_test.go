package netstack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// warmForwarding returns a world with neighbours resolved, tracing and
// capture off, a UDP socket on B:9000 counting datagrams, and a frame as
// A would put it on the wire toward B:9000.
func warmForwarding(t testing.TB) (*world, []byte, *int) {
	w := newWorld(t)
	w.B.ListenUDP(9000, false)
	got := new(int)
	w.B.OnEvent = func(_ *netstack.Stack, ev netstack.Event) {
		if ev.Kind == netstack.EvUDPRecv {
			*got++
		}
	}
	// Resolve A→R and R→B, both ways.
	require.True(t, w.A.Ping(w.bIP, 1, 1, 8, netstack.DFWant, 1))
	w.run()
	require.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1)
	w.env.Capture = nil
	w.env.Trace = nil

	frame := make([]byte, 14+20+8+64)
	packet.Ethernet(frame).Set(w.rEth0.MAC, w.aEth.MAC, packet.EtherTypeIPv4)
	packet.IPv4(frame[14:]).SetHeader(packet.IPv4Fields{TotalLen: 20 + 8 + 64, ID: 99, Flags: packet.FlagDF, TTL: 64,
		Protocol: packet.ProtoUDP, Src: w.aIP, Dst: w.bIP})
	u := packet.UDP(frame[34:])
	u.SetPorts(40000, 9000)
	u.SetLength(8 + 64)
	packet.SetTransportChecksum(frame[34:], w.aIP, w.bIP, packet.ProtoUDP)
	return w, frame, got
}

// TestForwardingZeroAlloc: a warm forwarding path (ip_rcv → route → TTL
// → neighbour → veth → ip_rcv → udp_rcv) allocates nothing per packet.
func TestForwardingZeroAlloc(t *testing.T) {
	w, frame, got := warmForwarding(t)
	inject := func() {
		w.rEth0.Input(w.env.Pool.From(frame))
		w.s.Run()
	}
	for range 10 {
		inject()
	}
	before, tx := *got, w.rEth1.Stats.TxPackets
	allocs := testing.AllocsPerRun(1000, inject)
	assert.Zero(t, allocs, "allocations per forwarded packet")
	// AllocsPerRun runs the function once more to warm up.
	assert.Equal(t, before+1001, *got, "every frame reached B's socket")
	assert.Equal(t, tx+1001, w.rEth1.Stats.TxPackets, "R forwarded each one on eth1")
	assert.Zero(t, w.env.Pool.Out, "every buffer went back to the pool")
}

func BenchmarkForward(b *testing.B) {
	w, frame, got := warmForwarding(b)
	b.ReportAllocs()
	for b.Loop() {
		w.rEth0.Input(w.env.Pool.From(frame))
		w.s.Run()
	}
	if *got == 0 {
		b.Fatal("nothing arrived")
	}
}

// BenchmarkIPIdent: the hash ID generator the VXLAN outer header uses on
// the forwarding path.
func BenchmarkIPIdent(b *testing.B) {
	w := newWorld(b)
	src, dst := w.aIP, w.bIP
	b.ReportAllocs()
	for b.Loop() {
		w.A.IPIdent(src, dst, packet.ProtoUDP)
	}
}
