package netstack_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// rawEcho builds an ICMP echo request from A with the given TTL and flags
// and sends it with LocalOut; it returns a copy of the IP packet.
func (w *world) rawEcho(t *testing.T, dst netip.Addr, ttl uint8, size int) []byte {
	t.Helper()
	pkt, pl := w.A.NewIPPacket(w.aIP, dst, packet.ProtoICMP, packet.ICMPHeaderLen+size, false, ttl)
	ic := packet.ICMP(pl)
	ic[0], ic[1] = packet.ICMPEchoRequest, 0
	binary.BigEndian.PutUint16(ic[4:], 0x1234)
	binary.BigEndian.PutUint16(ic[6:], 1)
	for i := range size {
		pl[8+i] = byte(i)
	}
	ic.SetChecksum()
	orig := append([]byte(nil), pkt.Bytes()...)
	w.A.LocalOut(pkt)
	return orig
}

func TestForwardingDecisions(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(w *world)
		dst       string
		want      trace.Reason
		icmp      bool
		typ, code uint8
	}{
		{name: "forwarded and answered", dst: "10.0.2.2"},
		{name: "ip_forward=0 drops silently", setup: func(w *world) { w.R.Forwarding = false }, dst: "10.0.2.2",
			want: trace.ReasonForwardingDisabled},
		{name: "no route: ICMP net unreachable", dst: "10.9.9.9", want: trace.ReasonNoRoute, icmp: true, typ: 3, code: 0},
		{name: "unreachable route: ICMP host unreachable", dst: "10.8.0.1",
			setup: func(w *world) {
				require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.8.0.0/16"), Type: netstack.RouteUnreachable}))
			}, want: trace.ReasonNoRoute, icmp: true, typ: 3, code: 1},
		{name: "prohibit route: ICMP admin prohibited", dst: "10.8.0.1",
			setup: func(w *world) {
				require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.8.0.0/16"), Type: netstack.RouteProhibit}))
			}, want: trace.ReasonNoRoute, icmp: true, typ: 3, code: 13},
		{name: "blackhole route: silent", dst: "10.8.0.1",
			setup: func(w *world) {
				require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.8.0.0/16"), Type: netstack.RouteBlackhole}))
			}, want: trace.ReasonNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			dst := ip(tt.dst)
			require.True(t, w.A.Ping(dst, 3, 1, 56, netstack.DFWant, 1))
			w.run()
			errs := w.icmpErrors(w.aEth, link.In)
			if tt.want == trace.ReasonNone {
				assert.Empty(t, w.env.Trace.DropList())
				assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1)
				assert.Empty(t, errs)
				return
			}
			drops := w.env.Trace.DropList()
			require.Len(t, drops, 1)
			assert.Equal(t, tt.want, drops[0].Reason)
			assert.Equal(t, "R", drops[0].Node)
			assert.Equal(t, "eth0", drops[0].Device, "dropped on input")
			assert.Empty(t, w.evB)
			if !tt.icmp {
				assert.Empty(t, errs, "no ICMP error")
				assert.Empty(t, ofKind(w.evA, netstack.EvError))
				return
			}
			require.Len(t, errs, 1)
			_, _, quote := checkICMPError(t, errs[0], tt.typ, tt.code, w.rIP0, w.aIP, 64)
			assert.Equal(t, uint8(64), packet.IPv4(quote).TTL(), "dropped before the TTL decrement")
			ev := ofKind(w.evA, netstack.EvError)
			require.Len(t, ev, 1)
			assert.Equal(t, tt.typ, ev[0].ICMPType)
			assert.Equal(t, tt.code, ev[0].ICMPCode)
			assert.Equal(t, w.rIP0, ev[0].From)
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}

func TestLocalNoRoute(t *testing.T) {
	w := newWorld(t)
	require.True(t, w.B.Routes.Delete(w.B.Routes.Lookup(ip("10.9.9.9"))))
	assert.False(t, w.B.Ping(ip("10.9.9.9"), 1, 1, 56, netstack.DFWant, 9))
	assert.Equal(t, []trace.Reason{trace.ReasonNoRoute}, w.reasons())
	ev := ofKind(w.evB, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, "Network is unreachable", ev[0].Err)
	assert.Equal(t, int32(9), ev[0].Flow)
	assert.False(t, w.B.SendUDP(5000, ap("10.9.9.9:53"), 10, netstack.DFWant, 9))
	assert.False(t, w.B.DialTCP(ap("10.9.9.9:80"), 10, 9))
	assert.Len(t, ofKind(w.evB, netstack.EvError), 3)
	assert.Empty(t, w.capt.All(), "nothing was sent")
}

func TestTTLExceeded(t *testing.T) {
	tests := []struct {
		name      string
		ttl       uint8
		exceeded  bool
		arriveTTL uint8
	}{
		{name: "TTL 1 cannot be forwarded", ttl: 1, exceeded: true},
		{name: "TTL 2 arrives with 1", ttl: 2, arriveTTL: 1},
		{name: "TTL 64 arrives with 63", ttl: 64, arriveTTL: 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			orig := w.rawEcho(t, w.bIP, tt.ttl, 100)
			w.run()
			if !tt.exceeded {
				assert.Empty(t, w.env.Trace.DropList())
				in := w.ipv4Frames(w.bEth, link.In, packet.ProtoICMP)
				require.NotEmpty(t, in)
				assert.Equal(t, tt.arriveTTL, in[0][14+8])
				assert.Zero(t, csum(in[0][14:34], 0), "header checksum updated with the TTL")
				assert.Len(t, ofKind(w.evB, netstack.EvEchoRequest), 1)
				return
			}
			assert.Equal(t, []trace.Reason{trace.ReasonTTLExceeded}, w.reasons())
			assert.Empty(t, w.evB)
			assert.Empty(t, w.ipv4Frames(w.rEth1, link.Out, 0), "nothing forwarded")
			errs := w.icmpErrors(w.aEth, link.In)
			require.Len(t, errs, 1)
			_, msg, quote := checkICMPError(t, errs[0], 11, 0, w.rIP0, w.aIP, 64)
			assert.Equal(t, []byte{0, 0, 0, 0}, msg[4:8], "unused field zero")
			assert.Equal(t, orig, quote, "the whole original (128 bytes) is quoted as it arrived, TTL 1")
			ev := ofKind(w.evA, netstack.EvError)
			require.Len(t, ev, 1)
			assert.Equal(t, uint8(11), ev[0].ICMPType)
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}

func TestFragNeededAndPMTU(t *testing.T) {
	w := newWorld(t)
	w.setMTU(1000)
	r, _, ok := w.A.RouteOutput(w.bIP)
	require.True(t, ok)
	assert.Equal(t, 1500, w.A.RouteMTU(r, w.bIP))

	// 1228-byte DF packet: fits A's eth0, not R's eth1.
	require.True(t, w.A.Ping(w.bIP, 1, 1, 1200, netstack.DFDo, 1))
	w.run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonFragNeeded, drops[0].Reason)
	assert.Equal(t, "R", drops[0].Node)
	errs := w.icmpErrors(w.aEth, link.In)
	require.Len(t, errs, 1)
	ip4, msg, quote := checkICMPError(t, errs[0], 3, 4, w.rIP0, w.aIP, 64)
	assert.Equal(t, []byte{0, 0}, msg[4:6], "unused")
	assert.Equal(t, uint16(1000), u16(msg, 6), "next-hop MTU in bytes 6–7")
	assert.Len(t, quote, 548, "576 − 20 − 8 bytes of the 1228-byte original")
	assert.Equal(t, 576, int(ip4.Length))
	assert.Equal(t, uint16(1228), u16(quote, 2), "the quote keeps the original total length")
	assert.NotZero(t, u16(quote, 6)&packet.FlagDF)

	ev := ofKind(w.evA, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, 1000, ev[0].MTU)
	assert.Equal(t, w.rIP0, ev[0].From)
	assert.Equal(t, 1000, w.A.RouteMTU(r, w.bIP), "path MTU learned")
	assert.Equal(t, 1500, w.A.RouteMTU(r, w.rIP0), "for that destination only")

	// DFDo over the learned PMTU fails locally with EMSGSIZE.
	w.env.Trace.Reset()
	w.evA = nil
	assert.False(t, w.A.Ping(w.bIP, 1, 2, 1200, netstack.DFDo, 2))
	assert.Equal(t, []trace.Reason{trace.ReasonMsgTooLong}, w.reasons())
	ev = ofKind(w.evA, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, 1000, ev[0].MTU)
	assert.Equal(t, "message too long, mtu=1000", ev[0].Err)
	assert.Equal(t, int32(2), ev[0].Flow)

	// PMTUDISC_WANT now fragments locally without DF and gets through.
	w.capt.Reset()
	w.evA = nil
	require.True(t, w.A.Ping(w.bIP, 1, 3, 1200, netstack.DFWant, 3))
	w.run()
	out := w.ipv4Frames(w.aEth, link.Out, packet.ProtoICMP)
	require.Len(t, out, 2, "fragmented at A for the 1000-byte path")
	for _, f := range out {
		assert.Zero(t, u16(f, 14+6)&packet.FlagDF)
		assert.LessOrEqual(t, len(f)-14, 1000)
	}
	assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1)

	// The learned PMTU expires after mtu_expires (600 s).
	w.s.RunFor(netstack.PMTUExpires)
	assert.Equal(t, 1500, w.A.RouteMTU(r, w.bIP))
	assert.Zero(t, w.env.Pool.Out)
}

func TestMsgTooLongOverDeviceMTU(t *testing.T) {
	w := newWorld(t)
	assert.False(t, w.A.Ping(w.bIP, 1, 1, 1473, netstack.DFDo, 4), "1501 bytes on a 1500 MTU route")
	assert.Equal(t, []trace.Reason{trace.ReasonMsgTooLong}, w.reasons())
	ev := ofKind(w.evA, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, 1500, ev[0].MTU)
	assert.Empty(t, w.capt.All())
	assert.False(t, w.A.SendUDP(4000, netip.AddrPortFrom(w.bIP, 7), 1473, netstack.DFDo, 4))
	assert.True(t, w.A.Ping(w.bIP, 1, 2, 1472, netstack.DFDo, 4), "1500 bytes fit")
}

// fragInfo is one IPv4 fragment as seen on the wire.
type fragInfo struct {
	id     uint16
	off    int
	mf, df bool
	data   []byte
}

func fragments(t *testing.T, frames [][]byte) []fragInfo {
	t.Helper()
	var out []fragInfo
	for _, f := range frames {
		p := decode(t, f)
		ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		raw := f[14 : 14+int(ip4.Length)]
		require.Zero(t, csum(raw[:20], 0), "every fragment has a valid header checksum")
		require.Equal(t, uint8(5), ip4.IHL)
		out = append(out, fragInfo{id: ip4.Id, off: int(ip4.FragOffset) * 8,
			mf: ip4.Flags&layers.IPv4MoreFragments != 0, df: ip4.Flags&layers.IPv4DontFragment != 0, data: raw[20:]})
	}
	return out
}

// checkFragmented verifies that frags are one datagram cut for mtu and
// returns the reassembled payload. full says the datagram was whole when
// cut, so every fragment but the last is as large as the MTU allows (a
// fragment of a fragment is cut where the first cut ended).
func checkFragmented(t *testing.T, frags []fragInfo, mtu int, full bool) []byte {
	t.Helper()
	require.NotEmpty(t, frags)
	var whole []byte
	for i, f := range frags {
		assert.Equal(t, frags[0].id, f.id, "one IP ID for all fragments")
		if len(frags) > 1 {
			assert.False(t, f.df)
		}
		assert.Equal(t, len(whole), f.off, "fragment %d continues where the previous ended", i)
		assert.Zero(t, f.off%8, "offset is a multiple of 8")
		assert.LessOrEqual(t, 20+len(f.data), mtu)
		last := i == len(frags)-1
		assert.Equal(t, !last, f.mf, "MF on all but the last fragment")
		if !last {
			assert.Zero(t, len(f.data)%8, "non-final fragment data is a multiple of 8")
			if full {
				assert.Equal(t, (mtu-20)&^7, len(f.data), "fragments are as large as the MTU allows")
			}
		}
		whole = append(whole, f.data...)
	}
	return whole
}

func TestFragmentationAndReassembly(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		mtu   int
		df    netstack.DFMode
		nfrag int
		full  bool
		// defrag: R tracks connections (nf_defrag_ipv4), so it reassembles
		// A's fragments and cuts the datagram again, for at most cut bytes
		// (the MTU, or the largest fragment it received if less).
		defrag bool
		cut    int
	}{
		{name: "1400 bytes over a 1000-byte link", size: 1400, mtu: 1000, df: netstack.DFDont, nfrag: 2, full: true},
		{name: "DFWant over the local MTU is sent without DF", size: 1600, mtu: 1000, df: netstack.DFWant, nfrag: 3},
		// A cuts 1480+1480+1048 for its 1500 eth0, R cuts each again for
		// 576: 552+552+376, 552+552+376, 552+496.
		{name: "4008 bytes: A fragments, R fragments the fragments", size: 4000, mtu: 576, df: netstack.DFDont, nfrag: 8},
		{name: "fits: not fragmented", size: 900, mtu: 1000, df: netstack.DFDont, nfrag: 1, full: true},
		// With conntrack R reassembles first: one cut of the whole datagram
		// for 576, 7×552+144, instead of cutting each fragment.
		{name: "4008 bytes through a conntrack router: reassembled, cut once", size: 4000, mtu: 576, df: netstack.DFDont, nfrag: 8, full: true, defrag: true},
		// ip_do_fragment caps the MTU at frag_max_size: a 9000-byte link
		// still gets A's 1500-byte fragments, not the whole datagram.
		{name: "4008 bytes through a conntrack router onto a 9000-byte link", size: 4000, mtu: 9000, df: netstack.DFDont, nfrag: 3, full: true, defrag: true, cut: 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.setMTU(tt.mtu)
			w.R.ConntrackDefrag = tt.defrag
			// B's echo of a 4008-byte datagram over 9000 bytes would carry DF
			// (path MTU discovery) and meet R's 1500-byte eth0: no echo then.
			echo := tt.mtu <= 1500
			w.B.ListenUDP(7, echo)
			w.A.ListenUDP(40000, false)
			require.True(t, w.A.SendUDP(40000, netip.AddrPortFrom(w.bIP, 7), tt.size, tt.df, 1))
			w.run()
			assert.Empty(t, w.env.Trace.DropList())

			// R cut the datagram for eth1.
			frags := fragments(t, w.ipv4Frames(w.rEth1, link.Out, packet.ProtoUDP))
			require.Len(t, frags, tt.nfrag)
			cut := tt.mtu
			if tt.cut != 0 {
				cut = tt.cut
			}
			whole := checkFragmented(t, frags, cut, tt.full)
			require.Len(t, whole, 8+tt.size)
			assert.Equal(t, uint16(8+tt.size), u16(whole, 4), "UDP length")
			// UDP checksum over the reassembled datagram.
			ph := make([]byte, 20)
			ph[0], ph[9] = 0x45, packet.ProtoUDP
			copy(ph[12:16], w.aIP.AsSlice())
			copy(ph[16:20], w.bIP.AsSlice())
			binary.BigEndian.PutUint16(ph[2:], uint16(20+len(whole)))
			assert.Zero(t, l4csum(append(ph, whole...)), "UDP checksum of the whole datagram")

			// The echo server got the whole datagram, and A the whole echo.
			got := ofKind(w.evB, netstack.EvUDPRecv)
			require.Len(t, got, 1)
			assert.Equal(t, tt.size, got[0].Len)
			assert.Equal(t, ap("10.0.1.2:40000"), got[0].Src)
			if !echo {
				return
			}
			back := ofKind(w.evA, netstack.EvUDPRecv)
			require.Len(t, back, 1)
			assert.Equal(t, tt.size, back[0].Len)
			assert.Equal(t, ap("10.0.2.2:7"), back[0].Src)
			// B fragmented its reply itself for its 1000-byte eth0.
			bf := fragments(t, w.ipv4Frames(w.bEth, link.Out, packet.ProtoUDP))
			chunk := (tt.mtu - 20) &^ 7
			require.Len(t, bf, (8+tt.size+chunk-1)/chunk)
			checkFragmented(t, bf, tt.mtu, true)
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}

func TestReassemblyOutOfOrderAndTimeout(t *testing.T) {
	w := newWorld(t)
	w.setMTU(576)
	w.A.ListenUDP(40000, false)
	w.B.ListenUDP(7, false)
	require.True(t, w.A.SendUDP(40000, netip.AddrPortFrom(w.bIP, 7), 2000, netstack.DFDont, 1))
	w.run()
	frames := w.ipv4Frames(w.rEth1, link.Out, packet.ProtoUDP)
	require.Len(t, frames, 4)
	require.Len(t, ofKind(w.evB, netstack.EvUDPRecv), 1)

	// Delivered in reverse order (and with a duplicate) they reassemble too.
	w.evB = nil
	for _, i := range []int{3, 2, 2, 1, 0} {
		w.bEth.Input(w.env.Pool.From(frames[i]))
	}
	w.run()
	got := ofKind(w.evB, netstack.EvUDPRecv)
	require.Len(t, got, 1)
	assert.Equal(t, 2000, got[0].Len)

	// Without the last fragment: ipfrag_time (30 s), then ICMP time
	// exceeded in reassembly (type 11 code 1) quoting the first fragment.
	w.evB = nil
	w.capt.Reset()
	start := w.s.Now()
	for _, i := range []int{0, 1, 2} {
		w.bEth.Input(w.env.Pool.From(frames[i]))
	}
	w.s.RunFor(netstack.IPFragTime - time.Millisecond)
	assert.Empty(t, w.env.Trace.DropList())
	w.run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonReasmTimeout, drops[0].Reason)
	assert.Equal(t, start+netstack.IPFragTime, drops[0].Time)
	assert.Empty(t, ofKind(w.evB, netstack.EvUDPRecv))
	errs := w.icmpErrors(w.bEth, link.Out)
	require.Len(t, errs, 1)
	_, _, quote := checkICMPError(t, errs[0], 11, 1, w.bIP, w.aIP, 64)
	assert.Equal(t, frames[0][14:14+28], quote[:28], "quotes the first fragment's header and 8 bytes")
	assert.Zero(t, w.env.Pool.Out)
}

func TestUDPPortUnreachable(t *testing.T) {
	w := newWorld(t)
	w.A.ListenUDP(40001, false)
	require.True(t, w.A.SendUDP(40001, ap("10.0.2.2:9999"), 32, netstack.DFWant, 1))
	w.run()
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonPortUnreachable, drops[0].Reason)
	assert.Equal(t, "B", drops[0].Node)
	errs := w.icmpErrors(w.aEth, link.In)
	require.Len(t, errs, 1)
	_, _, quote := checkICMPError(t, errs[0], 3, 3, w.bIP, w.aIP, 63)
	assert.Equal(t, uint16(40001), u16(quote, 20))
	assert.Equal(t, uint16(9999), u16(quote, 22))
	ev := ofKind(w.evA, netstack.EvError)
	require.Len(t, ev, 1)
	assert.Equal(t, uint8(3), ev[0].ICMPCode)
	assert.Equal(t, ap("10.0.1.2:40001"), ev[0].Src)
	assert.Equal(t, ap("10.0.2.2:9999"), ev[0].Dst)
	assert.Equal(t, w.bIP, ev[0].From)
	assert.Equal(t, "ICMP port unreachable", ev[0].Err)

	// With a socket bound, the datagram is received instead.
	w.B.ListenUDP(9999, false)
	require.True(t, w.A.SendUDP(40001, ap("10.0.2.2:9999"), 32, netstack.DFWant, 1))
	w.run()
	assert.Len(t, ofKind(w.evB, netstack.EvUDPRecv), 1)
	w.B.CloseUDP(9999)
	require.True(t, w.A.SendUDP(40001, ap("10.0.2.2:9999"), 32, netstack.DFWant, 1))
	w.run()
	assert.Len(t, ofKind(w.evA, netstack.EvError), 2)
	assert.Zero(t, w.env.Pool.Out)
}

func TestMalformedInput(t *testing.T) {
	w := newWorld(t)
	w.B.ListenUDP(7, false)
	require.True(t, w.A.SendUDP(40000, ap("10.0.2.2:7"), 20, netstack.DFWant, 1))
	w.run()
	good := w.ipv4Frames(w.bEth, link.In, packet.ProtoUDP)
	require.Len(t, good, 1)
	tests := []struct {
		name   string
		mutate func(f []byte) []byte
		reason trace.Reason
	}{
		{"bad IP checksum", func(f []byte) []byte { f[14+10] ^= 0xff; return f }, trace.ReasonMalformed},
		{"bad UDP checksum", func(f []byte) []byte { f[len(f)-1] ^= 0xff; return f }, trace.ReasonMalformed},
		{"total length beyond the frame", func(f []byte) []byte {
			binary.BigEndian.PutUint16(f[16:], 200)
			packet.IPv4(f[14:]).SetChecksum()
			return f
		}, trace.ReasonMalformed},
		{"not for this MAC", func(f []byte) []byte { f[0] ^= 0x02; return f }, trace.ReasonNotForHost},
		{"runt", func(f []byte) []byte { return f[:10] }, trace.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.env.Trace.Reset()
			f := tt.mutate(append([]byte(nil), good[0]...))
			w.bEth.Input(w.env.Pool.From(f))
			w.run()
			assert.Equal(t, []trace.Reason{tt.reason}, w.reasons())
		})
	}
	// Ethernet padding after the IP total length is trimmed, not an error.
	w.env.Trace.Reset()
	w.evB = nil
	padded := append(append([]byte(nil), good[0]...), 0, 0, 0, 0)
	w.bEth.Input(w.env.Pool.From(padded))
	w.run()
	assert.Empty(t, w.env.Trace.DropList())
	assert.Len(t, ofKind(w.evB, netstack.EvUDPRecv), 1)
	assert.Zero(t, w.env.Pool.Out)
}

func TestSetLinkUpFlushesAndRestores(t *testing.T) {
	w := newWorld(t)
	require.NoError(t, w.A.AddRoute(&netstack.Route{Dst: pfx("10.96.0.0/12"), Gw: w.rIP0, Dev: w.A.Iface("eth0")}))
	require.True(t, w.A.Ping(w.bIP, 1, 1, 8, netstack.DFWant, 1))
	w.run()
	require.NoError(t, w.A.AddNeigh("eth0", ip("10.0.1.99"), mac(0x99), true))
	routes := func() []string {
		var out []string
		for _, r := range w.A.Routes.All() {
			out = append(out, r.String())
		}
		return out
	}
	before := routes()
	assert.Equal(t, []string{
		"default via 10.0.1.1 dev eth0",
		"10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2",
		"10.96.0.0/12 via 10.0.1.1 dev eth0",
	}, before)

	require.NoError(t, w.A.SetLinkUp("eth0", false))
	assert.Empty(t, routes(), "every route through eth0 is flushed")
	assert.Len(t, w.A.Flushed(), 3)
	assert.Equal(t, []string{"10.0.1.99 dev eth0 lladdr 02:00:00:00:00:99 PERMANENT"}, neighLines(w.A, w.s.Now()),
		"dynamic neighbours flushed, permanent kept")
	assert.False(t, w.A.Ping(w.bIP, 1, 2, 8, netstack.DFWant, 1), "connect: Network is unreachable")
	assert.Equal(t, []trace.Reason{trace.ReasonNoRoute}, w.reasons())
	// A frame arriving on the down device is dropped by it.
	w.rEth0.Transmit(w.env.Pool.From(make([]byte, 60)))
	w.run()
	assert.Equal(t, trace.ReasonLinkDown, w.reasons()[1])
	assert.Error(t, w.A.SetLinkUp("eth7", false))

	require.NoError(t, w.A.SetLinkUp("eth0", true))
	assert.Equal(t, before, routes(), "routes restored")
	assert.Empty(t, w.A.Flushed())
	w.evA = nil
	require.True(t, w.A.Ping(w.bIP, 1, 3, 8, netstack.DFWant, 1))
	w.run()
	assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1, "works again (after a fresh ARP)")
	assert.Zero(t, w.env.Pool.Out)
}

func TestProtocolUnreachable(t *testing.T) {
	w := newWorld(t)
	pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, 47, 24, false, 0) // GRE
	copy(pl, bytes.Repeat([]byte{0xab}, 24))
	w.A.LocalOut(pkt)
	w.run()
	assert.Equal(t, []trace.Reason{trace.ReasonProtoUnreachable}, w.reasons())
	errs := w.icmpErrors(w.aEth, link.In)
	require.Len(t, errs, 1)
	checkICMPError(t, errs[0], 3, 2, w.bIP, w.aIP, 63)
}

func TestNoICMPErrorAboutICMPError(t *testing.T) {
	w := newWorld(t)
	// A sends an ICMP error (port unreachable) with TTL 1: R must not
	// answer it with time exceeded.
	pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoICMP, 8+28, false, 1)
	pl[0], pl[1] = packet.ICMPDestUnreach, packet.ICMPCodePortUnreach
	packet.ICMP(pl).SetChecksum()
	w.A.LocalOut(pkt)
	w.run()
	assert.Equal(t, []trace.Reason{trace.ReasonTTLExceeded}, w.reasons())
	assert.Empty(t, w.icmpErrors(w.aEth, link.In))
}

// fragNeededTo delivers to s, on dev, a "fragmentation needed" from
// `from` about a UDP packet s sent to dst, announcing mtu.
func (w *world) fragNeededTo(dev *link.Device, s *netstack.Stack, from, to, dst netip.Addr, mtu uint16) {
	q := make([]byte, 28)
	packet.IPv4(q).SetHeader(packet.IPv4Fields{TotalLen: 1400, TTL: 64, Flags: packet.FlagDF, Protocol: packet.ProtoUDP, Src: to, Dst: dst})
	binary.BigEndian.PutUint16(q[20:], 5000)
	binary.BigEndian.PutUint16(q[22:], 53)
	frame := make([]byte, 14+20+8+len(q))
	packet.Ethernet(frame).Set(dev.MAC, mac(0xee), packet.EtherTypeIPv4)
	packet.IPv4(frame[14:]).SetHeader(packet.IPv4Fields{TotalLen: 20 + 8 + len(q), TTL: 64, Protocol: packet.ProtoICMP, Src: from, Dst: to})
	ic := packet.ICMP(frame[34:])
	ic[0], ic[1] = packet.ICMPDestUnreach, packet.ICMPCodeFragNeeded
	binary.BigEndian.PutUint16(ic[6:], mtu)
	copy(ic[8:], q)
	ic.SetChecksum()
	dev.Input(w.env.Pool.From(frame))
	w.run()
}

func TestPMTULearning(t *testing.T) {
	tests := []struct {
		name     string
		announce uint16
		lock     int
		want     int
	}{
		{name: "lowered to the announced MTU", announce: 1200, want: 1200},
		{name: "never below min_pmtu 552", announce: 500, want: 552},
		{name: "never raised above the device MTU", announce: 9000, want: 1500},
		{name: "a locked route MTU does not learn", announce: 1200, lock: 1400, want: 1400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			dst := ip("10.0.2.2")
			if tt.lock != 0 {
				require.NoError(t, w.A.AddRoute(&netstack.Route{Dst: pfx("10.0.2.2/32"), Gw: w.rIP0, Dev: w.A.Iface("eth0"), MTU: tt.lock}))
			}
			w.fragNeededTo(w.aEth, w.A, w.rIP0, w.aIP, dst, tt.announce)
			r, _, ok := w.A.RouteOutput(dst)
			require.True(t, ok)
			assert.Equal(t, tt.want, w.A.RouteMTU(r, dst))
			ev := ofKind(w.evA, netstack.EvError)
			require.Len(t, ev, 1)
			assert.Equal(t, int(tt.announce), ev[0].MTU, "the socket hears the announced MTU")
		})
	}
}

// TestForwardingIgnoresLearnedPMTU: a path MTU the router learned for its
// own traffic does not apply to packets it forwards (ip_forward_use_pmtu
// is 0): the egress device MTU does.
func TestForwardingIgnoresLearnedPMTU(t *testing.T) {
	w := newWorld(t)
	w.fragNeededTo(w.rEth1, w.R, w.bIP, w.rIP1, w.bIP, 800)
	r, _, _ := w.R.RouteOutput(w.bIP)
	require.Equal(t, 800, w.R.RouteMTU(r, w.bIP), "R's own packets to B use 800")
	require.True(t, w.A.Ping(w.bIP, 1, 1, 1000, netstack.DFDo, 1))
	w.run()
	assert.Empty(t, w.env.Trace.DropList(), "A's 1028-byte DF packet is forwarded on the 1500-byte eth1")
	assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1)
	// R's own DF traffic is held to the learned value.
	assert.False(t, w.R.Ping(w.bIP, 1, 1, 1000, netstack.DFDo, 1))
	assert.Equal(t, []trace.Reason{trace.ReasonMsgTooLong}, w.reasons())
}

// TestTracingExercisesEveryPath runs the main paths with hop recording
// on: the trace code formats every hop without disturbing the packets.
func TestTracingExercisesEveryPath(t *testing.T) {
	w := newWorld(t)
	w.env.Trace.Hops = true
	w.setMTU(1000)
	w.B.ListenUDP(7, true)
	w.B.ListenTCP(80, true)
	w.A.ListenUDP(40000, false)
	require.True(t, w.A.Ping(w.bIP, 1, 1, 56, netstack.DFWant, 1))
	require.True(t, w.A.Ping(w.bIP, 1, 2, 1200, netstack.DFDo, 2))
	require.True(t, w.A.SendUDP(40000, netip.AddrPortFrom(w.bIP, 7), 1400, netstack.DFDont, 3))
	require.True(t, w.A.SendUDP(40000, netip.AddrPortFrom(w.bIP, 9), 10, netstack.DFWant, 4))
	require.True(t, w.A.DialTCP(netip.AddrPortFrom(w.bIP, 80), 100, 5))
	require.True(t, w.A.DialTCP(netip.AddrPortFrom(w.bIP, 81), 100, 6))
	require.True(t, w.A.Ping(ip("10.0.2.99"), 1, 3, 56, netstack.DFWant, 7))
	require.True(t, w.A.Ping(ip("10.9.9.9"), 1, 4, 56, netstack.DFWant, 8))
	w.rawEcho(t, w.bIP, 1, 8)
	w.run()
	seen := map[trace.Kind]bool{}
	for _, h := range w.env.Trace.HopList() {
		seen[h.Kind] = true
		assert.NotEmpty(t, h.Node)
	}
	for _, k := range []trace.Kind{trace.KindRoute, trace.KindNeigh, trace.KindARP, trace.KindTx, trace.KindTTL,
		trace.KindFrag, trace.KindICMP, trace.KindLocal, trace.KindDeliver, trace.KindDrop} {
		assert.True(t, seen[k], "hop kind %s recorded", k)
	}
	assert.ElementsMatch(t, []trace.Reason{trace.ReasonFragNeeded, trace.ReasonPortUnreachable, trace.ReasonConnRefused,
		trace.ReasonNeighUnresolved, trace.ReasonNoRoute, trace.ReasonTTLExceeded}, w.reasons())
	assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 1)
	assert.Len(t, ofKind(w.evA, netstack.EvUDPRecv), 1)
	assert.Len(t, ofKind(w.evA, netstack.EvTCPClosed), 1)
	assert.Zero(t, w.env.Pool.Out)
}
