package link

import (
	"net/netip"

	"netsim/dataplane/packet"
)

// PeerFDB is the cluster-wide, read-only table of the static FDB entries
// an overlay agent writes on every node's VXLAN device, one per other
// node: "<peer VTEP MAC> dst <peer IP> self permanent". A device consults
// it after its own entries (ShareFDB), excluding its own node; deleting or
// replacing a shared entry on one device masks it there only.
type PeerFDB struct {
	byMAC map[packet.MAC]int32
	dst   []netip.Addr
	mac   []packet.MAC
}

// NewPeerFDB makes the shared entries: mac[i] goes to dst[i] (peer i).
// A MAC given twice keeps its last destination, as `bridge fdb replace`
// would.
func NewPeerFDB(mac []packet.MAC, dst []netip.Addr) *PeerFDB {
	f := &PeerFDB{byMAC: make(map[packet.MAC]int32, len(mac)), dst: dst, mac: mac}
	for i, m := range mac {
		if !m.IsZero() {
			f.byMAC[m] = int32(i)
		}
	}
	return f
}

// peerFDB is a device's view of the shared entries.
type peerFDB struct {
	f      *PeerFDB
	self   int32
	masked map[int32]struct{}
}

func (p *peerFDB) lookup(mac packet.MAC) (int32, bool) {
	i, ok := p.f.byMAC[mac]
	if !ok || i == p.self {
		return -1, false
	}
	if _, gone := p.masked[i]; gone {
		return -1, false
	}
	return i, true
}

func (p *peerFDB) mask(mac packet.MAC) {
	if i, ok := p.lookup(mac); ok {
		if p.masked == nil {
			p.masked = make(map[int32]struct{})
		}
		p.masked[i] = struct{}{}
	}
}

// ShareFDB makes f a layer of v's FDB: every entry but peer self's (−1
// for none) and those of the peers in without. Entries of v's own for the
// same MACs are replaced, as flanneld's `bridge fdb replace` (netlink
// NLM_F_REPLACE) replaces them.
func (v *VXLAN) ShareFDB(f *PeerFDB, self int, without ...int) {
	v.gen++
	v.peers = &peerFDB{f: f, self: int32(self)}
	for _, i := range without {
		if i >= 0 && i < len(f.mac) {
			v.peers.mask(f.mac[i])
		}
	}
	for mac := range v.fdb {
		if _, ok := v.peers.lookup(mac); ok {
			delete(v.fdb, mac)
		}
	}
}

// fdbLookup is the FDB entry for mac: v's own, then the shared one.
func (v *VXLAN) fdbLookup(mac packet.MAC) (netip.Addr, bool) {
	if dst, ok := v.fdb[mac]; ok || v.peers == nil {
		return dst, ok
	}
	if i, ok := v.peers.lookup(mac); ok {
		return v.peers.f.dst[i], true
	}
	return netip.Addr{}, false
}
