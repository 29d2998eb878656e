package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum adds b to a running one's-complement sum (not yet folded or
// complemented). An odd trailing byte is padded with zero.
func Sum(b []byte, initial uint32) uint32 {
	// Big-endian 64-bit words added with end-around carry: 2^16 ≡ 1
	// modulo 2^16-1, so a word's value is congruent to the sum of its four
	// 16-bit words, and arithmetic modulo 2^64-1 (a multiple of 2^16-1)
	// keeps that congruence (RFC 1071, section 2(B)).
	s, c := uint64(initial), uint64(0)
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, c, 0)
	s += c
	var tail uint64
	for len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	s, c = bits.Add64(s, tail, 0)
	s += c
	// Fold to 32 bits, end-around.
	s = s&0xffffffff + s>>32
	s = s&0xffffffff + s>>32
	return uint32(s)
}

// Fold folds a running sum to 16 bits and complements it: the value to
// write in a checksum field.
func Fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// Checksum is the Internet checksum (RFC 1071) of b with an initial sum.
// Over data that already holds a correct checksum it returns 0.
func Checksum(b []byte, initial uint32) uint16 { return Fold(Sum(b, initial)) }

// PseudoHeaderSum is the running sum of the IPv4 pseudo-header used by TCP
// and UDP checksums.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	s4, d4 := src.As4(), dst.As4()
	s := uint32(binary.BigEndian.Uint16(s4[0:2])) + uint32(binary.BigEndian.Uint16(s4[2:4]))
	s += uint32(binary.BigEndian.Uint16(d4[0:2])) + uint32(binary.BigEndian.Uint16(d4[2:4]))
	s += uint32(proto) + uint32(length)
	return s
}

// SetTransportChecksum computes and writes the TCP or UDP checksum of the
// segment seg (header and payload) carried in an IPv4 packet from src to dst.
// A computed UDP checksum of 0 is written as 0xffff (RFC 768).
func SetTransportChecksum(seg []byte, src, dst netip.Addr, proto uint8) {
	off := 16
	if proto == ProtoUDP {
		off = 6
	}
	seg[off], seg[off+1] = 0, 0
	c := Checksum(seg, PseudoHeaderSum(src, dst, proto, len(seg)))
	if proto == ProtoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:off+2], c)
}

// TransportChecksumOK verifies a TCP or UDP checksum (a UDP checksum of 0
// means none and is accepted).
func TransportChecksumOK(seg []byte, src, dst netip.Addr, proto uint8) bool {
	if proto == ProtoUDP && binary.BigEndian.Uint16(seg[6:8]) == 0 {
		return true
	}
	return Checksum(seg, PseudoHeaderSum(src, dst, proto, len(seg))) == 0
}

// ChecksumUpdate16 returns checksum c updated for a 16-bit field changing
// from old to new (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
func ChecksumUpdate16(c, old, new uint16) uint16 {
	s := uint32(^c) + uint32(^old) + uint32(new)
	return Fold(s)
}

// ChecksumUpdate32 returns checksum c updated for a 32-bit field (an IPv4
// address) changing from old to new.
func ChecksumUpdate32(c uint16, old, new [4]byte) uint16 {
	s := uint32(^c)
	s += uint32(^binary.BigEndian.Uint16(old[0:2])) + uint32(^binary.BigEndian.Uint16(old[2:4]))
	s += uint32(binary.BigEndian.Uint16(new[0:2])) + uint32(binary.BigEndian.Uint16(new[2:4]))
	return Fold(s)
}

// RewriteAddrPort sets the destination (or, with src, the source) address
// and port of a TCP, UDP or SCTP packet, updating the IPv4 header checksum
// and the transport checksum incrementally; a UDP checksum of 0 (none)
// stays 0; SCTP's CRC32c, which covers no pseudo-header, is recomputed.
func RewriteAddrPort(ip IPv4, to netip.AddrPort, src bool) {
	aoff, poff := 16, 2
	if src {
		aoff, poff = 12, 0
	}
	seg := ip[ip.HeaderLen():ip.TotalLen()]
	old := [4]byte(ip[aoff : aoff+4])
	nw := to.Addr().As4()
	oldPort := binary.BigEndian.Uint16(seg[poff : poff+2])
	copy(ip[aoff:aoff+4], nw[:])
	binary.BigEndian.PutUint16(ip[10:12], ChecksumUpdate32(ip.Checksum(), old, nw))
	binary.BigEndian.PutUint16(seg[poff:poff+2], to.Port())
	if ip.Protocol() == ProtoSCTP {
		if len(seg) >= SCTPHeaderLen {
			SCTP(seg).SetChecksum()
		}
		return
	}
	off := 16
	if ip.Protocol() == ProtoUDP {
		off = 6
		if binary.BigEndian.Uint16(seg[6:8]) == 0 {
			return
		}
	}
	if len(seg) < off+2 {
		return
	}
	c := binary.BigEndian.Uint16(seg[off : off+2])
	c = ChecksumUpdate16(ChecksumUpdate32(c, old, nw), oldPort, to.Port())
	if c == 0 && ip.Protocol() == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:off+2], c)
}
