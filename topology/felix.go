package topology

import (
	"fmt"
	"io"
	"strings"

	"netsim/dataplane/cilium"
	"netsim/dataplane/cni/terway"
	"netsim/dataplane/felix"
	"netsim/dataplane/link"
)

// felixInput is what felix's calculation graph sees of the world: the
// policies, the namespaces and every running pod (address, labels,
// container ports, node and host-side veth).
func (w *World) felixInput(node string) felix.Input {
	in := felix.Input{Node: node, Policies: w.Policies, Namespaces: w.Namespaces, KubeIPVS: w.ProxyMode == "ipvs"}
	if h := w.Node(node); h != nil {
		// felix's this-host set: the addresses of the host's interfaces
		// but kube-ipvs0 (FELIX_INTERFACEEXCLUDE's default).
		for _, i := range h.Stack.Ifaces() {
			if i.Dev.Name == "kube-ipvs0" {
				continue
			}
			for _, a := range i.Addrs {
				in.HostIPs = append(in.HostIPs, a.Prefix.Addr())
			}
		}
	}
	for _, p := range w.Pods {
		wl := felix.Workload{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, IP: p.IP}
		if p.Node != nil {
			wl.Node = p.Node.Name
		}
		switch {
		case p.HostVeth != nil && strings.HasPrefix(p.HostVeth.Name, felix.WorkloadIfacePfx):
			wl.Iface = p.HostVeth.Name
		case p.HostVeth != nil && link.AsIPVlan(p.HostVeth) != nil:
			// Terway ipvlan: the pod's Cilium endpoint (see package cilium).
			wl.Iface = terway.VethName(p.Namespace, p.Name)
		}
		for _, cp := range w.listening[p.Stack] {
			if cp.Name != "" {
				wl.Ports = append(wl.Ports, felix.NamedPort{Name: cp.Name, Protocol: cp.Protocol, Port: cp.Port})
			}
		}
		in.Workloads = append(in.Workloads, wl)
	}
	return in
}

// syncPolicy runs felix on every node when the cluster's CNI enforces
// NetworkPolicy (Calico; Terway's veth datapath) and the cluster has
// policies: felix's filter chains, marks and ipsets for the node's
// workloads. Without any policy felix's chains would end in the
// namespaces' allow-all profiles, so they are left out (and traces and
// iptables-save stay as they were). It runs once the pods are wired and
// kube-proxy's and Calico's own chains are in, and again after actions
// change the pods.
func (w *World) syncPolicy() error {
	if len(w.Policies) == 0 {
		return nil
	}
	if ok, _ := w.PolicyEnforcement(); !ok {
		return nil
	}
	if m, ok := w.CNI.(*terway.Mode); ok && m.Options().VirtualType == terway.IPVlan {
		return w.syncCilium()
	}
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		if err := felix.Sync(h.Filter, w.felixInput(h.Name)); err != nil {
			return fmt.Errorf("node %s: %w", h.Name, err)
		}
	}
	return nil
}

// syncCilium is syncPolicy on Terway's ipvlan datapath: each node's
// modelled Cilium agent (package cilium) gets felix's rules in its own
// policy netfilter, the node's netfilter stays as it was, and every pod's
// ipvlan slave becomes an endpoint judged at the slave.
func (w *World) syncCilium() error {
	for _, h := range w.Nodes {
		if h.Stack == nil {
			continue
		}
		if h.Cilium == nil {
			h.Cilium = cilium.New(h.Stack.Env(), h.Name, cilium.HostOf(h.Stack.IsLocal), seedFor(w.Scenario.Seed, "cilium/"+h.Name))
		}
		if err := felix.Sync(h.Cilium.NF, w.felixInput(h.Name)); err != nil {
			return fmt.Errorf("node %s: cilium: %w", h.Name, err)
		}
		h.Cilium.Reset()
		for _, p := range w.Pods {
			if p.Node != h || p.HostVeth == nil {
				continue
			}
			if s := link.AsIPVlan(p.HostVeth); s != nil {
				h.Cilium.Add(s, terway.VethName(p.Namespace, p.Name))
			}
		}
	}
	return nil
}

// felixSync is syncPolicy during the build.
func (b *builder) felixSync() {
	if err := b.w.syncPolicy(); err != nil {
		b.fail("nodes", "%v", err)
	}
}

// writeFelixSets prints a Terway node's ipsets (`ipset save`) when felix
// enforces policies there: the cali40s:/cali40n: sets its rules match
// (a Calico node's sets are printed with Calico's state).
func writeFelixSets(w io.Writer, wd *World, h *Host) {
	if _, ok := wd.CNI.(*terway.Mode); !ok || h.Filter == nil || len(wd.Policies) == 0 {
		return
	}
	if ok, _ := wd.PolicyEnforcement(); !ok || len(h.Filter.Sets()) == 0 {
		return
	}
	fmt.Fprintln(w, "$ ipset save")
	fmt.Fprint(w, h.Filter.SaveIPSets())
}
