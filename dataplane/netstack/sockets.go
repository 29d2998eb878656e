package netstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"netsim/dataplane/link"
	"slices"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// EventKind says what a socket saw.
type EventKind uint8

// Socket events.
const (
	EvEchoRequest     EventKind = iota // the kernel answered an ICMP echo request
	EvEchoReply                        // a ping socket got its echo reply
	EvUDPRecv                          // a UDP socket received a datagram
	EvTCPAccept                        // a listener completed a handshake
	EvTCPData                          // a TCP connection received data
	EvTCPEstablished                   // a connecting socket completed the handshake
	EvTCPClosed                        // a connection finished (FIN exchanged)
	EvError                            // a socket got an error (ICMP error, RST, ABORT, EMSGSIZE)
	EvSCTPAccept                       // a listener's association came up (COOKIE ECHO accepted)
	EvSCTPData                         // an SCTP association received a message
	EvSCTPEstablished                  // a connecting association got its COOKIE ACK
	EvSCTPClosed                       // an association finished (SHUTDOWN exchanged)
)

func (k EventKind) String() string {
	return [...]string{"echo-request", "echo-reply", "udp-recv", "tcp-accept", "tcp-data", "tcp-established", "tcp-closed", "error", "sctp-accept", "sctp-data", "sctp-established", "sctp-closed"}[k]
}

// Event is what a socket reports to Stack.OnEvent.
type Event struct {
	Kind   EventKind
	Flow   int32
	Packet uint64
	Proto  uint8
	// Src and Dst are the addresses as the receiving socket sees them.
	Src, Dst netip.AddrPort
	Len      int
	// Errors: the ICMP type/code (or 0/0 for a RST or local error), the
	// next-hop MTU of a "fragmentation needed", who sent the error, and
	// the errno text an application would print.
	ICMPType, ICMPCode uint8
	MTU                int
	From               netip.Addr
	Err                string
}

func (s *Stack) emit(ev Event) {
	if s.OnEvent != nil {
		s.OnEvent(s, ev)
	}
}

// DFMode is a socket's IP_MTU_DISCOVER setting.
type DFMode uint8

// DF modes.
const (
	// DFWant is Linux's default (IP_PMTUDISC_WANT): DF set on packets that
	// fit the path MTU, larger ones fragmented locally without DF.
	DFWant DFMode = iota
	// DFDo (IP_PMTUDISC_DO, ping -M do): DF always; too large is EMSGSIZE.
	DFDo
	// DFDont (IP_PMTUDISC_DONT, ping -M dont): DF never.
	DFDont
)

// fillPattern writes iputils ping's default payload pattern: byte i of
// the data is i (mod 256). UDP and TCP payloads use it too.
func fillPattern(b []byte) {
	for i := range b {
		b[i] = byte(i)
	}
}

// WallEpoch is the time of day at virtual time zero (the same instant as
// the pcap package's capture epoch): what gettimeofday returns in the
// simulation.
var WallEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pingPayload lays out the data of an echo request as iputils ping does
// (ping4_send_probe): with 16 or more data bytes the first 16 are the
// struct timeval of the send time (tv_sec, tv_usec: 8-byte little-endian
// on x86-64), the rest the fill pattern, byte i = i.
func (s *Stack) pingPayload(b []byte) {
	fillPattern(b)
	if len(b) < 16 {
		return
	}
	now := WallEpoch.Add(s.now())
	binary.LittleEndian.PutUint64(b[0:8], uint64(now.Unix()))
	binary.LittleEndian.PutUint64(b[8:16], uint64(now.Nanosecond()/1000))
}

// ipIDFor is the IP ID of a datagram from an unconnected socket
// (ip_select_ident): 0 when DF is forced (IP_PMTUDISC_DO, so
// skb->ignore_df is clear), else the hash generator.
func (s *Stack) ipIDFor(src, dst netip.Addr, proto uint8, df DFMode) uint16 {
	if df == DFDo {
		return 0
	}
	return s.ipIdent(src, dst, proto, 1)
}

// prepareSend routes a datagram of l4len bytes to dst and decides DF. It
// reports EMSGSIZE for DFDo when the datagram exceeds the route MTU.
func (s *Stack) prepareSend(dst netip.Addr, src netip.Addr, l4len int, df DFMode, flow int32) (netip.Addr, bool, bool) {
	r, rsrc, ok := s.RouteOutput(dst)
	if !ok {
		detail := fmt.Sprintf("no route to %s (connect: Network is unreachable)", dst)
		if r != nil {
			detail = "route " + r.String()
		}
		s.env.Trace.AddDrop(trace.Drop{Flow: flow, Node: s.Name, Reason: trace.ReasonNoRoute, Detail: detail})
		s.emit(Event{Kind: EvError, Flow: flow, Err: "Network is unreachable"})
		return netip.Addr{}, false, false
	}
	if !src.IsValid() {
		src = rsrc
	}
	mtu := s.RouteMTU(r, dst)
	total := packet.IPv4HeaderLen + l4len
	switch df {
	case DFDo:
		if total > mtu {
			s.env.Trace.AddDrop(trace.Drop{Flow: flow, Node: s.Name, Device: r.Dev.Dev.Name, Reason: trace.ReasonMsgTooLong,
				Detail: fmt.Sprintf("%d-byte packet, DF forced, route %s MTU %d: sendmsg fails with EMSGSIZE (ping: local error: message too long, mtu=%d)", total, r.String(), mtu, mtu)})
			s.emit(Event{Kind: EvError, Flow: flow, MTU: mtu, Err: fmt.Sprintf("message too long, mtu=%d", mtu)})
			return netip.Addr{}, false, false
		}
		return src, true, true
	case DFDont:
		return src, false, true
	}
	return src, total <= mtu, true
}

// PingSocket is an ICMP echo client identified by its echo ID.
type PingSocket struct {
	ID uint16
}

// pingSocket returns the echo ID of the ping socket of flow, opening one
// as ping_get_port binds it: the next free "port" of the rover, never 0.
// The kernel writes that port into the echo ID of every request.
func (s *Stack) pingSocket(flow int32) uint16 {
	if id, ok := s.pingFlows[flow]; ok {
		return id
	}
	for {
		s.pingPort++
		if s.pingPort == 0 {
			continue
		}
		if _, ok := s.pings[s.pingPort]; !ok {
			break
		}
	}
	if s.pingFlows == nil {
		s.pingFlows = make(map[int32]uint16)
	}
	s.pingFlows[flow] = s.pingPort
	if s.pings == nil {
		s.pings = make(map[uint16]*PingSocket)
	}
	s.pings[s.pingPort] = &PingSocket{ID: s.pingPort}
	return s.pingPort
}

// Ping sends one ICMP echo request with size payload bytes (ping -s) from
// an unconnected ICMP datagram socket, as iputils ping does. id 0 lets the
// kernel choose the echo ID (the socket's port: one socket per flow); any
// other id is used as given. It reports whether the request left the
// socket.
func (s *Stack) Ping(dst netip.Addr, id, seq uint16, size int, df DFMode, flow int32) bool {
	if id == 0 {
		id = s.pingSocket(flow)
	} else {
		if s.pings == nil {
			s.pings = make(map[uint16]*PingSocket)
		}
		s.pings[id] = &PingSocket{ID: id}
	}
	src, dfBit, ok := s.prepareSend(dst, netip.Addr{}, packet.ICMPHeaderLen+size, df, flow)
	if !ok {
		return false
	}
	pkt, pl := s.newIPPacket(src, dst, packet.ProtoICMP, packet.ICMPHeaderLen+size, dfBit, 0, s.ipIDFor(src, dst, packet.ProtoICMP, df))
	pkt.Flow = flow
	ic := packet.ICMP(pl)
	ic[0], ic[1] = packet.ICMPEchoRequest, 0
	ic[2], ic[3] = 0, 0
	binary.BigEndian.PutUint16(ic[4:6], id)
	binary.BigEndian.PutUint16(ic[6:8], seq)
	s.pingPayload(pl[packet.ICMPHeaderLen:])
	ic.SetChecksum()
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("ping: ICMP echo request id %d seq %d, %d data bytes", id, seq, size)})
	}
	s.LocalOut(pkt)
	return true
}

// icmpInput handles ICMP for local delivery (icmp_rcv).
func (s *Stack) icmpInput(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	pl := ip.Payload()
	if len(pl) < packet.ICMPHeaderLen || packet.Checksum(pl, 0) != 0 {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad ICMP length or checksum")
		return
	}
	ic := packet.ICMP(pl)
	switch ic.Type() {
	case packet.ICMPEchoRequest:
		if !s.IsLocal(ip.Dst()) && !s.AnswerBroadcastEcho {
			s.drop(pkt, ifc.Dev.Name, trace.ReasonEchoBroadcastIgnored, fmt.Sprintf("ICMP echo request from %s to %s: net.ipv4.icmp_echo_ignore_broadcasts = 1", ip.Src(), ip.Dst()))
			return
		}
		s.emit(Event{Kind: EvEchoRequest, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoICMP,
			Src: netip.AddrPortFrom(ip.Src(), 0), Dst: netip.AddrPortFrom(ip.Dst(), 0), Len: len(pl) - packet.ICMPHeaderLen})
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver,
				Change: fmt.Sprintf("ICMP echo request id %d seq %d from %s answered by the kernel", ic.ID(), ic.Seq(), ip.Src())})
		}
		src := ip.Dst()
		if !s.IsLocal(src) { // broadcast echo: answer from an address of the interface
			a, ok := s.selectAddr(ifc)
			if !ok {
				s.drop(pkt, ifc.Dev.Name, trace.ReasonNoRoute, fmt.Sprintf("broadcast ICMP echo request from %s to %s not answered: %s has no address to answer from", ip.Src(), ip.Dst(), s.Name))
				return
			}
			src = a
		}
		// icmp_reply: the kernel's ICMP socket (IP_PMTUDISC_DONT: no DF,
		// hash-generated ID), the request's TOS reflected.
		rep, rpl := s.NewIPPacket(src, ip.Src(), packet.ProtoICMP, len(pl), false, 0)
		if tos := ip.TOS(); tos != 0 {
			rip := packet.IPv4(rep.Bytes())
			rip[1] = tos
			rip.SetChecksum()
		}
		copy(rpl, pl)
		rep.Parent, rep.Flow = pkt.ID, pkt.Flow
		ric := packet.ICMP(rpl)
		ric[0], ric[1] = packet.ICMPEchoReply, 0
		ric.SetChecksum()
		pkt.Free()
		s.LocalOut(rep)
	case packet.ICMPEchoReply:
		if _, ok := s.pings[ic.ID()]; ok {
			s.emit(Event{Kind: EvEchoReply, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoICMP,
				Src: netip.AddrPortFrom(ip.Src(), 0), Dst: netip.AddrPortFrom(ip.Dst(), 0), Len: len(pl) - packet.ICMPHeaderLen})
			if s.tracing() {
				s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver,
					Change: fmt.Sprintf("ping: %d bytes from %s: icmp_seq=%d ttl=%d", len(pl), ip.Src(), ic.Seq(), ip.TTL())})
			}
		}
		pkt.Free()
	case packet.ICMPDestUnreach, packet.ICMPTimeExceeded:
		s.icmpErrorInput(ifc, pkt, ip, ic)
	case icmpRedirect:
		s.redirectInput(ifc, pkt, ip, ic)
	default:
		pkt.Free()
	}
}

// icmpErrorInput delivers an ICMP error to the socket that sent the quoted
// packet, and learns a path MTU from "fragmentation needed".
func (s *Stack) icmpErrorInput(ifc *Iface, pkt *packet.Buffer, ip packet.IPv4, ic packet.ICMP) {
	q := packet.IPv4(ic[packet.ICMPHeaderLen:])
	if len(q) < packet.IPv4HeaderLen+8 || q[0]>>4 != 4 {
		pkt.Free()
		return
	}
	hl := q.HeaderLen()
	if len(q) < hl+8 {
		pkt.Free()
		return
	}
	mtu := 0
	if ic.Type() == packet.ICMPDestUnreach && ic.Code() == packet.ICMPCodeFragNeeded {
		mtu = ic.NextHopMTU()
		if mtu >= 68 {
			// __ip_rt_update_pmtu: never below min_pmtu.
			if s.pmtu == nil {
				s.pmtu = make(map[netip.Addr]pmtuEntry)
			}
			s.pmtu[q.Dst()] = pmtuEntry{mtu: max(mtu, MinPMTU), expires: s.now() + PMTUExpires}
		}
	}
	ev := Event{Kind: EvError, Flow: pkt.Flow, Packet: pkt.ID, Proto: q.Protocol(), ICMPType: ic.Type(), ICMPCode: ic.Code(), MTU: mtu, From: ip.Src(),
		Err: icmpName(ic.Type(), ic.Code(), uint32(mtu))}
	l4 := q[hl:]
	switch q.Protocol() {
	case packet.ProtoICMP:
		ev.Src = netip.AddrPortFrom(q.Src(), 0)
		ev.Dst = netip.AddrPortFrom(q.Dst(), 0)
	case packet.ProtoUDP, packet.ProtoTCP, packet.ProtoSCTP:
		ev.Src = netip.AddrPortFrom(q.Src(), binary.BigEndian.Uint16(l4[0:2]))
		ev.Dst = netip.AddrPortFrom(q.Dst(), binary.BigEndian.Uint16(l4[2:4]))
	}
	if s.tracing() {
		note := ""
		if mtu != 0 {
			note = fmt.Sprintf("; path MTU to %s cached as %d for %s", q.Dst(), mtu, PMTUExpires)
		}
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver,
			Change: fmt.Sprintf("%s from %s about %s > %s reported to the socket%s", ev.Err, ip.Src(), q.Src(), q.Dst(), note)})
	}
	switch q.Protocol() {
	case packet.ProtoTCP:
		s.tcpICMPError(ev)
	case packet.ProtoSCTP:
		s.sctpICMPError(ev)
	}
	s.emit(ev)
	pkt.Free()
}

// TunnelReceiver takes UDP-encapsulated packets for a tunnel port (the
// VXLAN driver's UDP socket). pkt starts at the outer IPv4 header.
type TunnelReceiver interface {
	ReceiveTunnel(pkt *packet.Buffer)
}

// BindTunnel attaches a tunnel driver to a UDP port.
func (s *Stack) BindTunnel(port uint16, t TunnelReceiver) {
	s.gen++
	if s.tunnels == nil {
		s.tunnels = make(map[uint16]TunnelReceiver)
	}
	s.tunnels[port] = t
}

// BindIPProto attaches a tunnel driver to an IP protocol (inet_add_protocol:
// the ipip module's handler for protocol 4). It receives local packets of
// that protocol after INPUT, pkt at the outer IPv4 header.
func (s *Stack) BindIPProto(proto uint8, t TunnelReceiver) {
	if s.ipProtos == nil {
		s.ipProtos = map[uint8]TunnelReceiver{}
	}
	s.ipProtos[proto] = t
}

// UDPSocket is a bound UDP socket. An echo socket sends every datagram
// back to its sender (a UDP echo server).
type UDPSocket struct {
	Port uint16
	Echo bool
}

// ListenUDP binds a UDP socket on port (all addresses).
func (s *Stack) ListenUDP(port uint16, echo bool) *UDPSocket {
	u := &UDPSocket{Port: port, Echo: echo}
	if s.udp == nil {
		s.udp = make(map[uint16]*UDPSocket)
	}
	s.udp[port] = u
	s.gen++
	return u
}

// Listening reports whether a UDP socket, TCP or SCTP listener is bound
// to port.
func (s *Stack) Listening(proto uint8, port uint16) bool {
	switch proto {
	case packet.ProtoUDP:
		_, ok := s.udp[port]
		return ok
	case packet.ProtoSCTP:
		_, ok := s.sctpListen[port]
		return ok
	}
	_, ok := s.tcpListen[port]
	return ok
}

// CloseUDP unbinds the socket on port.
func (s *Stack) CloseUDP(port uint16) { s.gen++; delete(s.udp, port) }

// SendUDP sends one datagram of size bytes from sport to dst.
func (s *Stack) SendUDP(sport uint16, dst netip.AddrPort, size int, df DFMode, flow int32) bool {
	return s.sendUDP(netip.Addr{}, sport, dst, nil, size, df, flow, 0)
}

func (s *Stack) sendUDP(src netip.Addr, sport uint16, dst netip.AddrPort, data []byte, size int, df DFMode, flow int32, parent uint64) bool {
	if data != nil {
		size = len(data)
	}
	l4 := packet.UDPHeaderLen + size
	src, dfBit, ok := s.prepareSend(dst.Addr(), src, l4, df, flow)
	if !ok {
		return false
	}
	pkt, pl := s.newIPPacket(src, dst.Addr(), packet.ProtoUDP, l4, dfBit, 0, s.ipIDFor(src, dst.Addr(), packet.ProtoUDP, df))
	pkt.Flow, pkt.Parent = flow, parent
	u := packet.UDP(pl)
	u.SetPorts(sport, dst.Port())
	u.SetLength(l4)
	if data != nil {
		copy(pl[packet.UDPHeaderLen:], data)
	} else {
		fillPattern(pl[packet.UDPHeaderLen:])
	}
	packet.SetTransportChecksum(pl, src, dst.Addr(), packet.ProtoUDP)
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("sendto %s: %d bytes from port %d", dst, size, sport)})
	}
	s.LocalOut(pkt)
	return true
}

// udpInput is udp_rcv: tunnel sockets, bound sockets, or port unreachable.
func (s *Stack) udpInput(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	pl := ip.Payload()
	if len(pl) < packet.UDPHeaderLen || packet.UDP(pl).Length() != len(pl) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad UDP length")
		return
	}
	u := packet.UDP(pl)
	if !packet.TransportChecksumOK(pl, ip.Src(), ip.Dst(), packet.ProtoUDP) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad UDP checksum")
		return
	}
	dport := u.DstPort()
	if t, ok := s.tunnels[dport]; ok {
		if _, ok := t.(link.FlowAware); !ok {
			s.env.Unrecordable()
		}
		t.ReceiveTunnel(pkt)
		return
	}
	sock, ok := s.udp[dport]
	if !ok {
		if s.isBroadcast(ip.Dst()) {
			pkt.Free()
			return
		}
		s.icmpError(pkt, packet.ICMPDestUnreach, packet.ICMPCodePortUnreach, 0)
		s.drop(pkt, ifc.Dev.Name, trace.ReasonPortUnreachable,
			fmt.Sprintf("no socket on %s:%d/udp (ICMP port unreachable sent to %s)", ip.Dst(), dport, ip.Src()))
		return
	}
	src := netip.AddrPortFrom(ip.Src(), u.SrcPort())
	dst := netip.AddrPortFrom(ip.Dst(), dport)
	n := len(pl) - packet.UDPHeaderLen
	if r := s.env.Rec(); r != nil {
		r.Add(&udpSockOp{s: s, gen: s.gen, sock: sock, echo: sock.Echo, src: src, dst: dst, n: n})
		r.Consumed()
	}
	if s.OnEvent != nil {
		s.emit(Event{Kind: EvUDPRecv, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoUDP, Src: src, Dst: dst, Len: n})
	}
	if s.tracing() {
		what := "received"
		if sock.Echo {
			what = "received and echoed back"
		}
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver,
			Change: fmt.Sprintf("socket %s/udp: %d bytes from %s %s", dst, n, src, what)})
	}
	if sock.Echo {
		data := pl[packet.UDPHeaderLen:]
		// The reply copies the payload out of pkt before pkt is freed.
		s.sendUDP(ip.Dst(), dport, src, data, 0, DFWant, pkt.Flow, pkt.ID)
	}
	pkt.Free()
}

// BoundPorts lists, sorted, the ports a TCP listener, a UDP socket and an
// SCTP listener are bound to (the programs of the namespace).
func (s *Stack) BoundPorts() (tcp, udp, sctp []uint16) {
	for p := range s.tcpListen {
		tcp = append(tcp, p)
	}
	for p := range s.udp {
		udp = append(udp, p)
	}
	for p := range s.sctpListen {
		sctp = append(sctp, p)
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	slices.Sort(sctp)
	return tcp, udp, sctp
}
