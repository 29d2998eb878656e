package netstack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// sctpChunk is one SCTP packet as captured: who sent it, its tag and chunks.
type sctpPkt struct {
	fromA  bool
	vtag   uint32
	chunks string
	raw    packet.SCTP
}

// sctpPackets returns the SCTP packets as they left A and B, in wire
// order, each checked: decodes with gopacket, valid CRC32c, DF, ID 0.
func sctpPackets(t *testing.T, w *world) []sctpPkt {
	t.Helper()
	var out []sctpPkt
	for _, f := range w.capt.All() {
		if f.Dir != link.Out || (f.Dev != w.aEth && f.Dev != w.bEth) {
			continue
		}
		if packet.Ethernet(f.Data).Type() != packet.EtherTypeIPv4 || f.Data[14+9] != packet.ProtoSCTP {
			continue
		}
		p := decode(t, f.Data)
		ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		require.NotZero(t, ip4.Flags&layers.IPv4DontFragment, "SCTP sets DF")
		assert.Zero(t, ip4.Id, "IP ID")
		sc := p.Layer(layers.LayerTypeSCTP).(*layers.SCTP)
		raw := packet.SCTP(f.Data[14+20 : 14+int(ip4.Length)])
		require.True(t, raw.ChecksumOK(), "CRC32c")
		assert.Equal(t, raw.VTag(), sc.VerificationTag)
		var names []string
		for _, l := range p.Layers()[3:] {
			names = append(names, l.LayerType().String())
		}
		out = append(out, sctpPkt{fromA: f.Dev == w.aEth, vtag: raw.VTag(), chunks: strings.Join(names, "+"), raw: append(packet.SCTP(nil), raw...)})
	}
	return out
}

func TestSCTPAssociationEchoShutdown(t *testing.T) {
	tests := []struct {
		name string
		size int
		want []string
	}{
		{"100 bytes echoed", 100, []string{
			"A>B SCTPInit", "B>A SCTPInitAck", "A>B SCTPCookieEcho", "B>A SCTPCookieAck",
			"A>B SCTPData", "B>A SCTPSack+SCTPData", "A>B SCTPShutdown", "B>A SCTPShutdownAck", "A>B SCTPShutdownComplete",
		}},
		{"connect and close", 0, []string{
			"A>B SCTPInit", "B>A SCTPInitAck", "A>B SCTPCookieEcho", "B>A SCTPCookieAck",
			"A>B SCTPShutdown", "B>A SCTPShutdownAck", "A>B SCTPShutdownComplete",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.B.ListenSCTP(80, true)
			local, ok := w.A.DialSCTP(ap("10.0.2.2:80"), tt.size, 5)
			require.True(t, ok)
			w.run()
			assert.Empty(t, w.env.Trace.DropList())
			pkts := sctpPackets(t, w)
			var got []string
			for _, p := range pkts {
				dir := "B>A"
				if p.fromA {
					dir = "A>B"
				}
				got = append(got, dir+" "+p.chunks)
			}
			require.Equal(t, tt.want, got)

			init, initAck := pkts[0].raw.FirstChunk(), pkts[1].raw.FirstChunk()
			assert.Zero(t, pkts[0].vtag, "an INIT's verification tag is 0")
			assert.Equal(t, uint32(106496), init.ARwnd())
			assert.Equal(t, uint16(10), init.OutStreams())
			assert.Equal(t, uint16(65535), init.InStreams())
			assert.Equal(t, []byte{10, 0, 1, 2}, init.Param(packet.SCTPParamIPv4))
			assert.Equal(t, init.InitTag(), pkts[1].vtag, "the INIT ACK carries the INIT's tag")
			assert.Equal(t, uint16(10), initAck.OutStreams())
			assert.Equal(t, uint16(10), initAck.InStreams(), "min(65535, the peer's 10 outbound streams)")
			assert.NotNil(t, initAck.Param(packet.SCTPParamStateCookie))
			for _, p := range pkts[2:] {
				if p.fromA {
					assert.Equal(t, initAck.InitTag(), p.vtag, "A tags with B's Initiate Tag")
				} else {
					assert.Equal(t, init.InitTag(), p.vtag, "B tags with A's Initiate Tag")
				}
			}
			assert.Equal(t, initAck.Param(packet.SCTPParamStateCookie), pkts[2].raw.FirstChunk().Value(), "COOKIE ECHO returns the cookie")
			if tt.size > 0 {
				d := pkts[4].raw.FirstChunk()
				assert.Equal(t, init.InitTSN(), d.TSN())
				assert.Len(t, d.UserData(), tt.size)
				var sack, echo packet.SCTPChunk
				pkts[5].raw.Chunks(func(c packet.SCTPChunk) bool {
					if c.Type() == packet.SCTPChunkSack {
						sack = c
					} else {
						echo = c
					}
					return true
				})
				assert.Equal(t, init.InitTSN(), sack.CumTSN(), "the SACK acknowledges A's DATA")
				assert.Equal(t, initAck.InitTSN(), echo.TSN())
				assert.Equal(t, d.UserData(), echo.UserData())
				assert.Equal(t, initAck.InitTSN(), pkts[6].raw.FirstChunk().CumTSN(), "SHUTDOWN acknowledges the echo")
			}
			assert.Equal(t, []netstack.EventKind{netstack.EvSCTPEstablished}, kinds(ofKind(w.evA, netstack.EvSCTPEstablished)))
			assert.Len(t, ofKind(w.evA, netstack.EvSCTPClosed), 1)
			require.Len(t, ofKind(w.evB, netstack.EvSCTPAccept), 1)
			assert.Equal(t, local, ofKind(w.evB, netstack.EvSCTPAccept)[0].Src)
			assert.Len(t, ofKind(w.evB, netstack.EvSCTPClosed), 1, "B closes on SHUTDOWN COMPLETE")
			if tt.size > 0 {
				assert.Equal(t, tt.size, ofKind(w.evA, netstack.EvSCTPData)[0].Len)
			}
		})
	}
}

func TestSCTPNoListenerAbort(t *testing.T) {
	w := newWorld(t)
	w.B.ListenSCTP(81, true)
	_, ok := w.A.DialSCTP(ap("10.0.2.2:80"), 10, 5)
	require.True(t, ok)
	w.run()
	pkts := sctpPackets(t, w)
	require.Len(t, pkts, 2)
	assert.Equal(t, "SCTPAbort", pkts[1].chunks)
	abort := pkts[1].raw.FirstChunk()
	assert.Zero(t, abort.Flags()&packet.SCTPFlagT, "an ABORT for an INIT has T clear (sctp_make_abort)")
	assert.Equal(t, pkts[0].raw.FirstChunk().InitTag(), pkts[1].vtag, "its tag is the INIT's Initiate Tag")
	assert.Equal(t, []trace.Reason{trace.ReasonConnRefused}, w.reasons())
	errs := ofKind(w.evA, netstack.EvError)
	require.Len(t, errs, 1)
	assert.Equal(t, "Connection refused", errs[0].Err)
}

func TestSCTPOutOfTheBlue(t *testing.T) {
	tests := []struct {
		name      string
		chunk     uint8
		wantReply string
		wantT     bool
	}{
		{"DATA gets ABORT with T set", packet.SCTPChunkData, "SCTPAbort", true},
		{"SHUTDOWN ACK gets SHUTDOWN COMPLETE with T set", packet.SCTPChunkShutdownAck, "SCTPShutdownComplete", true},
		{"ABORT is discarded", packet.SCTPChunkAbort, "", false},
		{"SHUTDOWN COMPLETE is discarded", packet.SCTPChunkShutdownComplete, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.B.ListenSCTP(80, true)
			const vtag = 0x01020304
			value := []byte(nil)
			if tt.chunk == packet.SCTPChunkData {
				value = make([]byte, 14)
			}
			n := packet.SCTPHeaderLen + packet.SCTPChunkLen(len(value))
			pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoSCTP, n, true, 0)
			sc := packet.SCTP(pl)
			sc.SetPorts(40000, 80)
			sc.SetVTag(vtag)
			packet.PutChunk(pl[packet.SCTPHeaderLen:], tt.chunk, 0, value)
			sc.SetChecksum()
			zeroID(pkt)
			w.A.LocalOut(pkt)
			w.run()
			pkts := sctpPackets(t, w)
			if tt.wantReply == "" {
				assert.Len(t, pkts, 1, "no answer")
				return
			}
			require.Len(t, pkts, 2)
			assert.Equal(t, tt.wantReply, pkts[1].chunks)
			assert.Equal(t, uint32(vtag), pkts[1].vtag, "the tag is reflected")
			assert.Equal(t, tt.wantT, pkts[1].raw.FirstChunk().Flags()&packet.SCTPFlagT != 0)
		})
	}
}

func TestSCTPBadChecksumDropped(t *testing.T) {
	w := newWorld(t)
	w.B.ListenSCTP(80, true)
	in := &packet.SCTPInit{Tag: 7, ARwnd: 1, Out: 1, In: 1, TSN: 1}
	n := packet.SCTPHeaderLen + packet.SCTPInitChunkLen(in)
	pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoSCTP, n, true, 0)
	sc := packet.SCTP(pl)
	sc.SetPorts(40000, 80)
	packet.PutInit(pl[packet.SCTPHeaderLen:], packet.SCTPChunkInit, in)
	sc.SetChecksum()
	pl[9] ^= 0xff
	w.A.LocalOut(pkt)
	w.run()
	assert.Len(t, sctpPacketsRaw(w), 1, "no INIT ACK for a bad CRC32c")
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonMalformed, drops[0].Reason)
	assert.Contains(t, drops[0].Detail, "CRC32c")
}

// zeroID gives a hand-made packet the IP ID 0 SCTP's own packets carry.
func zeroID(pkt *packet.Buffer) {
	ip4 := packet.IPv4(pkt.Bytes())
	ip4[4], ip4[5] = 0, 0
	ip4.SetChecksum()
}

func sctpPacketsRaw(w *world) [][]byte {
	var out [][]byte
	for _, f := range w.ipv4Frames(w.aEth, link.Out, packet.ProtoSCTP) {
		out = append(out, f)
	}
	for _, f := range w.ipv4Frames(w.bEth, link.Out, packet.ProtoSCTP) {
		out = append(out, f)
	}
	return out
}

func TestSCTPInitDroppedTimesOut(t *testing.T) {
	w := newWorld(t)
	w.B.ListenSCTP(80, true)
	w.R.Forwarding = false
	_, ok := w.A.DialSCTP(ap("10.0.2.2:80"), 10, 5)
	require.True(t, ok)
	w.run()
	assert.Equal(t, []trace.Reason{trace.ReasonForwardingDisabled}, w.reasons(), fmt.Sprint(w.env.Trace.DropList()))
	assert.Empty(t, ofKind(w.evA, netstack.EvSCTPEstablished))
}

func TestSCTPMessageFragmentedAtPathMTU(t *testing.T) {
	w := newWorld(t)
	// 1000-byte links both ways: each end's fragmentation point is
	// 1000 − 20 − 12 − 16 = 952.
	w.aEth.MTU, w.rEth0.MTU = 1000, 1000
	w.setMTU(1000)
	w.B.ListenSCTP(80, true)
	_, ok := w.A.DialSCTP(ap("10.0.2.2:80"), 3000, 5)
	require.True(t, ok)
	w.run()
	assert.Empty(t, w.env.Trace.DropList())
	type frag struct {
		dir   string
		what  string
		flags uint8
		n     int
	}
	var got []frag
	var echoed []byte
	for _, p := range sctpPackets(t, w)[4:] {
		dir := "B>A"
		if p.fromA {
			dir = "A>B"
		}
		p.raw.Chunks(func(c packet.SCTPChunk) bool {
			f := frag{dir: dir, what: packet.SCTPChunkName(c.Type())}
			if c.Type() == packet.SCTPChunkData {
				f.flags, f.n = c.Flags()&3, len(c.UserData())
				if !p.fromA {
					echoed = append(echoed, c.UserData()...)
				}
			}
			got = append(got, f)
			return true
		})
	}
	B, E := uint8(packet.SCTPDataB), uint8(packet.SCTPDataE)
	assert.Equal(t, []frag{
		// The message leaves at once (it fits the initial cwnd).
		{"A>B", "DATA", B, 952}, {"A>B", "DATA", 0, 952}, {"A>B", "DATA", 0, 952}, {"A>B", "DATA", E, 144},
		// sack_freq 2: B acknowledges every second packet at once, so no
		// SACK is pending when the echo goes out.
		{"B>A", "SACK", 0, 0}, {"B>A", "SACK", 0, 0},
		{"B>A", "DATA", B, 952}, {"B>A", "DATA", 0, 952}, {"B>A", "DATA", 0, 952}, {"B>A", "DATA", E, 144},
		{"A>B", "SACK", 0, 0}, {"A>B", "SACK", 0, 0},
		{"A>B", "SHUTDOWN", 0, 0}, {"B>A", "SHUTDOWN ACK", 0, 0}, {"A>B", "SHUTDOWN COMPLETE", 0, 0},
	}, got)
	want := make([]byte, 3000)
	for i := range want {
		want[i] = byte(i)
	}
	assert.Equal(t, want, echoed, "the message reassembled and echoed whole")
	require.Len(t, ofKind(w.evA, netstack.EvSCTPData), 1)
	assert.Equal(t, 3000, ofKind(w.evA, netstack.EvSCTPData)[0].Len)
}

func TestSCTPTwoPacketMessage(t *testing.T) {
	w := newWorld(t)
	// 2000 bytes on 1500-byte links: two DATA chunks of at most 1452
	// bytes each way; the second packet with DATA is acknowledged at once
	// (sack_freq 2), so no SACK rides on the echo.
	w.B.ListenSCTP(80, true)
	_, ok := w.A.DialSCTP(ap("10.0.2.2:80"), 2000, 5)
	require.True(t, ok)
	w.run()
	assert.Empty(t, w.env.Trace.DropList())
	var sizes []string
	for _, p := range sctpPackets(t, w)[4:] {
		var parts []string
		p.raw.Chunks(func(c packet.SCTPChunk) bool {
			s := packet.SCTPChunkName(c.Type())
			if c.Type() == packet.SCTPChunkData {
				s = fmt.Sprintf("DATA %d", len(c.UserData()))
			}
			parts = append(parts, s)
			return true
		})
		who := "B"
		if p.fromA {
			who = "A"
		}
		sizes = append(sizes, who+": "+strings.Join(parts, "+"))
	}
	assert.Equal(t, []string{
		"A: DATA 1452", "A: DATA 548",
		"B: SACK", // the second packet with DATA is acknowledged at once
		"B: DATA 1452", "B: DATA 548",
		"A: SACK", "A: SHUTDOWN", "B: SHUTDOWN ACK", "A: SHUTDOWN COMPLETE",
	}, sizes)
}
