package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Header sizes and protocol numbers used across the dataplane.
const (
	EthHeaderLen   = 14
	IPv4HeaderLen  = 20
	UDPHeaderLen   = 8
	TCPHeaderLen   = 20
	ICMPHeaderLen  = 8
	VXLANHeaderLen = 8
	ARPLen         = 28
	// VXLANOverhead is what VXLAN over IPv4 adds to an inner IP packet:
	// inner Ethernet 14 + VXLAN 8 + UDP 8 + IPv4 20 = 50 bytes.
	VXLANOverhead = EthHeaderLen + VXLANHeaderLen + UDPHeaderLen + IPv4HeaderLen

	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806

	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
	ProtoIPIP = 4
)

// MAC is an Ethernet address; comparable, usable as a map key.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats the address as Linux does (lower-case, colon-separated).
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// ParseMAC parses "aa:bb:cc:dd:ee:ff".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("MAC %q: expected 6 colon-separated hex bytes", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != ':' {
			return m, fmt.Errorf("MAC %q: expected 6 colon-separated hex bytes", s)
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("MAC %q: expected 6 colon-separated hex bytes", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Ethernet is a view of an Ethernet II header at the start of the slice.
type Ethernet []byte

// Dst is the destination MAC.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src is the source MAC.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type is the EtherType.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// Set writes the whole header.
func (e Ethernet) Set(dst, src MAC, typ uint16) {
	copy(e[0:6], dst[:])
	copy(e[6:12], src[:])
	binary.BigEndian.PutUint16(e[12:14], typ)
}

// SetDst writes the destination MAC.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc writes the source MAC.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// Payload is what follows the header.
func (e Ethernet) Payload() []byte { return e[EthHeaderLen:] }

// ARP is a view of an Ethernet/IPv4 ARP packet.
type ARP []byte

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// Op is the operation (1 request, 2 reply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:8]) }

// SenderMAC is the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP is the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }

// TargetMAC is the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP is the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// Valid reports whether the slice is a complete Ethernet/IPv4 ARP packet.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen && binary.BigEndian.Uint16(a[0:2]) == 1 &&
		binary.BigEndian.Uint16(a[2:4]) == EtherTypeIPv4 && a[4] == 6 && a[5] == 4
}

// Set writes a whole ARP packet.
func (a ARP) Set(op uint16, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) {
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha[:])
	s4 := spa.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], tha[:])
	t4 := tpa.As4()
	copy(a[24:28], t4[:])
}

// IPv4 is a view of an IPv4 header (and what follows it).
type IPv4 []byte

// IPv4 flag bits in the flags/fragment-offset field.
const (
	FlagDF = 0x4000
	FlagMF = 0x2000
)

// Valid checks version, header length and total length against the slice.
func (ip IPv4) Valid() bool {
	if len(ip) < IPv4HeaderLen || ip[0]>>4 != 4 {
		return false
	}
	hl := int(ip[0]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:4]))
	return hl >= IPv4HeaderLen && tl >= hl && tl <= len(ip)
}

// HeaderLen is the header length in bytes.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TOS is the type-of-service byte.
func (ip IPv4) TOS() uint8 { return ip[1] }

// TotalLen is the total length field.
func (ip IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(ip[2:4])) }

// ID is the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

// FlagsFrag is the raw flags/fragment-offset field.
func (ip IPv4) FlagsFrag() uint16 { return binary.BigEndian.Uint16(ip[6:8]) }

// DF reports the Don't Fragment bit.
func (ip IPv4) DF() bool { return ip.FlagsFrag()&FlagDF != 0 }

// MF reports the More Fragments bit.
func (ip IPv4) MF() bool { return ip.FlagsFrag()&FlagMF != 0 }

// FragOffset is the fragment offset in bytes.
func (ip IPv4) FragOffset() int { return int(ip.FlagsFrag()&0x1fff) * 8 }

// IsFragment reports whether this is any fragment but a whole datagram.
func (ip IPv4) IsFragment() bool { return ip.FlagsFrag()&(FlagMF|0x1fff) != 0 }

// TTL is the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol is the payload protocol number.
func (ip IPv4) Protocol() uint8 { return ip[9] }

// Checksum is the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:12]) }

// Src is the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst is the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// Payload is the bytes after the header up to the total length.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():ip.TotalLen()] }

// SetSrc rewrites the source address without touching checksums.
func (ip IPv4) SetSrc(a netip.Addr) { b := a.As4(); copy(ip[12:16], b[:]) }

// SetDst rewrites the destination address without touching checksums.
func (ip IPv4) SetDst(a netip.Addr) { b := a.As4(); copy(ip[16:20], b[:]) }

// DecTTL decrements the TTL and updates the header checksum incrementally,
// as ip_decrease_ttl does.
func (ip IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(ip[8:10])
	ip[8]--
	binary.BigEndian.PutUint16(ip[10:12], ChecksumUpdate16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[8:10])))
}

// SetChecksum computes and writes the header checksum.
func (ip IPv4) SetChecksum() {
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], Checksum(ip[:ip.HeaderLen()], 0))
}

// ChecksumOK verifies the header checksum.
func (ip IPv4) ChecksumOK() bool { return Checksum(ip[:ip.HeaderLen()], 0) == 0 }

// IPv4Fields are the values written by SetHeader.
type IPv4Fields struct {
	TOS      uint8
	TotalLen int
	ID       uint16
	Flags    uint16 // FlagDF / FlagMF bits and fragment offset/8
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr
}

// SetHeader writes a 20-byte header with a valid checksum.
func (ip IPv4) SetHeader(f IPv4Fields) {
	ip[0] = 0x45
	ip[1] = f.TOS
	binary.BigEndian.PutUint16(ip[2:4], uint16(f.TotalLen))
	binary.BigEndian.PutUint16(ip[4:6], f.ID)
	binary.BigEndian.PutUint16(ip[6:8], f.Flags)
	ip[8] = f.TTL
	ip[9] = f.Protocol
	ip.SetSrc(f.Src)
	ip.SetDst(f.Dst)
	ip.SetChecksum()
}

// UDP is a view of a UDP header.
type UDP []byte

// SrcPort is the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort is the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length is the length field.
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[4:6])) }

// Checksum is the checksum field (0: none).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// SetPorts writes both ports.
func (u UDP) SetPorts(src, dst uint16) {
	binary.BigEndian.PutUint16(u[0:2], src)
	binary.BigEndian.PutUint16(u[2:4], dst)
}

// SetLength writes the length field.
func (u UDP) SetLength(n int) { binary.BigEndian.PutUint16(u[4:6], uint16(n)) }

// SetChecksumField writes the checksum field as given.
func (u UDP) SetChecksumField(c uint16) { binary.BigEndian.PutUint16(u[6:8], c) }

// TCP is a view of a TCP header.
type TCP []byte

// TCP flag bits.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
)

// SrcPort is the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:2]) }

// DstPort is the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:4]) }

// Seq is the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:8]) }

// Ack is the acknowledgement number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:12]) }

// DataOffset is the header length in bytes.
func (t TCP) DataOffset() int { return int(t[12]>>4) * 4 }

// Flags are the flag bits (FIN..ACK).
func (t TCP) Flags() uint8 { return t[13] & 0x3f }

// Window is the receive window.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:16]) }

// Checksum is the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[16:18]) }

// SetPorts writes both ports.
func (t TCP) SetPorts(src, dst uint16) {
	binary.BigEndian.PutUint16(t[0:2], src)
	binary.BigEndian.PutUint16(t[2:4], dst)
}

// ICMP is a view of an ICMPv4 header.
type ICMP []byte

// ICMP types and codes used by the dataplane.
const (
	ICMPEchoReply       = 0
	ICMPDestUnreach     = 3
	ICMPRedirect        = 5
	ICMPEchoRequest     = 8
	ICMPTimeExceeded    = 11
	ICMPCodeNetUnreach  = 0
	ICMPCodeHostUnreach = 1
	ICMPCodePortUnreach = 3
	ICMPCodeFragNeeded  = 4
	ICMPCodeAdminProhib = 13
)

// Type is the ICMP type.
func (c ICMP) Type() uint8 { return c[0] }

// Code is the ICMP code.
func (c ICMP) Code() uint8 { return c[1] }

// Checksum is the checksum field.
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[2:4]) }

// ID is the echo identifier.
func (c ICMP) ID() uint16 { return binary.BigEndian.Uint16(c[4:6]) }

// Seq is the echo sequence number.
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[6:8]) }

// NextHopMTU is the MTU in a "fragmentation needed" message.
func (c ICMP) NextHopMTU() int { return int(binary.BigEndian.Uint16(c[6:8])) }

// IsError reports whether the type is an ICMP error (it carries the
// offending packet's header).
func (c ICMP) IsError() bool {
	switch c.Type() {
	case ICMPDestUnreach, ICMPTimeExceeded, 4, 5, 12:
		return true
	}
	return false
}

// SetChecksum computes the ICMP checksum over the whole message.
func (c ICMP) SetChecksum() {
	c[2], c[3] = 0, 0
	binary.BigEndian.PutUint16(c[2:4], Checksum(c, 0))
}

// VXLAN is a view of a VXLAN header (RFC 7348).
type VXLAN []byte

// VNI is the 24-bit network identifier.
func (v VXLAN) VNI() uint32 { return binary.BigEndian.Uint32(v[4:8]) >> 8 }

// ValidFlags reports whether the I flag is set.
func (v VXLAN) ValidFlags() bool { return v[0]&0x08 != 0 }

// Set writes flags (I bit) and the VNI.
func (v VXLAN) Set(vni uint32) {
	v[0], v[1], v[2], v[3] = 0x08, 0, 0, 0
	binary.BigEndian.PutUint32(v[4:8], vni<<8)
}
