// Package calico is the Calico CNI mode: calico-ipam blocks, the calico CNI
// plugin's veth wiring, and the routes BIRD (IPIP, no encapsulation) or
// felix (VXLAN) program, named and numbered as Calico does on Linux.
//
// Design notes (projectcalico/calico; see the README's Model section for
// what is confirmed and what is modelled without a source):
//
//   - IPAM: the IP pool (default 192.168.0.0/16) is cut into blocks of
//     blockSize (default /26). Each node gets one block affine to it — the
//     builder hands the node its block as cni.Node.PodCIDR, in node order
//     (real calico-ipam starts its search at a block derived from the
//     hostname, randomBlockGenerator). Addresses are handed out from
//     ordinal 0 up; with IPIP or VXLAN the node's tunnel address takes the
//     first free one (ordinal 0) before any pod.
//   - Pods (cni-plugin dataplane_linux.go): a veth pair, host side
//     "cali" + the first 11 hex digits of sha1("<namespace>.<pod>") with
//     MAC ee:ee:ee:ee:ee:ee, proxy_arp=1, route_localnet=1, forwarding=1;
//     pod side eth0 with the pod IP /32 and the routes "169.254.1.1 dev
//     eth0 scope link" and "default via 169.254.1.1 dev eth0"; host route
//     "<pod IP> dev cali… scope link". The pod ARPs for 169.254.1.1 and
//     the host answers by proxy ARP with ee:ee:ee:ee:ee:ee — which needs a
//     route for 169.254.1.1 on the host (its default route) that does not
//     leave by the cali device itself (arp_process → arp_fwd_proxy).
//   - IPIP (calico_backend bird): tunl0 with MTU NIC − 20 and the tunnel
//     address /32; BIRD installs "<peer block> via <peer IP> dev tunl0
//     proto bird onlink" per peer (krt_tunnel = "tunl0"), or with
//     CrossSubnet "<peer block> via <peer IP> dev eth0 proto bird" for a
//     peer in the node's own subnet; "blackhole <own block> proto bird".
//   - No encapsulation (BGP): "<peer block> via <peer IP> dev eth0 proto
//     bird" from the node-to-node mesh (AS 64512, one "Mesh_<ip>" session
//     per peer). The mesh template is "multihop; gateway recursive", so a
//     peer that is not on-link is reached through the route to it: the
//     kernel route becomes "<block> via <that route's gateway>" — on an
//     Alibaba VPC the vSwitch gateway, i.e. the vRouter, which has no
//     entry for pod blocks (see Notes).
//   - VXLAN (calico_backend vxlan, no BIRD): felix creates vxlan.calico
//     (VNI 4096, dstport 4789, local <node IP>, nolearning, MTU NIC − 50)
//     with the tunnel address /32 and a VTEP MAC, and per peer programs a
//     permanent neighbour "<peer tunnel IP> lladdr <peer VTEP MAC>", the
//     FDB entry "<peer VTEP MAC> dst <peer IP> self permanent" and the
//     route "<peer block> via <peer tunnel IP> dev vxlan.calico proto 80
//     onlink" (felix's route protocol 80, "blackhole <block> proto 80").
//     With CrossSubnet a same-subnet peer gets "via <peer IP> dev eth0".
//   - natOutgoing: felix's nat chains cali-PREROUTING/cali-OUTPUT →
//     cali-fip-dnat, cali-POSTROUTING → cali-fip-snat, cali-nat-outgoing,
//     and "-m set --match-set cali40masq-ipam-pools src -m set !
//     --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully",
//     with the two hash:net sets. felix's filter-table chains (policy,
//     workload dispatch) are not modelled: without NetworkPolicy their
//     profiles accept everything.
package calico

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"

	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// Encapsulation modes of an IP pool (ipipMode, vxlanMode).
const (
	Always      = "Always"
	CrossSubnet = "CrossSubnet"
	Never       = "Never"
)

// Calico's names and numbers.
const (
	// DefaultPool is calico-node's DEFAULT_IPV4_POOL_CIDR.
	DefaultPool = "192.168.0.0/16"
	// DefaultBlockSize is DEFAULT_IPV4_POOL_BLOCK_SIZE.
	DefaultBlockSize = 26
	// DefaultAS is the default BGP AS number of the node-to-node mesh.
	DefaultAS = 64512
	// IPIPDevice is the IPIP device (the ipip module's fallback tunnel).
	IPIPDevice = "tunl0"
	// VXLANDevice is felix's IPv4 VXLAN device.
	VXLANDevice = "vxlan.calico"
	// VXLANPort and VXLANVNI are felix's VXLANPort and VXLANVNI defaults.
	VXLANPort = 4789
	VXLANVNI  = 4096
	// HostVethMAC is the MAC the CNI plugin gives every host-side veth.
	HostVethMAC = "ee:ee:ee:ee:ee:ee"
	// Gateway is the dummy next hop of every pod's default route.
	Gateway = "169.254.1.1"
	// FelixRouteProto is felix's route protocol (DefaultRouteProto 80).
	FelixRouteProto = "80"
	// BirdRouteProto is what `ip route` prints for BIRD's routes (12).
	BirdRouteProto = "bird"
	// MasqSet and AllPoolsSet are felix's IP sets of the pools.
	MasqSet     = "cali40masq-ipam-pools"
	AllPoolsSet = "cali40all-ipam-pools"
)

var (
	hostMAC = packet.MAC{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	gateway = netip.MustParseAddr(Gateway)
)

// Options are the IP pool's and calico-node's settings.
type Options struct {
	// BlockSize is the pool's blockSize (0: 26).
	BlockSize int
	// IPIPMode and VXLANMode are the pool's encapsulation modes
	// (Always, CrossSubnet, Never; "": Never). At most one is not Never.
	IPIPMode, VXLANMode string
	// NATOutgoing is the pool's natOutgoing.
	NATOutgoing bool
	// MTU overrides the pod and tunnel MTU (veth_mtu) when non-zero.
	MTU int
	// AS is the node-to-node mesh's AS number (0: 64512).
	AS int
}

func init() { cni.Register("calico", New) }

// Mode is Calico configured for one cluster.
type Mode struct {
	c     *cni.Cluster
	o     Options
	notes []string
}

type nodeState struct {
	block  netip.Prefix
	tunnel netip.Addr // tunnel address (IPIP, VXLAN)
	ipip   *link.IPIP
	vxlan  *link.VXLAN
	vtep   packet.MAC
	used   map[netip.Addr]string
	// sessions are the peers of the BGP mesh sessions, in peer order
	// (named by MeshSession when printed: a name per node pair cost a
	// Sprintf and some 40 bytes each at build time, 1 GB at 5,000 nodes).
	sessions [][4]byte
	// meshPeers, when set (SharePeers), are every node of the mesh, this
	// one at meshSelf: the sessions are the others', in order.
	meshPeers []*cni.Node
	meshSelf  int
}

// New makes the calico mode; opts is *Options.
func New(c *cni.Cluster, opts any) (cni.Mode, error) {
	o, ok := opts.(*Options)
	if !ok || o == nil {
		return nil, fmt.Errorf("calico: options must be a non-nil *calico.Options, got %T", opts)
	}
	oo := *o
	if oo.BlockSize == 0 {
		oo.BlockSize = DefaultBlockSize
	}
	if oo.IPIPMode == "" {
		oo.IPIPMode = Never
	}
	if oo.VXLANMode == "" {
		oo.VXLANMode = Never
	}
	if oo.AS == 0 {
		oo.AS = DefaultAS
	}
	for _, m := range []string{oo.IPIPMode, oo.VXLANMode} {
		if m != Always && m != CrossSubnet && m != Never {
			return nil, fmt.Errorf("calico: encapsulation mode %q: expected Always, CrossSubnet or Never", m)
		}
	}
	if oo.IPIPMode != Never && oo.VXLANMode != Never {
		return nil, fmt.Errorf("calico: ipipMode %s and vxlanMode %s: an IP pool uses at most one encapsulation", oo.IPIPMode, oo.VXLANMode)
	}
	if oo.BlockSize < c.PodCIDR.Bits() || oo.BlockSize > 32 {
		return nil, fmt.Errorf("calico: blockSize /%d does not fit the pool %s", oo.BlockSize, c.PodCIDR)
	}
	return &Mode{c: c, o: oo}, nil
}

// Options returns the effective options.
func (m *Mode) Options() Options { return m.o }

// Name is "calico/ipip", "calico/vxlan" (with "-crosssubnet" for
// CrossSubnet) or "calico/bgp" (no encapsulation).
func (m *Mode) Name() string {
	switch {
	case m.o.IPIPMode == Always:
		return "calico/ipip"
	case m.o.IPIPMode == CrossSubnet:
		return "calico/ipip-crosssubnet"
	case m.o.VXLANMode == Always:
		return "calico/vxlan"
	case m.o.VXLANMode == CrossSubnet:
		return "calico/vxlan-crosssubnet"
	}
	return "calico/bgp"
}

func (m *Mode) ipip() bool  { return m.o.IPIPMode != Never }
func (m *Mode) vxlan() bool { return m.o.VXLANMode != Never }

// bird reports whether BIRD programs the routes (calico_backend bird):
// every mode but VXLAN, where felix does (calico_backend vxlan).
func (m *Mode) bird() bool { return !m.vxlan() }

func (m *Mode) proto() string {
	if m.bird() {
		return BirdRouteProto
	}
	return FelixRouteProto
}

// PodMTU is felix's auto-detected MTU: the NIC's minus the encapsulation
// overhead (IPIP 20, VXLAN 50).
func (m *Mode) PodMTU() int {
	if m.o.MTU != 0 {
		return m.o.MTU
	}
	switch {
	case m.ipip():
		return m.c.UnderlayMTU - link.IPIPOverhead
	case m.vxlan():
		return m.c.UnderlayMTU - packet.VXLANOverhead
	}
	return m.c.UnderlayMTU
}

// Notes returns what calico-node (BIRD, felix) would have logged.
func (m *Mode) Notes() []string { return m.notes }

// HostVethName is the calico CNI plugin's host-side veth name:
// "cali" + the first 11 hex digits of sha1("<namespace>.<pod>").
func HostVethName(namespace, pod string) string {
	h := sha1.Sum([]byte(namespace + "." + pod))
	return "cali" + hex.EncodeToString(h[:])[:11]
}

// MeshSession is BIRD's name of the mesh session to peer: "Mesh_" and the
// address with underscores.
func MeshSession(peer netip.Addr) string {
	b := peer.As4()
	return fmt.Sprintf("Mesh_%d_%d_%d_%d", b[0], b[1], b[2], b[3])
}

// SetupNode brings up the node's side: ip_forward, the blackhole for its
// block, the tunnel device and felix's NAT rules.
func (m *Mode) SetupNode(n *cni.Node) error {
	st := &nodeState{block: n.PodCIDR, used: map[netip.Addr]string{}}
	n.State = st
	s := n.Stack
	s.Forwarding = true
	if n.PodCIDR.Bits() < 32 {
		// BIRD: "route <block> blackhole;" in protocol static; felix
		// (VXLAN): blackholeRoutes(localIPAMBlocks).
		if err := s.AddRoute(&netstack.Route{Dst: n.PodCIDR, Type: netstack.RouteBlackhole, Proto: m.proto()}); err != nil {
			return fmt.Errorf("calico %s: %w", n.Name, err)
		}
	}
	if m.ipip() || m.vxlan() {
		// calico-node allocates the tunnel address from the node's block
		// before any pod: ordinal 0.
		st.tunnel = n.PodCIDR.Addr()
		st.used[st.tunnel] = "tunnel address of " + n.Name
	}
	mtu := m.PodMTU()
	switch {
	case m.ipip():
		st.ipip = link.NewIPIP(s.Env(), n.Name, IPIPDevice, mtu, s, func(dst netip.Addr) (netip.Addr, bool) {
			_, src, ok := s.RouteOutput(dst)
			return src, ok
		})
		ifc := s.AddIface(st.ipip.Dev)
		ifc.NoARP = true
		if err := s.AddAddr(IPIPDevice, netip.PrefixFrom(st.tunnel, 32)); err != nil {
			return fmt.Errorf("calico %s: %w", n.Name, err)
		}
		s.BindIPProto(packet.ProtoIPIP, st.ipip)
	case m.vxlan():
		st.vtep = cni.LocalMAC("vxlan.calico/" + n.Name)
		st.vxlan = link.NewVXLAN(s.Env(), n.Name, VXLANDevice, VXLANVNI, VXLANPort, n.IP, mtu, st.vtep, s)
		s.AddIface(st.vxlan.Dev)
		if err := s.AddAddr(VXLANDevice, netip.PrefixFrom(st.tunnel, 32)); err != nil {
			return fmt.Errorf("calico %s: %w", n.Name, err)
		}
		s.BindTunnel(VXLANPort, st.vxlan)
		m.addVXLANPort()
	}
	if n.Filter != nil {
		if err := m.rules(n); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mode) addVXLANPort() {
	for _, p := range m.c.Env.VXLANPorts {
		if p == VXLANPort {
			return
		}
	}
	m.c.Env.VXLANPorts = append(m.c.Env.VXLANPorts, VXLANPort)
}

// rules installs felix's nat chains and the pool IP sets.
func (m *Mode) rules(n *cni.Node) error {
	nf := n.Filter
	wrap := func(err error) error { return fmt.Errorf("calico %s: felix: %w", n.Name, err) }
	// felix's maxelem default is MaxIPSetSize, 1048576.
	for _, set := range []string{AllPoolsSet, MasqSet} {
		if err := nf.CreateSet(set, "hash:net", "family", "inet", "hashsize", "1024", "maxelem", "1048576"); err != nil {
			return wrap(err)
		}
	}
	if err := nf.AddToSet(AllPoolsSet, m.c.PodCIDR.String()); err != nil {
		return wrap(err)
	}
	if m.o.NATOutgoing {
		if err := nf.AddToSet(MasqSet, m.c.PodCIDR.String()); err != nil {
			return wrap(err)
		}
	}
	for _, c := range []string{"cali-PREROUTING", "cali-OUTPUT", "cali-POSTROUTING", "cali-fip-dnat", "cali-fip-snat", "cali-nat-outgoing"} {
		if err := nf.NewChain("nat", c); err != nil {
			return wrap(err)
		}
	}
	if err := insertJumps(n); err != nil {
		return wrap(err)
	}
	rules := []string{
		`-A cali-PREROUTING -m comment --comment "cali:r6XmIziWUJsdOK6Z" -j cali-fip-dnat`,
		`-A cali-OUTPUT -m comment --comment "cali:GBTAv2p5CwevEyJm" -j cali-fip-dnat`,
		`-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-fip-snat`,
		`-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing`,
	}
	if m.o.NATOutgoing {
		rules = append(rules, `-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set `+MasqSet+` src -m set ! --match-set `+AllPoolsSet+` dst -j MASQUERADE --random-fully`)
	}
	if err := nf.Append("nat", rules...); err != nil {
		return wrap(err)
	}
	return nil
}

// felixJumps are felix's jumps from the kernel chains of the nat table.
// The rule hashes ("cali:…") are those felix writes for these rules (they
// depend only on the chain and the rule).
var felixJumps = []string{
	`PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING`,
	`OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT`,
	`POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING`,
}

func insertJumps(n *cni.Node) error {
	for _, j := range felixJumps {
		if err := n.Filter.Insert("nat", "-I "+j); err != nil {
			return err
		}
	}
	return nil
}

// Refresh is felix's periodic iptables resync with ChainInsertMode
// "insert": when another program (kube-proxy) has put its rules in front
// of felix's jumps in the kernel chains, felix moves them back to the top.
// The builder calls it once kube-proxy's rules are in.
func (m *Mode) Refresh(n *cni.Node) error {
	if n.Filter == nil {
		return nil
	}
	for _, j := range felixJumps {
		if err := n.Filter.Delete("nat", "-D "+j); err != nil {
			return fmt.Errorf("calico %s: felix: %w", n.Name, err)
		}
	}
	if err := insertJumps(n); err != nil {
		return fmt.Errorf("calico %s: felix: %w", n.Name, err)
	}
	return nil
}

// onLink reports whether peer is directly reachable from n (the route to
// it has no gateway), and returns that route.
func onLink(n *cni.Node, peer netip.Addr) (*netstack.Route, bool) {
	r := n.Stack.Routes.Lookup(peer)
	return r, r != nil && r.Type == netstack.RouteUnicast && !r.Gw.IsValid()
}

// AddPeer programs n for peer as BIRD (IPIP, BGP) or felix (VXLAN) does.
func (m *Mode) AddPeer(n, peer *cni.Node) error {
	st := n.State.(*nodeState)
	if m.bird() {
		st.sessions = append(st.sessions, peer.IP.As4())
	}
	return m.addPeerRoutes(n, peer)
}

// addPeerRoutes is AddPeer's kernel state: routes, neighbour, FDB entry.
func (m *Mode) addPeerRoutes(n, peer *cni.Node) error {
	s := n.Stack
	st := n.State.(*nodeState)
	pst := peer.State.(*nodeState)
	direct, sameSubnet := onLink(n, peer.IP)
	switch {
	case m.ipip() && (m.o.IPIPMode == Always || !sameSubnet):
		// krt_tunnel = "tunl0": the kernel route is onlink through tunl0.
		r := &netstack.Route{Dst: pst.block, Gw: peer.IP, Dev: s.Iface(IPIPDevice), Proto: BirdRouteProto, Onlink: true}
		if err := s.AddRoute(r); err != nil {
			return fmt.Errorf("calico %s: BIRD: %w", n.Name, err)
		}
	case m.vxlan() && (m.o.VXLANMode == Always || !sameSubnet):
		if err := s.AddNeigh(VXLANDevice, pst.tunnel, pst.vtep, true); err != nil {
			return fmt.Errorf("calico %s: felix: %w", n.Name, err)
		}
		st.vxlan.AddFDB(pst.vtep, peer.IP)
		r := &netstack.Route{Dst: pst.block, Gw: pst.tunnel, Dev: s.Iface(VXLANDevice), Proto: FelixRouteProto, Onlink: true}
		if err := s.AddRoute(r); err != nil {
			return fmt.Errorf("calico %s: felix: %w", n.Name, err)
		}
	case sameSubnet:
		r := &netstack.Route{Dst: pst.block, Gw: peer.IP, Dev: direct.Dev, Proto: m.proto()}
		if err := s.AddRoute(r); err != nil {
			return fmt.Errorf("calico %s: %w", n.Name, err)
		}
		m.noteDirect(n, peer, pst.block, direct.Dev)
	default:
		// BGP without encapsulation to a peer that is not on-link:
		// "multihop; gateway recursive" resolves the next hop through the
		// route to the peer.
		via := s.Routes.Lookup(peer.IP)
		if via == nil || via.Type != netstack.RouteUnicast {
			m.notes = append(m.notes, fmt.Sprintf("%s: BIRD %s: next hop %s unreachable (no route to it): %s not installed", n.Name, MeshSession(peer.IP), peer.IP, pst.block))
			return nil
		}
		r := &netstack.Route{Dst: pst.block, Gw: via.Gw, Dev: via.Dev, Proto: m.proto()}
		if err := s.AddRoute(r); err != nil {
			return fmt.Errorf("calico %s: %w", n.Name, err)
		}
		what := "the next router"
		if m.c.VPC != nil {
			what = "the vSwitch gateway, i.e. the VPC vRouter, whose route table has no entry for the block: packets to those pods are dropped there. On a VPC use ipipMode or vxlanMode Always (CrossSubnet leaves same-vSwitch traffic unencapsulated, which the vRouter drops as well)"
		}
		m.notes = append(m.notes, fmt.Sprintf("%s: BIRD %s: next hop %s is not on-link (another subnet); gateway recursive resolved it through %q, so the kernel route is %q: it hands pod traffic to %s",
			n.Name, MeshSession(peer.IP), peer.IP, via.String(), r.String(), what))
	}
	return nil
}

// noteDirect notes, on a VPC, that n's direct route to peer's block goes
// nowhere.
func (m *Mode) noteDirect(n, peer *cni.Node, block netip.Prefix, dev *netstack.Iface) {
	if m.c.VPC == nil {
		return
	}
	who := "felix (vxlanMode CrossSubnet)"
	if m.bird() {
		who = "BIRD " + MeshSession(peer.IP)
	}
	m.notes = append(m.notes, fmt.Sprintf("%s: %s: %s via %s dev %s is a direct route, but the Alibaba VPC is not an Ethernet segment: the vRouter forwards by destination IP and has no route entry for %s, so packets to those pods are dropped (these routes reach the node kernels, never the VPC route table)",
		n.Name, who, block, peer.IP, dev.Dev.Name, block))
}

// AddPod is the CNI ADD: calico-ipam, veth pair, sysctls, routes.
func (m *Mode) AddPod(p *cni.Pod) error {
	n := p.Node
	st := n.State.(*nodeState)
	who := p.Namespace + "/" + p.Name
	ip := p.IP
	size := 1 << (32 - st.block.Bits())
	if ip.IsValid() {
		if !st.block.Contains(ip) {
			return fmt.Errorf("calico %s: pod %s: requested IP %s is not in the node's affine block %s", n.Name, who, ip, st.block)
		}
		if o, ok := st.used[ip]; ok {
			return fmt.Errorf("calico %s: pod %s: requested IP %s is already allocated (%s)", n.Name, who, ip, o)
		}
	} else {
		for i := 0; ; i++ {
			if i == size {
				return fmt.Errorf("calico %s: pod %s: calico-ipam: block %s is full (%d addresses) and netsim gives each node one block", n.Name, who, st.block, size)
			}
			ip = cni.Nth(st.block, i)
			if _, ok := st.used[ip]; !ok {
				break
			}
		}
	}
	st.used[ip] = "pod " + who
	p.IP = ip
	mtu := m.PodMTU()
	if p.MTU != 0 {
		mtu = p.MTU
	}
	vname := HostVethName(p.Namespace, p.Name)
	podEnd, hostEnd := link.NewVethPair(n.Stack.Env(), who, "eth0", cni.LocalMAC("eth0/"+who), n.Name, vname, hostMAC, mtu)
	hi := n.Stack.AddIface(hostEnd)
	hi.ProxyARP = true
	hi.Conf.RouteLocalnet = true
	p.HostVeth = hostEnd
	if err := n.Stack.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(ip, 32), Dev: hi, Scope: "link"}); err != nil {
		return fmt.Errorf("calico %s: pod %s: %w", n.Name, who, err)
	}
	ps := p.Stack
	ps.AddIface(podEnd)
	if err := ps.AddAddr("eth0", netip.PrefixFrom(ip, 32)); err != nil {
		return fmt.Errorf("calico %s: pod %s: %w", n.Name, who, err)
	}
	eth0 := ps.Iface("eth0")
	if err := ps.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(gateway, 32), Dev: eth0, Scope: "link"}); err != nil {
		return fmt.Errorf("calico %s: pod %s: %w", n.Name, who, err)
	}
	if err := ps.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gateway, Dev: eth0}); err != nil {
		return fmt.Errorf("calico %s: pod %s: %w", n.Name, who, err)
	}
	return nil
}

// Block returns a node's affine block.
func Block(n *cni.Node) (netip.Prefix, bool) {
	st, ok := n.State.(*nodeState)
	if !ok {
		return netip.Prefix{}, false
	}
	return st.block, true
}

// TunnelAddr returns a node's tunnel address (IPIP, VXLAN).
func TunnelAddr(n *cni.Node) (netip.Addr, bool) {
	st, ok := n.State.(*nodeState)
	if !ok || !st.tunnel.IsValid() {
		return netip.Addr{}, false
	}
	return st.tunnel, true
}

// VXLAN returns a node's vxlan.calico (nil in other modes).
func VXLAN(n *cni.Node) *link.VXLAN {
	if st, ok := n.State.(*nodeState); ok {
		return st.vxlan
	}
	return nil
}

// IPIP returns a node's tunl0 (nil in other modes).
func IPIP(n *cni.Node) *link.IPIP {
	if st, ok := n.State.(*nodeState); ok {
		return st.ipip
	}
	return nil
}

// VTEPMAC returns a node's vxlan.calico MAC (VXLAN only).
func VTEPMAC(n *cni.Node) (packet.MAC, bool) {
	st, ok := n.State.(*nodeState)
	if !ok || st.vxlan == nil {
		return packet.MAC{}, false
	}
	return st.vtep, true
}

// BGPProtocols prints the node's mesh sessions as `birdcl show protocols`
// lists them once established (nil without BIRD, i.e. with VXLAN).
func (m *Mode) BGPProtocols(n *cni.Node) []string {
	st, ok := n.State.(*nodeState)
	if !ok || !m.bird() {
		return nil
	}
	var sessions []string
	if st.meshPeers != nil {
		sessions = make([]string, 0, len(st.meshPeers))
		for i, p := range st.meshPeers {
			if i != st.meshSelf {
				sessions = append(sessions, MeshSession(p.IP))
			}
		}
	} else {
		for _, a := range st.sessions {
			sessions = append(sessions, MeshSession(netip.AddrFrom4(a)))
		}
	}
	if len(sessions) == 0 {
		return nil
	}
	out := []string{fmt.Sprintf("%-18s %-8s %-8s %-6s %-10s %s", "name", "proto", "table", "state", "since", "info")}
	for _, s := range sessions {
		out = append(out, fmt.Sprintf("%-18s %-8s %-8s %-6s %-10s %s", s, "BGP", "master", "up", "00:00:00", "Established"))
	}
	return out
}
