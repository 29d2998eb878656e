package flannel

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/app/flanneld"
	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// SharePeers programs every node for every other node at once, as AddPeer
// does pair by pair, from one cluster-wide table of leases: each node's
// route table, neighbour table and flannel.<VNI> FDB take the per-peer
// entries from it as a shared layer (netstack.PeerSet, link.PeerFDB),
// so the N − 1 entries of each node cost nothing per node until a node
// changes one of them. What every node holds, lists and looks up is what
// AddPeer would have given it, notes included.
//
// It reports false, having changed nothing, for overlapping leases; the
// caller then calls AddPeer for every pair. fail receives node i's error.
func (m *Mode) SharePeers(nodes []*cni.Node, fail func(i int, err error)) bool {
	switch {
	case m.o.Backend == VXLAN, m.o.Backend == HostGW:
	case m.o.Backend == UDP:
		return m.shareLeases(nodes)
	default:
		return false
	}
	peers := make([]netstack.Peer, len(nodes))
	macs := make([]packet.MAC, len(nodes))
	ips := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		peers[i].Dst = n.PodCIDR
		switch m.o.Backend {
		case VXLAN:
			st := n.State.(*nodeState)
			peers[i].Gw, peers[i].MAC = n.PodCIDR.Addr(), st.vtep
			peers[i].Via = n.IP // DirectRouting's gateway
			macs[i], ips[i] = st.vtep, n.IP
		case HostGW:
			peers[i].Gw = n.IP
		}
	}
	set, err := netstack.NewPeerSet(peers)
	if err != nil {
		return false // overlapping leases: pair by pair
	}
	var fdb *link.PeerFDB
	if m.o.Backend == VXLAN {
		fdb = link.NewPeerFDB(macs, ips)
	}
	for i, n := range nodes {
		s := n.Stack
		switch m.o.Backend {
		case VXLAN:
			st := n.State.(*nodeState)
			// DirectRouting: a peer whose IP is directly connected gets
			// "<subnet> via <peer IP> dev <that device>" and no neighbour
			// or FDB entry — the layer's alternative template when every
			// such peer is on one device, else the node's own route.
			var direct []int
			var directRoutes []*netstack.Route
			var directDev *netstack.Iface
			mixed := false
			if m.o.DirectRouting {
				for j, p := range nodes {
					if r := s.Routes.Lookup(p.IP); j != i && r != nil && !r.Gw.IsValid() && r.Dev != nil {
						direct = append(direct, j)
						directRoutes = append(directRoutes, &netstack.Route{Dst: p.PodCIDR, Gw: p.IP, Dev: r.Dev})
						if directDev == nil {
							directDev = r.Dev
						}
						mixed = mixed || r.Dev != directDev
					}
				}
			}
			if err := s.AttachPeerNeighbours(set, i, m.DeviceName()); err != nil {
				fail(i, fmt.Errorf("flannel %s: %w", n.Name, err))
				continue
			}
			for _, j := range direct {
				s.MaskPeerNeighbour(j)
			}
			st.vxlan.ShareFDB(fdb, i, direct...)
			altPeers, without := direct, []int(nil)
			if mixed {
				altPeers, without = nil, direct
			}
			if err := s.Routes.AttachPeersAlt(set, i, netstack.Route{Dev: s.Iface(m.DeviceName()), Onlink: true}, netstack.Route{Dev: directDev}, altPeers, without...); err != nil {
				fail(i, fmt.Errorf("flannel %s: namespace %s: %w", n.Name, s.Name, err))
				continue
			}
			for k, r := range directRoutes {
				if !mixed {
					break
				}
				if err := s.AddRoute(r); err != nil {
					m.notes = append(m.notes, fmt.Sprintf("%s: flanneld: Error adding route to %s via %s: %v", n.Name, nodes[direct[k]].PodCIDR, nodes[direct[k]].IP, err))
				}
			}
		case HostGW:
			// The kernel refuses a gateway that is not on-link (the
			// check Stack.AddRoute makes): those peers are masked.
			var refused []int
			for j, p := range nodes {
				if j == i {
					continue
				}
				if rr := s.Routes.Lookup(p.IP); rr == nil || rr.Gw.IsValid() || rr.Dev != n.NIC {
					refused = append(refused, j)
					m.notes = append(m.notes, fmt.Sprintf("%s: flanneld host-gw: Error adding route to %s via %s dev %s: Network is unreachable (%s is not on-link: host-gw needs every node on one L2 segment)",
						n.Name, p.PodCIDR, p.IP, n.NIC.Dev.Name, p.IP))
				}
			}
			if err := s.Routes.AttachPeers(set, i, netstack.Route{Dev: n.NIC}, refused...); err != nil {
				fail(i, fmt.Errorf("flannel %s: namespace %s: %w", n.Name, s.Name, err))
			}
		}
	}
	return true
}

// shareLeases gives every node's flanneld forwarder the cluster's leases
// as one shared table (flanneld.Leases), as AddPeer's SetRoute for every
// peer would.
func (m *Mode) shareLeases(nodes []*cni.Node) bool {
	subnets := make([]netip.Prefix, len(nodes))
	next := make([]netip.AddrPort, len(nodes))
	for i, n := range nodes {
		subnets[i], next[i] = n.PodCIDR, netip.AddrPortFrom(n.IP, uint16(m.o.Port))
	}
	l, err := flanneld.NewLeases(subnets, next)
	if err != nil {
		return false // overlapping leases: pair by pair
	}
	for i, n := range nodes {
		n.State.(*nodeState).proxy.ShareLeases(l, i)
	}
	return true
}
