package netstack_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// wireSeg is one TCP segment with the header fields Linux fixes.
type wireSeg struct {
	fromA        bool
	flags        string
	ipID         uint16
	df           bool
	ttl, tos     uint8
	hlen         int
	win          uint16
	opts         []byte
	tsVal, tsEcr uint32
	n            int
	at           time.Duration
}

func wireSegs(t *testing.T, w *world) []wireSeg {
	t.Helper()
	var out []wireSeg
	for _, f := range w.capt.All() {
		if f.Dir != link.Out || (f.Dev != w.aEth && f.Dev != w.bEth) {
			continue
		}
		if packet.Ethernet(f.Data).Type() != packet.EtherTypeIPv4 || f.Data[14+9] != packet.ProtoTCP {
			continue
		}
		p := decode(t, f.Data)
		ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tc := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		s := tcpSeg(t, f.Data, f.Dev == w.aEth)
		hl := int(tc.DataOffset) * 4
		ws := wireSeg{fromA: f.Dev == w.aEth, flags: s.flags, ipID: ip4.Id, df: ip4.Flags&layers.IPv4DontFragment != 0,
			ttl: ip4.TTL, tos: ip4.TOS, hlen: hl, win: tc.Window, opts: tc.Contents[20:hl], n: len(tc.Payload), at: f.Time}
		for _, o := range tc.Options {
			if o.OptionType == layers.TCPOptionKindTimestamps {
				ws.tsVal = binary.BigEndian.Uint32(o.OptionData[0:4])
				ws.tsEcr = binary.BigEndian.Uint32(o.OptionData[4:8])
			}
		}
		out = append(out, ws)
	}
	return out
}

func ts(v, e uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, v), e)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestTCPOnTheWireAsLinux checks every TCP header field of a connection
// against what Linux 6.18 sent in the same exchange (see the comment at
// the top of tcp.go): option bytes and order, header lengths, initial and
// scaled windows, timestamps, IP IDs, DF, TTL and TOS.
func TestTCPOnTheWireAsLinux(t *testing.T) {
	tests := []struct {
		name              string
		mtu               int // A's and B's links
		size              int
		synWin, synackWin uint16
		mss               uint16
		firstWinA         uint16 // A's window after the SYN: 64240 → 64512 >> 10
		firstWinB         uint16
	}{
		{name: "MTU 1500, nc -z", mtu: 1500, size: 0, synWin: 64240, synackWin: 65160, mss: 1460, firstWinA: 63, firstWinB: 64},
		{name: "MTU 1450 (flannel vxlan), nc -z", mtu: 1450, size: 0, synWin: 64860, synackWin: 64308, mss: 1410, firstWinA: 64, firstWinB: 63},
		{name: "MTU 1500, 100 bytes echoed", mtu: 1500, size: 100, synWin: 64240, synackWin: 65160, mss: 1460, firstWinA: 63, firstWinB: 64},
		{name: "MTU 9000", mtu: 9000, size: 0, synWin: 62720, synackWin: 62636, mss: 8960, firstWinA: 62, firstWinB: 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			for _, d := range []*link.Device{w.aEth, w.rEth0, w.rEth1, w.bEth} {
				d.MTU = tt.mtu
			}
			w.B.ListenTCP(80, true)
			require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), tt.size, 1))
			w.run()
			segs := wireSegs(t, w)
			require.GreaterOrEqual(t, len(segs), 6)
			syn, synack := segs[0], segs[1]
			mss := binary.BigEndian.AppendUint16([]byte{2, 4}, tt.mss)

			require.Equal(t, "S", syn.flags)
			assert.Equal(t, 40, syn.hlen)
			assert.Equal(t, cat(mss, []byte{4, 2, 8, 10}, ts(syn.tsVal, 0), []byte{1, 3, 3, 10}), syn.opts,
				"MSS, SACK_PERM+TS, NOP, WS 10")
			assert.Equal(t, tt.synWin, syn.win, "rounddown(65536, MSS)")

			require.Equal(t, "S.", synack.flags)
			assert.Equal(t, 40, synack.hlen)
			assert.Equal(t, cat(mss, []byte{4, 2, 8, 10}, ts(synack.tsVal, syn.tsVal), []byte{1, 3, 3, 10}), synack.opts)
			assert.Equal(t, tt.synackWin, synack.win, "rounddown(65536, MSS − 12)")
			assert.Zero(t, synack.ipID, "SYN-ACK: ip_build_and_send_pkt with DF sets ID 0")

			var lastA, lastB *wireSeg
			var idA, idB []uint16
			for i := range segs {
				s := &segs[i]
				assert.True(t, s.df, "DF on every segment")
				assert.Equal(t, uint8(64), s.ttl)
				assert.Zero(t, s.tos)
				if i >= 2 {
					assert.Equal(t, 32, s.hlen, "segment %d %s: NOP NOP TS", i, s.flags)
					require.Len(t, s.opts, 12)
					assert.Equal(t, []byte{1, 1, 8, 10}, s.opts[:4])
				}
				peer := lastB
				if !s.fromA {
					peer = lastA
				}
				if i >= 1 && peer != nil {
					assert.Equal(t, peer.tsVal, s.tsEcr, "segment %d: TSecr echoes the peer's TSval", i)
				}
				if s.fromA {
					lastA = s
					idA = append(idA, s.ipID)
				} else {
					lastB = s
					if i > 1 {
						idB = append(idB, s.ipID)
					}
				}
			}
			for i := 1; i < len(idA); i++ {
				assert.Equal(t, idA[i-1]+1, idA[i], "client inet_id: +1 per segment")
			}
			for i := 1; i < len(idB); i++ {
				assert.Equal(t, idB[i-1]+1, idB[i], "server inet_id: +1 per segment")
			}
			assert.Equal(t, tt.firstWinA, segs[2].win, "the handshake ACK: window aligned to 1<<10, scaled")
			for _, s := range segs[2:] {
				if !s.fromA {
					assert.Equal(t, tt.firstWinB, s.win, "server's first non-SYN window")
					break
				}
			}
		})
	}
}

// TestTCPTimestampClock: TSval is a per-connection offset plus the
// virtual clock in milliseconds.
func TestTCPTimestampClock(t *testing.T) {
	w := newWorld(t)
	w.rEth1.Delay, w.bEth.Delay = 7*time.Millisecond, 7*time.Millisecond
	w.B.ListenTCP(80, true)
	w.s.AfterFunc(5*time.Second, func() { require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), 100, 1)) })
	w.run()
	first := wireSegs(t, w)
	w.s.AfterFunc(1234*time.Millisecond, func() { require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), 0, 2)) })
	w.run()
	all := wireSegs(t, w)
	second := all[len(first):]
	require.Equal(t, "S", second[0].flags)
	assert.NotEqual(t, first[0].tsVal+uint32((second[0].at-first[0].at)/time.Millisecond), second[0].tsVal,
		"each connection has its own offset")
	ms := func(d time.Duration) uint32 { return uint32(d / time.Millisecond) }
	var spread uint32
	for _, conn := range [][]wireSeg{first, second} {
		var synA, synB *wireSeg
		for i := range conn {
			s := &conn[i]
			own := &synA
			if !s.fromA {
				own = &synB
			}
			if *own == nil {
				*own = s
				continue
			}
			assert.Equal(t, ms(s.at)-ms((*own).at), s.tsVal-(*own).tsVal, "%s at %v: TSval follows the clock", s.flags, s.at)
			spread = max(spread, s.tsVal-(*own).tsVal)
		}
	}
	assert.GreaterOrEqual(t, spread, uint32(14), "the 7 ms links make the clock move within a connection")
}

// TestSynAckAnswersWhatTheSYNOffered: tcp_synack_options echoes only the
// options the SYN carried, and without window scale the windows that
// follow are not scaled.
func TestSynAckAnswersWhatTheSYNOffered(t *testing.T) {
	mss := []byte{2, 4, 0x05, 0xb4}
	tests := []struct {
		name      string
		synOpts   []byte
		wantOpts  func(tsEcr uint32) []byte
		wantWin   uint16
		wantHLen  int
		tsInReply bool
	}{
		{name: "MSS only", synOpts: mss, wantOpts: func(uint32) []byte { return mss }, wantWin: 64240, wantHLen: 24},
		{name: "MSS, SACK_PERM", synOpts: cat(mss, []byte{1, 1, 4, 2}),
			wantOpts: func(uint32) []byte { return cat(mss, []byte{1, 1, 4, 2}) }, wantWin: 64240, wantHLen: 28},
		{name: "MSS, NOP, WS 7", synOpts: cat(mss, []byte{1, 3, 3, 7}),
			wantOpts: func(uint32) []byte { return cat(mss, []byte{1, 3, 3, 10}) }, wantWin: 64240, wantHLen: 28},
		// The next three are what Linux 6.18 answered to a client with
		// tcp_timestamps=0, tcp_sack=0 and both, byte for byte.
		{name: "MSS, NOP NOP SACK_PERM, NOP WS (tcp_timestamps=0)", synOpts: cat(mss, []byte{1, 1, 4, 2, 1, 3, 3, 10}),
			wantOpts: func(uint32) []byte { return cat(mss, []byte{1, 1, 4, 2, 1, 3, 3, 10}) }, wantWin: 64240, wantHLen: 32},
		{name: "MSS, NOP NOP TS, NOP WS (tcp_sack=0)", synOpts: cat(mss, []byte{1, 1, 8, 10}, ts(777, 0), []byte{1, 3, 3, 10}),
			wantOpts: func(v uint32) []byte { return cat(mss, []byte{1, 1, 8, 10}, ts(v, 777), []byte{1, 3, 3, 10}) }, wantWin: 65160, wantHLen: 40},
		{name: "MSS, SACK_PERM+TS, no WS (tcp_window_scaling=0)", synOpts: cat(mss, []byte{4, 2, 8, 10}, ts(777, 0)),
			wantOpts: func(v uint32) []byte { return cat(mss, []byte{4, 2, 8, 10}, ts(v, 777)) }, wantWin: 65160, wantHLen: 36},
		{name: "MSS, NOP NOP TS, no SACK", synOpts: cat(mss, []byte{1, 1, 8, 10}, ts(777, 0)),
			wantOpts: func(v uint32) []byte { return cat(mss, []byte{1, 1, 8, 10}, ts(v, 777)) }, wantWin: 65160, wantHLen: 36, tsInReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.B.ListenTCP(80, true)
			hl := 20 + len(tt.synOpts)
			pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoTCP, hl, true, 0)
			tc := packet.TCP(pl)
			tc.SetPorts(40000, 80)
			binary.BigEndian.PutUint32(pl[4:], 1000)
			binary.BigEndian.PutUint32(pl[8:], 0)
			pl[12], pl[13] = byte(hl/4)<<4, packet.TCPSyn
			binary.BigEndian.PutUint16(pl[14:], 29200)
			pl[16], pl[17], pl[18], pl[19] = 0, 0, 0, 0
			copy(pl[20:], tt.synOpts)
			packet.SetTransportChecksum(pl, w.aIP, w.bIP, packet.ProtoTCP)
			w.A.LocalOut(pkt)
			w.run()
			var synack *wireSeg
			for _, s := range wireSegs(t, w) {
				if s.flags == "S." {
					synack = &s
				}
			}
			require.NotNil(t, synack)
			assert.Equal(t, tt.wantHLen, synack.hlen)
			assert.Equal(t, tt.wantOpts(synack.tsVal), synack.opts)
			assert.Equal(t, tt.wantWin, synack.win)
			assert.Zero(t, synack.ipID)
		})
	}
}

// TestRSTOnTheWire: a RST from the control socket: DF, ID 0, no options,
// window 0, TTL 64, the TOS of the segment it answers without ECN bits.
func TestRSTOnTheWire(t *testing.T) {
	for _, tos := range []uint8{0, 0x10, 0x13} {
		w := newWorld(t)
		pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoTCP, 20, true, 0)
		ipb := packet.IPv4(pkt.Bytes())
		ipb[1] = tos
		ipb.SetChecksum()
		tc := packet.TCP(pl)
		tc.SetPorts(40000, 81)
		binary.BigEndian.PutUint32(pl[4:], 1000)
		binary.BigEndian.PutUint32(pl[8:], 0)
		pl[12], pl[13] = 5<<4, packet.TCPSyn
		packet.SetTransportChecksum(pl, w.aIP, w.bIP, packet.ProtoTCP)
		w.A.LocalOut(pkt)
		w.run()
		var rst *wireSeg
		for _, s := range wireSegs(t, w) {
			if !s.fromA {
				rst = &s
			}
		}
		require.NotNil(t, rst)
		assert.Equal(t, "R.", rst.flags)
		assert.Zero(t, rst.ipID)
		assert.True(t, rst.df)
		assert.Equal(t, 20, rst.hlen)
		assert.Zero(t, rst.win)
		assert.Equal(t, uint8(64), rst.ttl)
		assert.Equal(t, tos&^3, rst.tos, "TOS %#x reflected without ECN", tos)
	}
}

// rejectTCP is a filter that rejects every TCP segment at INPUT with
// --reject-with tcp-reset.
type rejectTCP struct{}

func (rejectTCP) Pass(h netstack.Hook, pkt *packet.Buffer, _, _ *link.Device) bool {
	return h != netstack.LocalIn || packet.IPv4(pkt.Bytes()).Protocol() != packet.ProtoTCP
}

func (rejectTCP) Refusal() netstack.Verdict {
	return netstack.Verdict{Kind: netstack.Reject, RejectTCPReset: true, Detail: "test reject"}
}

// TestRejectTCPResetOnTheWire: iptables' REJECT --reject-with tcp-reset
// (nf_reject_iphdr_put) sends TOS 0 whatever the segment had, DF, ID 0.
func TestRejectTCPResetOnTheWire(t *testing.T) {
	w := newWorld(t)
	w.B.Filter = rejectTCP{}
	w.B.ListenTCP(80, true)
	pkt, pl := w.A.NewIPPacket(w.aIP, w.bIP, packet.ProtoTCP, 20, true, 0)
	ipb := packet.IPv4(pkt.Bytes())
	ipb[1] = 0x10
	ipb.SetChecksum()
	packet.TCP(pl).SetPorts(40000, 80)
	binary.BigEndian.PutUint32(pl[4:], 1000)
	binary.BigEndian.PutUint32(pl[8:], 0)
	pl[12], pl[13] = 5<<4, packet.TCPSyn
	packet.SetTransportChecksum(pl, w.aIP, w.bIP, packet.ProtoTCP)
	w.A.LocalOut(pkt)
	w.run()
	var rst *wireSeg
	for _, s := range wireSegs(t, w) {
		if !s.fromA {
			rst = &s
		}
	}
	require.NotNil(t, rst)
	assert.Equal(t, "R.", rst.flags)
	assert.Zero(t, rst.tos)
	assert.Zero(t, rst.ipID)
	assert.True(t, rst.df)
	assert.Zero(t, rst.win)
}

// TestPingOnTheWire: an echo request as iputils ping sends it through a
// ping socket: the echo ID is the socket's port, the same for every
// request of a flow; the data is a struct timeval of the virtual time of
// day, then bytes i = i; the IP ID comes from the hash generator (+1 per
// packet within a jiffy) even with DF, and is 0 with ping -M do; the reply
// has no DF.
func TestPingOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		df     netstack.DFMode
		wantDF bool
		zeroID bool
	}{
		{name: "default 56 bytes", size: 56, df: netstack.DFWant, wantDF: true},
		{name: "-M do", size: 56, df: netstack.DFDo, wantDF: true, zeroID: true},
		{name: "-M dont", size: 56, df: netstack.DFDont},
		{name: "-s 300: pattern wraps past 255", size: 300, df: netstack.DFWant, wantDF: true},
		{name: "-s 8: too small for a timeval, pattern only", size: 8, df: netstack.DFWant, wantDF: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.s.AfterFunc(3*time.Second+250*time.Microsecond, func() {
				require.True(t, w.A.Ping(w.bIP, 0, 1, tt.size, tt.df, 4))
				require.True(t, w.A.Ping(w.bIP, 0, 2, tt.size, tt.df, 4))
			})
			w.run()
			req := w.ipv4Frames(w.aEth, link.Out, packet.ProtoICMP)
			require.Len(t, req, 2)
			var ids, ipids []uint16
			for i, f := range req {
				p := decode(t, f)
				ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				require.Equal(t, layers.CreateICMPv4TypeCode(8, 0), ic.TypeCode)
				assert.Equal(t, uint16(i+1), ic.Seq)
				ids = append(ids, ic.Id)
				ipids = append(ipids, ip4.Id)
				assert.Equal(t, tt.wantDF, ip4.Flags&layers.IPv4DontFragment != 0)
				data := ic.Payload
				require.Len(t, data, tt.size)
				from := 0
				if tt.size >= 16 {
					assert.Equal(t, uint64(netstack.WallEpoch.Unix()+3), binary.LittleEndian.Uint64(data[0:8]), "tv_sec")
					assert.Equal(t, uint64(250), binary.LittleEndian.Uint64(data[8:16]), "tv_usec")
					from = 16
				}
				for j := from; j < len(data); j++ {
					require.Equal(t, byte(j), data[j], "data byte %d", j)
				}
			}
			assert.Equal(t, ids[0], ids[1], "one socket, one echo ID")
			assert.NotZero(t, ids[0])
			if tt.zeroID {
				assert.Equal(t, []uint16{0, 0}, ipids)
			} else {
				assert.Equal(t, ipids[0]+1, ipids[1], "same hash bucket, same jiffy: +1")
			}
			rep := w.ipv4Frames(w.bEth, link.Out, packet.ProtoICMP)
			require.Len(t, rep, 2)
			for i, f := range rep {
				p := decode(t, f)
				ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				assert.Zero(t, ip4.Flags&layers.IPv4DontFragment, "the kernel's ICMP socket: IP_PMTUDISC_DONT")
				assert.Equal(t, ids[0], ic.Id)
				assert.Equal(t, decode(t, req[i]).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).Payload, ic.Payload, "reply echoes the data")
			}
			assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 2)
		})
	}
}

// TestPingSocketsGetDistinctIDs: two ping processes (flows) get two
// sockets with consecutive ports.
func TestPingSocketsGetDistinctIDs(t *testing.T) {
	w := newWorld(t)
	require.True(t, w.A.Ping(w.bIP, 0, 1, 56, netstack.DFWant, 1))
	require.True(t, w.A.Ping(w.bIP, 0, 1, 56, netstack.DFWant, 2))
	w.run()
	req := w.ipv4Frames(w.aEth, link.Out, packet.ProtoICMP)
	require.Len(t, req, 2)
	a := decode(t, req[0]).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).Id
	b := decode(t, req[1]).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).Id
	assert.Equal(t, a+1, b)
}

// TestIPIdentBuckets: the hash generator keeps one counter per (dst, src,
// protocol): +1 per packet within a jiffy, independent between keys, and
// after a quiet time it jumps by less than the jiffies that passed (4 ms
// each at HZ 250) — as the outer headers of Linux's VXLAN showed.
func TestIPIdentBuckets(t *testing.T) {
	w := newWorld(t)
	a, b, c := ip("10.0.1.2"), ip("10.0.2.2"), ip("10.0.3.3")
	tests := []struct {
		name  string
		after time.Duration
		src   netip.Addr
		dst   netip.Addr
		proto uint8
		step  func(prev, got uint16) bool
	}{
		{"first", 0, a, b, packet.ProtoUDP, nil},
		{"same jiffy: +1", 0, a, b, packet.ProtoUDP, func(p, g uint16) bool { return g == p+1 }},
		{"same jiffy: +1 again", time.Millisecond, a, b, packet.ProtoUDP, func(p, g uint16) bool { return g == p+1 }},
		{"400 ms later: 1 + a jump below 100 jiffies", 400 * time.Millisecond, a, b, packet.ProtoUDP,
			func(p, g uint16) bool { return g-p >= 1 && g-p <= 100 }},
	}
	var prev uint16
	for _, tt := range tests {
		var got uint16
		w.s.AfterFunc(tt.after, func() { got = w.A.IPIdent(tt.src, tt.dst, tt.proto) })
		w.run()
		if tt.step != nil {
			assert.True(t, tt.step(prev, got), "%s: %d after %d", tt.name, got, prev)
		}
		prev = got
		// Other keys do not move this counter.
		w.A.IPIdent(a, c, packet.ProtoUDP)
		w.A.IPIdent(a, b, packet.ProtoICMP)
	}
}

// TestConnectPortsEvenAndNotInTimeWait: connect() takes even local ports
// (Linux 6.x leaves odd ones to bind(); every client port observed was
// even) and never one whose 4-tuple is still in TIME-WAIT: 2000
// connect-and-close exchanges to one server within a minute use 2000
// distinct ports although random draws from 14116 even ports would
// repeat (birthday bound: ~140 repeats expected).
func TestConnectPortsEvenAndNotInTimeWait(t *testing.T) {
	w := newWorld(t)
	w.B.ListenTCP(80, true)
	const n = 2000
	seen := map[uint16]int{}
	for i := range n {
		w.s.AfterFunc(10*time.Millisecond, func() {
			local, ok := w.A.Dial(ap("10.0.2.2:80"), 0, int32(i+1))
			require.True(t, ok)
			seen[local.Port()]++
		})
		w.run()
	}
	require.Len(t, ofKind(w.evA, netstack.EvTCPClosed), n)
	assert.Len(t, seen, n, "no port reused while its 4-tuple is in TIME-WAIT")
	for p := range seen {
		require.Zero(t, p%2, "port %d is odd", p)
		require.GreaterOrEqual(t, p, uint16(32768))
		require.LessOrEqual(t, p, uint16(60999))
	}
}

// TestSlowStartAndAcks: a write larger than the initial window leaves as
// TCP_INIT_CWND = 10 segments, more follow as ACKs open the window (slow
// start: +1 segment per segment acknowledged); every sequence and ACK
// number stays consistent (tcpSegments checks them), the receiver ACKs at
// least every second full segment, and all data is echoed.
func TestSlowStartAndAcks(t *testing.T) {
	const size = 20*1448 + 1040
	w := newWorld(t)
	w.B.ListenTCP(80, true)
	require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), size, 1))
	w.run()
	segs := tcpSegments(t, w)
	firstFlight := 0
	for _, s := range segs[3:] { // after S, S., the handshake ACK
		if !s.fromA {
			break
		}
		firstFlight++
	}
	assert.Equal(t, 10, firstFlight, "the initial congestion window")
	var sentA, sentB int
	for _, s := range segs {
		if s.fromA {
			sentA += s.n
		} else {
			sentB += s.n
		}
	}
	assert.Equal(t, size, sentA)
	assert.Equal(t, size, sentB, "everything echoed")
	assert.Len(t, ofKind(w.evA, netstack.EvTCPClosed), 1)
	assert.Zero(t, w.env.Pool.Out)
}

// TestTCPReceiveWindowAsLinux: the window of every segment of an echo
// exchange, as Linux 6.18 sent them between two network namespaces joined
// by a veth pair (offloads off, AF_PACKET capture). A segment shorter
// than rcv_mss (536 at first) leaves the scaling ratio at 1/2, so
// rcv_ssthresh stays at tcp_init_buffer_space's clamp 65536 − 1448 and
// the windows at the handshake's; a longer one sets it from len/truesize
// (truesize = len + 832), which lifts the clamp, and tcp_grow_window adds
// 2·advmss.
func TestTCPReceiveWindowAsLinux(t *testing.T) {
	tests := []struct {
		size int
		want []string
	}{
		{size: 100, want: []string{"A>B S 0 win 64240", "B>A S. 0 win 65160", "A>B . 0 win 63", "A>B P. 100 win 63",
			"B>A . 0 win 64", "B>A P. 100 win 64", "A>B . 0 win 63", "A>B F. 0 win 63", "B>A F. 0 win 64", "A>B . 0 win 63"}},
		{size: 200, want: []string{"A>B S 0 win 64240", "B>A S. 0 win 65160", "A>B . 0 win 63", "A>B P. 200 win 63",
			"B>A . 0 win 64", "B>A P. 200 win 64", "A>B . 0 win 63", "A>B F. 0 win 63", "B>A F. 0 win 64", "A>B . 0 win 63"}},
		{size: 1000, want: []string{"A>B S 0 win 64240", "B>A S. 0 win 65160", "A>B . 0 win 63", "A>B P. 1000 win 63",
			"B>A . 0 win 67", "B>A P. 1000 win 67", "A>B . 0 win 66", "A>B F. 0 win 66", "B>A F. 0 win 67", "A>B . 0 win 66"}},
		{size: 1448, want: []string{"A>B S 0 win 64240", "B>A S. 0 win 65160", "A>B . 0 win 63", "A>B P. 1448 win 63",
			"B>A . 0 win 67", "B>A P. 1448 win 67", "A>B . 0 win 66", "A>B F. 0 win 66", "B>A F. 0 win 67", "A>B . 0 win 66"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d bytes", tt.size), func(t *testing.T) {
			w := newWorld(t)
			w.B.ListenTCP(80, true)
			require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), tt.size, 1))
			w.run()
			var got []string
			for _, s := range wireSegs(t, w) {
				who := "B>A"
				if s.fromA {
					who = "A>B"
				}
				got = append(got, fmt.Sprintf("%s %s %d win %d", who, s.flags, s.n, s.win))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
