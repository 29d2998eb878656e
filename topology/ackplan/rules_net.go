package ackplan

// The address-range rules: the VPC, its vSwitches, the pod and Service
// CIDRs and the node CIDR mask. The messages are the ones netsim's
// validator printed before the rules became a table.

import "fmt"

var vpcRules = []Rule{
	{
		ID:    "vpc-cidr-private",
		Title: "the VPC CIDR is inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
		// Error: CreateCluster refuses a VPC for ACK outside these blocks.
		Source: srcNetworkPlanning + ` — VPC CIDR block: "Valid values: 10.0.0.0/8, 172.16.0.0/12, and 192.168.0.0/16" (a plain VPC accepts other custom blocks; a VPC for ACK does not)`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if v := p.VPC; v.Prefix.IsValid() && p.Valid(v.Path) && !InPrivateRange(v.Prefix) {
				r.Errorf(v.Path, "%s is not a private range: a VPC for ACK uses 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or a block inside one of them%s", v.Prefix, p.vpcFix())
			}
		},
	},
	{
		ID:    "vpc-cidr-mask",
		Title: "the VPC CIDR mask is /8 to /28",
		// Error: CreateVpc refuses other masks.
		Source: `https://help.aliyun.com/document_detail/2588228.html — CreateVpc cidr_block: "The subnet mask must be 8 to 28 bits in length"`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if v := p.VPC; p.ok(v) && (v.Prefix.Bits() < MinVPCMask || v.Prefix.Bits() > MaxVPCMask) {
				r.Errorf(v.Path, "%s has mask /%d: an Alibaba Cloud VPC CIDR mask must be /%d to /%d", v.Prefix, v.Prefix.Bits(), MinVPCMask, MaxVPCMask)
			}
		},
	},
	{
		ID:    "vswitch-mask",
		Title: "a vSwitch CIDR mask is /16 to /29",
		// Error: CreateVSwitch refuses other masks.
		Source: `https://alibabacloud.com/help/ja/vpc/api-createvswitch — CreateVSwitch CidrBlock: "the subnet mask of a vSwitch must be /16 to /29"`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			for _, sw := range p.VSwitches {
				if b := sw.CIDR.Bits(); p.cidrOK(sw) && (b < MinVSwitchMask || b > MaxVSwitchMask) {
					r.Errorf(sw.Path+".cidr", "%s has mask /%d: an Alibaba Cloud vSwitch CIDR mask must be /%d to /%d", sw.CIDR, b, MinVSwitchMask, MaxVSwitchMask)
				}
			}
		},
	},
	{
		ID:    "vswitch-in-vpc",
		Title: "a vSwitch CIDR is inside the VPC CIDR",
		// Error: CreateVSwitch refuses a CIDR outside the VPC.
		Source: `https://www.alibabacloud.com/help/doc-detail/86500.html ("Plan your ACK managed cluster network"), as summarised in netsim's ack-cni-facts §5: "vSwitch CIDR must be a subset of the VPC CIDR" (paraphrase, not the page's words)`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if !p.ok(p.VPC) {
				return
			}
			fix := p.vswitchFixer()
			for _, sw := range p.VSwitches {
				// Judged even when the mask is out of range: both are news.
				if sw.CIDR.IsValid() && !Contains(p.VPC.Prefix, sw.CIDR) {
					r.Errorf(sw.Path+".cidr", "%s is not inside the VPC CIDR %s%s", sw.CIDR, p.VPC.Prefix, fix(sw, fmt.Sprintf("the first free /%d inside the VPC", sw.CIDR.Bits())))
				}
			}
		},
	},
	{
		ID:    "vswitch-overlap",
		Title: "the vSwitches of a VPC do not overlap",
		// Error: CreateVSwitch refuses a CIDR that overlaps another vSwitch.
		Source: srcCreateVSwitch + ` — the CidrBlock limits (their text was not captured: modelled); each vSwitch CIDR is a system route entry of the VPC's route table, so two vSwitches cannot share addresses`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			// A vSwitch is compared with the earlier ones that broke no
			// rule (the mask and VPC rules ran before), as the validator did.
			var good []VSwitch
			fix := p.vswitchFixer()
			for _, sw := range p.VSwitches {
				if !sw.CIDR.IsValid() {
					continue
				}
				bad := !p.Valid(sw.Path + ".cidr")
				for _, o := range good {
					if o.CIDR.Overlaps(sw.CIDR) {
						r.Errorf(sw.Path+".cidr", "%s overlaps vSwitch %q (%s): vSwitches in a VPC must not overlap%s", sw.CIDR, o.Name, o.CIDR, fix(sw, fmt.Sprintf("the next free /%d in the VPC", sw.CIDR.Bits())))
						bad = true
						break
					}
				}
				if !bad {
					good = append(good, sw)
				}
			}
		},
	},
	{
		ID:    "vswitch-quota",
		Title: "a VPC has at most 150 vSwitches",
		// Error: CreateVSwitch refuses the 151st vSwitch.
		Source: srcCreateVSwitch + ` — "You can create at most 150 vSwitches in a virtual private cloud (VPC)."`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if n := len(p.VSwitches); n > MaxVSwitches {
				r.Errorf(p.VSwitches[MaxVSwitches].Path, "%s vSwitches: a VPC holds at most %d (CreateVSwitch: \"You can create at most 150 vSwitches in a virtual private cloud (VPC)\"): use larger vSwitches, or fewer (Terway pod vSwitches can be added per zone later)",
					thousands(n), MaxVSwitches)
			}
		},
	},
}

// podCIDRRule applies to a plan whose pod CIDR is the CNI's own network
// (Flannel's Network, Calico's pool), written and parsed.
func podCIDRRule(p *Plan) bool { return p.CNI.Mode != "terway" && p.PodCIDR.Prefix.IsValid() }

// cniName is the CNI's name in messages.
func (p *Plan) cniName() string {
	switch p.CNI.Mode {
	case "calico":
		return "Calico"
	case "terway":
		return "Terway"
	}
	return "Flannel"
}

var clusterRules = []Rule{
	{
		ID:    "pod-cidr-private",
		Title: "the pod CIDR is inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
		// Error: CreateCluster refuses another container_cidr.
		Source:  srcCreateCluster + ` — container_cidr: "10.0.0.0/8, 172.16-31.0.0/12-16, 192.168.0.0/16, or their subnets"; not for Terway, whose pods take vSwitch addresses`,
		Kinds:   []Severity{Error},
		Scope:   "Flannel and Calico plans with a pod CIDR",
		Applies: podCIDRRule,
		Check: func(p *Plan, r *Reporter) {
			if c := p.PodCIDR; p.Valid(c.Path) && !InPrivateRange(c.Prefix) {
				r.Errorf(c.Path, "%s is not a private range: ACK takes a pod CIDR inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", c.Prefix)
			}
		},
	},
	{
		ID:    "pod-cidr-overlap",
		Title: "the Flannel or Calico pod CIDR overlaps neither the VPC nor a vSwitch",
		// Error: ACK refuses a Flannel container_cidr that overlaps the
		// VPC; with Calico (not an ACK CNI) the pool, routed by the nodes
		// over tunnels or BGP, would shadow VPC addresses.
		Source:  srcWorkWithFlannel + ` — "The Flannel network plug-in ensures that the CIDR block of pods does not overlap with the CIDR block of the VPC."; ack-cni-facts §5: the Flannel pod CIDR "must not overlap VPC/vSwitch/Service"`,
		Kinds:   []Severity{Error},
		Scope:   "Flannel and Calico plans with a pod CIDR",
		Applies: podCIDRRule,
		Check: func(p *Plan, r *Reporter) {
			c := p.PodCIDR
			if !p.Valid(c.Path) {
				return
			}
			if p.ok(p.VPC) && c.Prefix.Overlaps(p.VPC.Prefix) {
				r.Errorf(c.Path, "%s overlaps the VPC CIDR %s: with %s the pod CIDR must not overlap the VPC; use %s", c.Prefix, p.VPC.Prefix, p.cniName(), p.podFix())
				return
			}
			for _, sw := range p.VSwitches {
				if p.cidrOK(sw) && c.Prefix.Overlaps(sw.CIDR) {
					r.Errorf(c.Path, "%s overlaps vSwitch %q (%s): with %s the pod CIDR must not overlap a vSwitch; use %s", c.Prefix, sw.Name, sw.CIDR, p.cniName(), p.podFix())
					return
				}
			}
		},
	},
	{
		ID:    "service-cidr-private",
		Title: "the Service CIDR is inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
		// Error: CreateCluster refuses another service_cidr.
		Source: srcCreateCluster + ` — service_cidr: "Valid values: 10.0.0.0/16-24, 172.16-31.0.0/16-24, and 192.168.0.0/16-24."`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if c := p.ServiceCIDR; p.ok(c) && !InPrivateRange(c.Prefix) {
				r.Errorf(c.Path, "%s is not a private range: ACK takes a Service CIDR inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", c.Prefix)
			}
		},
	},
	{
		ID:    "service-cidr-mask",
		Title: "the Service CIDR mask is /16 to /24",
		// Error: CreateCluster refuses other masks.
		Source: srcCreateCluster + ` — service_cidr: "Valid values: 10.0.0.0/16-24, 172.16-31.0.0/16-24, and 192.168.0.0/16-24."`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			if c := p.ServiceCIDR; p.ok(c) && (c.Prefix.Bits() < MinServiceMask || c.Prefix.Bits() > MaxServiceMask) {
				r.Errorf(c.Path, "%s has mask /%d: ACK takes a Service CIDR mask of /%d to /%d", c.Prefix, c.Prefix.Bits(), MinServiceMask, MaxServiceMask)
			}
		},
	},
	{
		ID:    "service-cidr-overlap",
		Title: "the Service CIDR overlaps neither the VPC, a vSwitch nor the pod CIDR",
		// Error: CreateCluster refuses an overlapping service_cidr.
		Source: srcCreateCluster + ` — service_cidr: "The CIDR block of Services cannot overlap with that of the VPC"; terraform alicloud_cs_managed_kubernetes service_cidr: "cannot be equals to vpc's or vswitch's or pod's and cannot be in them" (` + srcTerraformACK + `)`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			c := p.ServiceCIDR
			if !p.ok(c) {
				return
			}
			if p.ok(p.VPC) && c.Prefix.Overlaps(p.VPC.Prefix) {
				r.Errorf(c.Path, "%s overlaps the VPC CIDR %s: ACK requires the Service CIDR not to overlap the VPC; use %s", c.Prefix, p.VPC.Prefix, p.serviceFix())
				return
			}
			for _, sw := range p.VSwitches {
				if p.cidrOK(sw) && c.Prefix.Overlaps(sw.CIDR) {
					r.Errorf(c.Path, "%s overlaps vSwitch %q (%s): ACK requires the Service CIDR not to overlap a vSwitch; use %s", c.Prefix, sw.Name, sw.CIDR, p.serviceFix())
					return
				}
			}
			if p.ok(p.PodCIDR) && c.Prefix.Overlaps(p.PodCIDR.Prefix) {
				r.Errorf(c.Path, "%s overlaps cluster.podCIDR %s: the Service and pod CIDRs must not overlap; use %s", c.Prefix, p.PodCIDR.Prefix, p.serviceFix())
			}
		},
	},
	{
		ID:    "node-cidr-mask",
		Title: "the node CIDR mask is /24 to /28 and longer than the pod CIDR's (Calico: blockSize /20 to /32, inside the pool)",
		// Error: CreateCluster refuses another node_cidr_mask; a mask
		// not longer than the pod CIDR's leaves no slice per node.
		Source:  srcTerraformACK + ` — node_cidr_mask: "24-28 is allowed. 24 means 2^(32-24)-1=255 and the node can run at most 255 pods. default: 24"; Calico: https://docs.tigera.io/calico/latest/reference/resources/ippool — blockSize, IPv4 "20 to 32 (inclusive)", default 26`,
		Kinds:   []Severity{Error},
		Scope:   "Flannel and Calico plans",
		Applies: func(p *Plan) bool { return p.CNI.Mode != "terway" },
		Check: func(p *Plan, r *Reporter) {
			if !p.Valid(p.NodeMaskPath) {
				return
			}
			mask, pod := p.NodeMask, p.PodCIDR
			if p.CNI.Mode == "calico" {
				switch {
				case mask < MinCalicoBlock || mask > MaxCalicoBlock:
					r.Errorf(p.NodeMaskPath, "/%d is out of range: Calico's IPv4 blockSize is /%d to /%d (the default is /%d)", mask, MinCalicoBlock, MaxCalicoBlock, DefaultCalicoBlock)
				case p.ok(pod) && mask < pod.Prefix.Bits():
					r.Errorf(p.NodeMaskPath, "/%d is larger than the pool %s: a block must fit inside the IP pool", mask, pod.Prefix)
				}
				return
			}
			switch {
			case mask < MinNodeMask || mask > MaxNodeMask:
				r.Errorf(p.NodeMaskPath, "/%d is out of range: ACK's Flannel \"pods per node\" choices are /%d (256 addresses per node) to /%d (16), the default is /%d", mask, MinNodeMask, MaxNodeMask, DefaultNodeMask)
			case p.ok(pod) && mask <= pod.Prefix.Bits():
				r.Errorf(p.NodeMaskPath, "/%d must be longer than the pod CIDR's /%d: each node gets a /%d slice of %s", mask, pod.Prefix.Bits(), mask, pod.Prefix)
			}
		},
	},
}
