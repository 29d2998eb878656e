package kernel

import (
	"fmt"
	"net/netip"
	"strconv"

	"netsim/dataplane/cni/terway"
	"netsim/dataplane/vpc"
	"netsim/topology"
)

// terwayVeth programs every node as terwayd and the terway CNI do in the
// shared-ENI veth (policy routing) datapath, from what netsim's build
// made (see dataplane/cni/terway): each secondary ENI becomes a veth whose
// router end (in the vRouter namespace, see vrouter) has the ENI
// vSwitch's gateway, proxy ARP and a /32 route for every private IP of
// the ENI and a permanent neighbour for it at the ENI's MAC — the vSwitch
// delivering to the ENI that owns an address; on
// the node the ENI ethN with the node IP /32 and its table 1000+ifindex
// ("default via <gateway> dev ethN onlink"), per pod the cali… veth with
// "<podIP> dev cali… scope link" and rules 512 and 2048, and in the pod
// eth0 with <podIP>/32, "default via 169.254.1.1 dev eth0 onlink" and the
// permanent neighbour. forwarding=1 and rp_filter=0 everywhere, as terway
// sets them. The route table numbers are netsim's (1000 + netsim's
// ifindex of the ENI), which need not be the kernel's ifindex here.
func (n *Net) terwayVeth(w *topology.World) error {
	rt := n.Prefix + "underlay"
	mtu := strconv.Itoa(w.Scenario.VPC.MTU)
	i := 0
	for _, h := range w.Nodes {
		ns := n.NS[h.Name]
		if err := n.Do(ns, func() error {
			for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding"} {
				if err := sysctl(k, "1"); err != nil {
					return err
				}
			}
			for _, k := range []string{"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter", "net/ipv4/conf/eth0/rp_filter"} {
				if err := sysctl(k, "0"); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		for _, e := range terway.ENIs(h.CNI) {
			if e.Pod != "" {
				continue // moved into its pod: see terwayExclusivePod
			}
			p := "seni" + strconv.Itoa(i)
			i++
			cmds := [][]string{
				{"link", "add", p, "address", vpc.GatewayMAC.String(), "mtu", mtu, "type", "veth",
					"peer", "name", e.Name, "netns", ns, "address", e.MAC.String(), "mtu", mtu},
				{"addr", "add", netip.PrefixFrom(e.VSwitch.Gateway, 32).String(), "dev", p},
				{"link", "set", p, "up"},
			}
			for _, a := range append([]netip.Addr{e.Primary}, e.Secondary...) {
				// The vRouter knows which ENI owns an address and its
				// MAC; the node does not answer ARP for its pods' addresses.
				cmds = append(cmds, []string{"route", "add", netip.PrefixFrom(a, 32).String(), "dev", p},
					[]string{"neigh", "add", a.String(), "lladdr", e.MAC.String(), "dev", p, "nud", "permanent"})
			}
			for _, c := range cmds {
				if err := n.IP(rt, c...); err != nil {
					return err
				}
			}
			if err := n.Do(rt, func() error {
				if err := sysctl("net/ipv4/conf/"+p+"/proxy_arp", "1"); err != nil {
					return err
				}
				return sysctl("net/ipv4/neigh/"+p+"/proxy_delay", "0")
			}); err != nil {
				return err
			}
			table := strconv.Itoa(int(e.Table))
			for _, c := range [][]string{
				{"addr", "add", netip.PrefixFrom(h.IP, 32).String(), "dev", e.Name},
				{"link", "set", e.Name, "up"},
				{"route", "add", "default", "via", e.VSwitch.Gateway.String(), "dev", e.Name, "onlink", "table", table},
			} {
				if err := n.IP(ns, c...); err != nil {
					return err
				}
			}
			if err := n.Do(ns, func() error { return sysctl("net/ipv4/conf/"+e.Name+"/rp_filter", "0") }); err != nil {
				return err
			}
		}
	}
	k := 0
	for _, p := range w.Pods {
		var err error
		if e := exclusiveENI(p); e != nil {
			err = n.terwayExclusivePod(w, p, e, "xeni"+strconv.Itoa(k))
			k++
		} else {
			err = n.terwayPod(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// exclusiveENI returns the ENI that was moved into p (exclusive ENI), or nil.
func exclusiveENI(p *topology.WiredPod) *terway.ENI {
	for _, e := range terway.ENIs(p.Node.CNI) {
		if e.Pod == p.Ref() {
			return e
		}
	}
	return nil
}

// terwayExclusivePod is the ExclusiveENI CNI ADD: the ENI (a veth whose
// router end, port, is in the vRouter namespace) is the pod's eth0 with
// <podIP>/32 and "default via <gateway> dev eth0 onlink"; a veth pair
// veth1 (pod) / cali… (host) carries Service and node traffic.
func (n *Net) terwayExclusivePod(w *topology.World, p *topology.WiredPod, e *terway.ENI, port string) error {
	ns, err := n.AddNS(p.Namespace + "-" + p.Name)
	if err != nil {
		return err
	}
	n.NS[p.Ref()] = ns
	rt := n.Prefix + "underlay"
	node := n.NS[p.Node.Name]
	mtu := strconv.Itoa(w.Scenario.VPC.MTU)
	ip := netip.PrefixFrom(p.IP, 32).String()
	gw := e.VSwitch.Gateway.String()
	for _, c := range [][]string{
		{"link", "add", port, "address", vpc.GatewayMAC.String(), "mtu", mtu, "type", "veth",
			"peer", "name", "eth0", "netns", ns, "address", e.MAC.String(), "mtu", mtu},
		{"addr", "add", netip.PrefixFrom(e.VSwitch.Gateway, 32).String(), "dev", port},
		{"link", "set", port, "up"},
		{"route", "add", ip, "dev", port},
		{"neigh", "add", p.IP.String(), "lladdr", e.MAC.String(), "dev", port, "nud", "permanent"},
	} {
		if err := n.IP(rt, c...); err != nil {
			return err
		}
	}
	if err := n.Do(rt, func() error {
		if err := sysctl("net/ipv4/conf/"+port+"/proxy_arp", "1"); err != nil {
			return err
		}
		return sysctl("net/ipv4/neigh/"+port+"/proxy_delay", "0")
	}); err != nil {
		return err
	}
	host := p.HostVeth
	veth1 := p.Stack.Iface("veth1").Dev
	for _, c := range [][]string{
		{"link", "add", host.Name, "mtu", strconv.Itoa(host.MTU), "address", host.MAC.String(), "type", "veth",
			"peer", "name", "veth1", "netns", ns, "mtu", strconv.Itoa(veth1.MTU), "address", veth1.MAC.String()},
		{"link", "set", host.Name, "up"},
		{"route", "add", ip, "dev", host.Name, "scope", "link"},
	} {
		if err := n.IP(node, c...); err != nil {
			return err
		}
	}
	if err := n.Do(node, func() error { return sysctl("net/ipv4/conf/"+host.Name+"/rp_filter", "0") }); err != nil {
		return err
	}
	ll := terway.LinkLocalGateway.String()
	for _, c := range [][]string{
		{"addr", "add", ip, "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", gw, "dev", "eth0", "onlink"},
		{"addr", "add", ip, "dev", "veth1"},
		{"link", "set", "veth1", "up"},
		{"route", "add", ll, "dev", "veth1", "scope", "link"},
		{"route", "add", w.Scenario.Cluster.ServiceCIDR, "via", ll, "dev", "veth1", "onlink"},
		{"route", "add", netip.PrefixFrom(p.Node.IP, 32).String(), "via", ll, "dev", "veth1"},
		{"neigh", "add", ll, "lladdr", host.MAC.String(), "dev", "veth1", "nud", "permanent"},
	} {
		if err := n.IP(ns, c...); err != nil {
			return err
		}
	}
	return nil
}

// terwayPod is the PolicyRoute CNI ADD of one pod.
func (n *Net) terwayPod(p *topology.WiredPod) error {
	ns, node, err := n.podNS(p)
	if err != nil {
		return err
	}
	host := p.HostVeth
	eth0 := p.Stack.Iface("eth0").Dev
	mtu := strconv.Itoa(eth0.MTU)
	var table uint32
	for _, e := range terway.ENIs(p.Node.CNI) {
		if _, ok := e.Pods[p.IP]; ok {
			table = e.Table
		}
	}
	ip := netip.PrefixFrom(p.IP, 32).String()
	for _, c := range [][]string{
		{"link", "add", host.Name, "mtu", mtu, "address", host.MAC.String(), "type", "veth",
			"peer", "name", "eth0", "netns", ns, "mtu", mtu, "address", eth0.MAC.String()},
		{"link", "set", host.Name, "up"},
		{"route", "add", ip, "dev", host.Name, "scope", "link"},
		{"rule", "add", "from", "all", "to", ip, "lookup", "main", "prio", strconv.Itoa(terway.ToContainerPriority)},
		{"rule", "add", "from", ip, "lookup", strconv.Itoa(int(table)), "prio", strconv.Itoa(terway.FromContainerPriority)},
	} {
		if err := n.IP(node, c...); err != nil {
			return err
		}
	}
	if err := n.Do(node, func() error { return sysctl("net/ipv4/conf/"+host.Name+"/rp_filter", "0") }); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"addr", "add", ip, "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", terway.LinkLocalGateway.String(), "dev", "eth0", "onlink"},
		{"neigh", "add", terway.LinkLocalGateway.String(), "lladdr", host.MAC.String(), "dev", "eth0", "nud", "permanent"},
	} {
		if err := n.IP(ns, c...); err != nil {
			return err
		}
	}
	return nil
}
