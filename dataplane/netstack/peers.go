package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"

	"netsim/dataplane/packet"
)

// Per-peer state shared across nodes.
//
// An overlay agent (flanneld's subnet watcher, felix) programs on every
// node one route, and often one permanent neighbour, per other node of
// the cluster: N − 1 entries on each of N nodes, N² in all, nearly all of
// them the same on every node but for the device they name. A PeerSet
// holds that state once for the whole cluster — per peer its
// destination, gateway and neighbour address — and each node's main route
// table and neighbour table consult it as a layer after their own
// entries, excluding the node itself (AttachPeers, AttachPeerNeighbours).
//
// What a node holds is unchanged: `ip route`, `ip neigh`, lookups and
// traces see every per-peer entry, with the node's own device, in the
// order they would have with one entry per peer. Run-time changes stay
// per node and copy-on-write: deleting or replacing a shared entry on one
// node masks it there (a bit per peer, allocated on the first change) and
// keeps any replacement among the node's own entries. A shared route is
// materialised as a *Route of the node the first time that node looks it
// up, and the same pointer is returned from then on; a shared neighbour
// becomes one of the node's own entries the first time it is used, after
// which it is the node's as if it had been added one by one.

// Peer is one node as its peers see it.
type Peer struct {
	// Dst is the peer's subnet: the destination of its route.
	Dst netip.Prefix
	// Gw is the route's gateway, and the neighbour's address when MAC is
	// set; it lies inside Dst when MAC is set.
	Gw netip.Addr
	// MAC is the permanent neighbour's lladdr (zero: no neighbour).
	MAC packet.MAC
	// Via is the gateway of the peer's route on the nodes that take the
	// alternative template (SetPeerAlt), when set; else Gw.
	Via netip.Addr
}

// PeerSet is the cluster-wide, read-only table of peers. Peers' Dst
// prefixes are disjoint.
type PeerSet struct {
	peers  []Peer
	sorted []int32 // peer indices in `ip route show` order of their Dst
	// Direct index when every Dst has the same length inside cover:
	// slot = (dst − cover) >> (32 − bits), index[slot] = peer + 1.
	cover netip.Prefix
	bits  int
	index []int32
	// base and shift are cover as numbers: a is inside when
	// (a − base) >> shift is 0 (shift 32: every address).
	base  uint32
	shift uint
	// lpm is the fallback for mixed lengths.
	lpm *bart.Table[int32]
}

// maxDirectSlots bounds the direct index (4 bytes a slot).
const maxDirectSlots = 1 << 20

// NewPeerSet makes the shared table of peers (in node order). Overlapping
// destinations, or a neighbour address outside its destination, are an
// error: the caller then programs the entries one by one.
func NewPeerSet(peers []Peer) (*PeerSet, error) {
	ps := &PeerSet{peers: slices.Clone(peers)}
	if len(peers) == 0 {
		return ps, nil
	}
	ps.sorted = make([]int32, len(peers))
	for i := range ps.sorted {
		ps.sorted[i] = int32(i)
	}
	slices.SortFunc(ps.sorted, func(a, b int32) int { return cmpPrefix(ps.peers[a].Dst, ps.peers[b].Dst) })
	for k, i := range ps.sorted {
		p := ps.peers[i]
		if !p.Dst.Addr().Is4() || p.Dst != p.Dst.Masked() {
			return nil, fmt.Errorf("peer %d: destination %s is not a masked IPv4 prefix", i, p.Dst)
		}
		if !p.MAC.IsZero() && !p.Dst.Contains(p.Gw) {
			return nil, fmt.Errorf("peer %d: neighbour %s is outside its destination %s", i, p.Gw, p.Dst)
		}
		if k > 0 && ps.peers[ps.sorted[k-1]].Dst.Overlaps(p.Dst) {
			return nil, fmt.Errorf("peer %d: destination %s overlaps %s", i, p.Dst, ps.peers[ps.sorted[k-1]].Dst)
		}
	}
	// The smallest prefix covering every destination.
	lo, hi := ps.peers[ps.sorted[0]].Dst, ps.peers[ps.sorted[len(peers)-1]].Dst
	bits := lo.Bits()
	uniform := true
	for _, p := range ps.peers {
		uniform = uniform && p.Dst.Bits() == bits
	}
	cover := netip.PrefixFrom(lo.Addr(), bits)
	for cover.Bits() > 0 && !cover.Contains(hi.Addr()) {
		cover, _ = cover.Addr().Prefix(cover.Bits() - 1)
	}
	if uniform && bits-cover.Bits() <= 20 && 1<<(bits-cover.Bits()) <= maxDirectSlots {
		ps.cover, ps.bits = cover, bits
		ps.base, ps.shift = v4key(cover.Addr()), uint(32-cover.Bits())
		ps.index = make([]int32, 1<<(bits-cover.Bits()))
		for i, p := range ps.peers {
			ps.index[ps.slot(p.Dst.Addr())] = int32(i) + 1
		}
		return ps, nil
	}
	ps.lpm = &bart.Table[int32]{}
	for i, p := range ps.peers {
		ps.lpm.Insert(p.Dst, int32(i))
	}
	return ps, nil
}

// Len is the number of peers.
func (ps *PeerSet) Len() int { return len(ps.peers) }

// Peer returns peer i.
func (ps *PeerSet) Peer(i int) Peer { return ps.peers[i] }

func (ps *PeerSet) slot(a netip.Addr) int {
	return int((v4key(a) - ps.base) >> (32 - ps.bits))
}

// Find returns the index of the peer whose Dst contains a, or −1.
func (ps *PeerSet) Find(a netip.Addr) int { return int(ps.find(a)) }

// find returns the peer whose Dst contains a, or −1.
func (ps *PeerSet) find(a netip.Addr) int32 {
	if ps.index != nil {
		if !a.Is4() {
			return -1
		}
		off := v4key(a) - ps.base
		if ps.shift < 32 && off>>ps.shift != 0 {
			return -1
		}
		return ps.index[off>>(32-ps.bits)] - 1
	}
	if ps.lpm == nil {
		return -1
	}
	if i, ok := ps.lpm.Lookup(a); ok {
		return i
	}
	return -1
}

// exact returns the peer whose Dst is p, or −1.
func (ps *PeerSet) exact(p netip.Prefix) int32 {
	if i := ps.find(p.Addr()); i >= 0 && ps.peers[i].Dst == p {
		return i
	}
	return -1
}

// cmpPrefix is the order of `ip route show` (and bart's AllSorted): by
// address, then by length.
func cmpPrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// peerMask is one bit per peer: set when a node no longer takes the
// shared entry (deleted, replaced, or made its own).
type peerMask []uint64

func (m peerMask) has(i int32) bool {
	w := int(i >> 6)
	return w < len(m) && m[w]&(1<<(uint(i)&63)) != 0
}

func (m *peerMask) set(i int32) {
	w := int(i >> 6)
	if w >= len(*m) {
		*m = append(*m, make(peerMask, w+1-len(*m))...)
	}
	(*m)[w] |= 1 << (uint(i) & 63)
}

// peerRoutes is a route table's shared layer.
type peerRoutes struct {
	set  *PeerSet
	self int32
	tmpl Route
	// alt is the template of the peers in altPeers (SetPeerAlt).
	alt      Route
	altPeers peerMask
	// masked peers are not in the table (or are among its own routes).
	masked peerMask
	live   int
	// deeper counts the table's own routes more specific than a peer's
	// destination inside it: while 0, a peer match is the longest.
	deeper int
	// routes are the materialised *Route of the peers looked up, in
	// chunks of routeChunk peers allocated on first use.
	routes [][]*Route
}

// routeChunk is the peers of one chunk of materialised routes.
const routeChunk = 64

// cached returns peer i's materialised route, or nil.
func (p *peerRoutes) cached(i int32) *Route {
	if c := int(i / routeChunk); c < len(p.routes) && p.routes[c] != nil {
		return p.routes[c][i%routeChunk]
	}
	return nil
}

func (p *peerRoutes) setCached(i int32, r *Route) {
	c := int(i / routeChunk)
	if p.routes == nil {
		p.routes = make([][]*Route, (p.set.Len()+routeChunk-1)/routeChunk)
	}
	if p.routes[c] == nil {
		if r == nil {
			return
		}
		p.routes[c] = make([]*Route, routeChunk)
	}
	p.routes[c][i%routeChunk] = r
}

func (p *peerRoutes) has(i int32) bool { return i >= 0 && i != p.self && !p.masked.has(i) }

// route is the node's *Route for peer i, made on first use.
func (p *peerRoutes) route(i int32) *Route {
	if r := p.cached(i); r != nil {
		return r
	}
	r := p.make(i)
	p.setCached(i, r)
	return r
}

// make is a fresh *Route for peer i.
func (p *peerRoutes) make(i int32) *Route {
	r := new(Route)
	peer := p.set.peers[i]
	*r = *p.template(i)
	r.Dst, r.Gw = peer.Dst, peer.Gw
	if p.altPeers.has(i) && peer.Via.IsValid() {
		r.Gw = peer.Via
	}
	return r
}

// template is peer i's route template.
func (p *peerRoutes) template(i int32) *Route {
	if p.altPeers.has(i) {
		return &p.alt
	}
	return &p.tmpl
}

// view is peer i's route for listing: the materialised one, or a copy.
func (p *peerRoutes) view(i int32) *Route {
	if r := p.cached(i); r != nil {
		return r
	}
	return p.make(i)
}

func (p *peerRoutes) mask(i int32) {
	p.masked.set(i)
	p.live--
	p.setCached(i, nil)
}

// deeperThanPeer reports whether d lies inside another node's destination
// and is more specific than it (a node's own routes inside its own subnet,
// such as Calico's per-pod routes, never compete with a peer's).
func (p *peerRoutes) deeperThanPeer(d netip.Prefix) bool {
	i := p.set.find(d.Addr())
	return i >= 0 && i != p.self && p.set.peers[i].Dst.Bits() < d.Bits()
}

// AttachPeers makes set a layer of the table: every peer but self (its
// index in set, −1 for none) and those in without is a route like tmpl
// with the peer's Dst and Gw. A table route with a peer's destination makes that peer's route one
// of the table's own, added as `ip route add` would add it (an equal
// metric is "File exists").
func (t *RouteTable) AttachPeers(set *PeerSet, self int, tmpl Route, without ...int) error {
	t.gen++
	return t.AttachPeersAlt(set, self, tmpl, Route{}, nil, without...)
}

// AttachPeersAlt is AttachPeers where the peers in altPeers take the
// template alt instead of tmpl, with the peer's Via as gateway when it has
// one: an agent that reaches some peers directly and the others through a
// tunnel (Calico's CrossSubnet).
func (t *RouteTable) AttachPeersAlt(set *PeerSet, self int, tmpl, alt Route, altPeers []int, without ...int) error {
	t.gen++
	if t.peers != nil {
		return fmt.Errorf("route table: peers are already attached")
	}
	tmpl.Dst, tmpl.Gw = netip.Prefix{}, netip.Addr{}
	alt.Dst, alt.Gw = netip.Prefix{}, netip.Addr{}
	p := &peerRoutes{set: set, self: int32(self), tmpl: tmpl, alt: alt, live: set.Len()}
	for _, i := range altPeers {
		if i >= 0 && i < set.Len() {
			p.altPeers.set(int32(i))
		}
	}
	if self >= 0 && self < set.Len() {
		p.live--
	}
	for _, i := range without {
		if p.has(int32(i)) {
			p.mask(int32(i))
		}
	}
	var clash []int32
	for pfx, list := range t.t.All4() {
		if i := set.exact(pfx); p.has(i) {
			clash = append(clash, i)
		}
		if p.deeperThanPeer(pfx) {
			p.deeper += len(list)
		}
	}
	t.peers = p
	slices.Sort(clash)
	for _, i := range clash {
		if err := t.own(i); err != nil {
			return err
		}
	}
	return nil
}

// own makes peer i's route one of the table's own routes.
func (t *RouteTable) own(i int32) error {
	t.gen++
	p := t.peers
	r := p.route(i)
	p.mask(i)
	return t.addOwn(r)
}

// PeerRoutes is the number of shared peer routes the table holds now
// (masked ones excluded).
func (t *RouteTable) PeerRoutes() int {
	if t.peers == nil {
		return 0
	}
	return t.peers.live
}

// peerLookup is the shared layer's part of Lookup: the best route when a
// peer's destination contains dst (the peer's, or a more specific route
// of the table's own), else nil.
func (t *RouteTable) peerLookup(dst netip.Addr) *Route {
	p := t.peers
	i := p.set.find(dst)
	if !p.has(i) {
		return nil
	}
	if p.deeper > 0 {
		if list, ok := t.t.Lookup(dst); ok && list[0].Dst.Bits() > p.set.peers[i].Dst.Bits() {
			return list[0]
		}
	}
	return p.route(i)
}

// peerNeighs is a stack's shared neighbour layer: a permanent entry on one
// device per peer with a MAC.
type peerNeighs struct {
	set     *PeerSet
	self    int32
	ifc     *Iface
	updated time.Duration
	masked  peerMask
}

// AttachPeerNeighbours makes set a layer of the neighbour table: for
// every peer but self (−1 for none) with a MAC, the permanent entry
// "<Gw> dev <dev> lladdr <MAC> PERMANENT", as `ip neigh replace … nud
// permanent` adds it now.
func (s *Stack) AttachPeerNeighbours(set *PeerSet, self int, dev string) error {
	s.gen++
	i := s.Iface(dev)
	if i == nil {
		return fmt.Errorf("namespace %s: no device %q", s.Name, dev)
	}
	if s.peerNeigh != nil {
		return fmt.Errorf("namespace %s: peer neighbours are already attached", s.Name)
	}
	s.peerNeigh = &peerNeighs{set: set, self: int32(self), ifc: i, updated: s.now()}
	// `ip neigh replace` overrides the entries already there.
	for k, n := range s.neigh {
		if s.peerNeigh.find(n.Iface.Dev.Index, n.IP) >= 0 {
			delete(s.neigh, k)
		}
	}
	return nil
}

// find returns the peer whose shared neighbour is ip on ifindex, or −1.
func (pn *peerNeighs) find(ifindex int32, ip netip.Addr) int32 {
	if ifindex != pn.ifc.Dev.Index {
		return -1
	}
	i := pn.set.find(ip)
	if i < 0 || i == pn.self || pn.masked.has(i) {
		return -1
	}
	if p := pn.set.peers[i]; p.MAC.IsZero() || p.Gw != ip {
		return -1
	}
	return i
}

func (pn *peerNeighs) entry(i int32) *Neigh {
	p := pn.set.peers[i]
	return &Neigh{IP: p.Gw, Iface: pn.ifc, MAC: p.MAC, State: NudPermanent, Updated: pn.updated}
}

// neighbour returns the entry for ip on ifc's device: the stack's own, or
// a shared one, which becomes the stack's own from then on.
func (s *Stack) neighbour(ifindex int32, ip netip.Addr) *Neigh {
	if n := s.neigh[neighKey(ifindex, ip)]; n != nil || s.peerNeigh == nil {
		return n
	}
	return s.peerNeighbour(ifindex, ip)
}

// peerNeighbour makes the shared entry for ip on ifindex, if any, one of
// the stack's own.
func (s *Stack) peerNeighbour(ifindex int32, ip netip.Addr) *Neigh {
	i := s.peerNeigh.find(ifindex, ip)
	if i < 0 {
		return nil
	}
	s.gen++
	n := s.peerNeigh.entry(i)
	s.peerNeigh.masked.set(i)
	s.neigh[neighKey(ifindex, ip)] = n
	return n
}

// maskPeerNeighbour stops taking the shared entry for ip on ifindex (it is
// deleted or replaced).
func (s *Stack) maskPeerNeighbour(ifindex int32, ip netip.Addr) {
	s.gen++
	if s.peerNeigh == nil {
		return
	}
	if i := s.peerNeigh.find(ifindex, ip); i >= 0 {
		s.peerNeigh.masked.set(i)
	}
}

// MaskPeerNeighbour leaves peer i's shared neighbour out of the stack's
// table (its agent programs none for that peer).
func (s *Stack) MaskPeerNeighbour(i int) {
	if s.peerNeigh != nil && i >= 0 {
		s.peerNeigh.masked.set(int32(i))
	}
}
