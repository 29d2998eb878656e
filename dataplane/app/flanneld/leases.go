package flanneld

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/netstack"
)

// Leases is the cluster's subnet leases as every node's forwarder learns
// them from the subnet manager: per node its subnet and the address of
// its flanneld socket. One Leases serves every node (ShareLeases): a node's
// table is its own entries (SetRoute) followed by every lease but its
// own, without a copy per node. Leases are disjoint, so the first entry
// containing an address is the only one; find_route's swap to the front
// changes nothing but the order of a table netsim prints sorted, and a
// shared lease is not moved.
type Leases struct {
	set  *netstack.PeerSet
	next []netip.AddrPort
}

// NewLeases makes the shared table: subnet[i] is reached at nextHop[i].
// Overlapping subnets are an error (the caller then sets routes one by
// one).
func NewLeases(subnet []netip.Prefix, nextHop []netip.AddrPort) (*Leases, error) {
	if len(subnet) != len(nextHop) {
		return nil, fmt.Errorf("flanneld leases: %d subnets, %d next hops", len(subnet), len(nextHop))
	}
	peers := make([]netstack.Peer, len(subnet))
	for i, p := range subnet {
		peers[i].Dst = p.Masked()
	}
	set, err := netstack.NewPeerSet(peers)
	if err != nil {
		return nil, fmt.Errorf("flanneld leases: %w", err)
	}
	return &Leases{set: set, next: nextHop}, nil
}

// sharedLeases is a forwarder's view of the shared leases.
type sharedLeases struct {
	l      *Leases
	self   int
	masked map[int]bool
	live   int
}

func (s *sharedLeases) has(i int) bool { return i >= 0 && i != s.self && !s.masked[i] }

func (s *sharedLeases) route(i int) Route {
	return Route{Dst: s.l.set.Peer(i).Dst, NextHop: s.l.next[i]}
}

// exact is the lease whose subnet is dst, if the forwarder takes it.
func (s *sharedLeases) exact(dst netip.Prefix) (int, bool) {
	i := s.l.set.Find(dst.Addr())
	if !s.has(i) || s.l.set.Peer(i).Dst != dst {
		return -1, false
	}
	return i, true
}

func (s *sharedLeases) mask(i int) {
	if s.masked == nil {
		s.masked = make(map[int]bool)
	}
	s.masked[i] = true
	s.live--
}

// ShareLeases adds l to the forwarder's table after its own entries: every
// lease but self's (its index in l, −1 for none), as SetRoute for each
// would.
func (p *Proxy) ShareLeases(l *Leases, self int) {
	sh := &sharedLeases{l: l, self: self, live: l.set.Len()}
	if self >= 0 && self < l.set.Len() {
		sh.live--
	}
	p.shared = sh
	for _, r := range p.routes {
		if i, ok := sh.exact(r.Dst); ok {
			sh.mask(i) // SetRoute updates the entry in place
			p.SetRoute(r.Dst, l.next[i])
		}
	}
}

// tableLen is the number of entries, own and shared.
func (p *Proxy) tableLen() int {
	if p.shared == nil {
		return len(p.routes)
	}
	return len(p.routes) + p.shared.live
}
