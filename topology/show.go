package topology

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/netstack"
)

// WriteOverview prints what Build made: hosts, addresses, pod subnets, pods,
// VPC route entries and the agents' notes.
func WriteOverview(w io.Writer, wd *World) {
	fmt.Fprintf(w, "  CNI %s, pod MTU %d, underlay %s\n", wd.CNI.Name(), wd.CNI.PodMTU(), wd.Scenario.VPC.Underlay)
	for _, h := range wd.Nodes {
		fmt.Fprintf(w, "  node %-12s %-15s vSwitch %-16s pods %s%s\n", h.Name, h.IP, h.VSwitch, nodePodsText(wd, h), listensText(wd, h.Stack))
	}
	for _, h := range wd.Instances {
		fmt.Fprintf(w, "  ecs  %-12s %-15s vSwitch %s%s\n", h.Name, h.IP, h.VSwitch, listensText(wd, h.Stack))
	}
	if h := wd.Internet; h != nil {
		fmt.Fprintf(w, "  internet client %s %s%s\n", h.Name, h.IP, listensText(wd, h.Stack))
	}
	if wd.APIServer != nil {
		fmt.Fprintf(w, "  %s\n", wd.APIServer)
	}
	for _, p := range wd.Pods {
		fmt.Fprintf(w, "  pod  %-20s %-15s on %s (%s)%s\n", p.Ref(), p.IP, p.Node.Name, hostSideText(p), listensText(wd, p.Stack))
	}
	writeTerwayOverview(w, wd)
	if len(wd.Services) > 0 {
		fmt.Fprintf(w, "  kube-proxy mode %s\n", wd.ProxyMode)
	}
	for _, svc := range wd.Services {
		ip := "None (headless)"
		if svc.ClusterIP.IsValid() {
			ip = svc.ClusterIP.String()
		}
		var ports []string
		for _, p := range svc.Ports {
			t := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if p.NodePort != 0 {
				t += fmt.Sprintf(":%d", p.NodePort)
			}
			var eps []string
			for _, e := range svc.Endpoints[p.Name] {
				if e.Ready {
					eps = append(eps, fmt.Sprintf("%s:%d", e.IP, e.Port))
				}
			}
			if len(eps) == 0 {
				eps = []string{"<none>"}
			}
			ports = append(ports, t+" → "+strings.Join(eps, ","))
		}
		lb := ""
		if len(svc.LoadBalancerIPs) > 0 {
			lb = fmt.Sprintf(" lb %v", svc.LoadBalancerIPs)
		}
		fmt.Fprintf(w, "  svc  %-20s %-9s %s%s  %s\n", svc.Namespace+"/"+svc.Name, svc.Type, ip, lb, strings.Join(ports, "; "))
	}
	writePolicyOverview(w, wd)
	if wd.VPC != nil {
		fmt.Fprintf(w, "  VPC route table %s (%d of %d custom entries):\n", wd.VPC.RouteTableID, wd.VPC.CustomRoutes(), wd.VPC.Quota)
		for _, l := range VPCRouteLines(wd.VPC) {
			fmt.Fprintf(w, "    %s\n", l)
		}
		writeNAT(w, wd, "  ")
	}
	writeActionOverview(w, wd)
	for _, n := range wd.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, p := range wd.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", p)
	}
}

// listensText is "; listens PORTS" for a namespace with listeners, or
// "; listens on no port" (only the kernel's ping answers).
func listensText(wd *World, st *netstack.Stack) string {
	if l := wd.ListenPorts(st); l != "" {
		return "; listens " + l
	}
	return "; listens on no port"
}

// WriteState prints each namespace's tables the way the Linux tools print
// them: ip -d link, ip addr, ip route, ip neigh, bridge fdb, iptables-save.
func WriteState(w io.Writer, wd *World, only string) error {
	type ns struct {
		title string
		st    *netstack.Stack
		h     *Host
	}
	var all []ns
	for _, h := range wd.Nodes {
		all = append(all, ns{"node " + h.Name, h.Stack, h})
	}
	for _, h := range wd.Instances {
		all = append(all, ns{"ecs " + h.Name, h.Stack, h})
	}
	if wd.APIServer != nil {
		all = append(all, ns{"apiserver " + wd.APIServer.Host.Name + " (modelled)", wd.APIServer.Host.Stack, wd.APIServer.Host})
	}
	for _, p := range wd.Pods {
		all = append(all, ns{"pod " + p.Ref(), p.Stack, nil})
	}
	found := only == ""
	for _, n := range all {
		if only != "" && n.st.Name != only && !(n.h == nil && wd.Pod(only) != nil && wd.Pod(only).Stack == n.st) {
			continue
		}
		found = true
		fmt.Fprintf(w, "### %s\n", n.title)
		st := n.st
		fmt.Fprintln(w, "$ ip -br addr")
		for _, i := range st.Ifaces() {
			var addrs []string
			for _, a := range i.Addrs {
				addrs = append(addrs, a.Prefix.String())
			}
			state := "UP"
			if !i.Dev.Up() {
				state = "DOWN"
			}
			extra := ""
			if i.Dev.Master != nil {
				extra = " master " + i.Dev.Master.Dev.Name
			}
			fmt.Fprintf(w, "%-14s %-5s %-17s mtu %-5d %-7s %s%s\n", i.Dev.Name, state, i.Dev.MAC, i.Dev.MTU, i.Dev.Kind, strings.Join(addrs, " "), extra)
		}
		writeSysctls(w, st)
		if st.CustomRules() || len(st.TableIDs()) > 0 {
			// Policy routing: the rules and every table, as on a node
			// whose CNI programs them.
			fmt.Fprintln(w, "$ ip rule")
			for _, r := range st.Rules() {
				fmt.Fprintln(w, r.String())
			}
			fmt.Fprintln(w, "$ ip route show table all")
			for _, l := range st.RouteTableAll() {
				fmt.Fprintln(w, l)
			}
		} else {
			fmt.Fprintln(w, "$ ip route")
			for _, r := range st.Routes.All() {
				fmt.Fprintln(w, r.String())
			}
		}
		writeRemovedRoutes(w, wd, st)
		if nb := st.Neighbours(); len(nb) > 0 {
			fmt.Fprintln(w, "$ ip neigh")
			for _, e := range nb {
				fmt.Fprintln(w, e.Format(wd.Env.Now()))
			}
		}
		if n.h != nil && n.h.CNI != nil {
			if br := flannel.Bridge(n.h.CNI); br != nil {
				fmt.Fprintln(w, "$ bridge fdb show br "+br.Dev.Name)
				var lines []string
				for _, e := range br.FDB() {
					lines = append(lines, e.String(br))
				}
				sort.Strings(lines)
				for _, l := range lines {
					fmt.Fprintln(w, l)
				}
			}
			if px := flannel.Proxy(n.h.CNI); px != nil {
				// flanneld's forwarder keeps its table in userspace: no
				// command prints it; this is what its lease watcher set.
				fmt.Fprintf(w, "# flanneld udp forwarder: socket %s/udp, /dev/net/tun %s; routes from subnet leases:\n", px.Local(), flannel.UDPDeviceName)
				var lines []string
				for _, r := range px.Routes() {
					lines = append(lines, r.String())
				}
				sort.Strings(lines)
				for _, l := range lines {
					fmt.Fprintln(w, l)
				}
			}
			writeCalicoState(w, wd, n.h)
			if vx := flannel.Tunnel(n.h.CNI); vx != nil {
				fmt.Fprintln(w, "$ bridge fdb show dev "+vx.Dev.Name)
				var lines []string
				for mac, dst := range vx.FDB() {
					lines = append(lines, vx.FDBString(mac, dst))
				}
				sort.Strings(lines)
				for _, l := range lines {
					fmt.Fprintln(w, l)
				}
			}
		}
		if n.h != nil {
			writeTerwayNode(w, n.h)
			writeFelixSets(w, wd, n.h)
		}
		if n.h != nil && n.h.Filter != nil {
			fmt.Fprintln(w, "$ iptables-save")
			fmt.Fprint(w, n.h.Filter.Save(false))
		}
		if n.h != nil && n.h.IPVS != nil {
			fmt.Fprintln(w, "$ ipvsadm -Ln")
			fmt.Fprint(w, n.h.IPVS.Table.Format())
		}
		if n.h != nil && (wd.APIServer == nil || n.h != wd.APIServer.Host) {
			writeInstance(w, wd, n.h, slices.Contains(wd.Nodes, n.h))
		}
		fmt.Fprintln(w)
	}
	if only == "" {
		for _, p := range wd.DeletedPods() {
			fmt.Fprintf(w, "### pod %s — deleted by an action (was %s on %s)\n\n", p.Ref(), p.IP, p.Node.Name)
		}
	}
	if !found {
		return fmt.Errorf("no node, instance or pod named %q", only)
	}
	if only == "" && wd.VPC != nil {
		fmt.Fprintf(w, "### VPC %s route table %s\n", wd.VPC.Name, wd.VPC.RouteTableID)
		for _, l := range VPCRouteLines(wd.VPC) {
			fmt.Fprintln(w, l)
		}
		if len(wd.VPC.NATGateways()) > 0 || len(wd.VPC.EIPs()) > 0 {
			fmt.Fprintf(w, "### VPC %s Internet edge\n", wd.VPC.Name)
			writeNAT(w, wd, "")
		}
	}
	return nil
}

// writeSysctls prints the namespace's modelled IPv4 sysctls as `sysctl`
// does: ip_forward and conf.all/conf.default.rp_filter always, every other
// modelled key (accept_local, proxy_arp, route_localnet, rp_filter of
// all, default and each device) only when it is not the kernel default 0.
func writeSysctls(w io.Writer, st *netstack.Stack) {
	fmt.Fprintln(w, "$ sysctl -a | grep -E 'ip_forward|rp_filter|accept_local|route_localnet|proxy_arp'  # other keys only when not 0")
	for _, c := range st.Sysctls() {
		always := c.Key == "net.ipv4.ip_forward" || c.Key == "net.ipv4.conf.all.rp_filter" || c.Key == "net.ipv4.conf.default.rp_filter"
		if always || c.Value != 0 {
			fmt.Fprintf(w, "%s = %d\n", c.Key, c.Value)
		}
	}
}
