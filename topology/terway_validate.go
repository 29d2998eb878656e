package topology

import (
	"fmt"
	"net/netip"
	"slices"

	"netsim/topology/hint"
)

var (
	terwayENIModes     = []string{"shared", "exclusive"}
	terwayVirtualTypes = []string{"veth", "ipvlan", "datapathv2"}
	terwayPolicies     = []string{"ordered", "most", "random"}
)

// terwayDefaults fills Terway's defaults (the chart's eni-config).
func (v *validator) terwayDefaults() {
	c := &v.s.Cluster.CNI
	if c.Mode == "terway" && c.Terway == nil {
		c.Terway = &Terway{}
	}
	t := c.Terway
	if t == nil {
		return
	}
	if t.ENIMode == "" {
		t.ENIMode = "shared"
	}
	if t.ENIIPVirtualType == "" {
		t.ENIIPVirtualType = "veth"
	}
	if t.VSwitchSelectionPolicy == "" {
		t.VSwitchSelectionPolicy = "ordered"
	}
}

// checkTerwayPodCIDR: with Terway the pod CIDR is optional and may be VPC
// space; when given it is only kube-proxy's --cluster-cidr.
func (v *validator) checkTerwayPodCIDR() {
	c := &v.s.Cluster
	if c.PodCIDR == "" {
		return
	}
	p, msg := parseCIDR4(c.PodCIDR)
	if msg != "" {
		v.add("cluster.podCIDR", msg)
		return
	}
	v.podCIDR = p
}

// zoneOfVSwitch returns the zone of the vSwitch named name ("" if none).
func (v *validator) zoneOfVSwitch(name string) string {
	for _, sw := range v.s.VPC.VSwitches {
		if sw.Name == name {
			return sw.Zone
		}
	}
	return ""
}

// checkTerway checks Terway's options and that pod vSwitches are given;
// what they name is judged by the planning rules.
func (v *validator) checkTerway() {
	s := v.s
	t := s.Cluster.CNI.Terway
	const p = "cluster.cni.terway"
	if s.VPC.Underlay == "l2" {
		v.add("cluster.cni.mode", "Terway gives pods addresses from Alibaba Cloud ENIs: it needs vpc.underlay: vpc, not l2")
		return
	}
	if !slices.Contains(terwayENIModes, t.ENIMode) {
		v.addf(p+".eniMode", `unknown ENI mode %q: expected "shared" (the default) or "exclusive"%s`, t.ENIMode, hint.DidYouMean(t.ENIMode, terwayENIModes))
	}
	switch {
	case !slices.Contains(terwayVirtualTypes, t.ENIIPVirtualType):
		v.addf(p+".eniipVirtualType", `unknown eniip_virtual_type %q: expected "veth" (the default)%s`, t.ENIIPVirtualType, hint.DidYouMean(t.ENIIPVirtualType, terwayVirtualTypes))
	case t.ENIIPVirtualType == "datapathv2":
		v.addf(p+".eniipVirtualType", `eniip_virtual_type "datapathv2" (veth with Cilium's eBPF chained) is not modelled: netsim models "veth" (policy routing) and "ipvlan"`)
	case t.ENIMode == "exclusive" && t.ENIIPVirtualType != "veth":
		v.addf(p+".eniipVirtualType", "eniip_virtual_type is the shared-ENI datapath: an exclusive ENI is moved into its pod, so %q does not apply", t.ENIIPVirtualType)
	}
	if !slices.Contains(terwayPolicies, t.VSwitchSelectionPolicy) {
		v.addf(p+".vswitchSelectionPolicy", `unknown vswitch_selection_policy %q: expected "ordered" (the default, which terwayd treats as "most"), "most" or "random"%s`,
			t.VSwitchSelectionPolicy, hint.DidYouMean(t.VSwitchSelectionPolicy, terwayPolicies))
	}
	if len(t.PodVSwitches) == 0 {
		v.add(p+".podVSwitches", "required: the pod vSwitches of each zone (eni_conf vswitches), e.g. {cn-hangzhou-h: [vsw-pod-h]}")
		return
	}
	v.terwayPodVSwitches = true
	// The pod vSwitches' references, zones and sizes are planning rules
	// (terway-pod-vswitch-*, package ackplan); pinned pod addresses are
	// checked by checkTerwayPodIPs once the vSwitch CIDRs are judged.
}

// checkTerwayPodIPs checks that a pinned pod address is in a pod vSwitch
// of its node's zone, and not one Alibaba reserves.
func (v *validator) checkTerwayPodIPs() {
	s := v.s
	t := s.Cluster.CNI.Terway
	if !v.terwayPodVSwitches {
		return
	}
	for i, pod := range s.Pods {
		if pod.IP == "" {
			continue
		}
		a, err := netip.ParseAddr(pod.IP)
		n := v.nodes[pod.Node]
		if err != nil || n == nil {
			continue // reported by checkPods
		}
		z := v.zoneOfVSwitch(n.VSwitch)
		path := indexPath("pods", i) + ".ip"
		var in string
		names := t.PodVSwitches[z]
		if len(names) == 0 {
			// terwayd's fallback: the node's own vSwitch (terway
			// daemon/builder.go; terway-pod-vswitch-zone warns).
			names = []string{n.VSwitch}
		}
		for _, name := range names {
			if c, ok := v.vswitchCIDR[name]; ok && c.Contains(a) {
				in = name
				if isVSwitchReserved(c, a) {
					v.addf(path, "%s is reserved by Alibaba Cloud in vSwitch %q (%s): the first address and the last three are not assignable", a, name, c)
				}
			}
		}
		if in == "" {
			v.addf(path, "%s is in none of the pod vSwitches of zone %s (%s), where node %s is: with Terway a pod address is a private IP of an ENI in one of them",
				a, z, fmt.Sprint(names), pod.Node)
		}
	}
}
