package topology

import (
	"net/netip"

	"netsim/dataplane/cni"
)

// addrSet is the builder's set of VPC addresses in use. Addresses are
// only ever added. Besides membership it keeps, for each vSwitch CIDR it
// was asked about, the lowest host index that may be free (so that
// allocating the lowest free address does not rescan the ones handed
// out before) and the count of used host addresses (so that a vSwitch's
// free addresses are counted without walking it): Terway asks both for
// every pod, which made a build of 150,000 pods quadratic.
type addrSet struct {
	m map[netip.Addr]bool
	// next is the lowest host index of a CIDR that may be free.
	next map[netip.Prefix]int
	// used counts the used host addresses (indexes 1 to size−4, as
	// allocate hands them out) of the CIDRs in it.
	used map[netip.Prefix]int
}

func newAddrSet() *addrSet {
	return &addrSet{m: map[netip.Addr]bool{}, next: map[netip.Prefix]int{}}
}

func (s *addrSet) has(a netip.Addr) bool { return s.m[a] }

// add marks a as used.
func (s *addrSet) add(a netip.Addr) {
	if s.m[a] {
		return
	}
	s.m[a] = true
	for p := range s.used {
		if hostIndex(p, a) > 0 {
			s.used[p]++
		}
	}
}

// hostIndex is a's index in p when it is one allocate hands out (1 to
// size−4: not the network address nor the last three), else 0.
func hostIndex(p netip.Prefix, a netip.Addr) int {
	if !p.Contains(a) || !a.Is4() {
		return 0
	}
	pa, aa := p.Addr().As4(), a.As4()
	i := int(uint32(aa[0])<<24|uint32(aa[1])<<16|uint32(aa[2])<<8|uint32(aa[3])) -
		int(uint32(pa[0])<<24|uint32(pa[1])<<16|uint32(pa[2])<<8|uint32(pa[3]))
	if i < 1 || i >= 1<<(32-p.Bits())-3 {
		return 0
	}
	return i
}

// lowestFree is the lowest free host address of cidr (the vSwitch's
// first address, reserved, and its last three excluded), or the zero
// Addr when none is left.
func (s *addrSet) lowestFree(cidr netip.Prefix) netip.Addr {
	size := 1 << (32 - cidr.Bits())
	for i := max(s.next[cidr], 1); i < size-3; i++ {
		a := cni.Nth(cidr, i)
		if !s.m[a] {
			s.next[cidr] = i
			return a
		}
	}
	s.next[cidr] = size
	return netip.Addr{}
}

// free counts the free host addresses of cidr.
func (s *addrSet) free(cidr netip.Prefix) int {
	if s.used == nil {
		s.used = map[netip.Prefix]int{}
	}
	n, ok := s.used[cidr]
	if !ok {
		for a := range s.m {
			if hostIndex(cidr, a) > 0 {
				n++
			}
		}
		s.used[cidr] = n
	}
	return max(1<<(32-cidr.Bits())-4, 0) - n
}
