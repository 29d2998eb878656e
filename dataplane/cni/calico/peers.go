package calico

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// SharePeers programs every node for every other node at once, as AddPeer
// does pair by pair, for the tunnelled modes: BIRD's routes through tunl0
// (IPIP) or felix's routes, permanent neighbours and FDB entries through
// vxlan.calico (VXLAN) come from one cluster-wide table (netstack.PeerSet,
// link.PeerFDB) that each node's tables consult after their own entries.
// With CrossSubnet a peer on-link takes the direct route (the layer's
// alternative template) and its note, as AddPeer gives them. BIRD's mesh
// sessions are the same for every node but its own and are listed from
// the node list.
//
// It reports false, having changed nothing, for BGP without
// encapsulation (each pair's route depends on the route to the peer); the
// caller then calls AddPeer for every pair. fail receives node i's error.
func (m *Mode) SharePeers(nodes []*cni.Node, fail func(i int, err error)) bool {
	if !m.ipip() && !m.vxlan() {
		return false
	}
	peers := make([]netstack.Peer, len(nodes))
	macs := make([]packet.MAC, len(nodes))
	ips := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		st := n.State.(*nodeState)
		peers[i].Dst = st.block
		peers[i].Via = n.IP // the direct route's gateway (CrossSubnet)
		if m.ipip() {
			peers[i].Gw = n.IP
		} else {
			peers[i].Gw, peers[i].MAC = st.tunnel, st.vtep
			macs[i], ips[i] = st.vtep, n.IP
		}
	}
	set, err := netstack.NewPeerSet(peers)
	if err != nil {
		return false // overlapping blocks: pair by pair
	}
	var fdb *link.PeerFDB
	if m.vxlan() {
		fdb = link.NewPeerFDB(macs, ips)
	}
	crossSubnet := (m.ipip() && m.o.IPIPMode != Always) || (m.vxlan() && m.o.VXLANMode != Always)
	for i, n := range nodes {
		s := n.Stack
		st := n.State.(*nodeState)
		if m.bird() {
			st.meshPeers = nodes
			st.meshSelf = i
		}
		// CrossSubnet: the peers on-link take the direct route instead,
		// "<block> via <peer IP> dev <its device> proto …": shared with the
		// alternative template when every such peer is on one device,
		// else the node's own.
		var direct, own []int
		var directDev *netstack.Iface
		if crossSubnet {
			for j, p := range nodes {
				if j == i {
					continue
				}
				if r, same := onLink(n, p.IP); same {
					direct = append(direct, j)
					if directDev == nil {
						directDev = r.Dev
					}
					if r.Dev != directDev {
						own = direct
					}
				}
			}
		}
		alt, altPeers, without := netstack.Route{Dev: directDev, Proto: m.proto()}, direct, []int(nil)
		if own != nil {
			altPeers, without = nil, direct
		}
		var err error
		if m.ipip() {
			err = s.Routes.AttachPeersAlt(set, i, netstack.Route{Dev: s.Iface(IPIPDevice), Proto: BirdRouteProto, Onlink: true}, alt, altPeers, without...)
			if err != nil {
				err = fmt.Errorf("calico %s: BIRD: namespace %s: %w", n.Name, s.Name, err)
			}
		} else {
			if err = s.AttachPeerNeighbours(set, i, VXLANDevice); err != nil {
				err = fmt.Errorf("calico %s: felix: %w", n.Name, err)
			} else {
				for _, j := range direct {
					s.MaskPeerNeighbour(j)
				}
				st.vxlan.ShareFDB(fdb, i, direct...)
				err = s.Routes.AttachPeersAlt(set, i, netstack.Route{Dev: s.Iface(VXLANDevice), Proto: FelixRouteProto, Onlink: true}, alt, altPeers, without...)
				if err != nil {
					err = fmt.Errorf("calico %s: felix: namespace %s: %w", n.Name, s.Name, err)
				}
			}
		}
		if err != nil {
			fail(i, err)
			continue
		}
		for _, j := range direct {
			if own == nil {
				m.noteDirect(n, nodes[j], nodes[j].State.(*nodeState).block, directDev)
			} else if err := m.addPeerRoutes(n, nodes[j]); err != nil {
				fail(i, err)
			}
		}
	}
	return true
}
