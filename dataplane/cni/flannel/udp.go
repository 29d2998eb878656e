package flannel

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/app/flanneld"
	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
)

// UDP is flannel's udp backend: a TUN device and flanneld's userspace
// forwarder (see dataplane/app/flanneld).
//
//   - flanneld opens /dev/net/tun with IFF_TUN|IFF_NO_PI as "flannel%d"
//     (flannel0), gives it <subnet>.0/32 ("so that no broadcast routes are
//     created"), MTU = the external interface's MTU − 28, brings it up and
//     adds "<network> dev flannel0" (scope universe, proto boot — which
//     `ip route` does not print): the tunnel's subnet is the whole overlay
//     network, and the node's own /24 stays on cni0 (more specific).
//   - It binds UDP <node IP>:<port> (default 8285) and, per peer lease,
//     tells the forwarder "<peer subnet> → <peer IP>:<port>". No kernel
//     route, neighbour or FDB entry is added per peer.
const UDP = "udp"

// UDPDeviceName is the TUN flanneld creates ("flannel%d", the first free).
const UDPDeviceName = "flannel0"

func (m *Mode) setupUDP(n *cni.Node, st *nodeState) error {
	s := n.Stack
	mtu := n.NIC.Dev.MTU - flanneld.EncapOverhead
	if m.o.MTU != 0 {
		mtu = m.o.MTU
	}
	st.tun = link.NewTUN(s.Env(), n.Name, UDPDeviceName, mtu)
	ifc := s.AddIface(st.tun.Dev)
	tunIP := n.PodCIDR.Addr()
	if err := s.AddAddr(UDPDeviceName, netip.PrefixFrom(tunIP, 32)); err != nil {
		return fmt.Errorf("flannel %s: %w", n.Name, err)
	}
	if err := s.AddRoute(&netstack.Route{Dst: m.c.PodCIDR, Dev: ifc}); err != nil {
		return fmt.Errorf("flannel %s: add route %s dev %s: %w", n.Name, m.c.PodCIDR, UDPDeviceName, err)
	}
	st.proxy = flanneld.New(s, st.tun, netip.AddrPortFrom(n.IP, uint16(m.o.Port)), tunIP, mtu)
	return nil
}

// Proxy returns a node's flanneld udp forwarder (nil for other backends).
func Proxy(n *cni.Node) *flanneld.Proxy {
	if st, ok := n.State.(*nodeState); ok {
		return st.proxy
	}
	return nil
}

// TUN returns a node's flannel0 (nil for other backends).
func TUN(n *cni.Node) *link.TUN {
	if st, ok := n.State.(*nodeState); ok {
		return st.tun
	}
	return nil
}
