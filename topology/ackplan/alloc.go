package ackplan

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
)

// This file is the planner's address allocator: aligned power-of-two
// blocks of IPv4 space. Inside a VPC it carves vSwitches (largest first,
// so that every block stays aligned and a set of blocks whose sizes add
// up to the VPC's always fits); outside it, it finds a free private block
// for a pod or Service CIDR that overlaps nothing the plan already uses.

// ACK's usual choices, from the ACK console's and documentation's
// examples ("Plan your ACK managed cluster network",
// https://www.alibabacloud.com/help/doc-detail/86500.html, facts file §5:
// pod CIDR 172.20.0.0/16, Service CIDR 172.21.0.0/20, "4096 ClusterIPs").
var (
	ackPodCIDR     = netip.MustParsePrefix("172.20.0.0/16")
	ackServiceCIDR = netip.MustParsePrefix("172.21.0.0/20")
	// calicoPool is calico-node's DEFAULT_IPV4_POOL_CIDR (calico
	// manifests/calico.yaml, facts file §2.2).
	calicoPool = netip.MustParsePrefix("192.168.0.0/16")
)

// blkU32 is an IPv4 address as a number.
func blkU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// blkAddr is the IPv4 address of a number.
func blkAddr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// blkLen is the number of addresses of an IPv4 prefix (2^32 for /0).
func blkLen(p netip.Prefix) uint64 { return uint64(1) << (32 - p.Bits()) }

// blkSizeOf is the number of addresses of a /bits block.
func blkSizeOf(bits int) uint64 { return uint64(1) << (32 - bits) }

// blkLast is the last address of p as a number.
func blkLast(p netip.Prefix) uint32 { return blkU32(p.Addr()) + uint32(blkLen(p)-1) }

// blkBits is the longest prefix length whose block holds n addresses
// (n ≤ 2^32); 32 for n ≤ 1.
func blkBits(n uint64) int {
	if n <= 1 {
		return 32
	}
	return 32 - bits.Len64(n-1)
}

// blockSet is a set of free, aligned IPv4 blocks.
type blockSet struct {
	free []netip.Prefix
}

// newBlockSet is within minus every used prefix.
func newBlockSet(within netip.Prefix, used ...netip.Prefix) *blockSet {
	s := &blockSet{}
	s.addFree(within.Masked(), used)
	return s
}

// addFree adds the parts of p that no used prefix overlaps.
func (s *blockSet) addFree(p netip.Prefix, used []netip.Prefix) {
	for _, u := range used {
		if !u.IsValid() || !u.Overlaps(p) {
			continue
		}
		if Contains(u, p) || p.Bits() == 32 {
			return
		}
		lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
		hi := netip.PrefixFrom(blkAddr(blkU32(p.Addr())+uint32(blkLen(p)/2)), p.Bits()+1)
		s.addFree(lo, used)
		s.addFree(hi, used)
		return
	}
	s.free = append(s.free, p)
}

// take removes and returns the lowest-addressed /bits block from the
// smallest free block that holds one.
func (s *blockSet) take(bits int) (netip.Prefix, bool) {
	best := -1
	for i, f := range s.free {
		if f.Bits() > bits {
			continue
		}
		if best < 0 || f.Bits() > s.free[best].Bits() ||
			(f.Bits() == s.free[best].Bits() && f.Addr().Less(s.free[best].Addr())) {
			best = i
		}
	}
	if best < 0 {
		return netip.Prefix{}, false
	}
	f := s.free[best]
	s.free = slices.Delete(s.free, best, best+1)
	// Split f down to /bits: the low half is kept splitting, each high
	// half goes back to the free set.
	for f.Bits() < bits {
		half := blkLen(f) / 2
		s.free = append(s.free, netip.PrefixFrom(blkAddr(blkU32(f.Addr())+uint32(half)), f.Bits()+1))
		f = netip.PrefixFrom(f.Addr(), f.Bits()+1)
	}
	return f, true
}

// freeAddrs is the number of free addresses in the set.
func (s *blockSet) freeAddrs() uint64 {
	var n uint64
	for _, f := range s.free {
		n += blkLen(f)
	}
	return n
}

// carve takes one block of each prefix length in want from the VPC (less
// used), largest first, and returns them in want's order; ok is false
// when they do not all fit.
func carve(vpc netip.Prefix, used []netip.Prefix, want []int) (got []netip.Prefix, ok bool) {
	s := newBlockSet(vpc, used...)
	order := make([]int, len(want))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(want[a], want[b]) })
	got = make([]netip.Prefix, len(want))
	for _, i := range order {
		p, ok := s.take(want[i])
		if !ok {
			return nil, false
		}
		got[i] = p
	}
	return got, true
}

// findFree returns a private /bits block that overlaps no prefix of
// avoid. It tries each preferred block first (resized to /bits: the block
// of that size that contains it, or its first one), then every aligned
// block of 172.16.0.0/12, 10.0.0.0/8 and 192.168.0.0/16 in address order.
func findFree(bits int, avoid []netip.Prefix, prefer ...netip.Prefix) (netip.Prefix, bool) {
	isClear := func(p netip.Prefix) bool {
		if !InPrivateRange(p) {
			return false
		}
		for _, a := range avoid {
			if a.IsValid() && a.Overlaps(p) {
				return false
			}
		}
		return true
	}
	for _, pref := range prefer {
		p := netip.PrefixFrom(pref.Addr(), bits).Masked()
		if isClear(p) {
			return p, true
		}
	}
	// 172.16.0.0/12 first: ACK's examples live there.
	for _, r := range []netip.Prefix{privateRanges[1], privateRanges[0], privateRanges[2]} {
		if r.Bits() > bits {
			continue
		}
		step := blkSizeOf(bits)
		for u := uint64(blkU32(r.Addr())); u+step-1 <= uint64(blkLast(r)); {
			p := netip.PrefixFrom(blkAddr(uint32(u)), bits)
			var hit netip.Prefix
			for _, a := range avoid {
				if a.IsValid() && a.Overlaps(p) {
					hit = a
					break
				}
			}
			if !hit.IsValid() {
				return p, true
			}
			// Skip past the prefix in the way, to the next aligned block.
			next := max(uint64(blkLast(hit))+1, u+step)
			u = (next + step - 1) / step * step
		}
	}
	return netip.Prefix{}, false
}
