// Package flannel is the flannel CNI mode with its vxlan, host-gw, udp and
// ali-vpc (ACK) backends, named and numbered as Linux flannel does.
//
// Design notes:
//
//   - Every node gets a /24 (nodeCIDRMask) lease from the cluster network.
//     Pods are wired by flannel's CNI plugin delegating to the bridge
//     plugin: bridge cni0 with <subnet>.1/24 and MAC 0a:58:<gateway IP>,
//     a veth pair per pod (host side "veth" + 8 hex digits, hairpin on),
//     pod eth0 with MAC 0a:58:<pod IP>, host-local IPAM from <subnet>.2,
//     routes "default via <subnet>.1" (isDefaultGateway) and
//     "<network> via <subnet>.1".
//   - vxlan: device flannel.<VNI> with local <node IP>, dstport 8472,
//     nolearning, MTU = eth0 MTU − 50, address <subnet>.0/32. Per peer
//     flanneld writes, in this order: a permanent neighbour "<peer
//     subnet>.0 lladdr <peer VTEP MAC>", an FDB entry "<peer VTEP MAC> dst
//     <peer IP> self permanent", and the route "<peer subnet> via <peer
//     subnet>.0 dev flannel.1 onlink". With DirectRouting, a peer whose IP
//     is directly connected (no gateway on the route to it) gets "<peer
//     subnet> via <peer IP>" instead.
//   - host-gw: per peer "<peer subnet> via <peer IP> dev eth0"; the kernel
//     refuses it when the peer is not on-link (flanneld logs the error and
//     goes on) — netsim reports that as a note.
//   - udp: TUN flannel0 and flanneld's userspace forwarder (udp.go).
//   - alivpc (ACK's default): no tunnel and no peer routes; at node setup
//     a VPC custom route entry "<node subnet> → this ECS instance" is
//     created, counted against the route table quota.
//   - --ip-masq: the FLANNEL-POSTRTG chain in nat and FLANNEL-FWD in
//     filter, rule for rule as flanneld installs them (with --random-fully).
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

// Backends.
const (
	VXLAN  = "vxlan"
	HostGW = "host-gw"
	AliVPC = "alivpc"
)

// Options is flannel's net-conf.json.
type Options struct {
	Backend       string
	VNI           int
	Port          int
	DirectRouting bool
	IPMasq        bool
	// MTU overrides the pod and flannel device MTU when non-zero.
	MTU int
}

// KubeProxyMark is the mark flannel leaves alone (kube-proxy's masquerade mark).
const KubeProxyMark = "0x4000/0x4000"

func init() { cni.Register("flannel", New) }

// Mode is flannel configured for one cluster.
type Mode struct {
	c     *cni.Cluster
	o     Options
	notes []string
}

type nodeState struct {
	bridge *link.Bridge
	vxlan  *link.VXLAN
	tun    *link.TUN
	proxy  *flanneld.Proxy
	vtep   packet.MAC
	next   int
	used   map[netip.Addr]string
}

// New makes the flannel mode; opts is *Options.
func New(c *cni.Cluster, opts any) (cni.Mode, error) {
	o, ok := opts.(*Options)
	if !ok {
		return nil, fmt.Errorf("flannel: options must be *flannel.Options, got %T", opts)
	}
	if o == nil {
		return nil, fmt.Errorf("flannel: options must be a non-nil *flannel.Options")
	}
	oo := *o
	if oo.Backend == "" {
		oo.Backend = VXLAN
	}
	if oo.Backend == "ali-vpc" {
		oo.Backend = AliVPC
	}
	switch oo.Backend {
	case VXLAN, HostGW, UDP, AliVPC:
	default:
		return nil, fmt.Errorf("flannel: unknown backend %q (expected vxlan, host-gw, udp or alivpc)", oo.Backend)
	}
	if oo.VNI == 0 {
		oo.VNI = 1
	}
	if oo.Port == 0 {
		oo.Port = 8472
		if oo.Backend == UDP {
			oo.Port = flanneld.DefaultPort
		}
	}
	if oo.Backend == AliVPC && c.VPC == nil {
		return nil, fmt.Errorf("flannel: backend alivpc needs an Alibaba Cloud VPC underlay (underlay: vpc), not %q", c.Underlay)
	}
	return &Mode{c: c, o: oo}, nil
}

// Name is "flannel/<backend>".
func (m *Mode) Name() string { return "flannel/" + m.o.Backend }

// Options returns the effective options.
func (m *Mode) Options() Options { return m.o }

// PodMTU is the underlay MTU minus the backend's overhead (FLANNEL_MTU).
func (m *Mode) PodMTU() int {
	if m.o.MTU != 0 {
		return m.o.MTU
	}
	switch m.o.Backend {
	case VXLAN:
		return m.c.UnderlayMTU - packet.VXLANOverhead
	case UDP:
		return m.c.UnderlayMTU - flanneld.EncapOverhead
	}
	return m.c.UnderlayMTU
}

// Notes returns what flanneld would have logged.
func (m *Mode) Notes() []string { return m.notes }

// DeviceName is the VXLAN device name, flannel.<VNI>.
func (m *Mode) DeviceName() string { return fmt.Sprintf("flannel.%d", m.o.VNI) }

// VTEPMAC returns a node's VTEP MAC (vxlan only).
func VTEPMAC(n *cni.Node) (packet.MAC, bool) {
	st, ok := n.State.(*nodeState)
	if !ok || st.vxlan == nil {
		return packet.MAC{}, false
	}
	return st.vtep, true
}

// SetupNode creates cni0, the backend's device or VPC route, and the
// iptables rules.
func (m *Mode) SetupNode(n *cni.Node) error {
	st := &nodeState{next: 2, used: map[netip.Addr]string{}}
	n.State = st
	s := n.Stack
	s.Forwarding = true
	gw := cni.Nth(n.PodCIDR, 1)
	st.bridge = link.NewBridge(s.Env(), n.Name, "cni0", m.PodMTU(), cni.MACFromIP(gw))
	s.AddIface(st.bridge.Dev)
	// br_netfilter, net.bridge.bridge-nf-call-iptables=1: a Kubernetes
	// node prerequisite (kube-proxy needs bridged pod traffic in iptables).
	st.bridge.NF = s
	if err := s.AddAddr("cni0", netip.PrefixFrom(gw, n.PodCIDR.Bits())); err != nil {
		return fmt.Errorf("flannel %s: %w", n.Name, err)
	}
	switch m.o.Backend {
	case VXLAN:
		st.vtep = cni.LocalMAC("vtep/" + n.Name)
		mtu := n.NIC.Dev.MTU - packet.VXLANOverhead
		if m.o.MTU != 0 {
			mtu = m.o.MTU
		}
		st.vxlan = link.NewVXLAN(s.Env(), n.Name, m.DeviceName(), uint32(m.o.VNI), uint16(m.o.Port), n.IP, mtu, st.vtep, s)
		s.AddIface(st.vxlan.Dev)
		if err := s.AddAddr(m.DeviceName(), netip.PrefixFrom(n.PodCIDR.Addr(), 32)); err != nil {
			return fmt.Errorf("flannel %s: %w", n.Name, err)
		}
		s.BindTunnel(uint16(m.o.Port), st.vxlan)
		m.addVXLANPort()
	case UDP:
		if err := m.setupUDP(n, st); err != nil {
			return err
		}
	case AliVPC:
		if _, err := m.c.VPC.AddRoute(n.PodCIDR, n.Name, "flannel ali-vpc route for "+n.Name); err != nil {
			return fmt.Errorf("flannel %s: %w", n.Name, err)
		}
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
		if p == uint16(m.o.Port) {
			return
		}
	}
	m.c.Env.VXLANPorts = append(m.c.Env.VXLANPorts, uint16(m.o.Port))
}

// rules installs flanneld's FLANNEL-FWD and (with ipMasq) FLANNEL-POSTRTG.
func (m *Mode) rules(n *cni.Node) error {
	nf := n.Filter
	net := m.c.PodCIDR.String()
	if err := nf.NewChain("filter", "FLANNEL-FWD"); err != nil {
		return err
	}
	if err := nf.Append("filter",
		`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
		`-A FLANNEL-FWD -s `+net+` -m comment --comment "flanneld forward" -j ACCEPT`,
		`-A FLANNEL-FWD -d `+net+` -m comment --comment "flanneld forward" -j ACCEPT`,
	); err != nil {
		return fmt.Errorf("flannel %s: %w", n.Name, err)
	}
	if !m.o.IPMasq {
		return nil
	}
	pod := n.PodCIDR.String()
	if err := nf.NewChain("nat", "FLANNEL-POSTRTG"); err != nil {
		return err
	}
	if err := nf.Append("nat",
		`-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
		`-A FLANNEL-POSTRTG -m mark --mark `+KubeProxyMark+` -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s `+pod+` -d `+net+` -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s `+net+` -d `+pod+` -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG ! -s `+net+` -d `+pod+` -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s `+net+` ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
		`-A FLANNEL-POSTRTG ! -s `+net+` -d `+net+` -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
	); err != nil {
		return fmt.Errorf("flannel %s: %w", n.Name, err)
	}
	return nil
}

// AddPeer programs n for peer as flanneld's subnet watcher does.
func (m *Mode) AddPeer(n, peer *cni.Node) error {
	s := n.Stack
	switch m.o.Backend {
	case VXLAN:
		if m.o.DirectRouting {
			if r := s.Routes.Lookup(peer.IP); r != nil && !r.Gw.IsValid() && r.Dev != nil {
				route := &netstack.Route{Dst: peer.PodCIDR, Gw: peer.IP, Dev: r.Dev}
				if err := s.AddRoute(route); err != nil {
					m.notes = append(m.notes, fmt.Sprintf("%s: flanneld: Error adding route to %s via %s: %v", n.Name, peer.PodCIDR, peer.IP, err))
				}
				return nil
			}
		}
		st := n.State.(*nodeState)
		pst := peer.State.(*nodeState)
		gw := peer.PodCIDR.Addr()
		if err := s.AddNeigh(m.DeviceName(), gw, pst.vtep, true); err != nil {
			return fmt.Errorf("flannel %s: %w", n.Name, err)
		}
		st.vxlan.AddFDB(pst.vtep, peer.IP)
		route := &netstack.Route{Dst: peer.PodCIDR, Gw: gw, Dev: s.Iface(m.DeviceName()), Onlink: true}
		if err := s.AddRoute(route); err != nil {
			return fmt.Errorf("flannel %s: %w", n.Name, err)
		}
	case HostGW:
		route := &netstack.Route{Dst: peer.PodCIDR, Gw: peer.IP, Dev: n.NIC}
		if err := s.AddRoute(route); err != nil {
			m.notes = append(m.notes, fmt.Sprintf("%s: flanneld host-gw: Error adding route to %s via %s dev %s: Network is unreachable (%s is not on-link: host-gw needs every node on one L2 segment)",
				n.Name, peer.PodCIDR, peer.IP, n.NIC.Dev.Name, peer.IP))
		}
	case UDP:
		// subnet.WatchLeases → processSubnetEvents → setRoute over the
		// control socket: the forwarder learns the lease; the kernel
		// routes every peer through "<network> dev flannel0" already.
		st := n.State.(*nodeState)
		st.proxy.SetRoute(peer.PodCIDR, netip.AddrPortFrom(peer.IP, uint16(m.o.Port)))
	case AliVPC:
		// Routing between nodes is the VPC route table's job.
	}
	return nil
}

// AddPod is the CNI ADD: host-local IPAM, veth pair, bridge port, routes.
func (m *Mode) AddPod(p *cni.Pod) error {
	n := p.Node
	st := n.State.(*nodeState)
	who := p.Namespace + "/" + p.Name
	gw := cni.Nth(n.PodCIDR, 1)
	last := cni.Nth(n.PodCIDR, 1<<(32-n.PodCIDR.Bits())-2)
	ip := p.IP
	if ip.IsValid() {
		if !n.PodCIDR.Contains(ip) || ip == gw || ip == n.PodCIDR.Addr() || last.Less(ip) {
			return fmt.Errorf("flannel %s: pod %s: requested IP %s is not in the host-local range %s–%s", n.Name, who, ip, cni.Nth(n.PodCIDR, 2), last)
		}
		if o, ok := st.used[ip]; ok {
			return fmt.Errorf("flannel %s: pod %s: requested IP %s is already allocated to %s", n.Name, who, ip, o)
		}
	} else {
		for {
			ip = cni.Nth(n.PodCIDR, st.next)
			if last.Less(ip) {
				return fmt.Errorf("flannel %s: pod %s: host-local: no IP addresses available in range set %s–%s", n.Name, who, cni.Nth(n.PodCIDR, 2), last)
			}
			st.next++
			if _, ok := st.used[ip]; !ok {
				break
			}
		}
	}
	st.used[ip] = who
	p.IP = ip
	mtu := m.PodMTU()
	if p.MTU != 0 {
		mtu = p.MTU
	}
	vname := cni.VethName(p.Namespace, p.Name)
	podEnd, hostEnd := link.NewVethPair(n.Stack.Env(), who, "eth0", cni.MACFromIP(ip), n.Name, vname, cni.LocalMAC(vname), mtu)
	hostEnd.Hairpin = true
	st.bridge.AddPort(hostEnd)
	n.Stack.AddIface(hostEnd)
	p.HostVeth = hostEnd
	ps := p.Stack
	ps.AddIface(podEnd)
	if err := ps.AddAddr("eth0", netip.PrefixFrom(ip, n.PodCIDR.Bits())); err != nil {
		return fmt.Errorf("flannel %s: pod %s: %w", n.Name, who, err)
	}
	eth0 := ps.Iface("eth0")
	if err := ps.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw, Dev: eth0}); err != nil {
		return fmt.Errorf("flannel %s: pod %s: %w", n.Name, who, err)
	}
	if err := ps.AddRoute(&netstack.Route{Dst: m.c.PodCIDR, Gw: gw, Dev: eth0}); err != nil {
		return fmt.Errorf("flannel %s: pod %s: %w", n.Name, who, err)
	}
	return nil
}

// Bridge returns a node's cni0.
func Bridge(n *cni.Node) *link.Bridge {
	if st, ok := n.State.(*nodeState); ok {
		return st.bridge
	}
	return nil
}

// Tunnel returns a node's VXLAN device (nil for other backends).
func Tunnel(n *cni.Node) *link.VXLAN {
	if st, ok := n.State.(*nodeState); ok {
		return st.vxlan
	}
	return nil
}
