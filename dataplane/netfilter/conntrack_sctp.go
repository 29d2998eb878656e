package netfilter

import (
	"time"

	"netsim/dataplane/packet"
)

// SCTP conntrack states (enum sctp_conntrack).
const (
	sctpNone uint8 = iota
	sctpClosed
	sctpCookieWait
	sctpCookieEchoed
	sctpEstablished
	sctpShutdownSent
	sctpShutdownRecd
	sctpShutdownAckSent
)

var sctpStateNames = [...]string{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT"}

// sctpTimeouts are nf_conntrack_proto_sctp's defaults of Linux ≥ 6.5
// (net.netfilter.nf_conntrack_sctp_timeout_*; ESTABLISHED was 5 days
// before, heartbeats now keep an idle association's entry alive).
var sctpTimeouts = [...]time.Duration{
	sctpNone: 10 * time.Second, sctpClosed: 10 * time.Second,
	sctpCookieWait: 3 * time.Second, sctpCookieEchoed: 3 * time.Second,
	sctpEstablished: 210 * time.Second, sctpShutdownSent: 3 * time.Second,
	sctpShutdownRecd: 3 * time.Second, sctpShutdownAckSent: 3 * time.Second,
}

// sctpUpdate moves the entry's SCTP state for each chunk of the packet, as
// the sctp_conntracks table does for the transitions an association's life
// takes (verification tags are not checked). The entry is ASSURED when the
// COOKIE ACK answers in COOKIE_ECHOED.
func (c *Conn) sctpUpdate(ip packet.IPv4, dir uint8) {
	hl := ip.HeaderLen()
	tl := ip.TotalLen()
	if tl > len(ip) || tl-hl < packet.SCTPHeaderLen {
		return
	}
	packet.SCTP(ip[hl:tl]).Chunks(func(ch packet.SCTPChunk) bool {
		switch ch.Type() {
		case packet.SCTPChunkInit:
			if dir == 0 && (c.SCTP == sctpNone || c.SCTP == sctpClosed) {
				c.SCTP = sctpCookieWait
			}
		case packet.SCTPChunkCookieEcho:
			if dir == 0 && (c.SCTP == sctpCookieWait || c.SCTP == sctpNone || c.SCTP == sctpClosed) {
				c.SCTP = sctpCookieEchoed
			}
		case packet.SCTPChunkCookieAck:
			if dir == 1 && c.SCTP == sctpCookieEchoed {
				c.SCTP = sctpEstablished
				c.Status |= ipsAssured
			}
		case packet.SCTPChunkShutdown:
			if c.SCTP == sctpEstablished {
				c.SCTP = sctpShutdownSent
				if dir == 1 {
					c.SCTP = sctpShutdownRecd
				}
			}
		case packet.SCTPChunkShutdownAck:
			if c.SCTP == sctpShutdownSent || c.SCTP == sctpShutdownRecd || c.SCTP == sctpEstablished {
				c.SCTP = sctpShutdownAckSent
			}
		case packet.SCTPChunkShutdownComplete, packet.SCTPChunkAbort:
			c.SCTP = sctpClosed
		}
		return true
	})
}
