package netstack_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// seg is one TCP segment as captured.
type seg struct {
	fromA    bool
	flags    string
	seq, ack uint32
	n        int
	mss      int
	win      uint16
}

func tcpSeg(t *testing.T, frame []byte, fromA bool) seg {
	t.Helper()
	p := decode(t, frame)
	ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tc := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	raw := frame[14 : 14+int(ip4.Length)]
	require.Zero(t, csum(raw[:20], 0), "IP header checksum")
	require.Zero(t, l4csum(raw), "TCP checksum")
	require.NotZero(t, ip4.Flags&layers.IPv4DontFragment, "TCP sets DF")
	s := seg{fromA: fromA, seq: tc.Seq, ack: tc.Ack, n: len(tc.Payload), win: tc.Window}
	for _, f := range []struct {
		on bool
		c  string
	}{{tc.SYN, "S"}, {tc.FIN, "F"}, {tc.PSH, "P"}, {tc.RST, "R"}, {tc.ACK, "."}} {
		if f.on {
			s.flags += f.c
		}
	}
	for _, o := range tc.Options {
		if o.OptionType == layers.TCPOptionKindMSS {
			s.mss = int(binary.BigEndian.Uint16(o.OptionData))
		}
	}
	return s
}

// tcpSegments returns, in wire order, A's segments as they left A and
// B's as they left B, checking each segment's sequence number against what
// its sender sent before and its ACK against what the sender had received
// in order when it sent it.
func tcpSegments(t *testing.T, w *world) []seg {
	t.Helper()
	var out []seg
	type side struct {
		next        uint32 // this side's next sequence number
		started     bool
		rcvNxt      uint32 // what this side acknowledges
		rcvStarted  bool
		description string
	}
	a := &side{description: "A"}
	b := &side{description: "B"}
	for _, f := range w.capt.All() {
		if packet.Ethernet(f.Data).Type() != packet.EtherTypeIPv4 || f.Data[14+9] != packet.ProtoTCP {
			continue
		}
		var me *side
		switch {
		case f.Dev == w.aEth && f.Dir == link.Out:
			me = a
		case f.Dev == w.bEth && f.Dir == link.Out:
			me = b
		case f.Dev == w.bEth && f.Dir == link.In, f.Dev == w.aEth && f.Dir == link.In:
			// Arrival: the receiver's rcvNxt advances.
			rx := b
			if f.Dev == w.aEth {
				rx = a
			}
			s := tcpSeg(t, f.Data, rx == b)
			consumed := uint32(s.n)
			if containsFlag(s.flags, 'S') || containsFlag(s.flags, 'F') {
				consumed++
			}
			if !rx.rcvStarted {
				rx.rcvNxt, rx.rcvStarted = s.seq, true
			}
			if s.seq == rx.rcvNxt {
				rx.rcvNxt += consumed
			}
			continue
		default:
			continue
		}
		s := tcpSeg(t, f.Data, me == a)
		if !me.started {
			require.Contains(t, s.flags, "S", "%s starts with a SYN", me.description)
			me.next, me.started = s.seq, true
		}
		assert.Equal(t, me.next, s.seq, "%s seq continues where it left off", me.description)
		if containsFlag(s.flags, '.') {
			assert.Equal(t, me.rcvNxt, s.ack, "%s acks everything received in order", me.description)
		} else {
			assert.Zero(t, s.ack, "no ACK flag, ack field 0")
		}
		me.next += uint32(s.n)
		if containsFlag(s.flags, 'S') || containsFlag(s.flags, 'F') {
			me.next++
		}
		out = append(out, s)
	}
	return out
}

func containsFlag(flags string, c byte) bool {
	for i := range len(flags) {
		if flags[i] == c {
			return true
		}
	}
	return false
}

func summary(segs []seg) []string {
	var out []string
	for _, s := range segs {
		who := "B>A"
		if s.fromA {
			who = "A>B"
		}
		out = append(out, fmt.Sprintf("%s %s %d", who, s.flags, s.n))
	}
	return out
}

func TestTCPHandshakeEchoClose(t *testing.T) {
	tests := []struct {
		name string
		size int
		want []string
	}{
		// As Linux 6.18 sent it between two namespaces: the handshake ACK
		// alone, quick ACKs of the first data, the echo server's later
		// ACKs riding on its answers (ping-pong mode).
		{name: "100 bytes", size: 100, want: []string{
			"A>B S 0", "B>A S. 0", "A>B . 0", "A>B P. 100", "B>A . 0", "B>A P. 100", "A>B . 0", "A>B F. 0", "B>A F. 0", "A>B . 0",
		}},
		{name: "3000 bytes in segments of MSS less the timestamp option", size: 3000, want: []string{
			"A>B S 0", "B>A S. 0", "A>B . 0",
			"A>B . 1448", "A>B . 1448", "A>B P. 104",
			"B>A . 0", "B>A P. 1448", "B>A P. 1448", "B>A P. 104",
			"A>B . 0", "A>B . 0", "A>B . 0",
			"A>B F. 0", "B>A F. 0", "A>B . 0",
		}},
		{name: "no data: connect and close", size: 0, want: []string{
			"A>B S 0", "B>A S. 0", "A>B . 0", "A>B F. 0", "B>A F. 0", "A>B . 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.B.ListenTCP(80, true)
			require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), tt.size, 5))
			w.run()
			assert.Empty(t, w.env.Trace.DropList())
			segs := tcpSegments(t, w)
			assert.Equal(t, tt.want, summary(segs))
			require.GreaterOrEqual(t, len(segs), 2)
			syn, synack := segs[0], segs[1]
			assert.Equal(t, 1460, syn.mss, "MSS = route MTU − 40")
			assert.Equal(t, 1460, synack.mss)
			assert.Equal(t, syn.seq+1, synack.ack)
			last := segs[len(segs)-1]
			assert.Equal(t, syn.seq+uint32(tt.size)+2, last.seq, "final ACK: ISN + SYN + data + FIN")
			assert.Equal(t, synack.seq+uint32(tt.size)+2, last.ack)

			wantA := []netstack.EventKind{netstack.EvTCPEstablished}
			wantB := []netstack.EventKind{netstack.EvTCPAccept}
			for i := 0; i < (tt.size+1447)/1448; i++ {
				wantA = append(wantA, netstack.EvTCPData)
				wantB = append(wantB, netstack.EvTCPData)
			}
			wantA = append(wantA, netstack.EvTCPClosed)
			assert.Equal(t, wantA, kinds(w.evA))
			assert.Equal(t, wantB, kinds(w.evB))
			var got int
			for _, e := range ofKind(w.evB, netstack.EvTCPData) {
				got += e.Len
				assert.Equal(t, int32(5), e.Flow)
			}
			assert.Equal(t, tt.size, got)
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}

func TestTCPMSSFromSmallerPath(t *testing.T) {
	w := newWorld(t)
	w.setMTU(1000)
	w.B.ListenTCP(80, true)
	require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), 2000, 1))
	w.run()
	segs := tcpSegments(t, w)
	require.GreaterOrEqual(t, len(segs), 2)
	assert.Equal(t, 1460, segs[0].mss, "A advertises its own route's MSS")
	assert.Equal(t, 960, segs[1].mss, "B advertises 1000 − 40")
	for _, s := range segs {
		assert.LessOrEqual(t, s.n, 960, "A sends at most the peer's MSS")
	}
	assert.Empty(t, w.env.Trace.DropList(), "no segment exceeds the 1000-byte link")
	assert.Len(t, ofKind(w.evA, netstack.EvTCPClosed), 1)
}

func TestTCPClosedPortRST(t *testing.T) {
	w := newWorld(t)
	require.True(t, w.A.DialTCP(ap("10.0.2.2:81"), 10, 7))
	w.run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonConnRefused, drops[0].Reason)
	assert.Equal(t, "B", drops[0].Node)

	var syn, rst seg
	for _, f := range w.ipv4Frames(w.aEth, link.Out, packet.ProtoTCP) {
		syn = tcpSeg(t, f, true)
	}
	in := w.ipv4Frames(w.aEth, link.In, packet.ProtoTCP)
	require.Len(t, in, 1)
	rst = tcpSeg(t, in[0], false)
	assert.Equal(t, "R.", rst.flags, "RST|ACK answering a SYN")
	assert.Zero(t, rst.seq, "no ACK on the SYN: seq 0")
	assert.Equal(t, syn.seq+1, rst.ack, "ack = SYN seq + 1")
	assert.Zero(t, rst.win)
	p := decode(t, in[0])
	tc := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	assert.Equal(t, layers.TCPPort(81), tc.SrcPort)
	assert.Equal(t, uint8(5), tc.DataOffset)

	ev := ofKind(w.evA, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, "Connection refused", ev[0].Err)
	assert.Equal(t, w.bIP, ev[0].From)
	assert.Equal(t, int32(7), ev[0].Flow)
	assert.Zero(t, w.env.Pool.Out)
}

func TestTCPStrayACKGetsRST(t *testing.T) {
	w := newWorld(t)
	// An ACK for no connection: RST with seq = the ACK's ack, no ACK flag.
	pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoTCP, 20, true, 0)
	tc := packet.TCP(pl)
	tc.SetPorts(40000, 80)
	binary.BigEndian.PutUint32(pl[4:], 1000)
	binary.BigEndian.PutUint32(pl[8:], 5555)
	pl[12], pl[13] = 5<<4, packet.TCPAck
	packet.SetTransportChecksum(pl, w.aIP, w.bIP, packet.ProtoTCP)
	w.A.LocalOut(pkt)
	w.run()
	in := w.ipv4Frames(w.aEth, link.In, packet.ProtoTCP)
	require.Len(t, in, 1)
	rst := tcpSeg(t, in[0], false)
	assert.Equal(t, "R", rst.flags)
	assert.Equal(t, uint32(5555), rst.seq)
	assert.Zero(t, rst.ack)
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 2)
	assert.Equal(t, trace.ReasonConnRefused, drops[0].Reason)
	assert.Equal(t, "B", drops[0].Node)
	assert.Contains(t, drops[0].Detail, "RST sent")
	// A has no connection either; a RST is never answered with a RST.
	assert.Equal(t, "A", drops[1].Node)
	assert.Contains(t, drops[1].Detail, "discarded")
	assert.Len(t, w.ipv4Frames(w.aEth, link.Out, packet.ProtoTCP), 1, "A sent nothing back")
}
