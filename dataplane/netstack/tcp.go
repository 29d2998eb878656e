package netstack

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// TCP here is the smallest honest TCP: the three-way handshake, data in
// MSS-sized segments acknowledged cumulatively, slow start from an initial
// window of 10 segments within the peer's receive window, an echo server,
// FIN close, and RST for closed ports. No retransmission or loss recovery:
// in the simulator a lost segment is a drop with a reason, which is what
// the trace is for. What goes on the wire follows Linux 6.x with its
// default sysctls (tcp_timestamps=1, tcp_sack=1, tcp_window_scaling=1,
// tcp_rmem="4096 131072 33554432", rmem_max=212992), field for field:
//
//   - SYN options as tcp_options_write lays them out: MSS, SACK_PERM and
//     Timestamps sharing a word, NOP, window scale:
//     02 04 MSS  04 02 08 0a TSval TSecr(0)  01 03 03 WS — a 40-byte header.
//   - SYN-ACK options answer what the SYN offered (tcp_synack_options):
//     MSS always; TS (after 04 02 if SACK was offered, else 01 01); SACK
//     alone as 01 01 04 02; 01 03 03 WS only if the SYN had window scale.
//   - every later segment carries 01 01 08 0a TSval TSecr when timestamps
//     were negotiated (a 32-byte header). TSval is a per-connection random
//     offset plus a millisecond clock (tcp_clock_ms, here the virtual
//     clock); TSecr echoes the peer's latest TSval (ts_recent).
//   - the receive window is chosen by tcp_select_initial_window: the
//     space is tcp_full_space = tcp_rmem[1]/2 = 65536 (scaling_ratio 1/2),
//     rounded down to a multiple of the MSS (the SYN: advmss, 64240 for
//     MSS 1460, 64860 for MSS 1410; the SYN-ACK: advmss − 12 when
//     timestamps are on, 65160 and 64308); window scale is
//     ilog2(max(tcp_rmem[2], rmem_max)) − 15: 10 with the 32 MB
//     tcp_rmem[2] of Linux ≥ 6.16 (7 with the 6 MB of 6.1–6.15). Segments
//     after the SYN carry the window >> wscale, tcp_select_window never
//     shrinking an offered window and aligning it to 1<<wscale. The
//     window is min(tcp_space, rcv_ssthresh): tcp_init_buffer_space
//     clamps rcv_ssthresh to the full space less one segment (65536 −
//     1448), so segments shorter than rcv_mss (536 at first) leave the
//     windows at the handshake's; a longer segment sets scaling_ratio to
//     len/truesize (truesize = len + 832 as a veth delivers it), which
//     raises the clamp, and tcp_grow_window adds max(2·advmss, 2·len) per
//     segment of at least 128 bytes within the clamp and tcp_space, the
//     131072-byte buffer less the truesize of unread segments (the
//     application reads once every segment of the same instant is in).
//     Receive-buffer autotuning (tcp_rcv_space_adjust) is not modelled.
//   - acknowledgements: the handshake ACK is its own segment, data
//     received in quick-ACK mode (the first 16 ACKs) is acknowledged at
//     once by a pure ACK, later data when more than one full frame is
//     unacknowledged, else by the 40 ms delayed ACK; a server that answers
//     within the delayed-ACK time enters ping-pong mode and its answers
//     carry the ACK (tcp_event_data_sent). A FIN is
//     acknowledged by the FIN of the closing application (close after
//     EOF), the closer's final ACK ends the exchange (TIME-WAIT).
//   - IP header: DF, TTL 64, TOS 0; the ID of a connected socket is its
//     inet_id (random at connect/accept, +1 per segment); the SYN-ACK
//     (ip_build_and_send_pkt with DF) and RSTs (the per-CPU control socket
//     with IP_PMTUDISC_DO) have ID 0, the RST's TOS reflects the segment's.
//
// Observed on Linux 6.18.44 (uname -r: 6.18.44-fc-v1045) between two
// network namespaces joined by a veth pair, traffic from Go's net package,
// frames read with an AF_PACKET socket: SYN win 64240 options
// 02 04 05 b4 04 02 08 0a TSval 00000000 01 03 03 0a; SYN-ACK win 65160
// same layout, ID 0; first ACK win 63 (64512 >> 10), the server's first
// window 64 (65536 >> 10); MTU 1450: SYN 64860, SYN-ACK 64308; RST|ACK to
// a closed port: seq 0, win 0, no options, DF, ID 0; client IDs random
// then +1 per segment; `nc -z`-style connect and close:
// S, S., ., F., F., . (the server's FIN carries the ACK of the client's).
// With the client's tcp_timestamps=0 the SYN-ACK was
// 02 04 05 b4 01 01 04 02 01 03 03 0a win 64240; with tcp_sack=0
// 02 04 05 b4 01 01 08 0a TSval TSecr 01 03 03 0a win 65160; with
// tcp_window_scaling=0 02 04 05 b4 04 02 08 0a TSval TSecr win 65160 and
// the windows after it unscaled (64240).

// TCP sysctl defaults of Linux 6.18 (see the comment above).
const (
	tcpRmemDefault  = 131072                // net.ipv4.tcp_rmem[1]: the initial sk_rcvbuf
	tcpRmemMax      = 33554432              // net.ipv4.tcp_rmem[2] (6 MB before Linux 6.16)
	rmemMax         = 212992                // net.core.rmem_max
	tcpMaxWscale    = 14                    // TCP_MAX_WSCALE
	tcpMSSDefault   = 536                   // TCP_MSS_DEFAULT: the first rcv_mss estimate
	tcpTSLen        = 12                    // TCPOLEN_TSTAMP_ALIGNED
	tcpMaxQuickacks = 16                    // TCP_MAX_QUICKACKS
	tcpDelackMin    = 40 * time.Millisecond // TCP_DELACK_MIN (HZ/25)
	tcpInitCwnd     = 10                    // TCP_INIT_CWND

	// tcpRmemToWinScale is TCP_RMEM_TO_WIN_SCALE: scaling_ratio is the
	// share of the receive buffer that is window, in 1/256ths.
	tcpRmemToWinScale = 8
	// tcpDefaultScalingRatio is TCP_DEFAULT_SCALING_RATIO: half the buffer
	// until the first segment's len/truesize is measured (65536 of the
	// 131072-byte tcp_rmem[1], the window observed on Linux 6.18).
	tcpDefaultScalingRatio = 1 << (tcpRmemToWinScale - 1)
	// skbRxOverhead is the truesize of a received segment beyond its
	// payload, as a veth pair delivers it. Measured on Linux 6.18 with a
	// reader that never reads: ss -m shows r1032 for one 200-byte
	// segment, r1832 for 1000, r2280 for 1448, i.e. len + 832. The skb
	// crosses the veth as the sender's tcp_stream_alloc_skb built it: the
	// payload in page fragments, charged byte for byte, and a head of
	// SKB_TRUESIZE(256) = 256 (a 576-byte skb_small_head_cache object less
	// the aligned skb_shared_info) + 256 (aligned struct sk_buff) + 320
	// (aligned struct skb_shared_info).
	skbRxOverhead = 832
	// sockMinRcvbuf is SOCK_MIN_RCVBUF: 2·TCP_SKB_MIN_TRUESIZE (2048 +
	// 256); tcp_set_window_clamp never goes below half of it.
	sockMinRcvbuf = 2 * (2048 + 256)
)

// TCPState is a connection state.
type TCPState uint8

// TCP states.
const (
	TCPSynSent TCPState = iota
	TCPSynRecv
	TCPEstablished
	TCPFinWait1
	TCPLastAck
	TCPClosed
)

func (t TCPState) String() string {
	return [...]string{"SYN-SENT", "SYN-RECV", "ESTABLISHED", "FIN-WAIT-1", "LAST-ACK", "CLOSED"}[t]
}

type tcpKey struct{ local, remote netip.AddrPort }

// TCPListener is a listening socket.
type TCPListener struct {
	Port uint16
	Echo bool
}

// TCPConn is one connection.
type TCPConn struct {
	s              *Stack
	Local, Remote  netip.AddrPort
	State          TCPState
	Flow           int32
	echo           bool
	iss, sndNxt    uint32
	rcvNxt         uint32
	mss            int // mss_clamp: the peer's MSS capped by our path MTU − 40
	advmss         int // our MSS option: route MTU − 40
	toSend         int // client: bytes to send once established
	want, received int // client: reply bytes expected and received

	inetID             uint16 // inet_id: the IP ID of the next segment
	tsOK, sackOK, wsOK bool   // options negotiated in the handshake
	tsOffset, tsRecent uint32
	rcvWscale          uint8
	sndWscale          uint8
	rcvWnd, rcvWup     uint32 // window last offered, and rcv_nxt then
	rcvSsthresh        uint32
	windowClamp        uint32
	rcvMss             int
	pingpong           bool // answered within the delayed-ACK time: ACKs ride on data
	quick              int  // icsk_ack.quick: ACKs left in quick-ACK mode
	atoInit            bool // the first data segment started the delayed-ACK engine
	ackPending         bool // received data not yet acknowledged
	delackGen          int  // invalidates a scheduled delayed ACK
	lastDataRcv        time.Duration

	// Receive buffer accounting (see dataReceived).
	scalingRatio int           // tp->scaling_ratio, in 1/256ths of the buffer
	rmemAlloc    int           // sk_rmem_alloc: truesize of data not yet read
	rmemAt       time.Duration // when the unread data arrived

	// Sending: slow start from the initial window, within the peer's
	// receive window.
	sndUna    uint32
	sndWnd    uint32
	cwnd      int        // segments
	inflight  []uint32   // end sequence of each unacknowledged segment
	sendQ     []tcpWrite // written, not yet sent
	finQueued bool

	// probe: a half-open probe (DialProbe), answered by a RST once the
	// SYN-ACK is in.
	probe bool
}

// tcpWrite is one write() of the application; its last segment gets PSH.
type tcpWrite struct {
	data []byte
	off  int
}

// tcpOpts is what a segment's options say.
type tcpOpts struct {
	mss          int
	sackOK, wsOK bool
	ws           uint8
	tsOK         bool
	tsVal, tsEcr uint32
}

func parseTCPOpts(t packet.TCP) tcpOpts {
	var r tcpOpts
	o := t[packet.TCPHeaderLen:t.DataOffset()]
	for len(o) > 0 {
		switch o[0] {
		case 0:
			return r
		case 1:
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) > len(o) || o[1] < 2 {
			return r
		}
		switch {
		case o[0] == 2 && o[1] == 4:
			r.mss = int(binary.BigEndian.Uint16(o[2:4]))
		case o[0] == 3 && o[1] == 3:
			r.wsOK, r.ws = true, min(o[2], tcpMaxWscale)
		case o[0] == 4 && o[1] == 2:
			r.sackOK = true
		case o[0] == 8 && o[1] == 10:
			r.tsOK = true
			r.tsVal = binary.BigEndian.Uint32(o[2:6])
			r.tsEcr = binary.BigEndian.Uint32(o[6:10])
		}
		o = o[o[1]:]
	}
	return r
}

// tcpWscale is the window scale tcp_select_initial_window announces.
func tcpWscale() uint8 {
	space := max(tcpRmemMax, rmemMax)
	ws := bits.Len32(uint32(space)) - 1 - 15
	return uint8(min(max(ws, 0), tcpMaxWscale))
}

// initialWindow is tcp_select_initial_window's rcv_wnd for an MSS.
func initialWindow(mss int) uint32 {
	space := tcpRmemDefault / 2 // tcp_full_space with the default scaling_ratio
	if space > mss {
		space -= space % mss
	}
	return uint32(min(space, 65535))
}

func alignUp(v uint32, a uint32) uint32 { return (v + a - 1) &^ (a - 1) }

// tsNow is tcp_time_stamp_ts: the connection's offset plus the
// millisecond clock.
func (c *TCPConn) tsNow() uint32 {
	return c.tsOffset + uint32(c.s.now()/time.Millisecond)
}

// sendMSS is mss_cache: the largest payload of a segment.
func (c *TCPConn) sendMSS() int {
	if c.tsOK {
		return c.mss - tcpTSLen
	}
	return c.mss
}

// winFromSpace is tcp_win_from_space: the part of space bytes of
// receive buffer that may be offered as window.
func (c *TCPConn) winFromSpace(space int) int {
	return space * c.scalingRatio >> tcpRmemToWinScale
}

// tcpSpace is tcp_space: the window the free receive buffer allows,
// sk_rcvbuf (tcp_rmem[1]; buffer autotuning is not modelled) less what
// unread segments take.
func (c *TCPConn) tcpSpace() int {
	if c.rmemAt != c.s.now() {
		// The application runs once the softirq has handled every
		// segment that arrived together, and reads them all.
		c.rmemAlloc = 0
	}
	return c.winFromSpace(tcpRmemDefault - c.rmemAlloc)
}

// winAdvmss is tp->advmss once established: the MSS we announced less
// the timestamp option when timestamps are on.
func (c *TCPConn) winAdvmss() int {
	if c.tsOK {
		return c.advmss - tcpTSLen
	}
	return c.advmss
}

// initBufferSpace is tcp_init_buffer_space at the handshake's end, with
// tcp_app_win=31: the window clamp is the full space less one segment
// (65536 − 1448 = 64088 on Linux 6.18), and rcv_ssthresh starts no
// higher. Until a segment's len/truesize raises the scaling ratio,
// tcp_grow_window has no room: the window stays where the handshake left
// it.
func (c *TCPConn) initBufferSpace() {
	maxwin := uint32(c.winFromSpace(tcpRmemDefault))
	advmss := uint32(c.winAdvmss())
	if c.windowClamp >= maxwin {
		c.windowClamp = maxwin
	}
	if c.windowClamp > 2*advmss && c.windowClamp+advmss > maxwin {
		c.windowClamp = max(2*advmss, maxwin-advmss)
	}
	c.rcvSsthresh = min(c.rcvSsthresh, c.windowClamp)
}

// setWindowClamp is tcp_set_window_clamp after a scaling ratio change.
func (c *TCPConn) setWindowClamp(val int) {
	clamp := uint32(max(sockMinRcvbuf/2, val))
	if clamp == c.windowClamp {
		return
	}
	old := c.windowClamp
	c.windowClamp = clamp
	if clamp < old {
		c.rcvSsthresh = min(c.rcvSsthresh, clamp)
	} else {
		c.rcvSsthresh = max(min(c.rcvWnd, clamp), c.rcvSsthresh)
	}
}

// selectWindow is tcp_select_window: the window field of a non-SYN
// segment (__tcp_select_window: the free buffer space within
// rcv_ssthresh, aligned up to the window scale), never shrinking what was
// offered.
func (c *TCPConn) selectWindow() uint16 {
	cur := int64(max(int32(c.rcvWup+c.rcvWnd-c.rcvNxt), 0))
	free := uint32(max(c.tcpSpace(), 0))
	if free > c.rcvSsthresh {
		free = c.rcvSsthresh
	}
	var win uint32
	if c.rcvWscale > 0 {
		win = alignUp(free, 1<<c.rcvWscale)
	} else {
		mss := uint32(min(c.rcvMss, int(min(c.windowClamp, uint32(c.winFromSpace(tcpRmemDefault))))))
		win = c.rcvWnd
		if int64(win) <= int64(free)-int64(mss) || win > free {
			win = free - free%mss
		}
	}
	if int64(win) < cur {
		win = alignUp(uint32(cur), 1<<c.rcvWscale)
	}
	c.rcvWnd, c.rcvWup = win, c.rcvNxt
	return uint16(min(win>>c.rcvWscale, 65535))
}

// dataReceived is the window part of queueing a segment of n bytes and
// of tcp_event_data_recv: the segment's truesize is charged to the
// receive buffer, tcp_measure_rcv_mss updates rcv_mss and, when it
// changes, the scaling ratio from len/truesize (and with it the window
// clamp), and tcp_grow_window raises rcv_ssthresh by max(2·advmss, 2·len)
// within the clamp and the free space. It reports whether the window
// grew (tcp_grow_window then sets icsk_ack.quick's low bit).
func (c *TCPConn) dataReceived(n int) bool {
	truesize := n + skbRxOverhead
	c.tcpSpace() // the application has read what came before now
	c.rmemAlloc += truesize
	c.rmemAt = c.s.now()
	if n >= c.rcvMss {
		if n != c.rcvMss {
			ratio := max(n<<tcpRmemToWinScale/truesize, 1)
			if ratio != c.scalingRatio {
				c.scalingRatio = ratio
				c.setWindowClamp(c.winFromSpace(tcpRmemDefault))
			}
		}
		c.rcvMss = min(n, c.winAdvmss())
	}
	if n < 128 {
		return false
	}
	room := min(int(c.windowClamp), c.tcpSpace()) - int(c.rcvSsthresh)
	if room <= 0 {
		return false
	}
	// Check #2 of tcp_grow_window: truesize_adjust leaves only the page
	// fragments (the head holds no payload), which always fit, so the
	// increment is 2·advmss, never __tcp_grow_window's smaller one.
	incr := max(2*c.winAdvmss(), 2*n)
	c.rcvSsthresh += uint32(min(room, incr))
	return true
}

// ListenTCP opens a listening socket on port; echo sends data back.
func (s *Stack) ListenTCP(port uint16, echo bool) *TCPListener {
	l := &TCPListener{Port: port, Echo: echo}
	if s.tcpListen == nil {
		s.tcpListen = make(map[uint16]*TCPListener)
	}
	s.tcpListen[port] = l
	return l
}

// CloseTCP closes the listener on port.
func (s *Stack) CloseTCP(port uint16) { delete(s.tcpListen, port) }

// DialTCP connects to dst, sends size bytes once connected, expects them
// echoed back, then closes. It reports whether the SYN left the socket.
func (s *Stack) DialTCP(dst netip.AddrPort, size int, flow int32) bool {
	_, ok := s.Dial(dst, size, flow)
	return ok
}

// Dial is DialTCP that also returns the connection's local address.
func (s *Stack) Dial(dst netip.AddrPort, size int, flow int32) (netip.AddrPort, bool) {
	return s.dial(dst, size, flow, false)
}

// DialProbe sends a half-open connection probe, as a port scanner's raw
// socket does (nmap -sS, hping3 -S): the SYN Dial sends, from a fresh
// connect() port. A SYN-ACK is reported as EvTCPEstablished and then
// answered as the kernel answers a segment no socket owns
// (tcp_v4_send_reset: RST, seq = the SYN-ACK's ack), so the listener's
// SYN-RECV connection ends: S, S., R — three segments where a connect and
// close (Dial with size 0) takes six. A RST (no listener), an ICMP error
// or no answer is reported as for Dial.
func (s *Stack) DialProbe(dst netip.AddrPort, flow int32) (netip.AddrPort, bool) {
	return s.dial(dst, 0, flow, true)
}

// AbortConnect closes a connecting socket (SYN-SENT: its SYN got no
// answer), as close() does before the handshake: the connection goes
// without a segment. A connection in any other state, or none, is left
// as it is.
func (s *Stack) AbortConnect(local, remote netip.AddrPort) {
	k := tcpKey{local, remote}
	if c, ok := s.tcpConns[k]; ok && c.State == TCPSynSent {
		delete(s.tcpConns, k)
	}
}

func (s *Stack) dial(dst netip.AddrPort, size int, flow int32, probe bool) (netip.AddrPort, bool) {
	r, src, ok := s.RouteOutput(dst.Addr())
	if !ok {
		detail := fmt.Sprintf("no route to %s (connect: Network is unreachable)", dst.Addr())
		if r != nil {
			detail = "route " + r.String()
		}
		s.env.Trace.AddDrop(trace.Drop{Flow: flow, Node: s.Name, Reason: trace.ReasonNoRoute, Detail: detail})
		s.emit(Event{Kind: EvError, Flow: flow, Err: "Network is unreachable"})
		return netip.AddrPort{}, false
	}
	advmss := s.RouteMTU(r, dst.Addr()) - 40
	c := &TCPConn{s: s, Local: netip.AddrPortFrom(src, s.connectPort(src, dst)), Remote: dst, State: TCPSynSent, Flow: flow,
		iss: s.rng.Uint32(), mss: advmss, advmss: advmss, toSend: size, want: size,
		// tcp_v4_connect: inet_id = get_random_u16(), tsoffset from secure_tcp_ts_off.
		inetID: uint16(s.rng.Uint32()), tsOffset: s.rng.Uint32(),
		tsOK: true, sackOK: true, wsOK: true, rcvWscale: tcpWscale(), rcvMss: tcpMSSDefault, scalingRatio: tcpDefaultScalingRatio, probe: probe}
	c.rcvWnd = initialWindow(advmss)
	c.rcvSsthresh = c.rcvWnd
	c.windowClamp = 65535 << c.rcvWscale
	c.sndNxt, c.sndUna, c.cwnd = c.iss, c.iss, tcpInitCwnd
	if s.tcpConns == nil {
		s.tcpConns = make(map[tcpKey]*TCPConn)
	}
	s.tcpConns[tcpKey{c.Local, c.Remote}] = c
	if s.tracing() {
		s.env.Trace.Add(trace.Hop{Flow: flow, Node: s.Name, Kind: trace.KindLocal,
			Change: fmt.Sprintf("connect %s from %s (mss %d, wscale %d, window %d)", dst, c.Local, c.advmss, c.rcvWscale, c.rcvWnd)})
	}
	c.send(packet.TCPSyn, nil, 0)
	return c.Local, true
}

// TCPTimeWait is TCP_TIMEWAIT_LEN: how long the side that closed first
// keeps the connection's 4-tuple.
const TCPTimeWait = 60 * time.Second

// connectPort picks the local port of connect() as __inet_hash_connect
// does on Linux 6.x: even ports (odd ones are left for bind()), none whose
// 4-tuple is in use or still in TIME-WAIT. The kernel walks from a
// per-destination hash offset; netsim draws from the seeded source.
func (s *Stack) connectPort(src netip.Addr, dst netip.AddrPort) uint16 {
	for {
		p := s.EphemeralPort() &^ 1
		k := tcpKey{netip.AddrPortFrom(src, p), dst}
		if _, ok := s.tcpConns[k]; ok {
			continue
		}
		if exp, ok := s.timeWait[k]; ok && s.now() < exp {
			continue
		}
		return p
	}
}

// enterTimeWait remembers a 4-tuple for TCPTimeWait, sweeping expired
// entries now and then so the table stays the size of one minute's
// connections.
func (s *Stack) enterTimeWait(k tcpKey) {
	now := s.now()
	if len(s.timeWait) >= s.twSweepAt {
		for key, exp := range s.timeWait {
			if now >= exp {
				delete(s.timeWait, key)
			}
		}
		s.twSweepAt = 2*len(s.timeWait) + 64
	}
	if s.timeWait == nil {
		s.timeWait = make(map[tcpKey]time.Duration)
	}
	s.timeWait[k] = now + TCPTimeWait
}

// optLen is the length of the options a segment with flags carries.
func (c *TCPConn) optLen(flags uint8) int {
	n := 0
	if flags&packet.TCPSyn != 0 {
		n = 4 // MSS
		switch {
		case c.tsOK:
			n += 12
		case c.sackOK:
			n += 4
		}
		if c.wsOK {
			n += 4
		}
		return n
	}
	if c.tsOK {
		n += tcpTSLen
	}
	return n
}

// writeOpts lays the options out as tcp_options_write does.
func (c *TCPConn) writeOpts(flags uint8, o []byte) {
	i := 0
	if flags&packet.TCPSyn != 0 {
		o[0], o[1] = 2, 4
		binary.BigEndian.PutUint16(o[2:4], uint16(c.advmss))
		i = 4
	}
	var ecr uint32
	if flags&packet.TCPAck != 0 {
		ecr = c.tsRecent
	}
	switch {
	case c.tsOK:
		if flags&packet.TCPSyn != 0 && c.sackOK {
			o[i], o[i+1] = 4, 2
		} else {
			o[i], o[i+1] = 1, 1
		}
		o[i+2], o[i+3] = 8, 10
		binary.BigEndian.PutUint32(o[i+4:i+8], c.tsNow())
		binary.BigEndian.PutUint32(o[i+8:i+12], ecr)
		i += 12
	case flags&packet.TCPSyn != 0 && c.sackOK:
		o[i], o[i+1], o[i+2], o[i+3] = 1, 1, 4, 2
		i += 4
	}
	if flags&packet.TCPSyn != 0 && c.wsOK {
		o[i], o[i+1], o[i+2], o[i+3] = 1, 3, 3, c.rcvWscale
	}
}

// send emits one segment from the connected socket.
func (c *TCPConn) send(flags uint8, data []byte, parent uint64) {
	s := c.s
	hl := packet.TCPHeaderLen + c.optLen(flags)
	var id uint16
	if flags&(packet.TCPSyn|packet.TCPAck) != packet.TCPSyn|packet.TCPAck {
		// ip_queue_xmit → ip_select_ident_segs: a connected socket's inet_id.
		id = c.inetID
		c.inetID++
	} // the SYN-ACK leaves through ip_build_and_send_pkt with DF: ID 0
	if flags&packet.TCPAck != 0 && c.ackPending {
		// tcp_event_ack_sent: tcp_dec_quickack_mode, the delayed ACK is
		// cancelled.
		c.ackPending = false
		c.delackGen++
		if c.quick > 0 {
			c.quick--
		}
	}
	pkt, pl := s.newIPPacket(c.Local.Addr(), c.Remote.Addr(), packet.ProtoTCP, hl+len(data), true, 0, id)
	pkt.Flow, pkt.Parent = c.Flow, parent
	t := packet.TCP(pl)
	t.SetPorts(c.Local.Port(), c.Remote.Port())
	binary.BigEndian.PutUint32(t[4:8], c.sndNxt)
	var ack uint32
	if flags&packet.TCPAck != 0 {
		ack = c.rcvNxt
	}
	binary.BigEndian.PutUint32(t[8:12], ack)
	t[12] = byte(hl/4) << 4
	t[13] = flags
	var win uint16
	if flags&packet.TCPSyn != 0 {
		win = uint16(min(c.rcvWnd, 65535)) // never scaled in a SYN
	} else {
		win = c.selectWindow()
	}
	binary.BigEndian.PutUint16(t[14:16], win)
	t[16], t[17], t[18], t[19] = 0, 0, 0, 0
	c.writeOpts(flags, t[packet.TCPHeaderLen:hl])
	copy(pl[hl:], data)
	packet.SetTransportChecksum(pl, c.Local.Addr(), c.Remote.Addr(), packet.ProtoTCP)
	c.sndNxt += uint32(len(data))
	if flags&(packet.TCPSyn|packet.TCPFin) != 0 {
		c.sndNxt++
	}
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s > %s [%s] %d bytes win %d (%s)", c.Local, c.Remote, TCPFlagString(flags), len(data), win, c.State)})
	}
	s.LocalOut(pkt)
}

// TCPFlagString prints flags as tcpdump does: "S.", "P.", "F.", "R".
func TCPFlagString(f uint8) string {
	var b strings.Builder
	if f&packet.TCPSyn != 0 {
		b.WriteByte('S')
	}
	if f&packet.TCPFin != 0 {
		b.WriteByte('F')
	}
	if f&packet.TCPPsh != 0 {
		b.WriteByte('P')
	}
	if f&packet.TCPRst != 0 {
		b.WriteByte('R')
	}
	if f&packet.TCPAck != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// write queues what the application writes and sends what the windows
// allow (tcp_sendmsg → tcp_push with TCP_NODELAY, as Go sets it).
func (c *TCPConn) write(data []byte, parent uint64) {
	c.sendQ = append(c.sendQ, tcpWrite{data: data})
	c.push(parent)
}

// push is tcp_write_xmit: MSS-sized segments, none crossing a write, while
// fewer than cwnd segments are unacknowledged and the peer's window has
// room; then a queued FIN.
func (c *TCPConn) push(parent uint64) {
	for len(c.sendQ) > 0 {
		w := &c.sendQ[0]
		n := min(len(w.data)-w.off, c.sendMSS())
		if len(c.inflight) >= c.cwnd || c.sndNxt+uint32(n)-c.sndUna > c.sndWnd {
			return
		}
		flags := uint8(packet.TCPAck)
		last := w.off+n == len(w.data)
		if last {
			flags |= packet.TCPPsh // tcp_push marks the last segment of a write
		}
		seg := w.data[w.off : w.off+n]
		w.off += n
		if last {
			c.sendQ = c.sendQ[1:]
		}
		if c.atoInit && c.s.now()-c.lastDataRcv < tcpDelackMin {
			// tcp_event_data_sent: an answer within ato of the last
			// received data: ping-pong mode, later ACKs ride on data.
			c.pingpong = true
		}
		c.send(flags, seg, parent)
		c.inflight = append(c.inflight, c.sndNxt)
	}
	if c.finQueued {
		c.finQueued = false
		c.send(packet.TCPFin|packet.TCPAck, nil, parent)
	}
}

// acked processes the ACK field (tcp_ack): segments leave the flight,
// slow start grows cwnd by the segments acknowledged (tcp_slow_start), the
// peer's window is updated. What it allows is sent after the segment's
// data was taken in (tcp_data_snd_check).
func (c *TCPConn) acked(t packet.TCP) {
	ack := t.Ack()
	if int32(ack-c.sndUna) < 0 || int32(ack-c.sndNxt) > 0 {
		return
	}
	c.sndWnd = uint32(t.Window()) << c.sndWscale
	c.sndUna = ack
	n := 0
	for n < len(c.inflight) && int32(c.inflight[n]-ack) <= 0 {
		n++
	}
	c.inflight = c.inflight[n:]
	c.cwnd += n
}

// tcpInput is tcp_v4_rcv.
func (s *Stack) tcpInput(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	pl := ip.Payload()
	if len(pl) < packet.TCPHeaderLen || packet.TCP(pl).DataOffset() < packet.TCPHeaderLen || packet.TCP(pl).DataOffset() > len(pl) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad TCP header")
		return
	}
	if !packet.TransportChecksumOK(pl, ip.Src(), ip.Dst(), packet.ProtoTCP) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad TCP checksum")
		return
	}
	t := packet.TCP(pl)
	local := netip.AddrPortFrom(ip.Dst(), t.DstPort())
	remote := netip.AddrPortFrom(ip.Src(), t.SrcPort())
	data := pl[t.DataOffset():]
	flags := t.Flags()
	if c, ok := s.tcpConns[tcpKey{local, remote}]; ok {
		c.input(ifc, pkt, t, flags, data)
		return
	}
	l, ok := s.tcpListen[local.Port()]
	if !ok || flags&packet.TCPSyn == 0 || flags&packet.TCPAck != 0 {
		if flags&packet.TCPRst == 0 {
			s.tcpReset(ip, t, len(data), pkt, true)
		}
		switch {
		case flags&packet.TCPRst != 0:
			// tcp_v4_send_reset never answers a RST.
			s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("RST for no connection %s <- %s: discarded", local, remote))
		case flags&packet.TCPSyn != 0:
			s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("no listener on %s/tcp (RST sent to %s)", local, remote))
		default:
			s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("no connection %s <- %s (RST sent)", local, remote))
		}
		return
	}
	opts := parseTCPOpts(t)
	c := &TCPConn{s: s, Local: local, Remote: remote, State: TCPSynRecv, Flow: pkt.Flow, echo: l.Echo,
		iss: s.rng.Uint32(), rcvNxt: t.Seq() + 1, mss: 1460, advmss: 1460,
		// tcp_v4_syn_recv_sock: the child's inet_id = get_random_u16().
		inetID: uint16(s.rng.Uint32()), tsOffset: s.rng.Uint32(),
		tsOK: opts.tsOK, sackOK: opts.sackOK, wsOK: opts.wsOK, tsRecent: opts.tsVal, rcvMss: tcpMSSDefault, scalingRatio: tcpDefaultScalingRatio}
	if r, _, ok := s.RouteOutput(remote.Addr()); ok {
		c.advmss = s.RouteMTU(r, remote.Addr()) - 40
	}
	c.mss = c.advmss
	if opts.mss > 0 && opts.mss < c.mss {
		c.mss = opts.mss
	}
	if opts.wsOK {
		c.rcvWscale, c.sndWscale = tcpWscale(), opts.ws
	}
	// tcp_openreq_init_rwin: the route's advmss less the timestamp option.
	wmss := c.advmss
	if c.tsOK {
		wmss -= tcpTSLen
	}
	c.rcvWnd = initialWindow(wmss)
	c.rcvSsthresh, c.rcvWup = c.rcvWnd, c.rcvNxt
	c.sndWnd = uint32(t.Window()) // never scaled in a SYN
	c.windowClamp = 65535 << c.rcvWscale
	c.sndNxt, c.sndUna, c.cwnd = c.iss, c.iss, tcpInitCwnd
	if s.tcpConns == nil {
		s.tcpConns = make(map[tcpKey]*TCPConn)
	}
	s.tcpConns[tcpKey{local, remote}] = c
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("listener %s/tcp: SYN from %s, SYN-RECV", local, remote)})
	}
	id := pkt.ID
	pkt.Free()
	c.send(packet.TCPSyn|packet.TCPAck, nil, id)
}

func (c *TCPConn) input(ifc *Iface, pkt *packet.Buffer, t packet.TCP, flags uint8, data []byte) {
	s := c.s
	ev := Event{Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoTCP, Src: c.Remote, Dst: c.Local}
	id := pkt.ID
	defer pkt.Free()
	if flags&packet.TCPRst != 0 {
		delete(s.tcpConns, tcpKey{c.Local, c.Remote})
		ev.Kind, ev.Err, ev.From = EvError, "Connection reset by peer", c.Remote.Addr()
		if c.State == TCPSynSent {
			ev.Err = "Connection refused"
		}
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: fmt.Sprintf("tcp %s: RST from %s: %s", c.Local, c.Remote, ev.Err)})
		}
		s.emit(ev)
		return
	}
	opts := parseTCPOpts(t)
	switch c.State {
	case TCPSynSent:
		if flags&(packet.TCPSyn|packet.TCPAck) != packet.TCPSyn|packet.TCPAck || t.Ack() != c.sndNxt {
			return
		}
		if c.probe {
			c.probeAnswered(ifc, pkt, t, ev)
			return
		}
		c.rcvNxt = t.Seq() + 1
		c.rcvWup = c.rcvNxt
		c.sndUna, c.sndWnd = t.Ack(), uint32(t.Window()) // never scaled in a SYN-ACK
		if opts.mss > 0 && opts.mss < c.mss {
			c.mss = opts.mss
		}
		// tcp_rcv_synsent_state_process: what the SYN-ACK did not echo is off.
		c.tsOK = c.tsOK && opts.tsOK
		c.sackOK = c.sackOK && opts.sackOK
		if opts.wsOK {
			c.sndWscale = opts.ws
		} else {
			c.wsOK, c.rcvWscale = false, 0
			c.windowClamp = min(c.windowClamp, 65535)
		}
		if opts.tsOK {
			c.tsRecent = opts.tsVal
		}
		c.State = TCPEstablished
		c.initBufferSpace() // tcp_finish_connect → tcp_init_transfer
		ev.Kind = EvTCPEstablished
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: SYN-ACK from %s, ESTABLISHED", c.Local, c.Remote)})
		}
		s.emit(ev)
		// connect() returns after the handshake ACK; the application then
		// writes its data, or closes at once (nc -z).
		c.send(packet.TCPAck, nil, id)
		if c.toSend > 0 {
			buf := make([]byte, c.toSend)
			fillPattern(buf)
			c.toSend = 0
			c.write(buf, id)
		} else {
			c.close(id)
		}
	case TCPSynRecv:
		if flags&packet.TCPAck == 0 || t.Ack() != c.sndNxt {
			return
		}
		if opts.tsOK && c.tsOK {
			c.tsRecent = opts.tsVal
		}
		c.State = TCPEstablished
		c.initBufferSpace() // tcp_rcv_state_process → tcp_init_transfer
		ev.Kind = EvTCPAccept
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: handshake done with %s, ESTABLISHED (accept)", c.Local, c.Remote)})
		}
		s.emit(ev)
		c.established(ifc, pkt, t, flags, data, id)
	case TCPEstablished, TCPFinWait1, TCPLastAck:
		if opts.tsOK && c.tsOK && t.Seq() == c.rcvNxt {
			c.tsRecent = opts.tsVal // tcp_store_ts_recent
		}
		c.established(ifc, pkt, t, flags, data, id)
	}
}

// probeAnswered ends a half-open probe (DialProbe) at its SYN-ACK: the
// probe's socket is gone, and the stack answers the SYN-ACK with a RST as
// for any segment no socket owns.
func (c *TCPConn) probeAnswered(ifc *Iface, pkt *packet.Buffer, t packet.TCP, ev Event) {
	s := c.s
	delete(s.tcpConns, tcpKey{c.Local, c.Remote})
	c.State = TCPClosed
	ev.Kind = EvTCPEstablished
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: SYN-ACK from %s: the port answers (half-open probe: no socket, RST)", c.Local, c.Remote)})
	}
	s.emit(ev)
	s.tcpReset(packet.IPv4(pkt.Bytes()), t, 0, pkt, true)
}

func (c *TCPConn) established(ifc *Iface, pkt *packet.Buffer, t packet.TCP, flags uint8, data []byte, id uint64) {
	s := c.s
	if flags&packet.TCPAck != 0 {
		c.acked(t)
	}
	if len(data) > 0 && t.Seq() == c.rcvNxt {
		c.rcvNxt += uint32(len(data))
		grew := c.dataReceived(len(data))
		s.emit(Event{Kind: EvTCPData, Flow: pkt.Flow, Packet: id, Proto: packet.ProtoTCP, Src: c.Remote, Dst: c.Local, Len: len(data)})
		if s.tracing() {
			what := "received"
			if c.echo {
				what = "received and echoed back"
			}
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: fmt.Sprintf("tcp %s: %d bytes from %s %s", c.Local, len(data), c.Remote, what)})
		}
		if !c.atoInit {
			// tcp_event_data_recv: the first data starts quick-ACK mode
			// (tcp_incr_quickack with TCP_MAX_QUICKACKS).
			c.atoInit = true
			q := int(max(int32(c.rcvWup+c.rcvWnd-c.rcvNxt), 0)) / (2 * c.rcvMss)
			if q == 0 {
				q = 2
			}
			c.quick = min(q, tcpMaxQuickacks)
		}
		if grew {
			c.quick |= 1 // tcp_grow_window
		}
		c.ackPending = true
		c.lastDataRcv = s.now()
		// __tcp_ack_snd_check: ACK at once in quick-ACK mode (from softirq,
		// before the application runs) or when more than one full frame
		// is unacknowledged; else the delayed-ACK timer, unless the
		// application's answer carries the ACK first.
		if (c.quick > 0 && !c.pingpong) || int(c.rcvNxt-c.rcvWup) > c.rcvMss {
			c.send(packet.TCPAck, nil, id)
		} else {
			c.delayedAck(id)
		}
		if c.echo {
			c.write(append([]byte(nil), data...), id)
		} else if c.want > 0 {
			c.received += len(data)
			if c.received >= c.want && c.State == TCPEstablished {
				c.close(id)
			}
		}
	}
	c.push(id)
	if flags&packet.TCPFin != 0 {
		c.rcvNxt++
		switch c.State {
		case TCPEstablished:
			// The peer closed: tcp_fin delays the ACK (ping-pong mode); the
			// application reads EOF and closes, its FIN carries the ACK.
			c.State = TCPLastAck
			c.close(id)
		case TCPFinWait1:
			c.send(packet.TCPAck, nil, id)
			c.State = TCPClosed
			delete(s.tcpConns, tcpKey{c.Local, c.Remote})
			s.enterTimeWait(tcpKey{c.Local, c.Remote})
			s.emit(Event{Kind: EvTCPClosed, Flow: pkt.Flow, Packet: id, Proto: packet.ProtoTCP, Src: c.Remote, Dst: c.Local})
			if s.tracing() {
				s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: FIN from %s acknowledged, TIME-WAIT", c.Local, c.Remote)})
			}
		}
		return
	}
	if c.State == TCPLastAck && flags&packet.TCPAck != 0 && t.Ack() == c.sndNxt {
		c.State = TCPClosed
		delete(s.tcpConns, tcpKey{c.Local, c.Remote})
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: last ACK from %s, CLOSED", c.Local, c.Remote)})
		}
	}
}

// delayedAck arms the delayed-ACK timer (TCP_DELACK_MIN, 40 ms; the
// RTT-based stretch of tcp_send_delayed_ack is not modelled).
func (c *TCPConn) delayedAck(parent uint64) {
	gen := c.delackGen
	c.s.env.Sched.AfterFunc(tcpDelackMin, func() {
		if cur, ok := c.s.tcpConns[tcpKey{c.Local, c.Remote}]; !ok || cur != c || gen != c.delackGen || !c.ackPending {
			return
		}
		c.send(packet.TCPAck, nil, parent)
	})
}

// close is the application's close(): the FIN follows the queued data.
func (c *TCPConn) close(parent uint64) {
	if c.State == TCPEstablished {
		c.State = TCPFinWait1
	}
	c.finQueued = true
	c.push(parent)
}

// tcpReset answers a segment with a RST (tcp_v4_send_reset). It leaves
// through the per-CPU control socket (IP_PMTUDISC_DO, not connected): DF,
// ID 0, no options, window 0, and with reflectTOS the TOS of the segment
// it answers. The RST of iptables' REJECT --reject-with tcp-reset
// (nf_send_reset → nf_reject_iphdr_put) has the same fields but TOS 0.
func (s *Stack) tcpReset(ip packet.IPv4, t packet.TCP, dataLen int, cause *packet.Buffer, reflectTOS bool) {
	flags := uint8(packet.TCPRst)
	var seq, ack uint32
	if t.Flags()&packet.TCPAck != 0 {
		seq = t.Ack()
	} else {
		flags |= packet.TCPAck
		ack = t.Seq() + uint32(dataLen)
		if t.Flags()&packet.TCPSyn != 0 {
			ack++
		}
		if t.Flags()&packet.TCPFin != 0 {
			ack++
		}
	}
	var tos uint8
	if reflectTOS {
		tos = ip.TOS() &^ 3 // ip_send_unicast_reply: arg->tos & ~INET_ECN_MASK
	}
	pkt, pl := s.newIPPacket(ip.Dst(), ip.Src(), packet.ProtoTCP, packet.TCPHeaderLen, true, 0, 0)
	if tos != 0 {
		rip := packet.IPv4(pkt.Bytes())
		rip[1] = tos
		rip.SetChecksum()
	}
	pkt.Flow, pkt.Parent = cause.Flow, cause.ID
	r := packet.TCP(pl)
	r.SetPorts(t.DstPort(), t.SrcPort())
	binary.BigEndian.PutUint32(r[4:8], seq)
	binary.BigEndian.PutUint32(r[8:12], ack)
	r[12] = 5 << 4
	r[13] = flags
	r[14], r[15] = 0, 0
	packet.SetTransportChecksum(pl, ip.Dst(), ip.Src(), packet.ProtoTCP)
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("tcp reset to %s:%d", ip.Src(), t.SrcPort())})
	}
	s.LocalOut(pkt)
}

// tcpResetFor sends a RST for the TCP segment in pkt (REJECT --reject-with
// tcp-reset), from the segment's destination address.
func (s *Stack) tcpResetFor(pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	if ip.Protocol() != packet.ProtoTCP || len(ip.Payload()) < packet.TCPHeaderLen {
		return
	}
	t := packet.TCP(ip.Payload())
	if t.Flags()&packet.TCPRst != 0 {
		return
	}
	s.tcpReset(ip, t, len(ip.Payload())-t.DataOffset(), pkt, false)
}

// tcpICMPError handles an ICMP error for a connection: a hard error during
// the handshake aborts it.
func (s *Stack) tcpICMPError(ev Event) {
	c, ok := s.tcpConns[tcpKey{ev.Src, ev.Dst}]
	if !ok {
		return
	}
	if ev.ICMPType == packet.ICMPDestUnreach && ev.ICMPCode == packet.ICMPCodeFragNeeded {
		if ev.MTU > 0 && ev.MTU-40 < c.mss {
			c.mss = ev.MTU - 40
		}
		return
	}
	if c.State == TCPSynSent {
		delete(s.tcpConns, tcpKey{c.Local, c.Remote})
	}
}
