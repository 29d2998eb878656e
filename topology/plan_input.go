package topology

import (
	"fmt"
	"net/netip"
	"slices"

	"netsim/topology/ack"
	"netsim/topology/ackplan"
	"netsim/topology/hint"
)

// Bounds of the plan: block. They keep the arithmetic and the rule
// engine's work small; ACK's own limits (15,000 nodes at most) are rules
// (node-limit), reported with their source.
const (
	// maxPlanNodes bounds the nodes of all the pools together (and the
	// surge nodes): ten times ACK's largest cluster, 15,000 Terway nodes.
	maxPlanNodes = 150_000
	// maxPlanPodsPerNode bounds plan.podsPerNode: no ECS type carries
	// more than a few hundred pod addresses (ecs.g7.4xlarge: 210).
	maxPlanPodsPerNode = 100_000
	// maxPlanServices bounds plan.services: a /16, ACK's largest Service
	// CIDR, holds 65,533 Services.
	maxPlanServices = 10_000_000
)

var (
	planEditions  = []string{"pro", "basic"}
	planKinds     = []string{ackplan.OnPremises, ackplan.PeeredVPC}
	pathPodVSwits = "cluster.cni.terway.podVSwitches"
)

// IsPlanFile reports whether the scenario is a plan file: a plan: block
// and no nodes. `netsim validate` checks it without building a world;
// `netsim plan` checks it against the rules.
func (s *Scenario) IsPlanFile() bool { return s.Plan != nil && len(s.Nodes) == 0 }

// checkPlanSpec checks the plan: block itself: its pools' vSwitches,
// sizes and instance types, the figures, the edition, the ranges; and
// that a plan file (no nodes) has no pods or flows.
func (v *validator) checkPlanSpec() {
	s := v.s
	ps := s.Plan
	if ps == nil {
		return
	}
	if len(s.Nodes) == 0 {
		const why = "a plan file (a plan: block and no nodes:) is checked, not run"
		if len(s.Pods) > 0 {
			v.addf("pods", "%s: pods need nodes to run on; add nodes: to make it a scenario, or remove pods", why)
		}
		if len(s.Flows) > 0 {
			v.addf("flows", "%s: flows need nodes and pods; add nodes: to make it a scenario, or remove flows", why)
		}
		if len(ps.NodePools) == 0 {
			v.add("plan.nodePools", "required: a plan file (no nodes:) lists its node pools, e.g. {name: workers, vswitch: vsw-a, nodes: 10}")
		}
	}
	names := map[string]int{}
	total := 0
	for i, np := range ps.NodePools {
		path := indexPath("plan.nodePools", i)
		switch {
		case np.Name == "":
			v.add(path+".name", "required: a name for the node pool, e.g. workers")
		case !isDNSLabel(np.Name):
			v.addf(path+".name", "%q is not a valid node pool name: %s", np.Name, dnsLabelRule)
		default:
			if j, dup := names[np.Name]; dup {
				v.addf(path+".name", "node pool %q is already plan.nodePools[%d]", np.Name, j)
			} else {
				names[np.Name] = i
			}
		}
		switch {
		case np.VSwitch == "":
			v.addf(path+".vswitch", "required: the vSwitch the pool's nodes are in (%s)", listOf("vSwitches", v.vswitchNames))
		case !slices.Contains(v.vswitchNames, np.VSwitch):
			v.addDep(depVSwitches, path+".vswitch", "vSwitch %q does not exist (%s)%s", np.VSwitch, listOf("vSwitches", v.vswitchNames), hint.DidYouMean(np.VSwitch, v.vswitchNames))
		}
		if np.Nodes < 1 || np.Nodes > maxPlanNodes {
			v.addf(path+".nodes", "%s is out of range: a node pool plans 1 to %s nodes (ACK's largest cluster has 15,000)", thousands(np.Nodes), thousands(maxPlanNodes))
		} else {
			total += np.Nodes
		}
		if np.InstanceType != "" {
			v.checkTypeRef(path+".instanceType", np.InstanceType)
		}
	}
	if total > maxPlanNodes {
		v.addf("plan.nodePools", "%s nodes in all are more than netsim plans (%s; ACK's largest cluster has 15,000)", thousands(total), thousands(maxPlanNodes))
	}
	if ps.PodsPerNode < 0 || ps.PodsPerNode > maxPlanPodsPerNode {
		v.addf(ackplan.PathPodsPerNode, "%s is out of range: expected 0 (no requirement) to %s pods per node", thousands(ps.PodsPerNode), thousands(maxPlanPodsPerNode))
	}
	if ps.Services < 0 || ps.Services > maxPlanServices {
		v.addf(ackplan.PathServices, "%s is out of range: expected 0 (no requirement) to %s Services", thousands(ps.Services), thousands(maxPlanServices))
	}
	if sp := ps.PodSurgePercent; sp != nil && (*sp < 0 || *sp > 100) {
		v.addf("plan.podSurgePercent", "%d is out of range: expected 0 to 100 percent (the default is %d, a Deployment's default maxSurge)", *sp, ackplan.DefaultPodSurgePercent)
	}
	if ps.SurgeNodes < 0 || ps.SurgeNodes > maxPlanNodes {
		v.addf(ackplan.PathSurgeNodes, "%s is out of range: expected 0 to %s extra nodes during a node pool upgrade", thousands(ps.SurgeNodes), thousands(maxPlanNodes))
	}
	if e := ps.Edition; e != "" && !slices.Contains(planEditions, e) {
		v.addf(ackplan.PathEdition, `unknown edition %q: expected "pro" (ACK Pro, the default) or "basic" (ACK Basic)%s`, e, hint.DidYouMean(e, planEditions))
	}
	rangeNames := map[string]int{}
	for i, rg := range ps.Ranges {
		path := indexPath("plan.ranges", i)
		if rg.Name == "" {
			v.add(path+".name", "required: a name for the range, e.g. idc-beijing")
		} else if j, dup := rangeNames[rg.Name]; dup {
			v.addf(path+".name", "range %q is already plan.ranges[%d]", rg.Name, j)
		} else {
			rangeNames[rg.Name] = i
		}
		switch {
		case rg.Kind == "":
			v.add(path+".kind", `required: "on-premises" (a network behind a VPN gateway or Express Connect) or "peered-vpc" (a VPC peering connection or CEN)`)
		case !slices.Contains(planKinds, rg.Kind):
			v.addf(path+".kind", `unknown kind %q: expected "on-premises" or "peered-vpc"%s`, rg.Kind, hint.DidYouMean(rg.Kind, planKinds))
		}
		if rg.CIDR == "" {
			v.add(path+".cidr", "required: the range's IPv4 CIDR block, e.g. 10.100.0.0/16")
		} else if c, msg := parseCIDR4(rg.CIDR); msg != "" {
			v.add(path+".cidr", msg)
		} else if msg := rangeSizeProblem(rg.Kind, c); msg != "" {
			v.add(path+".cidr", msg)
		}
	}
}

// rangeSizeProblem says why a declared range's CIDR cannot be a network
// the VPC reaches: larger than a /8 (0.0.0.0/0 is every address: a
// default route, not a network; the largest private block, 10.0.0.0/8,
// is a /8 — netsim's bound), or, for a peered VPC, a mask outside
// CreateVpc's /8 to /28 ("The subnet mask must be 8 to 28 bits in
// length" — https://help.aliyun.com/document_detail/2588228.html).
func rangeSizeProblem(kind string, c netip.Prefix) string {
	switch {
	case c.Bits() == 0:
		return fmt.Sprintf("%s is every address (a default route), not a network the VPC reaches: declare the on-premises or peered VPC's own CIDR, e.g. 10.100.0.0/16", c)
	case c.Bits() < ackplan.MinVPCMask:
		return fmt.Sprintf("%s is larger than a /%d: declare the on-premises or peered VPC's own CIDR (the largest private block, 10.0.0.0/8, is a /8), e.g. 10.100.0.0/16", c, ackplan.MinVPCMask)
	case kind == ackplan.PeeredVPC && c.Bits() > ackplan.MaxVPCMask:
		return fmt.Sprintf("%s has mask /%d: a peered VPC's CIDR mask is /%d to /%d (CreateVpc)", c, c.Bits(), ackplan.MinVPCMask, ackplan.MaxVPCMask)
	}
	return ""
}

// checkPlan turns the scenario into its plan, runs the planning rules
// (package ackplan) on it and forgets the CIDRs they found broken, so that
// the checks after it do not judge from them. The findings are turned
// into problems and warnings by the loader (see planProblems).
func (v *validator) checkPlan() {
	v.plan = v.planInput()
	v.result = ackplan.Check(v.plan)
	p := v.plan
	if !p.Valid("vpc.cidr") {
		v.vpcCIDR = netip.Prefix{}
	}
	for name, i := range v.vswitchIndex {
		if !p.Valid(indexPath("vpc.vswitches", i) + ".cidr") {
			delete(v.vswitchCIDR, name)
		}
	}
	if !p.Valid("cluster.podCIDR") {
		v.podCIDR = netip.Prefix{}
	}
	if !p.Valid("cluster.serviceCIDR") {
		v.serviceCIDR = netip.Prefix{}
	}
}

// planBlock parses the CIDR text at path for the plan: a zero Block when
// it is absent, listed in Invalid when it does not parse (the validator
// reported it).
func planBlock(p *ackplan.Plan, path, text string) ackplan.Block {
	b := ackplan.Block{Path: path}
	if text == "" {
		return b
	}
	if c, msg := parseCIDR4(text); msg == "" {
		b.Prefix = c
	} else {
		p.Invalid = append(p.Invalid, path)
	}
	return b
}

// planInput is the scenario as a plan, with the field path of each element
// (defaults applied). Without a plan: block with node pools, the pools are
// the scenario's nodes, one per vSwitch and instance type.
func (v *validator) planInput() *ackplan.Plan {
	s := v.s
	c := &s.Cluster
	p := &ackplan.Plan{
		RouteQuota:      s.VPC.RouteQuota,
		RouteQuotaSet:   v.routeQuotaSet,
		Catalog:         s.catalog,
		PodSurgePercent: ackplan.DefaultPodSurgePercent,
		Edition:         "pro",
	}
	p.VPC = planBlock(p, "vpc.cidr", s.VPC.CIDR)
	for i, sw := range s.VPC.VSwitches {
		path := indexPath("vpc.vswitches", i)
		b := planBlock(p, path+".cidr", sw.CIDR)
		if sw.CIDR == "" {
			p.Invalid = append(p.Invalid, path+".cidr")
		}
		p.VSwitches = append(p.VSwitches, ackplan.VSwitch{Name: sw.Name, Zone: sw.Zone, CIDR: b.Prefix, Path: path})
	}
	if s.VPC.Underlay != "l2" {
		for i, r := range s.VPC.Routes {
			path := indexPath("vpc.routes", i)
			b := planBlock(p, path+".destination", r.Destination)
			p.Routes = append(p.Routes, ackplan.Route{Destination: b.Prefix, NextHop: r.NextHop, Path: path})
		}
	}

	p.CNI.Mode = c.CNI.Mode
	if f := c.CNI.Flannel; f != nil {
		p.CNI.Backend = f.Backend
	}
	if t := c.CNI.Terway; t != nil && c.CNI.Mode == "terway" {
		p.CNI.ENIMode = t.ENIMode
		p.CNI.PodVSwitches = t.PodVSwitches
		p.CNI.PodVSwitchesPath = pathPodVSwits
		if !v.terwayPodVSwitches {
			p.Invalid = append(p.Invalid, pathPodVSwits)
		}
	}
	p.PodCIDR = planBlock(p, "cluster.podCIDR", c.PodCIDR)
	p.NodeMask, p.NodeMaskPath = c.NodeCIDRMask, "cluster.nodeCIDRMask"
	if k := c.CNI.Calico; k != nil && c.CNI.Mode == "calico" {
		p.CNI.CalicoBlock = k.BlockSize
		p.NodeMask, p.NodeMaskPath = k.BlockSize, "cluster.cni.calico.blockSize"
	}
	p.ServiceCIDR = planBlock(p, "cluster.serviceCIDR", c.ServiceCIDR)

	if ps := s.Plan; ps != nil {
		p.PodsPerNode = max(ps.PodsPerNode, 0)
		p.Services = max(ps.Services, 0)
		if sp := ps.PodSurgePercent; sp != nil && *sp >= 0 && *sp <= 100 {
			p.PodSurgePercent = *sp
		}
		if ps.SurgeNodes > 0 && ps.SurgeNodes <= maxPlanNodes {
			p.SurgeNodes = ps.SurgeNodes
		}
		if ps.Edition == "basic" {
			p.Edition = "basic"
		}
		for i, rg := range ps.Ranges {
			path := indexPath("plan.ranges", i)
			b := planBlock(p, path+".cidr", rg.CIDR)
			if b.Prefix.IsValid() && rangeSizeProblem(rg.Kind, b.Prefix) != "" {
				p.Invalid = append(p.Invalid, path+".cidr") // reported by checkPlanSpec
			}
			p.Ranges = append(p.Ranges, ackplan.Range{Name: rg.Name, Kind: rg.Kind, CIDR: b.Prefix, Path: path})
		}
	}
	if s.Plan != nil && len(s.Plan.NodePools) > 0 {
		p.Pools = v.planPools()
		p.NodePools = v.nodePools()
	} else {
		p.Pools = v.nodePools()
	}
	return p
}

// resolveType is the pool's instance type (zero when unknown).
func (v *validator) resolveType(name string) ack.InstanceType {
	t, ok := v.s.InstanceTypeOf(name)
	if !ok {
		return ack.InstanceType{}
	}
	return t
}

// planPools are the plan: block's node pools (a pool whose size is out of
// range counts 0 nodes: it was reported).
func (v *validator) planPools() []ackplan.Pool {
	var pools []ackplan.Pool
	total := 0
	for i, np := range v.s.Plan.NodePools {
		path := indexPath("plan.nodePools", i)
		n := np.Nodes
		if n < 1 || n > maxPlanNodes || total+n > maxPlanNodes {
			n = 0
		}
		total += n
		pool := ackplan.Pool{Name: np.Name, VSwitch: np.VSwitch, Nodes: n, Type: v.resolveType(np.InstanceType), Path: path, TypePath: path + ".instanceType"}
		if np.InstanceType == "" {
			pool.TypePath, pool.TypeDefault = path, true
		}
		pools = append(pools, pool)
	}
	return pools
}

// nodePools groups the scenario's nodes by vSwitch and instance type, in
// the order they first appear; each pool is located at its first node.
func (v *validator) nodePools() []ackplan.Pool {
	var pools []ackplan.Pool
	index := map[[2]string]int{}
	for i, n := range v.s.Nodes {
		key := [2]string{n.VSwitch, n.InstanceType}
		if j, ok := index[key]; ok {
			pools[j].Nodes++
			continue
		}
		path := indexPath("nodes", i)
		pool := ackplan.Pool{Name: n.Name, VSwitch: n.VSwitch, Nodes: 1, Type: v.resolveType(n.InstanceType), Path: path, TypePath: path + ".instanceType", FirstNode: n.Name}
		if n.InstanceType == "" {
			pool.TypePath, pool.TypeDefault = path, true
		}
		if pool.FirstNode == "" {
			pool.FirstNode = fmt.Sprintf("nodes[%d]", i)
		}
		index[key] = len(pools)
		pools = append(pools, pool)
	}
	return pools
}
