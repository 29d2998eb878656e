package ackplan

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"netsim/topology/ack"
)

// This file is `netsim plan --compare`: one VPC and workload (node pools,
// pods per node, Services) planned as Flannel ali-vpc, Flannel VXLAN and
// Terway shared ENI, each variant checked by the rule table and sized by
// ComputeCapacity, side by side with what the data path costs — the exam's
// Terway-versus-Flannel table, computed for this plan.

// The columns of a comparison, in order.
var compareCNIs = []string{CNIFlannelAliVPC, CNIFlannelVXLAN, CNITerway}

// Data path figures of the comparison. Each says where it comes from.
const (
	// cmpVXLANOverhead is VXLAN's encapsulation: outer Ethernet 14 +
	// outer IPv4 20 + UDP 8 + VXLAN header 8 = 50 bytes; flannel sets the
	// pod MTU to the NIC's minus it (flannel pkg/backend/vxlan/
	// vxlan_network.go: "encapOverhead = 50").
	cmpVXLANOverhead = 50
	// cmpIPIPOverhead is Calico IPIP's outer IPv4 header: "IPv4 IP-in-IP:
	// 20 bytes" — https://docs.tigera.io/calico/latest/networking/configuring/mtu
	cmpIPIPOverhead = 20
	// cmpUDPOverhead is flannel's udp backend: outer IPv4 20 + UDP 8
	// (flannel pkg/backend/udp: the TUN device's MTU is the NIC's − 28).
	cmpUDPOverhead = 28
	// cmpNICMTU is the ECS primary NIC's MTU the pod MTU is derived from:
	// 1500, netsim's default vpc.mtu (a plan does not state an MTU).
	cmpNICMTU = 1500
)

// cmpSourceACK is the ACK page the NetworkPolicy, source IP and pod
// address rows quote (facts file §1.11).
const cmpSourceACK = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel"

// Comparison is one workload planned as Flannel ali-vpc, Flannel VXLAN and
// Terway (shared ENI), side by side.
type Comparison struct {
	// VPC is the plan's VPC CIDR; Nodes the planned nodes of every pool;
	// PodsPerNode the pods a node must run (0: not stated).
	VPC         string `json:"vpc"`
	Nodes       int    `json:"nodes"`
	PodsPerNode int    `json:"pods_per_node"`
	// From is the plan's own CNI, as a column name ("calico" or
	// "terway-exclusive" when it is neither column).
	From string `json:"from"`
	// Columns are the variants, in the order of compareCNIs.
	Columns []CompareColumn `json:"columns"`
}

// CompareColumn is the plan under one CNI.
type CompareColumn struct {
	// CNI is "flannel-alivpc", "flannel-vxlan" or "terway"; Title names
	// it for people.
	CNI   string `json:"cni"`
	Title string `json:"title"`
	// Plan is the variant that was checked and sized.
	Plan *Plan `json:"-"`
	// Derived says each range the comparison chose for this variant
	// because the plan did not have it (a pod CIDR for Flannel, pod
	// vSwitches for Terway), and NoRoom what could not be derived and
	// what it would take.
	Derived []string `json:"derived,omitempty"`
	NoRoom  string   `json:"no_room,omitempty"`
	// PodAddresses says where pods take their addresses from.
	PodAddresses string `json:"pod_addresses"`
	// Errors and Warnings count Check's findings of the variant; Rules
	// are the IDs of the rules that reported them.
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Rules    []string `json:"rules"`
	// PodsPerNode is the least pods per node over the pools and
	// PodsPerNodeSource its formula (ComputeCapacity).
	PodsPerNode       int    `json:"pods_per_node"`
	PodsPerNodeSource string `json:"pods_per_node_source"`
	// MaxNodes is the most nodes the variant allows and Binding the limit
	// that binds first (ComputeCapacity).
	MaxNodes int    `json:"max_nodes"`
	Binding  string `json:"binding"`
	// BindingWhat says the binding limit in words.
	BindingWhat string `json:"binding_what"`
	// RouteEntries is the VPC route entries used, RouteQuota the route
	// table's quota (ComputeCapacity).
	RouteEntries int `json:"route_entries"`
	RouteQuota   int `json:"route_quota"`
	// EncapOverhead is the bytes the data path adds to a packet between
	// nodes; PodMTU the pod MTU that leaves with a 1,500-byte NIC.
	EncapOverhead int `json:"encap_overhead_bytes"`
	PodMTU        int `json:"pod_mtu"`
	// CrossNode says what carries a pod's packet to another node.
	CrossNode string `json:"cross_node"`
	// NetworkPolicy says whether ACK enforces NetworkPolicy with the CNI.
	NetworkPolicy bool `json:"network_policy"`
	// SourceIPPreserved says whether traffic leaving the cluster keeps
	// the pod's address (else it is the node's).
	SourceIPPreserved bool `json:"source_ip_preserved"`
	// PodIPsInVPC says whether pod addresses are VPC addresses.
	PodIPsInVPC bool `json:"pod_ips_in_vpc"`
	// NetworkPolicyText says the NetworkPolicy cell ("enforced", "not
	// supported on ACK", "enforced by Calico (self-managed)").
	NetworkPolicyText string `json:"network_policy_text"`
	// InstanceHint names built-in instance types that hold the planned
	// pods per node when the plan's type does not (Terway columns).
	InstanceHint string `json:"instance_hint,omitempty"`
	// Capacity is the variant's full capacity report.
	Capacity Capacity `json:"capacity"`
}

// cmpTitles name the columns.
var cmpTitles = map[string]string{CNIFlannelAliVPC: "Flannel ali-vpc", CNIFlannelVXLAN: "Flannel VXLAN", CNITerway: "Terway (shared ENI)",
	CNITerwayExclusive: "Terway (exclusive ENI)", CNICalico: "Calico (self-managed)",
	"flannel-host-gw": "Flannel host-gw (self-managed)", "flannel-udp": "Flannel udp (self-managed)"}

// Compare plans p's VPC, node pools, pods per node and Services under
// Flannel ali-vpc, Flannel VXLAN and Terway shared ENI. Each variant keeps
// p's own CIDRs where they fit and derives what p lacks with the
// suggester's allocator: a pod CIDR and node mask for Flannel, pod
// vSwitches carved from the VPC's free space for Terway (or says there is
// no room, and what it would take). It errs only when p has no VPC or no
// nodes to compare.
func Compare(p *Plan) (Comparison, error) {
	if !p.VPC.Prefix.IsValid() {
		return Comparison{}, fmt.Errorf("the plan has no VPC CIDR (%s) to compare", orPath(p.VPC.Path, "vpc.cidr"))
	}
	c := Comparison{VPC: p.VPC.Prefix.String(), Nodes: cmpNodes(p), PodsPerNode: p.PodsPerNode, From: cmpFrom(p)}
	if c.Nodes == 0 {
		return Comparison{}, fmt.Errorf("the plan has no nodes to compare: give plan.nodePools (or nodes)")
	}
	cnis := compareCNIs
	if !slices.Contains(cnis, c.From) {
		// The plan's own CNI is none of the three: its column too, the
		// plan as it is.
		cnis = append(slices.Clone(cnis), c.From)
	}
	for _, cni := range cnis {
		col := CompareColumn{CNI: cni, Title: cmpTitles[cni]}
		if col.Title == "" {
			col.Title = cni
		}
		switch {
		case cni == c.From && !slices.Contains(compareCNIs, cni):
			col.Plan = freshPlan(p)
		case cni == CNITerway:
			col.Plan, col.Derived, col.NoRoom = terwayVariant(p)
		default:
			col.Plan, col.Derived = flannelVariant(p, strings.TrimPrefix(cni, "flannel-"))
		}
		col.fill()
		col.instanceHint(p)
		c.Columns = append(c.Columns, col)
	}
	return c, nil
}

func orPath(path, def string) string {
	if path == "" {
		return def
	}
	return path
}

// cmpNodes is the planned nodes of every pool.
func cmpNodes(p *Plan) int {
	n := 0
	for _, pl := range p.Pools {
		n += pl.Nodes
	}
	return n
}

// cmpFrom names p's own CNI as a column would.
func cmpFrom(p *Plan) string {
	switch p.CNI.Mode {
	case "flannel":
		return "flannel-" + p.CNI.Backend
	case "terway":
		if p.CNI.ENIMode == "exclusive" {
			return CNITerwayExclusive
		}
		return CNITerway
	}
	return p.CNI.Mode
}

// clonePlan is a deep copy of p, Invalid included.
func clonePlan(p *Plan) *Plan {
	q := *p
	q.VSwitches = slices.Clone(p.VSwitches)
	q.Routes = slices.Clone(p.Routes)
	q.Ranges = slices.Clone(p.Ranges)
	q.Pools = slices.Clone(p.Pools)
	q.Invalid = slices.Clone(p.Invalid)
	q.CNI.PodVSwitches = maps.Clone(p.CNI.PodVSwitches)
	for z, names := range q.CNI.PodVSwitches {
		q.CNI.PodVSwitches[z] = slices.Clone(names)
	}
	return &q
}

// freshPlan is a deep copy of p for a column: Invalid keeps only the
// paths whose value is absent. A plan read by LoadPlan has been checked
// already, and Check marks the paths of its errors invalid; a column's own
// Check must judge them again (and report the same errors), so those
// marks are dropped.
func freshPlan(p *Plan) *Plan {
	q := clonePlan(p)
	absent := map[string]bool{}
	for _, b := range []Block{p.VPC, p.PodCIDR, p.ServiceCIDR} {
		if !b.Prefix.IsValid() {
			absent[b.Path] = true
		}
	}
	for _, v := range p.VSwitches {
		if !v.CIDR.IsValid() {
			absent[v.Path+".cidr"] = true
		}
	}
	for _, r := range p.Routes {
		if !r.Destination.IsValid() {
			absent[r.Path+".destination"] = true
		}
	}
	for _, r := range p.Ranges {
		if !r.CIDR.IsValid() {
			absent[r.Path+".cidr"] = true
		}
	}
	q.Invalid = slices.DeleteFunc(q.Invalid, func(path string) bool { return !absent[path] })
	if len(q.Invalid) == 0 {
		q.Invalid = nil
	}
	return q
}

// validBlock is b's prefix when it was given (whether or not it breaks a
// rule: the column's check says so).
func validBlock(_ *Plan, b Block) netip.Prefix { return b.Prefix }

// flannelVariant is p as Flannel with the backend: p's node vSwitches,
// its pod CIDR and node mask when it has Flannel-usable ones, else
// derived ones; a Terway plan's pod vSwitches are left out.
func flannelVariant(p *Plan, backend string) (*Plan, []string) {
	q := freshPlan(p)
	var derived []string
	if p.CNI.Mode == "terway" {
		// Terway's pod vSwitches hold no nodes: Flannel does not use them.
		inPool := map[string]bool{}
		for _, pl := range p.Pools {
			inPool[pl.VSwitch] = true
		}
		var pods []string
		q.VSwitches = slices.DeleteFunc(q.VSwitches, func(v VSwitch) bool {
			drop := !inPool[v.Name] && cmpIsPodVSwitch(p, v.Name)
			if drop {
				pods = append(pods, v.Name)
			}
			return drop
		})
		if len(pods) > 0 {
			derived = append(derived, fmt.Sprintf("Terway's pod vSwitches (%s) are left out: Flannel gives pods addresses from the pod CIDR", strings.Join(pods, ", ")))
		}
	}
	q.CNI = CNI{Mode: "flannel", Backend: backend}

	// The node mask: the plan's, else the longest of /24–/28 that holds
	// the pods per node and the surge (ACK's default /24 when the pods
	// per node are not stated).
	mask := 0
	if p.CNI.Mode == "flannel" && p.NodeMask != 0 {
		mask = p.NodeMask
	} else {
		mask = MinNodeMask
		if p.PodsPerNode > 0 {
			surged := sgCeil(p.PodsPerNode*(100+cmpSurge(p)), 100)
			for m := MaxNodeMask; m >= MinNodeMask; m-- {
				if ack.FlannelPodsPerNode(m) >= surged {
					mask = m
					break
				}
			}
		}
		q.NodeMask, q.NodeMaskPath = mask, "cluster.nodeCIDRMask"
		derived = append(derived, fmt.Sprintf("node CIDR mask /%d: %s pods a node", mask, ack.FlannelFormula(mask)))
	}

	// The pod CIDR: the plan's when it is outside the VPC and its
	// vSwitches (a Terway plan's is kube-proxy's cluster CIDR, often VPC
	// space), else a free block for the nodes at the mask, at least ACK's
	// /16.
	svc := validBlock(p, p.ServiceCIDR)
	pod := validBlock(p, p.PodCIDR)
	if pod.IsValid() {
		switch p.CNI.Mode {
		case "flannel":
			// The plan's own pod CIDR, kept even when it breaks a rule: the
			// column's check reports it as the plan's does.
		case "calico":
			if pod.Bits() >= mask {
				derived = append(derived, fmt.Sprintf("Calico's pool %s is too small for /%d node subnets", pod, mask))
				pod = netip.Prefix{}
			}
		default:
			// A Terway plan's pod CIDR is only kube-proxy's cluster CIDR,
			// often VPC space: Flannel needs its own.
			if pod.Overlaps(p.VPC.Prefix) || pod.Overlaps(svc) || pod.Bits() >= mask {
				derived = append(derived, fmt.Sprintf("the plan's pod CIDR %s (kube-proxy's cluster CIDR with Terway) cannot be Flannel's: it overlaps the VPC or the Service CIDR, or holds no /%d", pod, mask))
				pod = netip.Prefix{}
			}
		}
	}
	if !pod.IsValid() {
		avoid := append([]netip.Prefix{p.VPC.Prefix, svc}, sgRangeCIDRs(p.Ranges)...)
		bits := min(sgPodMask, blkBits(uint64(max(cmpNodes(p), 1))*blkSizeOf(mask)))
		if got, ok := findFree(bits, avoid, ackPodCIDR); ok {
			q.PodCIDR = Block{Prefix: got, Path: "cluster.podCIDR"}
			derived = append(derived, fmt.Sprintf("pod CIDR %s: %s node subnets of /%d, outside the VPC, the Service CIDR and the declared ranges",
				got, sgNum64(blkLen(got)/blkSizeOf(mask)), mask))
		} else {
			q.PodCIDR = Block{Path: "cluster.podCIDR"}
			derived = append(derived, fmt.Sprintf("no free private /%d for the pod CIDR outside the VPC and the declared ranges", bits))
		}
	}
	cmpService(q, &derived)
	return q, derived
}

// cmpService gives q a Service CIDR when it has none.
func cmpService(q *Plan, derived *[]string) {
	if validBlock(q, q.ServiceCIDR).IsValid() {
		return
	}
	avoid := append([]netip.Prefix{q.VPC.Prefix, validBlock(q, q.PodCIDR)}, sgRangeCIDRs(q.Ranges)...)
	if got, ok := findFree(sgServiceMask, avoid, ackServiceCIDR); ok {
		q.ServiceCIDR = Block{Prefix: got, Path: "cluster.serviceCIDR"}
		*derived = append(*derived, fmt.Sprintf("Service CIDR %s (ACK's example size /%d)", got, sgServiceMask))
	}
}

// cmpIsPodVSwitch reports whether the vSwitch is one of p's Terway pod
// vSwitches.
func cmpIsPodVSwitch(p *Plan, name string) bool {
	for _, names := range p.CNI.PodVSwitches {
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}

// cmpSurge is p's pod surge percent (the default when unset).
func cmpSurge(p *Plan) int {
	if p.PodSurgePercent > 0 {
		return p.PodSurgePercent
	}
	return DefaultPodSurgePercent
}

// terwayVariant is p as Terway shared ENI: its pod vSwitches when it has
// them, else pod vSwitches carved per zone from the VPC's free space,
// sized for the zone's pods and the surge. noRoom says which zones got
// none and what it would take.
func terwayVariant(p *Plan) (q *Plan, derived []string, noRoom string) {
	q = freshPlan(p)
	if p.CNI.Mode == "terway" {
		if p.CNI.ENIMode == "exclusive" {
			derived = append(derived, "shared ENI instead of the plan's exclusive ENI: pods per node from (ENIs − 1) × IPs per ENI")
		}
		q.CNI.ENIMode = "shared"
		cmpService(q, &derived)
		return q, derived, ""
	}
	q.CNI = CNI{Mode: "terway", ENIMode: "shared", PodVSwitches: map[string][]string{}, PodVSwitchesPath: "cluster.cni.terway.podVSwitches"}
	// Terway takes no pod CIDR (the node CIDR mask is left as it is: no
	// rule reads it with Terway).
	q.PodCIDR = Block{Path: "cluster.podCIDR"}

	// The pod addresses each zone needs: its nodes × pods per node (the
	// instance type's limit when not stated) × the surge.
	zoneOf := map[string]string{}
	for _, v := range p.VSwitches {
		zoneOf[v.Name] = v.Zone
	}
	var zones []string
	need := map[string]int{}
	for _, pl := range p.Pools {
		z := zoneOf[pl.VSwitch]
		if z == "" {
			continue
		}
		if _, ok := need[z]; !ok {
			zones = append(zones, z)
		}
		pods := p.PodsPerNode
		if pods == 0 {
			pods = pl.Type.SharedENIPods()
		}
		need[z] += sgCeil(pl.Nodes*pods*(100+cmpSurge(p)), 100)
	}
	var used []netip.Prefix
	for _, v := range p.VSwitches {
		used = append(used, v.CIDR)
	}
	type want struct {
		zone  string
		holds int
		bits  int
	}
	// Room to grow as --suggest gives: 2× the pod addresses where the
	// VPC allows, else the planned ones (then split to fit, if need be).
	for _, try := range []struct {
		growth int
		tight  bool
	}{{sgGrowth, false}, {1, false}, {1, true}} {
		tight := try.tight
		var ws []want
		for _, z := range zones {
			for _, n := range sgPieces(need[z]*try.growth, tight) {
				ws = append(ws, want{z, n, blkBits(uint64(n + VSwitchReserved))})
			}
		}
		bits := make([]int, len(ws))
		var total uint64
		for i, w := range ws {
			bits[i] = w.bits
			total += blkSizeOf(w.bits)
		}
		got, ok := carve(p.VPC.Prefix, used, bits)
		if !ok {
			if tight {
				free := newBlockSet(p.VPC.Prefix, used...).freeAddrs()
				noRoom = fmt.Sprintf("the VPC %s has %s free addresses; pod vSwitches for %s pod addresses need %s: add a VPC secondary CIDR block, or plan the VPC as a /%d or larger",
					p.VPC.Prefix, sgNum64(free), sgNum(sumOf(need)), sgNum64(total), blkBits(total+blkLenUsed(used)))
			}
			continue
		}
		for i, w := range ws {
			name := fmt.Sprintf("vsw-pod-%s", sgShortZone(w.zone, zones))
			for n := 2; cmpHasVSwitch(q, name); n++ {
				name = fmt.Sprintf("vsw-pod-%s-%d", sgShortZone(w.zone, zones), n)
			}
			q.VSwitches = append(q.VSwitches, VSwitch{Name: name, Zone: w.zone, CIDR: got[i], Path: fmt.Sprintf("vpc.vswitches[%d]", len(q.VSwitches))})
			q.CNI.PodVSwitches[w.zone] = append(q.CNI.PodVSwitches[w.zone], name)
			grown := fmt.Sprintf("pods × %d%% surge; no room in the VPC for %d× growth", 100+cmpSurge(p), sgGrowth)
			if try.growth > 1 {
				grown = fmt.Sprintf("pods × %d%% surge × %d for growth, as --suggest sizes them", 100+cmpSurge(p), try.growth)
			}
			derived = append(derived, fmt.Sprintf("pod vSwitch %s %s in %s: %s pod addresses (%s)",
				name, got[i], w.zone, sgNum(w.holds), grown))
		}
		break
	}
	cmpService(q, &derived)
	return q, derived, noRoom
}

func sumOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// blkLenUsed is the addresses the prefixes take.
func blkLenUsed(ps []netip.Prefix) uint64 {
	var n uint64
	for _, p := range ps {
		n += blkLen(p)
	}
	return n
}

func cmpHasVSwitch(p *Plan, name string) bool {
	return slices.ContainsFunc(p.VSwitches, func(v VSwitch) bool { return v.Name == name })
}

// fill checks and sizes the column's variant and sets its data path
// figures.
func (col *CompareColumn) fill() {
	check := clonePlan(col.Plan)
	for _, f := range Check(check).Findings() {
		if f.Severity == Error {
			col.Errors++
		} else {
			col.Warnings++
		}
		if f.Rule != nil && !slices.Contains(col.Rules, f.Rule.ID) {
			col.Rules = append(col.Rules, f.Rule.ID)
		}
	}
	if col.Rules == nil {
		col.Rules = []string{}
	}
	col.Capacity = ComputeCapacity(clonePlan(col.Plan))
	col.fromCapacity()
	p := col.Plan
	switch col.CNI {
	case CNIFlannelAliVPC:
		col.PodAddresses = cmpPodCIDRText(p)
		col.PodMTU = cmpNICMTU
		col.CrossNode = "VPC route entry: node pod CIDR → its ECS"
	case CNIFlannelVXLAN:
		col.PodAddresses = cmpPodCIDRText(p)
		col.EncapOverhead = cmpVXLANOverhead
		col.PodMTU = cmpNICMTU - cmpVXLANOverhead
		col.CrossNode = "VXLAN (UDP 8472) to the node's IP"
	case CNITerway, CNITerwayExclusive:
		var names []string
		for _, z := range slices.Sorted(maps.Keys(p.CNI.PodVSwitches)) {
			names = append(names, p.CNI.PodVSwitches[z]...)
		}
		col.PodAddresses = "pod vSwitches " + strings.Join(names, ", ")
		if len(names) == 0 {
			col.PodAddresses = "pod vSwitches: none"
		}
		col.PodMTU = cmpNICMTU
		col.CrossNode = "VPC → the ENI holding the pod's IP"
		col.NetworkPolicy, col.SourceIPPreserved, col.PodIPsInVPC = true, true, true
	case CNICalico:
		col.PodAddresses = cmpPodCIDRText(p)
		if p.PodCIDR.Prefix.IsValid() {
			col.PodAddresses = fmt.Sprintf("%s, a /%d block a node", p.PodCIDR.Prefix, capCalicoBlockOf(p))
		}
		col.EncapOverhead = cmpIPIPOverhead
		col.PodMTU = cmpNICMTU - cmpIPIPOverhead
		// netsim's Calico default is IPIP; a plan does not state the
		// encapsulation (VXLAN adds 50 bytes, BGP none).
		col.CrossNode = "IPIP (IP protocol 4) to the node's IP, netsim's default (VXLAN: 50 bytes, BGP: none)"
		// Calico enforces NetworkPolicy itself; its default pool has
		// natOutgoing (docs.tigera.io …/resources/ippool): the node's IP.
		col.NetworkPolicy = true
		col.NetworkPolicyText = "enforced by Calico (self-managed)"
	default: // flannel host-gw, udp: self-managed
		col.PodAddresses = cmpPodCIDRText(p)
		col.PodMTU = cmpNICMTU
		col.CrossNode = "host route via the peer node (host-gw: same L2 segment)"
		if col.CNI == "flannel-udp" {
			col.EncapOverhead = cmpUDPOverhead
			col.PodMTU = cmpNICMTU - cmpUDPOverhead
			col.CrossNode = "UDP (8285) to the node's IP, through flanneld"
		}
	}
	if col.NetworkPolicyText == "" {
		col.NetworkPolicyText = yesNo(col.NetworkPolicy, "enforced", "not supported on ACK")
	}
}

// instanceHint names built-in instance types that hold the planned pods
// per node when a Terway column's pool type does not (the suggester's
// typesFor: the type's family first, then the smallest).
func (col *CompareColumn) instanceHint(p *Plan) {
	if col.Plan.CNI.Mode != "terway" || p.PodsPerNode <= 0 {
		return
	}
	mode := col.Plan.TerwayENIMode()
	for _, pl := range col.Plan.Pools {
		if pl.Type.Name == "" || pl.Type.MaxPods(mode) >= p.PodsPerNode {
			continue
		}
		cni := CNITerway
		if mode == ack.ExclusiveENI {
			cni = CNITerwayExclusive
		}
		s := &suggester{req: Request{CNI: cni, InstanceType: pl.Type}}
		col.InstanceHint = fmt.Sprintf("%s holds %s pods in %s ENI mode (%s), fewer than the %s planned; built-in types that hold them: %s",
			pl.Type.Name, sgNum(pl.Type.MaxPods(mode)), mode, pl.Type.Formula(mode), sgNum(p.PodsPerNode), s.typesFor(p.PodsPerNode))
		return
	}
}

// fromCapacity copies the figures the table shows from the capacity
// report: the least pods per node over the pools and its formula, the
// most nodes and the limit that binds, the route entries and quota.
func (col *CompareColumn) fromCapacity() {
	c := col.Capacity
	for i, pl := range c.Pools {
		if i == 0 || pl.PodsPerNode < col.PodsPerNode {
			col.PodsPerNode, col.PodsPerNodeSource = pl.PodsPerNode, pl.Formula
		}
	}
	col.MaxNodes, col.Binding = c.MaxNodes, c.Binding
	for _, l := range c.Limits {
		if l.Binding {
			col.BindingWhat = l.What
		}
	}
	col.RouteEntries, col.RouteQuota = c.Routes.Used, c.Routes.Quota
}

func cmpPodCIDRText(p *Plan) string {
	if !p.PodCIDR.Prefix.IsValid() {
		return "pod CIDR: none"
	}
	return fmt.Sprintf("%s, /%d a node", p.PodCIDR.Prefix, p.NodeMask)
}
