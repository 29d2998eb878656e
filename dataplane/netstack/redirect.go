package netstack

import (
	"fmt"
	"net/netip"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// ICMP redirects as the kernel sends them (net/ipv4/route.c
// __mkroute_input, ip_rt_send_redirect; ip_forward). A router that forwards
// a packet back out the device it came in on, to a source that is directly
// connected there, tells the source "ICMP redirect host, new nexthop G"
// (send_redirects=1, the default, which netsim does not let you change).
// The sender limits itself per source (inet_peer): after the first, a
// redirect only when 20 ms << n have passed since the last, at most 9, and
// the count resets after 20.48 s without redirected packets.

// ICMP redirect type and the host code.
const (
	icmpRedirect     = packet.ICMPRedirect
	icmpRedirectHost = 1
)

// The kernel's redirect rate limit (HZ-independent values).
const (
	redirectLoad    = 20 * time.Millisecond // ip_rt_redirect_load = HZ/50
	redirectNumber  = 9                     // ip_rt_redirect_number
	redirectSilence = redirectLoad << 10    // ip_rt_redirect_silence
)

type redirectPeer struct {
	last time.Duration
	n    int
}

// maybeRedirect runs in ip_forward after the TTL decrement: if pkt goes
// out the device it came in on and its source is directly connected there
// (the reverse route has no gateway and uses that device), send the source
// an ICMP redirect naming the next hop, within the per-source rate limit.
func (s *Stack) maybeRedirect(in *Iface, pkt *packet.Buffer, r *Route) {
	if r.Dev != in || in.Dev.Kind == "loopback" {
		return
	}
	s.env.Unrecordable()
	ip := packet.IPv4(pkt.Bytes())
	src := ip.Src()
	if _, local := s.local[v4key(src)]; local {
		return
	}
	back, _ := s.fibLookup(src, ip.Dst(), in, nil, 0)
	if back == nil || back.Type != RouteUnicast || back.Gw.IsValid() || back.Dev != in {
		return
	}
	nh := r.Gw
	if !nh.IsValid() {
		nh = ip.Dst()
	}
	now := s.now()
	if s.redirects == nil {
		s.redirects = make(map[netip.Addr]*redirectPeer)
	}
	p := s.redirects[src]
	if p == nil {
		p = &redirectPeer{}
		s.redirects[src] = p
	}
	if p.n > 0 && now > p.last+redirectSilence {
		p.n = 0
	}
	if p.n >= redirectNumber {
		p.last = now
		return
	}
	if p.n == 0 || now > p.last+(redirectLoad<<p.n) {
		b := nh.As4()
		s.icmpError(pkt, icmpRedirect, icmpRedirectHost, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
		p.last = now
		p.n++
	}
}

// redirectInput is icmp_redirect → __ip_do_redirect for a host: the
// redirect is taken only from the gateway the route to the quoted
// destination uses, for a new gateway on the same link; netsim records
// what the kernel would decide and installs nothing (no nexthop
// exceptions are modelled). The ping socket is not told (a soft error:
// iputils ping, with IP_RECVERR, prints "Redirect Host(New nexthop: G)").
func (s *Stack) redirectInput(ifc *Iface, pkt *packet.Buffer, ip packet.IPv4, ic packet.ICMP) {
	defer pkt.Free()
	q := packet.IPv4(ic[packet.ICMPHeaderLen:])
	if !s.tracing() || len(q) < packet.IPv4HeaderLen {
		return
	}
	g := ic[4:8]
	newGw := netip.AddrFrom4([4]byte{g[0], g[1], g[2], g[3]})
	dst := q.Dst()
	what := fmt.Sprintf("ICMP redirect host from %s: %s via %s", ip.Src(), dst, newGw)
	r, _ := s.fibLookup(dst, netip.Addr{}, s.ifaces[1], nil, 0)
	var verdict string
	switch {
	case s.Forwarding:
		verdict = "ignored: ip_forward=1 (a router does not accept redirects)"
	case r == nil || !r.Gw.IsValid() || r.Gw != ip.Src():
		via := "no gateway"
		if r != nil && r.Gw.IsValid() {
			via = r.Gw.String()
		}
		verdict = fmt.Sprintf("ignored: the route to %s goes via %s, not via %s (__ip_do_redirect)", dst, via, ip.Src())
	default:
		verdict = "the kernel would take it (accept_redirects=1, secure_redirects=1); netsim installs no nexthop exception"
	}
	s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindDeliver, Change: what + "; " + verdict})
}
