package netstack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// SCTP here is the smallest honest SCTP (RFC 9260) for probes: a one-to-one
// socket's association setup (INIT, INIT ACK with a state cookie, COOKIE
// ECHO, COOKIE ACK — the listener keeps no state before the cookie comes
// back), one unfragmented message on stream 0 each way (DATA, SACK), the
// graceful close (SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE), and the
// out-of-the-blue rules of §8.4: an INIT to a port nobody listens on gets
// an ABORT whose verification tag is the INIT's Initiate Tag with the T bit
// clear (Linux: sctp_sf_tabort_8_4_8 from the control socket's endpoint,
// sctp_make_abort leaving T clear for an INIT); any other stray packet an
// ABORT with its own tag reflected and T set; a stray SHUTDOWN ACK a
// SHUTDOWN COMPLETE with T set; stray ABORT and SHUTDOWN COMPLETE are
// discarded. No retransmission, heartbeats, multihoming or fragmentation:
// a lost chunk is a drop with a reason.
//
// On the wire, Linux's defaults (net/sctp, sysctls untouched): INIT
// outbound streams 10 (SCTP_DEFAULT_OUTSTREAMS) and inbound 65535
// (SCTP_DEFAULT_INSTREAMS = SCTP_MAX_STREAM); the INIT ACK answers with
// min(ours, the peer's) of each (10/10 against a Linux client); a_rwnd
// sk_rcvbuf/2 = 106496 (net.core.rmem_default 212992); random Initiate Tag
// and initial TSN; parameters IPv4 address, Supported Address Types (INIT),
// ECN capable, Supported Extensions (FORWARD TSN) and Forward-TSN supported
// (net.sctp.prsctp_enable=1, ecn_enable=1; auth and asconf off by default).
// IP header: DF (pmtudisc WANT), TTL 64, ID 0 (SCTP sockets have no
// inet_daddr, so ip_select_ident_segs gives DF packets 0). A SACK rides
// before DATA when one is due (the echo's reply carries the SACK of the
// request); a lone SACK waits net.sctp.sack_timeout, 200 ms. The state
// cookie is netsim's own layout (a 32-byte HMAC-SHA256 then the tags,
// TSNs and ports), not Linux's struct sctp_signed_cookie.

// SCTP defaults of Linux (see above).
const (
	sctpOutStreams  = 10
	sctpInStreams   = 65535
	sctpARwnd       = 212992 / 2 // sk_rcvbuf / 2
	sctpSackTimeout = 200 * time.Millisecond
	sctpSackFreq    = 2 // net.sctp.sack_freq
	sctpCookieLen   = 32 + 20
	sctpSigLen      = 32
)

// SCTPState is an association state (RFC 9260 §4).
type SCTPState uint8

// SCTP association states.
const (
	SCTPCookieWait SCTPState = iota
	SCTPCookieEchoed
	SCTPEstablished
	SCTPShutdownSent
	SCTPShutdownAckSent
)

func (st SCTPState) String() string {
	return [...]string{"COOKIE-WAIT", "COOKIE-ECHOED", "ESTABLISHED", "SHUTDOWN-SENT", "SHUTDOWN-ACK-SENT"}[st]
}

// SCTPListener is a listening one-to-one SCTP socket.
type SCTPListener struct {
	Port uint16
	Echo bool
}

// SCTPAssoc is one association.
type SCTPAssoc struct {
	s             *Stack
	Local, Remote netip.AddrPort
	State         SCTPState
	Flow          int32
	client, echo  bool
	myTag         uint32 // our Initiate Tag: the tag of packets to us
	peerTag       uint32 // the peer's: the tag we send with
	nextTSN       uint32 // our next TSN
	cumTSN        uint32 // the last in-order TSN received
	ssn           uint16
	unacked       bool // DATA of ours not yet acknowledged
	sackDue       bool // DATA received, not yet acknowledged
	sackCnt       int  // packets with DATA since the last SACK
	sackGen       int
	toSend, want  int
	received      int
	rbuf          []byte // the fragments of the message being received
}

// ListenSCTP opens a listening SCTP socket on port; echo sends each
// message back on the association.
func (s *Stack) ListenSCTP(port uint16, echo bool) *SCTPListener {
	if s.sctpListen == nil {
		s.sctpListen = map[uint16]*SCTPListener{}
	}
	l := &SCTPListener{Port: port, Echo: echo}
	s.sctpListen[port] = l
	return l
}

// CloseSCTP closes the listener on port.
func (s *Stack) CloseSCTP(port uint16) { delete(s.sctpListen, port) }

// DialSCTP connects to dst (INIT), sends size bytes once the association
// is up, expects them echoed back, then shuts down; size 0 connects and
// closes. It returns the association's local address and whether the INIT
// left the socket.
func (s *Stack) DialSCTP(dst netip.AddrPort, size int, flow int32) (netip.AddrPort, bool) {
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
	if s.sctpAssocs == nil {
		s.sctpAssocs = map[tcpKey]*SCTPAssoc{}
	}
	var port uint16
	for {
		port = s.EphemeralPort()
		if _, ok := s.sctpAssocs[tcpKey{netip.AddrPortFrom(src, port), dst}]; !ok {
			break
		}
	}
	a := &SCTPAssoc{s: s, Local: netip.AddrPortFrom(src, port), Remote: dst, State: SCTPCookieWait, Flow: flow, client: true,
		myTag: s.sctpTag(), nextTSN: s.rng.Uint32(), toSend: size, want: size}
	s.sctpAssocs[tcpKey{a.Local, a.Remote}] = a
	if s.tracing() {
		s.env.Trace.Add(trace.Hop{Flow: flow, Node: s.Name, Kind: trace.KindLocal,
			Change: fmt.Sprintf("sctp connect %s from %s (tag 0x%08x, initial TSN %d)", dst, a.Local, a.myTag, a.nextTSN)})
	}
	in := &packet.SCTPInit{Tag: a.myTag, ARwnd: sctpARwnd, Out: sctpOutStreams, In: sctpInStreams, TSN: a.nextTSN, Addr: src.As4(), SupportAddr: true}
	s.sctpSend(a.Local, a.Remote, 0, packet.SCTPInitChunkLen(in), func(b []byte) { packet.PutInit(b, packet.SCTPChunkInit, in) }, flow, 0, "INIT")
	return a.Local, true
}

// sctpTag draws a verification tag: random, never 0 (RFC 9260 §5.3.1).
func (s *Stack) sctpTag() uint32 {
	for {
		if t := s.rng.Uint32(); t != 0 {
			return t
		}
	}
}

// sctpSend builds and sends one SCTP packet of n chunk bytes written by
// put, with verification tag vtag.
func (s *Stack) sctpSend(local, remote netip.AddrPort, vtag uint32, n int, put func(b []byte), flow int32, parent uint64, what string) {
	l4 := packet.SCTPHeaderLen + n
	pkt, pl := s.newIPPacket(local.Addr(), remote.Addr(), packet.ProtoSCTP, l4, true, 0, 0)
	pkt.Flow, pkt.Parent = flow, parent
	sc := packet.SCTP(pl)
	sc.SetPorts(local.Port(), remote.Port())
	sc.SetVTag(vtag)
	put(pl[packet.SCTPHeaderLen:])
	sc.SetChecksum()
	if s.tracing() {
		s.hop(pkt, trace.Hop{Kind: trace.KindLocal, Change: fmt.Sprintf("sctp %s > %s: %s (vtag 0x%08x)", local, remote, what, vtag)})
	}
	s.LocalOut(pkt)
}

// send sends chunks on the association with the peer's tag.
func (a *SCTPAssoc) send(n int, put func(b []byte), parent uint64, what string) {
	a.s.sctpSend(a.Local, a.Remote, a.peerTag, n, put, a.Flow, parent, what)
}

// cookieMAC signs a cookie's state with the namespace's secret.
func (s *Stack) cookieMAC(state []byte) []byte {
	if s.sctpSecret == nil {
		s.sctpSecret = make([]byte, 32)
		for i := range s.sctpSecret {
			s.sctpSecret[i] = byte(s.rng.Uint32())
		}
	}
	m := hmac.New(sha256.New, s.sctpSecret)
	m.Write(state)
	return m.Sum(nil)
}

// sctpInput is sctp_rcv: checksum, the association or listener, §8.4.
func (s *Stack) sctpInput(ifc *Iface, pkt *packet.Buffer) {
	ip := packet.IPv4(pkt.Bytes())
	sc := packet.SCTP(ip.Payload())
	if len(sc) < packet.SCTPHeaderLen || !sc.Chunks(nil) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "bad SCTP header or chunk length")
		return
	}
	if !sc.ChecksumOK() {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, fmt.Sprintf("bad SCTP CRC32c 0x%08x (expected 0x%08x)", sc.Checksum(), sc.CRC32c()))
		return
	}
	local := netip.AddrPortFrom(ip.Dst(), sc.DstPort())
	remote := netip.AddrPortFrom(ip.Src(), sc.SrcPort())
	first := sc.FirstChunk()
	if a, ok := s.sctpAssocs[tcpKey{local, remote}]; ok {
		a.input(ifc, pkt, sc, first)
		return
	}
	l, listening := s.sctpListen[local.Port()]
	switch first.Type() {
	case packet.SCTPChunkInit:
		if sc.VTag() != 0 || len(first) < packet.SCTPInitLen || first.InitTag() == 0 {
			s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "SCTP INIT with a non-zero verification tag or a zero Initiate Tag: discarded (RFC 9260 §8.5.1)")
			return
		}
		if !listening {
			// sctp_sf_tabort_8_4_8: the ABORT carries the INIT's Initiate
			// Tag, T clear.
			s.sctpAbort(local, remote, first.InitTag(), 0, pkt)
			s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("no listener on %s/sctp (ABORT sent to %s)", local, remote))
			return
		}
		s.sctpInitAck(ifc, pkt, local, remote, first)
		return
	case packet.SCTPChunkCookieEcho:
		if listening {
			s.sctpCookieEcho(ifc, pkt, l, local, remote, sc, first)
			return
		}
	case packet.SCTPChunkAbort, packet.SCTPChunkShutdownComplete:
		s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("out-of-the-blue SCTP %s %s <- %s: discarded (RFC 9260 §8.4)", packet.SCTPChunkName(first.Type()), local, remote))
		return
	case packet.SCTPChunkShutdownAck:
		vtag := sc.VTag()
		s.sctpSend(local, remote, vtag, packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkShutdownComplete, packet.SCTPFlagT, nil) }, pkt.Flow, pkt.ID, "SHUTDOWN COMPLETE (T)")
		s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("out-of-the-blue SCTP SHUTDOWN ACK %s <- %s: SHUTDOWN COMPLETE sent", local, remote))
		return
	}
	s.sctpAbort(local, remote, sc.VTag(), packet.SCTPFlagT, pkt)
	s.drop(pkt, ifc.Dev.Name, trace.ReasonConnRefused, fmt.Sprintf("no SCTP association %s <- %s for %s (ABORT sent)", local, remote, sc.Summary()))
}

// sctpAbort sends an ABORT without error causes from the control socket.
func (s *Stack) sctpAbort(local, remote netip.AddrPort, vtag uint32, flags uint8, cause *packet.Buffer) {
	what := "ABORT"
	if flags&packet.SCTPFlagT != 0 {
		what = "ABORT (T)"
	}
	s.sctpSend(local, remote, vtag, packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkAbort, flags, nil) }, cause.Flow, cause.ID, what)
}

// sctpInitAck answers an INIT on a listener with an INIT ACK carrying the
// whole association state in the cookie (§5.1.3): nothing is kept.
func (s *Stack) sctpInitAck(ifc *Iface, pkt *packet.Buffer, local, remote netip.AddrPort, init packet.SCTPChunk) {
	myTag, myTSN := s.sctpTag(), s.rng.Uint32()
	state := make([]byte, sctpCookieLen-sctpSigLen)
	binary.BigEndian.PutUint32(state[0:4], myTag)
	binary.BigEndian.PutUint32(state[4:8], init.InitTag())
	binary.BigEndian.PutUint32(state[8:12], myTSN)
	binary.BigEndian.PutUint32(state[12:16], init.InitTSN())
	binary.BigEndian.PutUint16(state[16:18], local.Port())
	binary.BigEndian.PutUint16(state[18:20], remote.Port())
	cookie := append(s.cookieMAC(state), state...)
	out := min(uint16(sctpOutStreams), init.InStreams())
	in := min(uint16(sctpInStreams), init.OutStreams())
	ack := &packet.SCTPInit{Tag: myTag, ARwnd: sctpARwnd, Out: out, In: in, TSN: myTSN, Addr: local.Addr().As4(), Cookie: cookie}
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal,
			Change: fmt.Sprintf("listener %s/sctp: INIT from %s (tag 0x%08x), INIT ACK with a state cookie (no state kept)", local, remote, init.InitTag())})
	}
	s.sctpSend(local, remote, init.InitTag(), packet.SCTPInitChunkLen(ack), func(b []byte) { packet.PutInit(b, packet.SCTPChunkInitAck, ack) }, pkt.Flow, pkt.ID, "INIT ACK")
	pkt.Free()
}

// sctpCookieEcho checks a cookie and creates the association (§5.1.5).
func (s *Stack) sctpCookieEcho(ifc *Iface, pkt *packet.Buffer, l *SCTPListener, local, remote netip.AddrPort, sc packet.SCTP, ce packet.SCTPChunk) {
	c := ce.Value()
	if len(c) != sctpCookieLen || !hmac.Equal(c[:sctpSigLen], s.cookieMAC(c[sctpSigLen:])) {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, "SCTP COOKIE ECHO with a cookie this endpoint did not sign: discarded (RFC 9260 §5.1.5)")
		return
	}
	st := c[sctpSigLen:]
	myTag := binary.BigEndian.Uint32(st[0:4])
	if sc.VTag() != myTag {
		s.drop(pkt, ifc.Dev.Name, trace.ReasonMalformed, fmt.Sprintf("SCTP COOKIE ECHO vtag 0x%08x is not the cookie's tag 0x%08x: discarded", sc.VTag(), myTag))
		return
	}
	if s.sctpAssocs == nil {
		s.sctpAssocs = map[tcpKey]*SCTPAssoc{}
	}
	a := &SCTPAssoc{s: s, Local: local, Remote: remote, State: SCTPEstablished, Flow: pkt.Flow, echo: l.Echo,
		myTag: myTag, peerTag: binary.BigEndian.Uint32(st[4:8]), nextTSN: binary.BigEndian.Uint32(st[8:12]),
		cumTSN: binary.BigEndian.Uint32(st[12:16]) - 1}
	s.sctpAssocs[tcpKey{local, remote}] = a
	s.emit(Event{Kind: EvSCTPAccept, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoSCTP, Src: remote, Dst: local})
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal,
			Change: fmt.Sprintf("listener %s/sctp: COOKIE ECHO from %s, association ESTABLISHED (accept)", local, remote)})
	}
	id := pkt.ID
	// Chunks bundled behind the COOKIE ECHO (DATA) are processed next.
	rest := false
	sc.Chunks(func(ch packet.SCTPChunk) bool {
		if ch.Type() == packet.SCTPChunkData {
			rest = true
		}
		return true
	})
	a.send(packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkCookieAck, 0, nil) }, id, "COOKIE ACK")
	if rest {
		a.chunks(ifc, pkt, sc, true)
	}
	pkt.Free()
}

// input handles a packet of the association.
func (a *SCTPAssoc) input(ifc *Iface, pkt *packet.Buffer, sc packet.SCTP, first packet.SCTPChunk) {
	s := a.s
	defer pkt.Free()
	discard := func(detail string) {
		s.env.Trace.AddDrop(trace.Drop{Packet: pkt.ID, Flow: pkt.Flow, Node: s.Name, Device: ifc.Dev.Name, Reason: trace.ReasonMalformed, Detail: detail})
	}
	switch first.Type() {
	case packet.SCTPChunkInitAck:
		if a.State != SCTPCookieWait || sc.VTag() != a.myTag || len(first) < packet.SCTPInitLen {
			discard("SCTP INIT ACK not expected in " + a.State.String())
			return
		}
		cookie := first.Param(packet.SCTPParamStateCookie)
		if cookie == nil {
			discard("SCTP INIT ACK without a State Cookie")
			return
		}
		a.peerTag, a.cumTSN, a.State = first.InitTag(), first.InitTSN()-1, SCTPCookieEchoed
		cookie = append([]byte(nil), cookie...)
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("sctp %s: INIT ACK from %s, COOKIE-ECHOED", a.Local, a.Remote)})
		}
		a.send(packet.SCTPChunkLen(len(cookie)), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkCookieEcho, 0, cookie) }, pkt.ID, "COOKIE ECHO")
		return
	case packet.SCTPChunkAbort:
		// §8.5.1: T clear — our own tag; T set — the peer's, reflected.
		want := a.myTag
		if first.Flags()&packet.SCTPFlagT != 0 {
			want = a.peerTag
		}
		if sc.VTag() != want {
			discard(fmt.Sprintf("SCTP ABORT with vtag 0x%08x, expected 0x%08x: discarded (RFC 9260 §8.5.1)", sc.VTag(), want))
			return
		}
		delete(s.sctpAssocs, tcpKey{a.Local, a.Remote})
		errText := "Connection reset by peer"
		if a.State == SCTPCookieWait || a.State == SCTPCookieEchoed {
			errText = "Connection refused" // sctp_stop_t1_and_abort with ECONNREFUSED
		}
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: fmt.Sprintf("sctp %s: ABORT from %s in %s: %s", a.Local, a.Remote, a.State, errText)})
		}
		s.emit(Event{Kind: EvError, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoSCTP, Src: a.Remote, Dst: a.Local, From: a.Remote.Addr(), Err: errText})
		return
	case packet.SCTPChunkShutdownComplete:
		want := a.myTag
		if first.Flags()&packet.SCTPFlagT != 0 {
			want = a.peerTag
		}
		if sc.VTag() != want || a.State != SCTPShutdownAckSent {
			discard("SCTP SHUTDOWN COMPLETE not expected in " + a.State.String())
			return
		}
		delete(s.sctpAssocs, tcpKey{a.Local, a.Remote})
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: fmt.Sprintf("sctp %s: SHUTDOWN COMPLETE from %s, association closed", a.Local, a.Remote)})
		}
		s.emit(Event{Kind: EvSCTPClosed, Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoSCTP, Src: a.Remote, Dst: a.Local})
		return
	}
	if sc.VTag() != a.myTag {
		discard(fmt.Sprintf("SCTP vtag 0x%08x is not the association's 0x%08x: discarded (RFC 9260 §8.5)", sc.VTag(), a.myTag))
		return
	}
	a.chunks(ifc, pkt, sc, false)
}

// chunks processes the chunks of an established association's packet.
func (a *SCTPAssoc) chunks(ifc *Iface, pkt *packet.Buffer, sc packet.SCTP, afterCookie bool) {
	s := a.s
	ev := Event{Flow: pkt.Flow, Packet: pkt.ID, Proto: packet.ProtoSCTP, Src: a.Remote, Dst: a.Local}
	var data []byte
	gotData, anyData, shutdown, shutdownAck := false, false, false, false
	sc.Chunks(func(ch packet.SCTPChunk) bool {
		switch ch.Type() {
		case packet.SCTPChunkCookieAck:
			if a.State == SCTPCookieEchoed {
				a.State = SCTPEstablished
				ev.Kind = EvSCTPEstablished
				s.emit(ev)
				if s.tracing() {
					s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("sctp %s: COOKIE ACK from %s, ESTABLISHED", a.Local, a.Remote)})
				}
			}
		case packet.SCTPChunkData:
			if len(ch) < packet.SCTPDataHeaderLen || a.State < SCTPEstablished && !afterCookie {
				return true
			}
			if ch.TSN() == a.cumTSN+1 {
				a.cumTSN++
				anyData = true
				if ch.Flags()&packet.SCTPDataB != 0 {
					a.rbuf = a.rbuf[:0]
				}
				a.rbuf = append(a.rbuf, ch.UserData()...)
				if ch.Flags()&packet.SCTPDataE != 0 {
					data = append(data[:0], a.rbuf...)
					gotData = true
				}
			}
		case packet.SCTPChunkSack:
			if len(ch) >= packet.SCTPSackLen && ch.CumTSN() == a.nextTSN-1 {
				a.unacked = false
			}
		case packet.SCTPChunkShutdown:
			if len(ch) >= 8 && ch.CumTSN() == a.nextTSN-1 {
				a.unacked = false
			}
			shutdown = true
		case packet.SCTPChunkShutdownAck:
			shutdownAck = true
		}
		return true
	})
	if anyData {
		// sctp_sf_eat_data_6_2: every second packet with DATA is
		// acknowledged at once (net.sctp.sack_freq 2), else the SACK
		// timer runs.
		a.sackCnt++
		if a.sackCnt >= sctpSackFreq {
			a.sackCnt, a.sackDue = 0, false
			cum := a.cumTSN
			a.send(packet.SCTPSackLen, func(b []byte) { packet.PutSack(b, cum, sctpARwnd) }, pkt.ID, "SACK")
		} else {
			a.delayedSack(pkt.ID)
		}
	}
	if gotData {
		a.received += len(data)
		ev.Kind, ev.Len = EvSCTPData, len(data)
		s.emit(ev)
		if s.tracing() {
			what := "received"
			if a.echo {
				what = "received and echoed back"
			}
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver,
				Change: fmt.Sprintf("sctp %s: message of %d bytes (TSN %d) from %s %s", a.Local, len(data), a.cumTSN, a.Remote, what)})
		}
		switch {
		case a.echo:
			// The reply carries the pending SACK of the request (bundled
			// first).
			a.sendMessage(data, a.sackDue, pkt.ID)
		case a.client && a.received >= a.want:
			a.shutdown(pkt.ID)
		}
	}
	switch {
	case shutdown && a.State == SCTPEstablished:
		a.State = SCTPShutdownAckSent
		if s.tracing() {
			s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindLocal, Change: fmt.Sprintf("sctp %s: SHUTDOWN from %s, SHUTDOWN-ACK-SENT", a.Local, a.Remote)})
		}
		a.send(packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkShutdownAck, 0, nil) }, pkt.ID, "SHUTDOWN ACK")
	case shutdownAck && a.State == SCTPShutdownSent:
		delete(s.sctpAssocs, tcpKey{a.Local, a.Remote})
		a.send(packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, packet.SCTPChunkShutdownComplete, 0, nil) }, pkt.ID, "SHUTDOWN COMPLETE")
		ev.Kind, ev.Len = EvSCTPClosed, 0
		s.emit(ev)
		return
	}
	if ev.Kind == EvSCTPEstablished && a.client {
		if a.toSend > 0 {
			msg := make([]byte, a.toSend)
			fillPattern(msg)
			a.toSend = 0
			a.sendMessage(msg, false, pkt.ID)
		} else if a.want == 0 {
			a.shutdown(pkt.ID)
		}
	}
}

// sendMessage sends one user message on stream 0, split into DATA chunks
// at the fragmentation point (sctp_datamsg_from_user: the path MTU less
// the IP, common and DATA headers), one chunk per packet. With sack the
// SACK of what was received rides in front of the first chunk when both
// fit, else alone before it.
func (a *SCTPAssoc) sendMessage(msg []byte, sack bool, parent uint64) {
	s := a.s
	mtu := 1500
	if r, _, ok := s.RouteOutput(a.Remote.Addr()); ok {
		mtu = s.RouteMTU(r, a.Remote.Addr())
	}
	frag := mtu - packet.IPv4HeaderLen - packet.SCTPHeaderLen - packet.SCTPDataHeaderLen
	frag &^= 3 // chunks are padded to 4 bytes
	ssn := a.ssn
	a.ssn++
	a.unacked = true
	cum := a.cumTSN
	if sack {
		a.sackDue, a.sackCnt = false, 0
	}
	// sctp_datamsg_from_user: a message that is fragmented anyway has its
	// first fragment shortened to make room for a pending SACK; one that
	// fits whole takes the SACK along only if both fit, else the SACK
	// goes first on its own.
	first := frag
	if sack && len(msg) > frag {
		first -= packet.SCTPSackLen
	} else if sack && packet.SCTPSackLen+packet.SCTPChunkLen(12+len(msg)) > mtu-packet.IPv4HeaderLen-packet.SCTPHeaderLen {
		a.send(packet.SCTPSackLen, func(b []byte) { packet.PutSack(b, cum, sctpARwnd) }, parent, "SACK")
		sack = false
	}
	for off := 0; off < len(msg); {
		n := min(len(msg)-off, frag)
		if off == 0 {
			n = min(len(msg), first)
		}
		var flags uint8
		if off == 0 {
			flags |= packet.SCTPDataB
		}
		if off+n == len(msg) {
			flags |= packet.SCTPDataE
		}
		part, tsn, withSack := msg[off:off+n], a.nextTSN, sack
		a.nextTSN++
		size, what := packet.SCTPChunkLen(12+n), "DATA"
		if withSack {
			size += packet.SCTPSackLen
			what = "SACK, DATA"
		}
		a.send(size, func(b []byte) {
			if withSack {
				b = b[packet.PutSack(b, cum, sctpARwnd):]
			}
			packet.PutDataFrag(b, flags, tsn, ssn, part)
		}, parent, what)
		sack = false
		off += n
	}
}

// shutdown is the application's close() (§9.2): SHUTDOWN with the
// cumulative TSN ack, which also acknowledges what was received.
func (a *SCTPAssoc) shutdown(parent uint64) {
	a.State = SCTPShutdownSent
	a.sackDue, a.sackCnt = false, 0
	cum := a.cumTSN
	a.send(packet.SCTPChunkLen(4), func(b []byte) { packet.PutShutdown(b, cum) }, parent, "SHUTDOWN")
}

// delayedSack acknowledges received DATA after net.sctp.sack_timeout.
func (a *SCTPAssoc) delayedSack(parent uint64) {
	a.sackDue = true
	a.sackGen++
	gen := a.sackGen
	a.s.env.Sched.AfterFunc(sctpSackTimeout, func() {
		if cur, ok := a.s.sctpAssocs[tcpKey{a.Local, a.Remote}]; !ok || cur != a || gen != a.sackGen || !a.sackDue {
			return
		}
		a.sackDue = false
		cum := a.cumTSN
		a.send(packet.SCTPSackLen, func(b []byte) { packet.PutSack(b, cum, sctpARwnd) }, parent, "SACK")
	})
}

// sctpICMPError aborts an association still in setup on a hard ICMP
// error (sctp_v4_err → sctp_err_lookup; ECONNREFUSED for port/proto
// unreachable).
func (s *Stack) sctpICMPError(ev Event) {
	a, ok := s.sctpAssocs[tcpKey{ev.Src, ev.Dst}]
	if !ok || ev.ICMPType == packet.ICMPDestUnreach && ev.ICMPCode == packet.ICMPCodeFragNeeded {
		return
	}
	if a.State == SCTPCookieWait || a.State == SCTPCookieEchoed {
		delete(s.sctpAssocs, tcpKey{a.Local, a.Remote})
	}
}
