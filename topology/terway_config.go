package topology

// Terway is Terway's configuration (ACK's eni-config ConfigMap and CNI
// configuration), in YAML. With Terway pods take VPC addresses from ENIs
// attached to the nodes: cluster.podCIDR and nodes[].podCIDR do not apply.
type Terway struct {
	// ENIMode is "shared" (the default: several pods share an ENI, each
	// with one of its private IPs, DaemonSet terway-eniip) or "exclusive"
	// (each pod gets a whole ENI, DaemonSet terway-eni).
	ENIMode string `yaml:"eniMode"`
	// ENIIPVirtualType is eniip_virtual_type, the shared-ENI datapath:
	// "veth" (the default: veth pair and policy routing) or "ipvlan" (the
	// legacy IPvlan L2 datapath: pods are ipvlan slaves of the ENI, and only
	// the Service CIDR and the host-stack CIDRs, 169.254.20.10/32 by
	// default, are redirected into the node's stack).
	ENIIPVirtualType string `yaml:"eniipVirtualType"`
	// VSwitchSelectionPolicy is vswitch_selection_policy: "ordered" (the
	// chart default, which terwayd treats as "most"), "most" (the vSwitch
	// with the most free addresses first) or "random".
	VSwitchSelectionPolicy string `yaml:"vswitchSelectionPolicy"`
	// PodVSwitches are eni_conf's "vswitches": for each zone, the names of
	// the vSwitches pods take addresses from, in order. A node uses those
	// of its own vSwitch's zone.
	PodVSwitches map[string][]string `yaml:"podVSwitches"`
}
