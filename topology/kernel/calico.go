package kernel

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"netsim/dataplane/cni/calico"
	"netsim/topology"
)

// calico programs every node and pod as calico-node (BIRD or felix) and
// the calico CNI plugin do (see dataplane/cni/calico for the same steps in
// netsim): the block's blackhole, vxlan.calico or tunl0 with the tunnel
// address, the per-peer neighbour, FDB entry and route, and for each pod
// a veth pair with the host end cali… (ee:ee:ee:ee:ee:ee, proxy_arp=1,
// proxy_delay=0, route_localnet=1, forwarding=1) and the pod end eth0
// with the /32 and the routes via 169.254.1.1.
//
// IPIP needs the ipip module, whose fallback device tunl0 appears in every
// namespace once it is loaded; without it (as on the machine this was
// written on) an IPIP pool is ErrUnsupported.
func (n *Net) calico(w *topology.World, m *calico.Mode) error {
	o := m.Options()
	ipip := o.IPIPMode != calico.Never
	vxlan := o.VXLANMode != calico.Never
	if ipip {
		if _, err := os.Stat("/sys/module/ipip"); err != nil {
			return fmt.Errorf("calico ipipMode %s: tunl0 needs the ipip kernel module, which is not loaded here: %w", o.IPIPMode, ErrUnsupported)
		}
	}
	mtu := strconv.Itoa(m.PodMTU())
	proto := calico.BirdRouteProto
	if vxlan {
		proto = calico.FelixRouteProto
	}
	for _, h := range w.Nodes {
		ns := n.NS[h.Name]
		if err := n.Do(ns, func() error { return sysctl("net/ipv4/ip_forward", "1") }); err != nil {
			return err
		}
		block, _ := calico.Block(h.CNI)
		cmds := [][]string{{"route", "add", "blackhole", block.String(), "proto", proto}}
		tun, tunnelled := calico.TunnelAddr(h.CNI)
		switch {
		case vxlan:
			vx := calico.VXLAN(h.CNI)
			cmds = append(cmds, [][]string{
				// felix: vxlan.calico, no UDPCSum attribute (udpcsum), nolearning.
				{"link", "add", calico.VXLANDevice, "address", vx.Dev.MAC.String(), "mtu", mtu, "type", "vxlan",
					"id", strconv.Itoa(calico.VXLANVNI), "local", h.IP.String(), "dev", "eth0", "dstport", strconv.Itoa(calico.VXLANPort), "nolearning"},
				{"addr", "add", netip.PrefixFrom(tun, 32).String(), "dev", calico.VXLANDevice},
				{"link", "set", calico.VXLANDevice, "up"},
			}...)
		case ipip && tunnelled:
			cmds = append(cmds, [][]string{
				{"link", "set", calico.IPIPDevice, "mtu", mtu},
				{"addr", "add", netip.PrefixFrom(tun, 32).String(), "dev", calico.IPIPDevice},
				{"link", "set", calico.IPIPDevice, "up"},
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
		sw := h.VSwitch
		for _, p := range w.Nodes {
			if p == h {
				continue
			}
			block, _ := calico.Block(p.CNI)
			same := p.VSwitch == sw
			switch {
			case vxlan && (o.VXLANMode == calico.Always || !same):
				tun, _ := calico.TunnelAddr(p.CNI)
				vtep, _ := calico.VTEPMAC(p.CNI)
				if err := n.IP(ns, "neigh", "add", tun.String(), "lladdr", vtep.String(), "dev", calico.VXLANDevice, "nud", "permanent"); err != nil {
					return err
				}
				if err := n.Bridge(ns, "fdb", "append", vtep.String(), "dev", calico.VXLANDevice, "dst", p.IP.String(), "self", "permanent"); err != nil {
					return err
				}
				if err := n.IP(ns, "route", "add", block.String(), "via", tun.String(), "dev", calico.VXLANDevice, "proto", proto, "onlink"); err != nil {
					return err
				}
			case ipip && (o.IPIPMode == calico.Always || !same):
				if err := n.IP(ns, "route", "add", block.String(), "via", p.IP.String(), "dev", calico.IPIPDevice, "proto", proto, "onlink"); err != nil {
					return err
				}
			case same:
				if err := n.IP(ns, "route", "add", block.String(), "via", p.IP.String(), "dev", "eth0", "proto", proto); err != nil {
					return err
				}
			default:
				// BIRD's gateway recursive through another subnet: not
				// realised (the kernel test's topologies keep BGP on one
				// segment).
				return fmt.Errorf("calico BGP to %s in another subnet: %w", p.Name, ErrUnsupported)
			}
		}
	}
	for _, p := range w.Pods {
		if err := n.calicoPod(p); err != nil {
			return err
		}
	}
	return nil
}

// calicoPod is the calico CNI plugin's ADD for one pod.
func (n *Net) calicoPod(p *topology.WiredPod) error {
	ns, node, err := n.podNS(p)
	if err != nil {
		return err
	}
	host := p.HostVeth
	eth0 := p.Stack.Iface("eth0").Dev
	mtu := strconv.Itoa(eth0.MTU) // the scenario's pod MTU or the mode's
	for _, c := range [][]string{
		{"link", "add", host.Name, "mtu", mtu, "address", calico.HostVethMAC, "type", "veth",
			"peer", "name", "eth0", "netns", ns, "mtu", mtu, "address", eth0.MAC.String()},
		{"link", "set", host.Name, "up"},
	} {
		if err := n.IP(node, c...); err != nil {
			return err
		}
	}
	err = n.Do(node, func() error {
		for _, s := range [][2]string{
			{"net/ipv4/conf/" + host.Name + "/route_localnet", "1"},
			{"net/ipv4/neigh/" + host.Name + "/proxy_delay", "0"},
			{"net/ipv4/conf/" + host.Name + "/proxy_arp", "1"},
			{"net/ipv4/conf/" + host.Name + "/forwarding", "1"},
		} {
			if err := sysctl(s[0], s[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := n.IP(node, "route", "add", netip.PrefixFrom(p.IP, 32).String(), "dev", host.Name, "scope", "link"); err != nil {
		return err
	}
	for _, c := range [][]string{
		{"addr", "add", netip.PrefixFrom(p.IP, 32).String(), "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", calico.Gateway, "dev", "eth0", "scope", "link"},
		{"route", "add", "default", "via", calico.Gateway, "dev", "eth0"},
	} {
		if err := n.IP(ns, c...); err != nil {
			return err
		}
	}
	return nil
}
