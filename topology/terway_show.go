package topology

import (
	"fmt"
	"io"
	"strings"

	"netsim/dataplane/cni/terway"
)

// writeTerwayOverview prints each node's Terway capacity and ENIs, and the
// Pending pods with their events.
func writeTerwayOverview(w io.Writer, wd *World) {
	m, ok := wd.CNI.(*terway.Mode)
	if ok {
		for _, h := range wd.Nodes {
			if h.CNI == nil {
				continue
			}
			l, maxPods := m.NodeLimits(h.CNI)
			var enis []string
			used := 0
			for _, e := range terway.ENIs(h.CNI) {
				used += len(e.Pods)
				if e.Pod != "" {
					enis = append(enis, fmt.Sprintf("%s in pod %s", e.ID, e.Pod))
					continue
				}
				enis = append(enis, fmt.Sprintf("%s %s (%s, %d of %d IPs)", e.Name, e.ID, e.VSwitch.Name, len(e.Pods), e.Slots))
			}
			if len(enis) == 0 {
				enis = []string{"none yet"}
			}
			fmt.Fprintf(w, "  terway %s: %s, %d ENIs × %d IPs: %d of %d pods (%s ENI); secondary ENIs: %s\n",
				h.Name, l.InstanceType, l.Adapters, l.IPv4PerAdapter, used, maxPods, m.Options().ENIMode, strings.Join(enis, "; "))
		}
	}
	for _, p := range wd.Pending {
		fmt.Fprintf(w, "  pod  %-20s Pending on %s: %s\n", p.Ref(), p.Node.Name, p.Event())
	}
}

// nodePodsText is where a node's pod addresses come from: its pod CIDR,
// or with Terway the pod vSwitches of its zone (the node's own vSwitch
// when its zone lists none, terwayd's fallback).
func nodePodsText(wd *World, h *Host) string {
	if h.PodCIDR.IsValid() {
		return h.PodCIDR.String()
	}
	if _, ok := wd.CNI.(*terway.Mode); ok && h.CNI != nil {
		vsws, fallback := terway.PodVSwitches(h.CNI)
		var names []string
		for _, sw := range vsws {
			names = append(names, sw.Name)
		}
		if fallback {
			return "from ENIs in " + strings.Join(names, ", ") + " (the node's own vSwitch: its zone lists no pod vSwitch)"
		}
		return "from ENIs in " + strings.Join(names, ", ")
	}
	return "none"
}

// writeTerwayNode prints a Terway node's ipvlan state: each ENI's tc
// egress filters and ipvlan slaves.
func writeTerwayNode(w io.Writer, h *Host) {
	if h.CNI == nil {
		return
	}
	for _, e := range terway.ENIs(h.CNI) {
		filters, slaves := e.IPVlanState()
		if filters == nil && slaves == nil {
			continue
		}
		fmt.Fprintf(w, "$ tc filter show dev %s egress  # printed as the commands that added them\n", e.Name)
		for _, f := range filters {
			fmt.Fprintln(w, f.String())
		}
		fmt.Fprintf(w, "$ ip -d link show type ipvlan  # slaves of %s, in the node and in pods\n", e.Name)
		for _, s := range slaves {
			fmt.Fprintf(w, "%s (netns %s)\n", s.String(), s.Dev.NS)
		}
	}
}

// hostSideText names a pod's host-side device for the overview: "host
// veth NAME", or for a Terway ipvlan pod the ENI its eth0 is a slave of.
func hostSideText(p *WiredPod) string {
	switch {
	case p.HostVeth == nil:
		return "no host device"
	case p.HostVeth.Kind == "ipvlan":
		for _, e := range terway.ENIs(p.Node.CNI) {
			if _, ok := e.Pods[p.IP]; ok {
				return fmt.Sprintf("eth0 an ipvlan slave of %s/%s", p.Node.Name, e.Name)
			}
		}
		return "ipvlan slave"
	}
	return "host veth " + p.HostVeth.Name
}
