package ackplan

import (
	"fmt"
	"net/netip"
	"strings"

	"netsim/topology/ack"
)

// The suggester's ranges outside the VPC (pod CIDR, Service CIDR), the
// VPC route table, and the assembled Plan with its check.

// podRange picks the pod CIDR (Flannel, Calico).
func (s *suggester) podRange() error {
	if s.terway() {
		s.choose("cluster.cni", "pod addresses", "pod vSwitches", "Terway gives pods VPC addresses from the pod vSwitches of their node's zone: there is no pod CIDR to plan")
		return nil
	}
	avoid := append([]netip.Prefix{s.req.VPC}, sgRangeCIDRs(s.req.Ranges)...)
	prefer := []netip.Prefix{ackPodCIDR}
	if s.req.CNI == CNICalico {
		prefer = []netip.Prefix{calicoPool, ackPodCIDR}
	}
	perNode := blkSizeOf(s.mask)
	for _, nodes := range []int{s.target, s.req.Nodes} {
		bits := min(sgPodMask, blkBits(uint64(nodes)*perNode))
		p, ok := findFree(bits, avoid, prefer...)
		if !ok {
			continue
		}
		s.podCIDR = p
		holds := blkLen(p) / perNode
		why := fmt.Sprintf("%s nodes × /%d = /%d", sgNum(nodes), s.mask, blkBits(uint64(nodes)*perNode))
		if bits < blkBits(uint64(nodes)*perNode) || bits == sgPodMask {
			why = fmt.Sprintf("ACK's example size /%d, which holds %s node subnets of /%d (the plan needs %s)", sgPodMask, sgNum64(holds), s.mask, sgNum(nodes))
			if bits < sgPodMask {
				why = fmt.Sprintf("%s node subnets of /%d (the plan needs %s)", sgNum64(holds), s.mask, sgNum(nodes))
			}
		} else {
			why += fmt.Sprintf(", %s node subnets", sgNum64(holds))
		}
		where := "outside the VPC"
		if len(s.req.Ranges) > 0 {
			where += " and every declared range"
		}
		if s.req.CNI == CNICalico {
			s.choose("cluster.podCIDR", "podCIDR", p.String(), "Calico's IP pool: %s; %s (calico-node's default pool is 192.168.0.0/16)", why, where)
		} else {
			s.choose("cluster.podCIDR", "podCIDR", p.String(), "%s; %s, not 7.x (ACK reserves it); a Flannel pod CIDR cannot be changed or extended after the cluster is created", why, where)
		}
		break
	}
	if !s.podCIDR.IsValid() {
		return &NoPlanError{Requirement: "--nodes",
			Why: fmt.Sprintf("no free private block holds %s node subnets of /%d (a /%d) outside the VPC %s and the declared ranges",
				sgNum(s.req.Nodes), s.mask, blkBits(uint64(s.req.Nodes)*perNode), s.req.VPC),
			Relax: "plan fewer nodes or pods per node, or leave private space beside the VPC (a smaller VPC CIDR, fewer declared ranges)"}
	}
	return nil
}

// routes sizes the VPC route table: one custom entry per node with
// Flannel ali-vpc, and one per declared range (to its VPN gateway,
// Express Connect or peering connection).
func (s *suggester) routes() error {
	nodes := 0
	if s.req.CNI == CNIFlannelAliVPC {
		nodes = s.req.Nodes
	}
	n := nodes + len(s.req.Ranges)
	var parts []string
	if nodes > 0 {
		parts = append(parts, sgPlural(nodes, "node")+" (Flannel ali-vpc: one entry each)")
	}
	if len(s.req.Ranges) > 0 {
		parts = append(parts, sgPlural(len(s.req.Ranges), "declared range")+" (one entry each, to its gateway or peering connection)")
	}
	what := strings.Join(parts, " and ")
	switch {
	case n > MaxRouteQuota:
		return &NoPlanError{Requirement: "--nodes",
			Why:   fmt.Sprintf("%s need %s VPC route entries; a route table holds %s at most, on request", what, sgNum(n), sgNum(MaxRouteQuota)),
			Relax: "use --cni terway (no route entry per node), or plan fewer nodes or declared ranges"}
	case n > DefaultRouteQuota:
		s.routeQuota = MaxRouteQuota
		s.choose("vpc.routeQuota", "routeQuota", sgNum(MaxRouteQuota), "%s need %s VPC route entries, more than the default quota of %d — request a route table quota increase (up to %s, Quota Center) before creating the cluster",
			what, sgNum(n), DefaultRouteQuota, sgNum(MaxRouteQuota))
	case nodes > 0:
		s.choose("vpc.cidr", "route entries", fmt.Sprintf("%d of %d", n, DefaultRouteQuota), "%s need %s VPC route entries: the default quota of %d holds them; growing past it needs a quota request (up to %s)",
			what, sgNum(n), DefaultRouteQuota, sgNum(MaxRouteQuota))
	}
	return nil
}

// serviceRange picks the Service CIDR.
func (s *suggester) serviceRange() error {
	want := s.req.Services
	avoid := append([]netip.Prefix{s.req.VPC, s.podCIDR}, sgRangeCIDRs(s.req.Ranges)...)
	// The Services a /bits holds: its allocatable ClusterIPs (2^(32−bits)
	// − 2, see AllocatableClusterIPs) less the kubernetes Service's.
	capOf := func(bits int) int { return AllocatableClusterIPs(netip.PrefixFrom(netip.IPv4Unspecified(), bits)) - 1 }
	if want > capOf(MinServiceMask) {
		return &NoPlanError{Requirement: "--services",
			Why:   fmt.Sprintf("%s Services are more than ACK's largest Service CIDR, /%d, holds: %s ClusterIPs besides the kubernetes Service's", sgNum(want), MinServiceMask, sgNum(capOf(MinServiceMask))),
			Relax: fmt.Sprintf("plan at most %s Services (headless Services take no ClusterIP)", sgNum(capOf(MinServiceMask)))}
	}
	fit := func(n int) int {
		for b := MaxServiceMask; b >= MinServiceMask; b-- {
			if capOf(b) >= n {
				return b
			}
		}
		return 0
	}
	grown := fit(want * sgGrowth)
	bits, why := min(sgServiceMask, grown), ""
	switch {
	case want == 0:
		why = fmt.Sprintf("ACK's example size /%d: %s Services (2^(32−%d) − 2 ClusterIPs — the allocator skips the network and broadcast addresses, kubernetes pkg/registry/core/service/ipallocator — less the kubernetes Service's)", sgServiceMask, sgNum(capOf(sgServiceMask)), sgServiceMask)
	case grown == 0:
		bits = fit(want)
		why = fmt.Sprintf("the smallest of /%d–/%d holding the %s Services (no room for %d×): %s Services", MinServiceMask, MaxServiceMask, sgNum(want), sgGrowth, sgNum(capOf(bits)))
	case bits < grown:
		why = fmt.Sprintf("ACK's example size /%d: %s Services, more than %d× the %s asked", sgServiceMask, sgNum(capOf(bits)), sgGrowth, sgNum(want))
	default:
		why = fmt.Sprintf("%d× the %s Services: %s (2^(32−%d) − 2 ClusterIPs less the kubernetes Service's)", sgGrowth, sgNum(want), sgNum(capOf(bits)), bits)
	}
	p, ok := findFree(bits, avoid, ackServiceCIDR)
	if !ok {
		return &NoPlanError{Requirement: "--services",
			Why:   fmt.Sprintf("no free private /%d outside the VPC, the pod CIDR and the declared ranges", bits),
			Relax: "declare fewer ranges or plan fewer Services"}
	}
	s.serviceCIDR = p
	s.choose("cluster.serviceCIDR", "serviceCIDR", p.String(), "%s; it overlaps neither the VPC, its vSwitches, the pod CIDR nor a declared range, and cannot be changed after the cluster is created", why)
	return nil
}

// build assembles the Plan, with the paths the YAML gives its fields.
func (s *suggester) build() error {
	r := s.req
	p := &Plan{
		VPC:             Block{Prefix: r.VPC, Path: "vpc.cidr"},
		RouteQuota:      DefaultRouteQuota,
		PodsPerNode:     r.PodsPerNode,
		Services:        r.Services,
		PodSurgePercent: DefaultPodSurgePercent,
		Edition:         "pro",
		ServiceCIDR:     Block{Prefix: s.serviceCIDR, Path: "cluster.serviceCIDR"},
	}
	if s.routeQuota > 0 {
		p.RouteQuota, p.RouteQuotaSet = s.routeQuota, true
	}
	// An absent pod CIDR (Terway) is still located where it would be
	// written, as the loader does.
	p.PodCIDR = Block{Prefix: s.podCIDR, Path: "cluster.podCIDR"}
	for i, rg := range r.Ranges {
		rg.Path = fmt.Sprintf("plan.ranges[%d]", i)
		p.Ranges = append(p.Ranges, rg)
	}
	for _, v := range s.vswitches() {
		p.VSwitches = append(p.VSwitches, VSwitch{Name: v.name, Zone: v.zone, CIDR: v.cidr, Path: fmt.Sprintf("vpc.vswitches[%d]", len(p.VSwitches))})
	}
	// Terway has no node CIDR: the scenario leaves nodeCIDRMask at its
	// default, which no rule reads.
	p.NodeMask, p.NodeMaskPath = MinNodeMask, "cluster.nodeCIDRMask"
	if _, builtin := ack.Builtin(r.InstanceType.Name); !builtin || sgCustomType(r.InstanceType) {
		p.Catalog = ack.NewCatalog(r.InstanceType)
	}
	switch {
	case s.flannel():
		p.CNI = CNI{Mode: "flannel", Backend: strings.TrimPrefix(r.CNI, "flannel-")}
		p.NodeMask, p.NodeMaskPath = s.mask, "cluster.nodeCIDRMask"
	case s.terway():
		p.CNI = CNI{Mode: "terway", ENIMode: string(s.eniMode()), PodVSwitches: map[string][]string{}, PodVSwitchesPath: "cluster.cni.terway.podVSwitches"}
		for _, z := range s.zones {
			for _, v := range z.podVSW {
				p.CNI.PodVSwitches[z.name] = append(p.CNI.PodVSwitches[z.name], v.name)
			}
		}
	default:
		p.CNI = CNI{Mode: "calico", CalicoBlock: s.mask}
		p.NodeMask, p.NodeMaskPath = s.mask, "cluster.cni.calico.blockSize"
	}
	// A node pool per node vSwitch: a zone whose node vSwitch was split
	// to fit the VPC has its nodes over the parts.
	for _, z := range s.zones {
		left := z.nodes
		for i, v := range z.nodeVSW {
			n := min(left, v.holds)
			if i == len(z.nodeVSW)-1 {
				n = left
			}
			left -= n
			if n == 0 {
				continue
			}
			name := "pool-" + z.short
			if len(z.nodeVSW) > 1 {
				name += fmt.Sprintf("-%d", i+1)
			}
			path := fmt.Sprintf("plan.nodePools[%d]", len(p.Pools))
			p.Pools = append(p.Pools, Pool{Name: name, VSwitch: v.name, Nodes: n, Type: r.InstanceType, Path: path, TypePath: path + ".instanceType"})
		}
	}
	// The sample's nodes, as the loader sees them: one pool per vSwitch
	// (ACK's join and zone rules judge them too).
	for i, z := range s.sampleNodes() {
		vsw := z.nodeVSW[0].name
		if i > 0 && p.NodePools[0].VSwitch == vsw {
			p.NodePools[0].Nodes++
			continue
		}
		path := fmt.Sprintf("nodes[%d]", i)
		p.NodePools = append(p.NodePools, Pool{Name: fmt.Sprintf("node-%d", i+1), VSwitch: vsw, Nodes: 1, Type: r.InstanceType,
			Path: path, TypePath: path + ".instanceType", FirstNode: fmt.Sprintf("node-%d", i+1)})
	}
	s.plan = p
	return nil
}

// vswitches lists the planned vSwitches in file order: per zone, the node
// vSwitch then the pod vSwitches.
func (s *suggester) vswitches() []sgVSwitch {
	var out []sgVSwitch
	for _, z := range s.zones {
		out = append(out, z.nodeVSW...)
		out = append(out, z.podVSW...)
	}
	return out
}

// check runs the rule table on a copy of the plan: an error there is a
// bug of the suggester, reported as such; warnings become choices.
func (s *suggester) check() error {
	cp := *s.plan
	cp.Invalid = nil
	res := Check(&cp)
	var errs []string
	for _, f := range res.Findings() {
		id := ""
		if f.Rule != nil {
			id = f.Rule.ID
		}
		if f.Severity == Error {
			errs = append(errs, fmt.Sprintf("%s: %s (rule %s)", f.Path, f.Msg, id))
			continue
		}
		s.choose("", "warning "+id, f.Path, "%s", f.Msg)
	}
	if len(errs) > 0 {
		return fmt.Errorf("netsim plan --suggest: the suggested plan breaks its own rules (a bug): %s", strings.Join(errs, "; "))
	}
	return nil
}

// sgCustomType reports whether t's figures differ from the built-in type
// of its name (the YAML then declares it under instanceTypes:).
func sgCustomType(t ack.InstanceType) bool {
	b, ok := ack.Builtin(t.Name)
	return !ok || b.ENIs != t.ENIs || b.IPv4PerENI != t.IPv4PerENI
}

// zoneNodes is the nodes planned in zone z.
func (s *suggester) zoneNodes(z string) int {
	for _, zz := range s.zones {
		if zz.name == z {
			return zz.nodes
		}
	}
	return 0
}

// sgShortZone is the zone's suffix ("h" of cn-hangzhou-h) when that is
// unique among zones, else the whole zone ID.
func sgShortZone(z string, all []string) string {
	suffix := func(z string) string { return z[strings.LastIndexByte(z, '-')+1:] }
	for _, o := range all {
		if o != z && suffix(o) == suffix(z) {
			return z
		}
	}
	return suffix(z)
}

func sgRangeCIDRs(rs []Range) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range rs {
		out = append(out, r.CIDR)
	}
	return out
}

func sgCeil(a, b int) int { return (a + b - 1) / b }

func sgB2I(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sgNum writes n with thousands separators: 15,000.
func sgNum(n int) string { return sgNum64(uint64(max(n, 0))) }

func sgNum64(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
