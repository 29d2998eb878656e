package netstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// TCP here is the smallest honest TCP: the three-way handshake with an MSS
// option, data in MSS-sized segments acknowledged cumulatively, an echo
// server, FIN close, and RST for closed ports. No retransmission, windows
// or congestion control: in the simulator a lost segment is a drop with a
// reason, which is what the trace is for.

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
	mss            int
	toSend         int // client: bytes to send once established
	want, received int // client: reply bytes expected and received
}

// ListenTCP opens a listening socket on port; echo sends data back.
func (s *Stack) ListenTCP(port uint16, echo bool) *TCPListener {
	l := &TCPListener{Port: port, Echo: echo}
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
	c := &TCPConn{s: s, Local: netip.AddrPortFrom(src, s.EphemeralPort()), Remote: dst, State: TCPSynSent, Flow: flow,
		iss: s.rng.Uint32(), mss: s.RouteMTU(r, dst.Addr()) - 40, toSend: size, want: size}
	c.sndNxt = c.iss
	s.tcpConns[tcpKey{c.Local, c.Remote}] = c
	if s.tracing() {
		s.env.Trace.Add(trace.Hop{Flow: flow, Node: s.Name, Kind: trace.KindLocal,
			Change: fmt.Sprintf("connect %s from %s (mss %d)", dst, c.Local, c.mss)})
	}
	c.send(packet.TCPSyn, nil, 0)
	return c.Local, true
}

// send emits one segment; SYNs carry MSS, SACK-permitted and window scale.
func (c *TCPConn) send(flags uint8, data []byte, parent uint64) {
	s := c.s
	hl := packet.TCPHeaderLen
	if flags&packet.TCPSyn != 0 {
		hl += 12
	}
	pkt, pl := s.NewIPPacket(c.Local.Addr(), c.Remote.Addr(), packet.ProtoTCP, hl+len(data), true, 0)
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
	binary.BigEndian.PutUint16(t[14:16], 64240)
	t[16], t[17], t[18], t[19] = 0, 0, 0, 0
	if flags&packet.TCPSyn != 0 {
		o := t[20:32]
		o[0], o[1] = 2, 4 // MSS
		binary.BigEndian.PutUint16(o[2:4], uint16(c.mss))
		o[4], o[5], o[6], o[7] = 1, 1, 4, 2   // NOP NOP SACK-permitted
		o[8], o[9], o[10], o[11] = 1, 3, 3, 7 // NOP window scale 7
	}
	copy(pl[hl:], data)
	packet.SetTransportChecksum(pl, c.Local.Addr(), c.Remote.Addr(), packet.ProtoTCP)
	c.sndNxt += uint32(len(data))
	if flags&(packet.TCPSyn|packet.TCPFin) != 0 {
		c.sndNxt++
	}
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s > %s [%s] %d bytes (%s)", c.Local, c.Remote, TCPFlagString(flags), len(data), c.State)})
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

func (c *TCPConn) sendData(parent uint64) {
	for c.toSend > 0 {
		n := min(c.toSend, c.mss)
		buf := make([]byte, n)
		fillPattern(buf)
		c.toSend -= n
		c.send(packet.TCPPsh|packet.TCPAck, buf, parent)
	}
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
			s.tcpReset(ip, t, len(data), pkt)
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
	c := &TCPConn{s: s, Local: local, Remote: remote, State: TCPSynRecv, Flow: pkt.Flow, echo: l.Echo,
		iss: s.rng.Uint32(), rcvNxt: t.Seq() + 1, mss: 1460}
	if r, _, ok := s.RouteOutput(remote.Addr()); ok {
		c.mss = s.RouteMTU(r, remote.Addr()) - 40
	}
	if m := synMSS(t); m > 0 && m < c.mss {
		c.mss = m
	}
	c.sndNxt = c.iss
	s.tcpConns[tcpKey{local, remote}] = c
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("listener %s/tcp: SYN from %s, SYN-RECV", local, remote)})
	}
	id := pkt.ID
	pkt.Free()
	c.send(packet.TCPSyn|packet.TCPAck, nil, id)
}

func synMSS(t packet.TCP) int {
	o := t[packet.TCPHeaderLen:t.DataOffset()]
	for len(o) > 0 {
		switch o[0] {
		case 0:
			return 0
		case 1:
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) > len(o) || o[1] < 2 {
			return 0
		}
		if o[0] == 2 && o[1] == 4 {
			return int(binary.BigEndian.Uint16(o[2:4]))
		}
		o = o[o[1]:]
	}
	return 0
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
	switch c.State {
	case TCPSynSent:
		if flags&(packet.TCPSyn|packet.TCPAck) != packet.TCPSyn|packet.TCPAck || t.Ack() != c.sndNxt {
			return
		}
		c.rcvNxt = t.Seq() + 1
		if m := synMSS(t); m > 0 && m < c.mss {
			c.mss = m
		}
		c.State = TCPEstablished
		ev.Kind = EvTCPEstablished
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: SYN-ACK from %s, ESTABLISHED", c.Local, c.Remote)})
		}
		s.emit(ev)
		if c.toSend > 0 {
			c.sendData(id)
		} else {
			c.send(packet.TCPAck, nil, id)
			c.close(id)
		}
	case TCPSynRecv:
		if flags&packet.TCPAck == 0 || t.Ack() != c.sndNxt {
			return
		}
		c.State = TCPEstablished
		ev.Kind = EvTCPAccept
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("tcp %s: handshake done with %s, ESTABLISHED (accept)", c.Local, c.Remote)})
		}
		s.emit(ev)
		c.established(ifc, pkt, t, flags, data, id)
	case TCPEstablished, TCPFinWait1, TCPLastAck:
		c.established(ifc, pkt, t, flags, data, id)
	}
}

func (c *TCPConn) established(ifc *Iface, pkt *packet.Buffer, t packet.TCP, flags uint8, data []byte, id uint64) {
	s := c.s
	if len(data) > 0 && t.Seq() == c.rcvNxt {
		c.rcvNxt += uint32(len(data))
		s.emit(Event{Kind: EvTCPData, Flow: pkt.Flow, Packet: id, Proto: packet.ProtoTCP, Src: c.Remote, Dst: c.Local, Len: len(data)})
		if s.tracing() {
			what := "received"
			if c.echo {
				what = "received and echoed back"
			}
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: fmt.Sprintf("tcp %s: %d bytes from %s %s", c.Local, len(data), c.Remote, what)})
		}
		if c.echo {
			c.send(packet.TCPPsh|packet.TCPAck, data, id)
		} else if c.want > 0 {
			c.received += len(data)
			if c.received >= c.want && c.State == TCPEstablished {
				c.close(id)
			}
		}
	}
	if flags&packet.TCPFin != 0 {
		c.rcvNxt++
		switch c.State {
		case TCPEstablished:
			// The peer closed: acknowledge and close our side in one segment.
			c.State = TCPLastAck
			c.send(packet.TCPFin|packet.TCPAck, nil, id)
		case TCPFinWait1:
			c.send(packet.TCPAck, nil, id)
			c.State = TCPClosed
			delete(s.tcpConns, tcpKey{c.Local, c.Remote})
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

func (c *TCPConn) close(parent uint64) {
	c.State = TCPFinWait1
	c.send(packet.TCPFin|packet.TCPAck, nil, parent)
}

// tcpReset answers a segment with a RST (tcp_v4_send_reset).
func (s *Stack) tcpReset(ip packet.IPv4, t packet.TCP, dataLen int, cause *packet.Buffer) {
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
	pkt, pl := s.NewIPPacket(ip.Dst(), ip.Src(), packet.ProtoTCP, packet.TCPHeaderLen, true, 0)
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
	s.tcpReset(ip, t, len(ip.Payload())-t.DataOffset(), pkt)
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
