package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

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

// checkTerway checks Terway's options: the pod vSwitches exist, are in the
// VPC and in the zone they are listed under; every node's zone has one;
// pinned pod addresses are in a pod vSwitch of the pod's node's zone.
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
	zones := make([]string, 0, len(t.PodVSwitches))
	for z := range t.PodVSwitches {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	var names []string
	for _, sw := range s.VPC.VSwitches {
		names = append(names, sw.Name)
	}
	seen := map[string]string{}
	for _, z := range zones {
		zp := joinPath(p+".podVSwitches", z)
		if len(t.PodVSwitches[z]) == 0 {
			v.addf(zp, "zone %s lists no vSwitch", z)
		}
		for i, name := range t.PodVSwitches[z] {
			path := indexPath(zp, i)
			zone := v.zoneOfVSwitch(name)
			switch {
			case zone == "":
				v.addDep(depVSwitches, path, "vSwitch %q does not exist (%s)%s", name, listOf("vSwitches", names), hint.DidYouMean(name, names))
			case zone != z:
				v.addf(path, "vSwitch %q is in zone %s, not %s: Terway only uses the pod vSwitches of a node's own zone", name, zone, z)
			case seen[name] != "":
				v.addf(path, "vSwitch %q is already listed at %s", name, seen[name])
			default:
				seen[name] = path
			}
		}
	}
	for i, n := range s.Nodes {
		z := v.zoneOfVSwitch(n.VSwitch)
		if z == "" {
			continue
		}
		if len(t.PodVSwitches[z]) == 0 {
			v.addDep(depVSwitches, indexPath("nodes", i)+".vswitch", "node %s is in zone %s, which has no pod vSwitch in %s.podVSwitches: terwayd would fail every pod there with \"no available vSwitch for zone %s\"", n.Name, z, p, z)
		}
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
		for _, name := range t.PodVSwitches[z] {
			if c, ok := v.vswitchCIDR[name]; ok && c.Contains(a) {
				in = name
				if isVSwitchReserved(c, a) {
					v.addf(path, "%s is reserved by Alibaba Cloud in vSwitch %q (%s): the first address and the last three are not assignable", a, name, c)
				}
			}
		}
		if in == "" {
			v.addf(path, "%s is in none of the pod vSwitches of zone %s (%s), where node %s is: with Terway a pod address is a private IP of an ENI in one of them",
				a, z, fmt.Sprint(t.PodVSwitches[z]), pod.Node)
		}
	}
}
