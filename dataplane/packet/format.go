package packet

import (
	"fmt"
	"net/netip"
	"strings"
)

// Summary describes a frame (ether true) or a bare IPv4 packet in one line,
// in the spirit of tcpdump: "0a:58:..:05 > 0a:58:..:01, 10.244.1.5 >
// 10.244.2.7: ICMP echo request id 1 seq 1, ttl 64, DF, len 84". UDP to one
// of vxlanPorts is decoded as VXLAN and the inner frame described in
// brackets. Summary allocates; it is for traces, not the hot path.
func Summary(b []byte, ether bool, vxlanPorts ...uint16) string {
	var sb strings.Builder
	summarize(&sb, b, ether, vxlanPorts)
	return sb.String()
}

func summarize(sb *strings.Builder, b []byte, ether bool, vxlanPorts []uint16) {
	if ether {
		if len(b) < EthHeaderLen {
			fmt.Fprintf(sb, "runt frame (%d bytes)", len(b))
			return
		}
		e := Ethernet(b)
		fmt.Fprintf(sb, "%s > %s, ", e.Src(), e.Dst())
		switch e.Type() {
		case EtherTypeARP:
			a := ARP(b[EthHeaderLen:])
			if !a.Valid() {
				sb.WriteString("ARP (malformed)")
				return
			}
			if a.Op() == ARPRequest {
				fmt.Fprintf(sb, "ARP who-has %s tell %s", a.TargetIP(), a.SenderIP())
			} else {
				fmt.Fprintf(sb, "ARP reply %s is-at %s", a.SenderIP(), a.SenderMAC())
			}
			return
		case EtherTypeIPv4:
			b = b[EthHeaderLen:]
		default:
			fmt.Fprintf(sb, "ethertype %#04x, length %d", e.Type(), len(b))
			return
		}
	}
	ip := IPv4(b)
	if !ip.Valid() {
		fmt.Fprintf(sb, "malformed IPv4 (%d bytes)", len(b))
		return
	}
	src, dst := ip.Src(), ip.Dst()
	pl := ip.Payload()
	switch {
	case ip.FragOffset() != 0:
		fmt.Fprintf(sb, "%s > %s: fragment of proto %d", src, dst, ip.Protocol())
	case ip.Protocol() == ProtoICMP && len(pl) >= ICMPHeaderLen:
		fmt.Fprintf(sb, "%s > %s: ", src, dst)
		icmpText(sb, ICMP(pl))
	case ip.Protocol() == ProtoUDP && len(pl) >= UDPHeaderLen:
		u := UDP(pl)
		fmt.Fprintf(sb, "%s:%d > %s:%d: ", src, u.SrcPort(), dst, u.DstPort())
		isVX := false
		for _, p := range vxlanPorts {
			if p == u.DstPort() {
				isVX = true
			}
		}
		if isVX && len(pl) >= UDPHeaderLen+VXLANHeaderLen+EthHeaderLen && !ip.MF() {
			v := VXLAN(pl[UDPHeaderLen:])
			fmt.Fprintf(sb, "VXLAN vni %d [", v.VNI())
			summarize(sb, pl[UDPHeaderLen+VXLANHeaderLen:], true, nil)
			sb.WriteString("]")
		} else if u.Length() < UDPHeaderLen || (u.Length() > len(pl) && !ip.MF()) {
			fmt.Fprintf(sb, "UDP bad length %d", u.Length())
		} else {
			fmt.Fprintf(sb, "UDP length %d", u.Length()-UDPHeaderLen)
		}
	case ip.Protocol() == ProtoTCP && len(pl) >= TCPHeaderLen:
		t := TCP(pl)
		fmt.Fprintf(sb, "%s:%d > %s:%d: TCP [%s] seq %d", src, t.SrcPort(), dst, t.DstPort(), flagText(t.Flags()), t.Seq())
		if t.Flags()&TCPAck != 0 {
			fmt.Fprintf(sb, " ack %d", t.Ack())
		}
		if t.DataOffset() <= len(pl) {
			fmt.Fprintf(sb, " length %d", len(pl)-t.DataOffset())
		}
	case ip.Protocol() == ProtoSCTP && len(pl) >= SCTPHeaderLen:
		// tcpdump: "sctp (1) [INIT] ..."; the chunks, in order.
		sc := SCTP(pl)
		fmt.Fprintf(sb, "%s:%d > %s:%d: SCTP [%s] vtag %#08x", src, sc.SrcPort(), dst, sc.DstPort(), sc.Summary(), sc.VTag())
	case ip.Protocol() == ProtoIPIP && IPv4(pl).Valid():
		// tcpdump: "IP outer > outer: IP inner > inner: ..."
		fmt.Fprintf(sb, "%s > %s: IPIP [", src, dst)
		summarize(sb, pl, false, nil)
		sb.WriteString("]")
	default:
		fmt.Fprintf(sb, "%s > %s: proto %d", src, dst, ip.Protocol())
	}
	fmt.Fprintf(sb, ", ttl %d", ip.TTL())
	if ip.DF() {
		sb.WriteString(", DF")
	}
	if ip.IsFragment() {
		fmt.Fprintf(sb, ", frag id %d off %d", ip.ID(), ip.FragOffset())
		if ip.MF() {
			sb.WriteString("+")
		}
	}
	fmt.Fprintf(sb, ", len %d", ip.TotalLen())
}

func flagText(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{TCPSyn, 'S'}, {TCPFin, 'F'}, {TCPPsh, 'P'}, {TCPRst, 'R'}, {TCPAck, '.'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

func icmpText(sb *strings.Builder, c ICMP) {
	switch c.Type() {
	case ICMPEchoRequest:
		fmt.Fprintf(sb, "ICMP echo request id %d seq %d", c.ID(), c.Seq())
	case ICMPEchoReply:
		fmt.Fprintf(sb, "ICMP echo reply id %d seq %d", c.ID(), c.Seq())
	case ICMPDestUnreach, ICMPTimeExceeded:
		switch {
		case c.Type() == ICMPTimeExceeded:
			sb.WriteString("ICMP time exceeded in-transit")
		case c.Code() == ICMPCodeFragNeeded:
			fmt.Fprintf(sb, "ICMP unreachable - need to frag (mtu %d)", c.NextHopMTU())
		case c.Code() == ICMPCodePortUnreach:
			sb.WriteString("ICMP port unreachable")
		case c.Code() == ICMPCodeHostUnreach:
			sb.WriteString("ICMP host unreachable")
		case c.Code() == ICMPCodeNetUnreach:
			sb.WriteString("ICMP net unreachable")
		default:
			fmt.Fprintf(sb, "ICMP unreachable code %d", c.Code())
		}
		if q := IPv4(c[ICMPHeaderLen:]); len(q) >= IPv4HeaderLen {
			fmt.Fprintf(sb, " (about %s > %s)", netip.AddrFrom4([4]byte(q[12:16])), netip.AddrFrom4([4]byte(q[16:20])))
		}
	case ICMPRedirect:
		// tcpdump's wording: "redirect DST to host|net GW".
		to := "host"
		if c.Code() == 0 || c.Code() == 2 {
			to = "net"
		}
		dst := "?"
		if q := IPv4(c[ICMPHeaderLen:]); len(q) >= IPv4HeaderLen {
			dst = netip.AddrFrom4([4]byte(q[16:20])).String()
		}
		fmt.Fprintf(sb, "ICMP redirect %s to %s %s", dst, to, netip.AddrFrom4([4]byte(c[4:8])))
	default:
		fmt.Fprintf(sb, "ICMP type %d code %d", c.Type(), c.Code())
	}
}
