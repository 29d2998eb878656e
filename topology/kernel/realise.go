package kernel

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"netsim/dataplane/cni/calico"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/cni/terway"
	"netsim/dataplane/vpc"
	"netsim/topology"
)

// Realise builds the world w from kernel devices in namespaces named
// prefix + …, and returns them; on error everything made so far is
// already removed. What it can build today: flannel with the vxlan,
// host-gw or alivpc backend on an l2 underlay (a Linux bridge in its own
// namespace, "underlay") or a vpc underlay (a router namespace standing in
// for the vRouter, see vrouter, with the internet client and the NAT
// gateway's and EIPs' NAT as iptables rules there, see natgw), and Terway's shared-ENI veth and
// exclusive-ENI datapaths on a vpc underlay (terwayVeth). Every other data path is ErrUnsupported;
// add one as a case here, with a scenario under testdata for the
// differential test.
//
// Names, addresses and MACs are netsim's own (the MACs the CNI bridge
// plugin derives from addresses, and the ones netsim picks where the
// kernel would pick at random: host-side veths, the VTEP), so that a frame
// captured in either world names the same devices. MTUs are not copied:
// they are derived from the scenario as flanneld (FLANNEL_MTU) and the CNI
// plugin derive them, and the kernel applies its own rules (the bridge's
// MTU), so that a wrong MTU in netsim shows as a difference. Each node
// gets the iptables rules netsim built for it (flanneld's masquerade and
// forward chains, kube-proxy's Service chains, felix's nat chains), the
// IP sets they match (felix's pool sets, created with `ipset restore`) and
// its modelled sysctls, see netfilter.
func Realise(w *topology.World, prefix string) (_ *Net, err error) {
	s := w.Scenario
	if s.VPC.Underlay != "l2" && s.VPC.Underlay != "vpc" {
		return nil, fmt.Errorf("underlay %q: %w (only l2 and vpc)", s.VPC.Underlay, ErrUnsupported)
	}
	tw, isTerway := w.CNI.(*terway.Mode)
	if isTerway && (s.VPC.Underlay != "vpc" || tw.Options().VirtualType != terway.Veth) {
		return nil, fmt.Errorf("CNI %s: %w (only terway's veth and exclusive-ENI datapaths)", w.CNI.Name(), ErrUnsupported)
	}
	m, ok := w.CNI.(*flannel.Mode)
	cm, isCalico := w.CNI.(*calico.Mode)
	// The udp backend needs flanneld's userspace forwarder on the TUN;
	// no process here plays it.
	if !isTerway && ((!ok && !isCalico) || (ok && (m.Options().DirectRouting || m.Options().Backend == flannel.UDP))) {
		return nil, fmt.Errorf("CNI %s: %w (only flannel vxlan, host-gw and alivpc, calico, and terway veth and exclusive ENI)", w.CNI.Name(), ErrUnsupported)
	}
	if s.Cluster.ProxyMode == "ipvs" {
		// kube-proxy's IPVS mode needs ip_vs virtual servers and its
		// ipsets (KUBE-CLUSTER-IP …) before its rules load; neither is
		// made here.
		return nil, fmt.Errorf("kube-proxy mode ipvs: %w (only iptables)", ErrUnsupported)
	}
	n := New(prefix)
	defer func() {
		if err != nil {
			n.Cleanup()
		}
	}()
	underlay := n.underlay
	if s.VPC.Underlay == "vpc" {
		underlay = n.vrouter
	}
	if err := underlay(w); err != nil {
		return nil, err
	}
	switch {
	case isTerway:
		err = n.terwayVeth(w)
	case isCalico:
		err = n.calico(w, cm)
	default:
		err = n.flannel(w, m)
	}
	if err != nil {
		return nil, err
	}
	if err := n.netfilter(w); err != nil {
		return nil, err
	}
	for ns := range n.NS {
		if err := n.Do(n.NS[ns], noOffload); err != nil {
			return nil, fmt.Errorf("%s: %w", ns, err)
		}
	}
	if err := n.Do(n.Prefix+"underlay", noOffload); err != nil {
		return nil, fmt.Errorf("underlay: %w", err)
	}
	return n, nil
}

// underlay makes the L2 segment (bridge "br0" in namespace "underlay") and
// every node's eth0 on it, with the node's address and MAC.
func (n *Net) underlay(w *topology.World) error {
	ul, err := n.AddNS("underlay")
	if err != nil {
		return err
	}
	if err := n.IP(ul, "link", "add", "br0", "type", "bridge"); err != nil {
		return err
	}
	if err := n.IP(ul, "link", "set", "br0", "up"); err != nil {
		return err
	}
	bits := map[string]int{}
	for _, sw := range w.Scenario.VPC.VSwitches {
		bits[sw.Name] = netip.MustParsePrefix(sw.CIDR).Bits()
	}
	for i, h := range append(append([]*topology.Host(nil), w.Nodes...), w.Instances...) {
		ns, err := n.AddNS(h.Name)
		if err != nil {
			return err
		}
		n.NS[h.Name] = ns
		port := "port" + strconv.Itoa(i)
		dev := h.NIC.Dev
		for _, c := range [][]string{
			{"link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
				"address", dev.MAC.String(), "mtu", strconv.Itoa(w.Scenario.VPC.MTU)},
			{"link", "set", port, "mtu", strconv.Itoa(w.Scenario.VPC.MTU), "master", "br0", "up"},
		} {
			if err := n.IP(ul, c...); err != nil {
				return err
			}
		}
		for _, c := range [][]string{
			{"addr", "add", netip.PrefixFrom(h.IP, bits[h.VSwitch]).String(), "dev", "eth0"},
			{"link", "set", "eth0", "up"},
		} {
			if err := n.IP(ns, c...); err != nil {
				return err
			}
		}
	}
	return nil
}

// vrouter stands in a router namespace ("underlay") for the VPC vRouter:
// one veth per ECS instance (the ENI), whose router end has the vSwitch
// gateway address, MAC ee:ff:ff:ff:ff:ff and proxy ARP on, so that it
// answers ARP for the gateway and for every other instance as the vSwitch
// does; a /32 route per instance and, for each custom route entry, "<dst>
// via <instance IP> onlink". What it cannot do like the vRouter: it
// decrements TTL and resolves the next instance by ARP (both show as known
// differences).
func (n *Net) vrouter(w *topology.World) error {
	rt, err := n.AddNS("underlay")
	if err != nil {
		return err
	}
	if err := n.Do(rt, func() error { return sysctl("net/ipv4/ip_forward", "1") }); err != nil {
		return err
	}
	port := map[string]string{}
	hosts := append(append([]*topology.Host(nil), w.Nodes...), w.Instances...)
	if w.Internet != nil {
		// The internet client hangs off the router like an instance (its
		// pseudo vSwitch's gateway is the router's port); natgw filters
		// what may cross to and from it.
		hosts = append(hosts, w.Internet)
	}
	for i, h := range hosts {
		ns, err := n.AddNS(h.Name)
		if err != nil {
			return err
		}
		n.NS[h.Name] = ns
		p := "eni" + strconv.Itoa(i)
		port[h.Name] = p
		dev := h.NIC.Dev
		sw := h.ENI.VSwitch
		for _, c := range [][]string{
			{"link", "add", p, "address", vpc.GatewayMAC.String(), "mtu", strconv.Itoa(w.Scenario.VPC.MTU), "type", "veth",
				"peer", "name", "eth0", "netns", ns, "address", dev.MAC.String(), "mtu", strconv.Itoa(w.Scenario.VPC.MTU)},
			{"addr", "add", netip.PrefixFrom(sw.Gateway, 32).String(), "dev", p},
			{"link", "set", p, "up"},
			{"route", "add", netip.PrefixFrom(h.IP, 32).String(), "dev", p},
		} {
			if err := n.IP(rt, c...); err != nil {
				return err
			}
		}
		err = n.Do(rt, func() error {
			if err := sysctl("net/ipv4/conf/"+p+"/proxy_arp", "1"); err != nil {
				return err
			}
			// Answer at once, as the vSwitch does (the default delays a
			// proxied reply by up to 0.8 s).
			return sysctl("net/ipv4/neigh/"+p+"/proxy_delay", "0")
		})
		if err != nil {
			return err
		}
		for _, c := range [][]string{
			{"addr", "add", netip.PrefixFrom(h.IP, sw.CIDR.Bits()).String(), "dev", "eth0"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "default", "via", sw.Gateway.String(), "dev", "eth0"},
		} {
			if err := n.IP(ns, c...); err != nil {
				return err
			}
		}
	}
	// Custom entries exist only once the CNI has set the nodes up, which
	// netsim's build has done: program them from its route table.
	for _, e := range w.VPC.Routes() {
		if e.Type != vpc.Custom {
			continue
		}
		if e.NATGateway != nil && w.Internet != nil {
			// The NAT gateway is the router's own SNAT/DNAT (natgw).
			if err := n.IP(rt, "route", "add", e.Destination.String(), "via", w.Internet.IP.String(), "dev", port[w.Internet.Name], "onlink"); err != nil {
				return err
			}
			continue
		}
		h := w.Host(e.NextHop)
		if h == nil {
			return fmt.Errorf("VPC route %s: next hop %q: %w", e.Destination, e.NextHop, ErrUnsupported)
		}
		if err := n.IP(rt, "route", "add", e.Destination.String(), "via", h.IP.String(), "dev", port[h.Name], "onlink"); err != nil {
			return err
		}
	}
	if w.Internet != nil {
		return n.natgw(w, rt, port[w.Internet.Name])
	}
	return nil
}

// natgw gives the router namespace what the VPC's internet edge does, as
// iptables rules: each instance EIP is a DNAT in and an SNAT out, each
// NAT gateway SNAT entry an SNAT of its source prefix (most specific
// first, as the gateway matches them), also for a packet from inside the
// VPC to an EIP (it leaves through the gateway and comes back); nothing
// else crosses between the VPC and the internet client (inet is the
// router's port to it). Without root's iptables-restore it is
// ErrUnsupported.
func (n *Net) natgw(w *topology.World, rt, inet string) error {
	restore := RestoreCommand()
	if restore == "" {
		return fmt.Errorf("the internet client: iptables-restore missing: %w", ErrUnsupported)
	}
	var nat, filter, chains []string
	for _, e := range w.VPC.EIPs() {
		if e.Instance == "" {
			continue
		}
		h := w.Host(e.Instance)
		if h == nil {
			continue
		}
		nat = append(nat,
			fmt.Sprintf("-A PREROUTING -d %s/32 -j DNAT --to-destination %s", e.Addr, h.IP),
			fmt.Sprintf("-A POSTROUTING -s %s/32 -o %s -j SNAT --to-source %s", h.IP, inet, e.Addr))
		filter = append(filter, fmt.Sprintf("-A FORWARD -s %s/32 -o %s -j ACCEPT", h.IP, inet))
	}
	for _, g := range w.VPC.NATGateways() {
		for _, se := range g.SNATEntries() {
			nat = append(nat,
				fmt.Sprintf("-A POSTROUTING -s %s -o %s -j SNAT --to-source %s", se.Source, inet, se.EIP),
				fmt.Sprintf("-A POSTROUTING -s %s ! -o %s -m conntrack --ctstate DNAT -j SNAT --to-source %s", se.Source, inet, se.EIP))
			filter = append(filter, fmt.Sprintf("-A FORWARD -s %s -o %s -j ACCEPT", se.Source, inet))
		}
	}
	// Internet-facing SLBs (CLB layer-4 listeners): the client's address
	// is kept, the listener DNATs to its backends (nodes at the NodePort,
	// or ENI pods) in round robin, which is what the CLB's smooth wrr does
	// when the weights are equal; the whitelist is checked first. Unequal
	// weights have no iptables equivalent here: ErrUnsupported.
	for _, lb := range w.VPC.SLBs() {
		if lb.AddressType != "internet" {
			continue
		}
		for _, acl := range lb.ACL {
			nat = append(nat, fmt.Sprintf("-A PREROUTING -d %s/32 -s %s -j SLB-%s", lb.Address, acl, lb.ID))
		}
		chain := "PREROUTING"
		if len(lb.ACL) > 0 {
			chains = append(chains, "SLB-"+lb.ID)
			chain = "SLB-" + lb.ID
		}
		for _, l := range lb.Listeners() {
			var live []*vpc.Backend
			for _, b := range l.Backends {
				if b.Weight > 0 {
					if len(live) > 0 && b.Weight != live[0].Weight {
						return fmt.Errorf("SLB %s listener %s/%d: backends of unequal weights: %w", lb.Name, l.Proto, l.Port, ErrUnsupported)
					}
					live = append(live, b)
				}
			}
			proto := strings.ToLower(l.Proto)
			for i, b := range live {
				nth := ""
				if left := len(live) - i; left > 1 {
					nth = fmt.Sprintf(" -m statistic --mode nth --every %d --packet 0", left)
				}
				nat = append(nat, fmt.Sprintf("-A %s -d %s/32 -p %s --dport %d%s -j DNAT --to-destination %s:%d", chain, lb.Address, proto, l.Port, nth, b.Addr, b.Port))
			}
		}
	}
	rules := "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" + chainDecls(chains) +
		strings.Join(nat, "\n") + "\nCOMMIT\n" +
		"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n" +
		fmt.Sprintf("-A FORWARD -i %s -m conntrack --ctstate DNAT -j ACCEPT\n", inet) +
		strings.Join(filter, "\n") + "\n" +
		fmt.Sprintf("-A FORWARD -i %s -j DROP\n-A FORWARD -o %s -j DROP\nCOMMIT\n", inet, inet)
	return n.restore(rt, restore, rules)
}

// flannel programs every node as flanneld and the CNI bridge plugin do
// (see dataplane/cni/flannel for the same steps in netsim).
func (n *Net) flannel(w *topology.World, m *flannel.Mode) error {
	o := m.Options()
	vx := m.DeviceName()
	// FLANNEL_MTU: the underlay MTU less the vxlan overhead, or net-conf's MTU.
	flannelMTU := w.Scenario.VPC.MTU
	if o.Backend == flannel.VXLAN {
		flannelMTU -= 50
	}
	if o.MTU != 0 {
		flannelMTU = o.MTU
	}
	for _, h := range w.Nodes {
		ns := n.NS[h.Name]
		if err := n.Do(ns, func() error { return sysctl("net/ipv4/ip_forward", "1") }); err != nil {
			return err
		}
		br := flannel.Bridge(h.CNI)
		gw := netip.PrefixFrom(h.CNI.Stack.Iface("cni0").Addrs[0].Prefix.Addr(), h.PodCIDR.Bits())
		cmds := [][]string{
			// The CNI bridge plugin: cni0 with the gateway address.
			{"link", "add", "cni0", "address", br.Dev.MAC.String(), "mtu", strconv.Itoa(flannelMTU), "type", "bridge"},
			{"addr", "add", gw.String(), "dev", "cni0"},
			{"link", "set", "cni0", "up"},
		}
		if tun := flannel.Tunnel(h.CNI); tun != nil {
			cmds = append(cmds, [][]string{
				// flanneld: flannel.<VNI>. No udpcsum/noudpcsum: flanneld
				// leaves IFLA_VXLAN_UDP_CSUM unset, the kernel default.
				{"link", "add", vx, "address", tun.Dev.MAC.String(), "mtu", strconv.Itoa(flannelMTU), "type", "vxlan",
					"id", strconv.Itoa(o.VNI), "local", h.IP.String(), "dev", "eth0", "dstport", strconv.Itoa(o.Port), "nolearning"},
				{"addr", "add", netip.PrefixFrom(h.PodCIDR.Addr(), 32).String(), "dev", vx},
				{"link", "set", vx, "up"},
			}...)
		}
		for _, c := range cmds {
			if err := n.IP(ns, c...); err != nil {
				return err
			}
		}
	}
	for _, h := range w.Nodes {
		ns := n.NS[h.Name]
		for _, p := range w.Nodes {
			if p == h {
				continue
			}
			if o.Backend == flannel.AliVPC {
				// No routes on the nodes: the VPC route table carries them.
				continue
			}
			if o.Backend == flannel.HostGW {
				// flanneld host-gw: the peer's subnet via its node address.
				if err := n.IP(ns, "route", "add", p.PodCIDR.String(), "via", p.IP.String(), "dev", "eth0"); err != nil {
					// flanneld logs a route the kernel refuses and goes
					// on (a peer in another subnet is not on-link); so
					// does this build, where netsim's flanneld logged the
					// same refusal.
					if !refused(w, h.Name, p.PodCIDR.String()) {
						return err
					}
				}
				continue
			}
			vtep, _ := flannel.VTEPMAC(p.CNI)
			peer := p.PodCIDR.Addr().String()
			if err := n.IP(ns, "neigh", "add", peer, "lladdr", vtep.String(), "dev", vx, "nud", "permanent"); err != nil {
				return err
			}
			if err := n.Bridge(ns, "fdb", "append", vtep.String(), "dev", vx, "dst", p.IP.String(), "self", "permanent"); err != nil {
				return err
			}
			if err := n.IP(ns, "route", "add", p.PodCIDR.String(), "via", peer, "dev", vx, "onlink"); err != nil {
				return err
			}
		}
	}
	for _, p := range w.Pods {
		mtu := flannelMTU
		for _, sp := range w.Scenario.Pods {
			if sp.Name == p.Name && (sp.Namespace == p.Namespace || sp.Namespace == "" && p.Namespace == "default") && sp.MTU != 0 {
				mtu = sp.MTU // a hand-edited CNI config
			}
		}
		if err := n.pod(w, p, mtu); err != nil {
			return err
		}
	}
	return nil
}

// podNS makes the namespace of a pod and records it; it returns the
// pod's and its node's namespace names.
func (n *Net) podNS(p *topology.WiredPod) (ns, node string, err error) {
	ns, err = n.AddNS(p.Namespace + "-" + p.Name)
	if err != nil {
		return "", "", err
	}
	n.NS[p.Ref()] = ns
	return ns, n.NS[p.Node.Name], nil
}

// pod is the CNI ADD of the bridge plugin: a veth pair, the host end on
// cni0 with hairpin on, the pod end eth0 with the address and routes.
func (n *Net) pod(w *topology.World, p *topology.WiredPod, mtu int) error {
	ns, node, err := n.podNS(p)
	if err != nil {
		return err
	}
	host := p.HostVeth
	eth0 := p.Stack.Iface("eth0").Dev
	gw := p.Node.CNI.Stack.Iface("cni0").Addrs[0].Prefix.Addr().String()
	for _, c := range [][]string{
		{"link", "add", host.Name, "mtu", strconv.Itoa(mtu), "address", host.MAC.String(), "type", "veth",
			"peer", "name", "eth0", "netns", ns, "mtu", strconv.Itoa(mtu), "address", eth0.MAC.String()},
		{"link", "set", host.Name, "master", "cni0"},
		{"link", "set", host.Name, "type", "bridge_slave", "hairpin", "on"},
		{"link", "set", host.Name, "up"},
	} {
		if err := n.IP(node, c...); err != nil {
			return err
		}
	}
	for _, c := range [][]string{
		{"addr", "add", netip.PrefixFrom(p.IP, p.Node.PodCIDR.Bits()).String(), "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", gw, "dev", "eth0"},
		{"route", "add", w.Scenario.Cluster.PodCIDR, "via", gw, "dev", "eth0"},
	} {
		if err := n.IP(ns, c...); err != nil {
			return err
		}
	}
	return nil
}

// refused reports whether netsim's flanneld on node logged that the kernel
// refused its host-gw route to cidr (a build note).
func refused(w *topology.World, node, cidr string) bool {
	want := node + ": flanneld host-gw: Error adding route to " + cidr + " "
	for _, note := range w.Notes {
		if strings.HasPrefix(note, want) {
			return true
		}
	}
	return false
}

func chainDecls(chains []string) string {
	var b strings.Builder
	for _, c := range chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	return b.String()
}
