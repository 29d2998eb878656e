package ackplan

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"netsim/topology/ack"
)

// The capacity report: what a plan gives, each figure with its formula
// and its source. Every figure is computed from the plan's own numbers
// and the published formulas; none is measured on a cluster.

// Sources of the capacity figures.
const (
	// SourceFlannelMask: pods per node from the node CIDR mask.
	SourceFlannelMask = `node_cidr_mask: "24 means 2^(32-24)-1=255 and the node can run at most 255 pods" — aliyun/terraform-provider-alicloud website/docs/r/cs_managed_kubernetes.html.markdown`
	// SourceTerwayShared: Terway shared ENI pods per node.
	SourceTerwayShared = `terway pkg/aliyun/client/limit.go (MultiIPPod); ACK: "ecs.g7.4xlarge supports 8 ENIs, and each ENI supports 30 private IP addresses" → (8 − 1) × 30 = 210 — https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/adjusting-the-number-of-node-pods`
	// SourceTerwayExclusive: Terway exclusive ENI pods per node.
	SourceTerwayExclusive = `terway pkg/aliyun/client/limit.go (ExclusiveENIPod = EniQuantity − 1: one ENI per pod, the primary ENI is the node's)`
	// SourceCalicoBlock: Calico's IPAM block and kubelet's pod limit.
	SourceCalicoBlock = `Calico IPPool blockSize, default 26 (64 addresses) — https://docs.tigera.io/calico/latest/reference/resources/ippool; calico-ipam borrows addresses from other blocks unless strictAffinity — https://docs.tigera.io/calico/latest/reference/resources/ipamconfig; kubelet "--max-pods int32 Default: 110" — https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/`
	// SourcePodCIDR: nodes from the pod CIDR and the node mask.
	SourcePodCIDR = `"ACK evenly divides the pod CIDR block and allocates one subnet to each node based on a subnet mask" — https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/work-with-flannel`
	// SourceRouteQuota: one VPC route entry per Flannel ali-vpc node.
	SourceRouteQuota = `"One node corresponds to one entry"; "VPC route table entries: By default, 200 entries ... up to 1000 after applying" — https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel`
	// SourceACKNodes: ACK's per-CNI node limits.
	SourceACKNodes = `ACK Pro: Terway 5,000 nodes (15,000 on request), Flannel 1,000; ACK Basic: 10 — https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel`
	// SourceVSwitchReserved: Alibaba Cloud's reserved vSwitch addresses.
	SourceVSwitchReserved = `"The first IP address and last three IP addresses of each vSwitch CIDR block are reserved" — https://alibabacloud.com/help/en/vpc/developer-reference/api-vpc-2016-04-28-createvswitch`
	// SourceServiceCIDR: the ClusterIPs a Service CIDR holds.
	SourceServiceCIDR = `kubernetes pkg/registry/core/service/ipallocator/bitmap.go (New: "Don't use the IPv4 network's broadcast address", "Don't use the network's \".0\" address"); the kubernetes Service takes GetIndexedIP(serviceClusterIPRange, 1) — pkg/controlplane/services.go`
	// SourceSurge: the rolling update headroom.
	SourceSurge = `Deployment .spec.strategy.rollingUpdate.maxSurge: "The default value is 25%" — https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#max-surge`
)

// The figures of the report are the rule table's (rules.go: FlannelMaxNodes,
// TerwayDefaultMaxNodes, TerwayMaxNodes, BasicMaxNodes, DefaultRouteQuota,
// MaxRouteQuota, VSwitchReserved, DefaultCalicoBlock,
// DefaultPodSurgePercent, each with its source), and:
const (
	// capKubeletMaxPods is kubelet's default maxPods (SourceCalicoBlock:
	// "Default: 110").
	capKubeletMaxPods = 110
)

// Limit names, as in NodeLimit.Name (stable, for scripts).
const (
	LimitPodCIDR      = "pod-cidr"
	LimitRouteQuota   = "route-quota"
	LimitACK          = "ack-node-limit"
	LimitNodeVSwitch  = "node-vswitch-addresses"
	LimitPodVSwitches = "pod-vswitch-addresses"
)

// Capacity is what a plan gives (see ComputeCapacity).
type Capacity struct {
	// CNI is e.g. "flannel/alivpc", "terway/shared", "calico".
	CNI string `json:"cni"`
	// Edition is "pro" or "basic".
	Edition string `json:"edition"`
	// Pools is pods per node, per node pool.
	Pools []PoolCapacity `json:"pools"`
	// Pods is the pods the planned nodes hold against the workload.
	Pods PodTotals `json:"pods"`
	// PodsPerNodeRequired is plan.podsPerNode (0: not stated).
	PodsPerNodeRequired int `json:"pods_per_node_required,omitempty"`
	// NodesPlanned is the nodes of every pool; SurgeNodes the extra
	// nodes a pool upgrade adds (plan.surgeNodes).
	NodesPlanned int `json:"nodes_planned"`
	SurgeNodes   int `json:"surge_nodes"`
	// PodSurgePercent is plan.podSurgePercent (default 25).
	PodSurgePercent int `json:"pod_surge_percent"`
	// MaxNodes is the smallest MaxNodes of Limits; Binding names that
	// limit ("" when no limit could be computed).
	MaxNodes int    `json:"max_nodes"`
	Binding  string `json:"binding"`
	// Limits are the limits on the number of nodes, in a fixed order.
	Limits []NodeLimit `json:"node_limits"`
	// Services is what the Service CIDR holds; nil without one.
	Services *ServiceCapacity `json:"services,omitempty"`
	// VSwitches is the address use of every vSwitch, in file order.
	VSwitches []VSwitchCapacity `json:"vswitches"`
	// Zones sums VSwitches per zone, in order of first appearance.
	Zones []ZoneCapacity `json:"zones"`
	// Routes is the VPC route table's use.
	Routes RouteUse `json:"route_entries"`
	// Notes say what is modelled and what is not.
	Notes []string `json:"notes"`
}

// PoolCapacity is the pods a node of one pool can run.
type PoolCapacity struct {
	Name         string `json:"name"`
	VSwitch      string `json:"vswitch"`
	Zone         string `json:"zone"`
	Nodes        int    `json:"nodes"`
	InstanceType string `json:"instance_type"`
	// PodsPerNode is the figure; Formula shows how it is computed and
	// Source where the formula comes from.
	PodsPerNode int    `json:"pods_per_node"`
	Formula     string `json:"formula"`
	Source      string `json:"source"`
	// Unverified names the instance type figures no public source
	// confirmed (ack.InstanceType.UnverifiedText); "" when all are.
	Unverified string `json:"unverified,omitempty"`
	// JoinRefused says why ACK refuses the node (Terway's join rules,
	// ack.InstanceType.CanJoin); "" when it joins.
	JoinRefused string `json:"join_refused,omitempty"`
	// MeetsRequired is PodsPerNode ≥ plan.podsPerNode (true when no
	// requirement is stated).
	MeetsRequired bool `json:"meets_required"`
}

// PodTotals is the cluster's pods: what the planned nodes hold and what
// the workload (plan.podsPerNode on every node) needs, with the surge.
type PodTotals struct {
	// Capacity is Σ nodes × pods per node over the pools.
	Capacity int `json:"capacity"`
	// Planned is nodes × plan.podsPerNode, Surge its rolling-update
	// headroom (0 without a requirement).
	Planned int    `json:"planned"`
	Surge   int    `json:"surge"`
	Formula string `json:"formula"`
}

// NodeLimit is one limit on the number of nodes.
type NodeLimit struct {
	// Name is one of the Limit constants; Zone is set for a per-zone
	// limit (it then bounds the nodes of that zone only, and the
	// cluster-wide row of the same Name sums the zones).
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
	// What says the limit in words.
	What string `json:"what"`
	// MaxNodes is the most nodes the limit allows; Planned the nodes it
	// bounds (the cluster's, or the zone's).
	MaxNodes int `json:"max_nodes"`
	Planned  int `json:"planned"`
	// Raised is the limit after a quota increase on request (0: none).
	Raised  int    `json:"max_nodes_on_request,omitempty"`
	Formula string `json:"formula"`
	Source  string `json:"source"`
	// Binding marks the cluster-wide limit that binds first.
	Binding bool `json:"binding"`
}

// ServiceCapacity is what the Service CIDR holds.
type ServiceCapacity struct {
	CIDR string `json:"cidr"`
	// Allocatable is the ClusterIPs the apiserver can hand out; Available
	// leaves out the kubernetes Service's (the first address).
	Allocatable int    `json:"allocatable"`
	Available   int    `json:"available"`
	Required    int    `json:"required,omitempty"`
	Formula     string `json:"formula"`
	Source      string `json:"source"`
}

// VSwitchCapacity is one vSwitch's addresses and their planned use.
type VSwitchCapacity struct {
	Name string `json:"name"`
	Zone string `json:"zone"`
	CIDR string `json:"cidr"`
	// Role is "node", "pod", "node+pod" (Terway pods from a node
	// vSwitch) or "unused".
	Role string `json:"role"`
	// Usable is the addresses less Alibaba's four reserved ones.
	Usable int `json:"usable"`
	// Nodes and Pods are the addresses the planned nodes and pods take.
	Nodes int `json:"nodes"`
	Pods  int `json:"pods"`
	// Surge is the addresses a rolling update adds on top (surge pods,
	// surge nodes); Left and LeftAfterSurge what remains (negative: short).
	Surge          int `json:"surge"`
	Left           int `json:"left"`
	LeftAfterSurge int `json:"left_after_surge"`
	// Headroom says the surge in words, e.g. "+25% surge: 750 pods".
	Headroom string `json:"headroom"`
}

// ZoneCapacity sums one zone's vSwitches of one role: the node
// vSwitches, and with Terway the pod vSwitches (or "node+pod" ones: a
// zone without pod vSwitches), apart, since nodes cannot use the pods'
// addresses nor pods the nodes'.
type ZoneCapacity struct {
	Zone           string `json:"zone"`
	Role           string `json:"role"`
	Nodes          int    `json:"nodes"`
	Usable         int    `json:"usable"`
	Used           int    `json:"used"`
	Surge          int    `json:"surge"`
	Left           int    `json:"left"`
	LeftAfterSurge int    `json:"left_after_surge"`
}

// RouteUse is the VPC route table's custom entries: the plan's own and,
// for Flannel ali-vpc, one per node.
type RouteUse struct {
	Custom int `json:"custom"`
	// Nodes is the entries the nodes take (Flannel ali-vpc), surge
	// nodes included.
	Nodes int `json:"nodes"`
	Used  int `json:"used"`
	Quota int `json:"quota"`
	// QuotaOnRequest is the most the quota can be raised to.
	QuotaOnRequest int    `json:"quota_on_request"`
	Source         string `json:"source"`
}

// capPodsPerNode is the pods one node of the pool can run, with its formula
// and source.
func capPodsPerNode(p *Plan, pool Pool) PoolCapacity {
	pc := PoolCapacity{Name: pool.Name, VSwitch: pool.VSwitch, Nodes: pool.Nodes, InstanceType: pool.Type.Name, MeetsRequired: true}
	switch p.CNI.Mode {
	case "terway":
		m := p.TerwayENIMode()
		pc.Source = SourceTerwayShared
		if m == ack.ExclusiveENI {
			pc.Source = SourceTerwayExclusive
		}
		if pool.Type.Name == "" {
			// The loader reported the unknown type; nothing to compute.
			pc.Formula = "unknown instance type: no ENI figures"
			break
		}
		pc.PodsPerNode, pc.Formula = pool.Type.MaxPods(m), pool.Type.Formula(m)
		pc.Unverified = pool.Type.UnverifiedText()
		if ok, why := pool.Type.CanJoin(m); !ok {
			pc.JoinRefused = why
		}
	case "calico":
		// One IPAM block per node, as netsim builds it (topology/calico.go,
		// `netsim show`); kubelet's default --max-pods bounds a node too.
		b := capCalicoBlockOf(p)
		block := 1 << (32 - b)
		pc.PodsPerNode = min(block, capKubeletMaxPods)
		pc.Formula = fmt.Sprintf("one /%d IPAM block: 2^(32−%d) = %s", b, b, thousands(block))
		if block > capKubeletMaxPods {
			pc.Formula += fmt.Sprintf(", kubelet --max-pods %d binds: %d", capKubeletMaxPods, pc.PodsPerNode)
		}
		pc.Source = SourceCalicoBlock
	default: // flannel
		if p.NodeMask > 0 && p.Valid(p.NodeMaskPath) {
			pc.PodsPerNode, pc.Formula = ack.FlannelPodsPerNode(p.NodeMask), ack.FlannelFormula(p.NodeMask)
		} else {
			pc.Formula = "no valid node CIDR mask"
		}
		pc.Source = SourceFlannelMask
	}
	if p.PodsPerNode > 0 {
		pc.MeetsRequired = pc.PodsPerNode >= p.PodsPerNode
	}
	return pc
}

func capCalicoBlockOf(p *Plan) int {
	if p.CNI.CalicoBlock > 0 {
		return p.CNI.CalicoBlock
	}
	return DefaultCalicoBlock
}

// capUsable is a vSwitch's assignable addresses (UsableVSwitchAddresses),
// 0 for a CIDR that did not parse.
func capUsable(c netip.Prefix) int {
	if !c.IsValid() || !c.Addr().Is4() {
		return 0
	}
	return UsableVSwitchAddresses(c)
}

// PodCIDRNodes is the node subnets of /mask a pod CIDR of /prefix holds:
// 2^(mask−prefix); 0 when the mask is shorter than the prefix.
func PodCIDRNodes(prefix, mask int) int {
	if mask < prefix || prefix < 0 || mask > 32 {
		return 0
	}
	return 1 << (mask - prefix)
}

// capPercentOf is ⌈n × pct / 100⌉.
func capPercentOf(n, pct int) int {
	if n <= 0 || pct <= 0 {
		return 0
	}
	return int(math.Ceil(float64(n) * float64(pct) / 100))
}

// ComputeCapacity works out p's capacity: pods per node per pool, the
// limits on the number of nodes and the one that binds, the Services the
// Service CIDR holds, every vSwitch's address use with the rolling-update
// headroom, per zone, and the VPC route entries. It reads the plan's
// figures only; fields that did not parse (p.Invalid) are left out.
func ComputeCapacity(p *Plan) Capacity {
	c := Capacity{CNI: p.CNI.Mode, Edition: p.Edition, PodsPerNodeRequired: p.PodsPerNode, SurgeNodes: p.SurgeNodes, PodSurgePercent: p.PodSurgePercent}
	if c.Edition == "" {
		c.Edition = "pro"
	}
	// plan.podSurgePercent as the loader read it (25 when not written; 0
	// when written 0), as the rule terway-pod-vswitch-addresses counts it.
	if c.PodSurgePercent < 0 {
		c.PodSurgePercent = 0
	}
	switch {
	case p.CNI.Mode == "flannel" && p.CNI.Backend != "":
		c.CNI += "/" + p.CNI.Backend
	case p.CNI.Mode == "terway":
		c.CNI += "/" + string(p.TerwayENIMode())
	}
	zoneOf := map[string]string{}
	for _, sw := range p.VSwitches {
		zoneOf[sw.Name] = sw.Zone
	}
	zoneNodes := map[string]int{}
	var zones []string
	addZone := func(z string) {
		if !slices.Contains(zones, z) {
			zones = append(zones, z)
		}
	}
	for _, sw := range p.VSwitches {
		addZone(sw.Zone)
	}
	for _, pool := range p.Pools {
		pc := capPodsPerNode(p, pool)
		pc.Zone = zoneOf[pool.VSwitch]
		c.Pools = append(c.Pools, pc)
		c.NodesPlanned += pool.Nodes
		zoneNodes[pc.Zone] += pool.Nodes
	}

	c.vswitches(p, zones, zoneNodes)
	c.routes(p)
	c.limits(p, zones, zoneNodes)
	if p.ServiceCIDR.Prefix.IsValid() && p.Valid(p.ServiceCIDR.Path) {
		n := AllocatableClusterIPs(p.ServiceCIDR.Prefix)
		c.Services = &ServiceCapacity{
			CIDR: p.ServiceCIDR.Prefix.String(), Allocatable: n, Available: max(n-1, 0), Required: p.Services,
			Formula: fmt.Sprintf("2^(32−%d) − 2 = %s ClusterIPs (network and broadcast addresses excluded); the kubernetes Service takes the first: %s left", p.ServiceCIDR.Prefix.Bits(), thousands(n), thousands(max(n-1, 0))),
			Source:  SourceServiceCIDR,
		}
	}
	c.Notes = append(c.Notes,
		"modelled, not measured: every figure is computed from the plan and the published formulas; no cluster was asked",
		fmt.Sprintf("vSwitch usable addresses are the size less the %d Alibaba Cloud reserves (the first and the last three)", VSwitchReserved),
		fmt.Sprintf("surge: a rolling update starts %d%% more pods before it stops old ones; pools are upgraded one at a time, each adding %s in its vSwitch", c.PodSurgePercent, plural(p.SurgeNodes, "surge node", "surge nodes")),
	)
	switch p.CNI.Mode {
	case "terway":
		c.Notes = append(c.Notes, "Terway pods take pod vSwitch addresses: shared ENI one secondary IP per pod (each secondary ENI's addresses are all pods'), exclusive ENI one ENI address per pod; nodes take one node vSwitch address each (the primary ENI)",
			"pod vSwitch use is spread as Terway's default vswitch_selection_policy does: the vSwitch with the most free addresses first (terway pkg/vswitch/vswitch.go)",
			"kubelet maxPods does not bound Terway pods: it only affects hostNetwork pods (ACK adjusting-the-number-of-node-pods)")
		if p.PodsPerNode == 0 {
			c.Notes = append(c.Notes, "no plan.podsPerNode: each node is counted full, at its pod limit, in the pod vSwitches' use and their node limit (state the workload with plan.podsPerNode)")
		}
	case "calico":
		c.Notes = append(c.Notes, fmt.Sprintf("Calico is self-managed on ECS, not an ACK CNI option: no ACK node limit is modelled (ACK Basic's %s nodes still applies)", thousands(BasicMaxNodes)),
			"Calico pods per node is one IPAM block, as netsim builds it (IPIP and VXLAN take one address of it for the tunnel); real calico-ipam claims or borrows another block when one is full, and kubelet's default --max-pods 110 bounds a node; pods do not take vSwitch addresses")
	default:
		if !capAliVPC(p) {
			c.Notes = append(c.Notes, fmt.Sprintf("Flannel %s is self-managed on ECS, not an ACK CNI option: ACK installs Flannel in its VPC-route (ali-vpc) mode only, whose %s-node limit is the route table's %s entries, one per node; %s uses no route entries and no ACK node limit is modelled (ACK Basic's %s nodes still applies)",
				orPath(p.CNI.Backend, "(no backend)"), thousands(FlannelMaxNodes), thousands(MaxRouteQuota), orPath(p.CNI.Backend, "it"), thousands(BasicMaxNodes)))
		}
		c.Notes = append(c.Notes, "Flannel pods take addresses of the node's pod subnet, not of vSwitches: a node takes one node vSwitch address",
			"ACK quotes 2^(32−mask) − 1 pods per node; host-local IPAM also keeps the network address, cni0's .1 and the broadcast address, so a node runs up to 2^(32−mask) − 3 pods")
	}
	for _, pc := range c.Pools {
		if pc.Unverified != "" {
			c.Notes = append(c.Notes, fmt.Sprintf("pool %s: %s figures are %s: check DescribeInstanceTypes and override them in the scenario's instanceTypes", pc.Name, pc.InstanceType, pc.Unverified))
		}
	}
	c.podTotals()
	// Empty lists, not null, in JSON.
	if c.Pools == nil {
		c.Pools = []PoolCapacity{}
	}
	if c.Limits == nil {
		c.Limits = []NodeLimit{}
	}
	if c.VSwitches == nil {
		c.VSwitches = []VSwitchCapacity{}
	}
	if c.Zones == nil {
		c.Zones = []ZoneCapacity{}
	}
	return c
}

// podTotals fills Pods.
func (c *Capacity) podTotals() {
	var terms []string
	for _, pc := range c.Pools {
		c.Pods.Capacity += pc.Nodes * pc.PodsPerNode
		terms = append(terms, fmt.Sprintf("%s × %s", thousands(pc.Nodes), thousands(pc.PodsPerNode)))
	}
	if len(terms) == 0 {
		c.Pods.Formula = "no node pools"
		return
	}
	c.Pods.Formula = fmt.Sprintf("the nodes hold %s = %s pods", strings.Join(terms, " + "), thousands(c.Pods.Capacity))
	if c.PodsPerNodeRequired > 0 {
		c.Pods.Planned = c.NodesPlanned * c.PodsPerNodeRequired
		c.Pods.Surge = capPercentOf(c.Pods.Planned, c.PodSurgePercent)
		verdict := "fits"
		if c.Pods.Planned+c.Pods.Surge > c.Pods.Capacity {
			verdict = fmt.Sprintf("SHORT by %s", thousands(c.Pods.Planned+c.Pods.Surge-c.Pods.Capacity))
		}
		c.Pods.Formula += fmt.Sprintf("; the workload %s nodes × %s = %s pods, +%d%% surge: %s pods → %s: %s",
			thousands(c.NodesPlanned), thousands(c.PodsPerNodeRequired), thousands(c.Pods.Planned), c.PodSurgePercent, thousands(c.Pods.Surge), thousands(c.Pods.Planned+c.Pods.Surge), verdict)
	}
}

// vswitches fills VSwitches and Zones.
func (c *Capacity) vswitches(p *Plan, zones []string, zoneNodes map[string]int) {
	nodesIn := map[string]int{}
	podsPerNodeIn := map[string]int{} // node vSwitch → pods each node needs (worst case of its pools)
	for i, pool := range p.Pools {
		nodesIn[pool.VSwitch] += pool.Nodes
		podsPerNodeIn[pool.VSwitch] = max(podsPerNodeIn[pool.VSwitch], c.podDemand(c.Pools[i]))
	}
	terway := p.CNI.Mode == "terway"
	podSw := map[string]bool{}
	zoneNoPodSw := map[string]bool{}
	if terway {
		for _, names := range p.CNI.PodVSwitches {
			for _, n := range names {
				podSw[n] = true
			}
		}
		// A zone with nodes and no pod vSwitch: Terway gives pods
		// addresses from the primary ENI's vSwitch (facts §5).
		for _, z := range zones {
			has := false
			for _, sw := range p.VSwitches {
				if sw.Zone == z && podSw[sw.Name] {
					has = true
				}
			}
			if !has && zoneNodes[z] > 0 {
				zoneNoPodSw[z] = true
				c.Notes = append(c.Notes, fmt.Sprintf("zone %s has nodes but no pod vSwitch: Terway gives pods addresses from the node vSwitch (the primary ENI's)", z))
			}
		}
	}
	for _, sw := range p.VSwitches {
		vc := VSwitchCapacity{Name: sw.Name, Zone: sw.Zone, CIDR: sw.CIDR.String(), Usable: capUsable(sw.CIDR), Nodes: nodesIn[sw.Name]}
		isNode := nodesIn[sw.Name] > 0 || slices.ContainsFunc(p.Pools, func(pl Pool) bool { return pl.VSwitch == sw.Name })
		isPod := podSw[sw.Name] || (zoneNoPodSw[sw.Zone] && isNode)
		switch {
		case isNode && isPod:
			vc.Role = "node+pod"
		case isNode:
			vc.Role = "node"
		case isPod:
			vc.Role = "pod"
		default:
			vc.Role = "unused"
		}
		if isNode {
			vc.Surge = p.SurgeNodes
		}
		c.VSwitches = append(c.VSwitches, vc)
	}
	if terway {
		// Each zone's pods, spread over its pod vSwitches.
		for _, z := range zones {
			pods := 0
			for i, pool := range p.Pools {
				if c.Pools[i].Zone == z {
					pods += pool.Nodes * c.podDemand(c.Pools[i])
				}
			}
			surge := capPercentOf(pods, c.PodSurgePercent)
			var idx []int
			var free []int
			for i, vc := range c.VSwitches {
				if vc.Zone == z && (vc.Role == "pod" || vc.Role == "node+pod") {
					idx = append(idx, i)
					free = append(free, vc.Usable-vc.Nodes-vc.Surge)
				}
			}
			if len(idx) == 0 {
				continue
			}
			planned := capSpread(free, pods)
			withSurge := capSpread(free, pods+surge)
			for k, i := range idx {
				c.VSwitches[i].Pods = planned[k]
				c.VSwitches[i].Surge += withSurge[k] - planned[k]
			}
		}
	}
	for i := range c.VSwitches {
		vc := &c.VSwitches[i]
		vc.Left = vc.Usable - vc.Nodes - vc.Pods
		vc.LeftAfterSurge = vc.Left - vc.Surge
		vc.Headroom = c.headroom(p, vc)
	}
	for _, z := range zones {
		for _, role := range []string{"node", "pod", "node+pod"} {
			zc := ZoneCapacity{Zone: z, Role: role, Nodes: zoneNodes[z]}
			n := 0
			for _, vc := range c.VSwitches {
				if vc.Zone != z || vc.Role != role {
					continue
				}
				n++
				zc.Usable += vc.Usable
				zc.Used += vc.Nodes + vc.Pods
				zc.Surge += vc.Surge
			}
			if n == 0 {
				continue
			}
			zc.Left = zc.Usable - zc.Used
			zc.LeftAfterSurge = zc.Left - zc.Surge
			c.Zones = append(c.Zones, zc)
		}
	}
}

// headroom says a vSwitch's surge in words.
func (c *Capacity) headroom(p *Plan, vc *VSwitchCapacity) string {
	var parts []string
	if vc.Role == "pod" || vc.Role == "node+pod" {
		parts = append(parts, fmt.Sprintf("+%d%% surge: %s pods", c.PodSurgePercent, thousands(vc.Surge-c.surgeNodesIn(p, vc))))
	}
	if n := c.surgeNodesIn(p, vc); n > 0 {
		parts = append(parts, "+"+plural(n, "surge node", "surge nodes"))
	}
	if vc.Role == "unused" {
		return "not used by the plan"
	}
	if len(parts) == 0 {
		return "no surge nodes (plan.surgeNodes 0)"
	}
	return strings.Join(parts, ", ")
}

func (c *Capacity) surgeNodesIn(p *Plan, vc *VSwitchCapacity) int {
	if vc.Role == "node" || vc.Role == "node+pod" {
		return p.SurgeNodes
	}
	return 0
}

// podDemand is the pod addresses one node of the pool takes: the
// requirement when stated, else the node's limit (nodes filled up).
func (c *Capacity) podDemand(pc PoolCapacity) int {
	if c.PodsPerNodeRequired > 0 {
		return c.PodsPerNodeRequired
	}
	return pc.PodsPerNode
}

// capSpread gives demand addresses out of vSwitches with free addresses,
// the one with the most free first (Terway's default selection policy),
// which ends with the free counts as even as they can be; past the total
// the rest goes to the first vSwitch (its Left turns negative: short).
func capSpread(free []int, demand int) []int {
	out := make([]int, len(free))
	if demand <= 0 || len(free) == 0 {
		return out
	}
	total := 0
	for _, f := range free {
		total += max(f, 0)
	}
	if demand >= total {
		for i, f := range free {
			out[i] = max(f, 0)
		}
		out[0] += demand - total
		return out
	}
	// The level L down to which every vSwitch is filled: the lowest L
	// with Σ max(0, f − L) ≤ demand.
	take := func(l int) int {
		s := 0
		for _, f := range free {
			s += max(0, f-l)
		}
		return s
	}
	lo, hi := 0, slices.Max(free)
	for lo < hi {
		mid := (lo + hi) / 2
		if take(mid) <= demand {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	rest := demand - take(lo)
	for i, f := range free {
		out[i] = max(0, f-lo)
	}
	// The rest, one each, to the vSwitches still at level lo, in order.
	for i, f := range free {
		if rest == 0 {
			break
		}
		if f >= lo && lo > 0 {
			out[i]++
			rest--
		}
	}
	return out
}

// routes fills Routes.
func (c *Capacity) routes(p *Plan) {
	quota := p.RouteQuota
	if !p.RouteQuotaSet || quota <= 0 {
		quota = DefaultRouteQuota
	}
	c.Routes = RouteUse{Custom: len(p.Routes), Quota: quota, QuotaOnRequest: MaxRouteQuota, Source: SourceRouteQuota}
	if capAliVPC(p) {
		c.Routes.Nodes = c.NodesPlanned + p.SurgeNodes
	}
	c.Routes.Used = c.Routes.Custom + c.Routes.Nodes
}

func capAliVPC(p *Plan) bool { return p.CNI.Mode == "flannel" && p.CNI.Backend == "alivpc" }

// capRangesWithoutRoute counts the declared ranges no custom route entry
// already points at: each needs one (to the VPN gateway, the peering
// connection or the CEN).
func capRangesWithoutRoute(p *Plan) int {
	n := 0
	for _, r := range p.Ranges {
		if !slices.ContainsFunc(p.Routes, func(rt Route) bool { return rt.Destination == r.CIDR }) {
			n++
		}
	}
	return n
}

// limits fills Limits, MaxNodes and Binding.
func (c *Capacity) limits(p *Plan, zones []string, zoneNodes map[string]int) {
	planned := c.NodesPlanned + p.SurgeNodes
	add := func(l NodeLimit) {
		l.Planned = planned
		c.Limits = append(c.Limits, l)
	}
	// Pod CIDR ÷ node mask (Flannel), ÷ IPAM block (Calico).
	if p.CNI.Mode != "terway" && p.PodCIDR.Prefix.IsValid() && p.Valid(p.PodCIDR.Path) {
		pre := p.PodCIDR.Prefix.Bits()
		switch {
		case p.CNI.Mode == "calico":
			b := capCalicoBlockOf(p)
			n := PodCIDRNodes(pre, b)
			add(NodeLimit{Name: LimitPodCIDR, What: fmt.Sprintf("pod CIDR %s in /%d IPAM blocks, one per node at least", p.PodCIDR.Prefix, b), MaxNodes: n,
				Formula: fmt.Sprintf("2^(%d−%d) = %s", b, pre, thousands(n)), Source: SourceCalicoBlock})
		case p.NodeMask > 0 && p.Valid(p.NodeMaskPath):
			n := PodCIDRNodes(pre, p.NodeMask)
			add(NodeLimit{Name: LimitPodCIDR, What: fmt.Sprintf("pod CIDR %s in /%d node subnets", p.PodCIDR.Prefix, p.NodeMask), MaxNodes: n,
				Formula: fmt.Sprintf("2^(%d−%d) = %s", p.NodeMask, pre, thousands(n)), Source: SourcePodCIDR})
		}
	}
	// VPC route quota (Flannel ali-vpc: one entry per node).
	if capAliVPC(p) {
		r := capRangesWithoutRoute(p)
		n := max(c.Routes.Quota-c.Routes.Custom-r, 0)
		raised := max(MaxRouteQuota-c.Routes.Custom-r, 0)
		add(NodeLimit{Name: LimitRouteQuota, What: "VPC route entries, one per node", MaxNodes: n, Raised: raised,
			Formula: capRouteFormula(c.Routes.Quota, c.Routes.Custom, r, n, raised),
			Source:  SourceRouteQuota})
	}
	// ACK's per-CNI node limit.
	switch {
	case c.Edition == "basic":
		add(NodeLimit{Name: LimitACK, What: "ACK Basic cluster", MaxNodes: BasicMaxNodes, Formula: fmt.Sprintf("ACK Basic: %s nodes", thousands(BasicMaxNodes)), Source: SourceACKNodes})
	case p.CNI.Mode == "terway":
		add(NodeLimit{Name: LimitACK, What: "ACK Pro with Terway", MaxNodes: TerwayDefaultMaxNodes, Raised: TerwayMaxNodes,
			Formula: fmt.Sprintf("ACK Pro, Terway: %s nodes (%s on request)", thousands(TerwayDefaultMaxNodes), thousands(TerwayMaxNodes)), Source: SourceACKNodes})
	case capAliVPC(p):
		// ACK installs Flannel in its VPC-route mode only; the 1,000 nodes
		// are the route table's 1,000 entries, one per node (facts §1.11,
		// §3.3). VXLAN, host-gw, udp and Calico are self-managed: no ACK
		// node limit is modelled for them.
		add(NodeLimit{Name: LimitACK, What: "ACK Pro with Flannel", MaxNodes: FlannelMaxNodes,
			Formula: fmt.Sprintf("ACK Pro, Flannel: %s nodes", thousands(FlannelMaxNodes)), Source: SourceACKNodes})
	}
	// Node vSwitch addresses, one per node, per zone.
	c.zoneLimits(p, zones, zoneNodes, LimitNodeVSwitch, func(vc VSwitchCapacity) bool { return vc.Role == "node" || vc.Role == "node+pod" },
		func(z string, capUsable int) (int, string) {
			return capUsable, fmt.Sprintf("%s usable node vSwitch addresses ÷ 1 per node = %s", thousands(capUsable), thousands(capUsable))
		})
	// Terway: pod vSwitch addresses ÷ pods per node, per zone.
	if p.CNI.Mode == "terway" {
		c.zoneLimits(p, zones, zoneNodes, LimitPodVSwitches, func(vc VSwitchCapacity) bool { return vc.Role == "pod" || vc.Role == "node+pod" },
			func(z string, capUsable int) (int, string) {
				per := 0
				for _, pc := range c.Pools {
					if pc.Zone == z {
						per = max(per, c.podDemand(pc))
					}
				}
				if per == 0 {
					return -1, ""
				}
				what := "pods per node"
				if c.PodsPerNodeRequired > 0 {
					what = "plan.podsPerNode"
				}
				// The rule terway-pod-vswitch-addresses and the suggester
				// count the rolling-update surge: a zone's n nodes need
				// n × per + ⌈n × per × surge%⌉ pod addresses. A zone
				// without pod vSwitch gives pods its node vSwitch's
				// addresses (facts §5), after one per node.
				nodeAddr, src := 0, "usable pod vSwitch addresses"
				if c.zoneFallsBack(z) {
					nodeAddr, src = 1, "usable node vSwitch addresses (no pod vSwitch: Terway falls back to it)"
				}
				n := capMaxNodesWithSurge(capUsable, nodeAddr, per, c.PodSurgePercent)
				plain := capUsable / (per + nodeAddr)
				perText := fmt.Sprintf("(%s %s + %d%% surge)", thousands(per), what, c.PodSurgePercent)
				if nodeAddr > 0 {
					perText = fmt.Sprintf("(1 node address + %s %s + %d%% surge)", thousands(per), what, c.PodSurgePercent)
				}
				return n, fmt.Sprintf("%s %s ÷ %s per node = %s (%s without the surge)", thousands(capUsable), src, perText, thousands(n), thousands(plain))
			})
	}
	best := -1
	for i, l := range c.Limits {
		if l.Zone != "" {
			continue
		}
		if best < 0 || l.MaxNodes < c.Limits[best].MaxNodes {
			best = i
		}
	}
	if best >= 0 {
		c.Limits[best].Binding = true
		c.MaxNodes, c.Binding = c.Limits[best].MaxNodes, c.Limits[best].Name
	}
}

// zoneLimits adds one per-zone limit row for each zone with matching
// vSwitches, and a cluster-wide row summing them.
func (c *Capacity) zoneLimits(p *Plan, zones []string, zoneNodes map[string]int, name string, match func(VSwitchCapacity) bool, capLimit func(zone string, capUsable int) (int, string)) {
	total, rows := 0, 0
	var parts []string
	first := len(c.Limits)
	for _, z := range zones {
		u, any := 0, false
		for _, vc := range c.VSwitches {
			if vc.Zone == z && match(vc) {
				u += vc.Usable
				any = true
			}
		}
		if !any {
			continue
		}
		n, formula := capLimit(z, u)
		if n < 0 {
			continue
		}
		surge := 0
		if zoneNodes[z] > 0 {
			surge = p.SurgeNodes
		}
		what := capLimitWhat(name) + " in zone " + z
		if name == LimitPodVSwitches && c.zoneFallsBack(z) {
			what = "pods on the node vSwitch in zone " + z
		}
		c.Limits = append(c.Limits, NodeLimit{Name: name, Zone: z, What: what, MaxNodes: n, Planned: zoneNodes[z] + surge,
			Formula: formula, Source: SourceVSwitchReserved})
		total += n
		rows++
		parts = append(parts, thousands(n))
	}
	if rows == 0 {
		return
	}
	if rows == 1 {
		// One zone: its row is the cluster's.
		c.Limits[first].Zone = ""
		return
	}
	c.Limits = append(c.Limits, NodeLimit{Name: name, What: capLimitWhat(name) + ", all zones", MaxNodes: total, Planned: c.NodesPlanned + p.SurgeNodes,
		Formula: fmt.Sprintf("%s = %s (each zone bounds its own nodes)", strings.Join(parts, " + "), thousands(total)), Source: SourceVSwitchReserved})
}

// zoneFallsBack reports whether zone z's pods take node vSwitch addresses
// (a Terway zone with nodes and no pod vSwitch).
func (c *Capacity) zoneFallsBack(z string) bool {
	return slices.ContainsFunc(c.VSwitches, func(vc VSwitchCapacity) bool { return vc.Zone == z && vc.Role == "node+pod" })
}

// capMaxNodesWithSurge is the most nodes n whose addresses fit in usable:
// n × nodeAddr (the nodes' own, when they share the vSwitch) + n × per
// pods + ⌈n × per × pct / 100⌉ surge pods — the count the rule
// terway-pod-vswitch-addresses checks.
func capMaxNodesWithSurge(usable, nodeAddr, per, pct int) int {
	if usable <= 0 || per+nodeAddr <= 0 {
		return 0
	}
	need := func(n int) int { return n*(per+nodeAddr) + capPercentOf(n*per, pct) }
	n := usable * 100 / (nodeAddr*100 + per*(100+pct))
	for n > 0 && need(n) > usable {
		n--
	}
	for need(n+1) <= usable {
		n++
	}
	return n
}

// capRouteFormula is the route quota limit's formula.
func capRouteFormula(quota, custom, ranges, n, raised int) string {
	s := fmt.Sprintf("quota %s − %s custom entries − %s declared ranges = %s", thousands(quota), thousands(custom), thousands(ranges), thousands(n))
	if quota < MaxRouteQuota {
		s += fmt.Sprintf(" (quota %s on request: %s)", thousands(MaxRouteQuota), thousands(raised))
	} else {
		s += " (the most ACK grants on request)"
	}
	return s
}

// capACKCNI reports whether ACK offers the plan's CNI: Terway, or Flannel
// in its VPC-route (ali-vpc) mode. Flannel VXLAN, host-gw and udp and
// Calico are self-managed on ECS ("not an ACK CNI option").
func capACKCNI(cni string) bool {
	return strings.HasPrefix(cni, "terway") || cni == "flannel/alivpc"
}

// Heading says the CNI and who runs it, e.g. "terway/shared, ACK Pro"
// or "flannel/vxlan, self-managed: not an ACK CNI option, no ACK node
// limit modelled".
func (c Capacity) Heading() string {
	if capACKCNI(c.CNI) {
		return fmt.Sprintf("%s, ACK %s", c.CNI, capEditionName(c.Edition))
	}
	s := c.CNI + ", self-managed: not an ACK CNI option, no ACK node limit modelled"
	if c.Edition == "basic" {
		s += fmt.Sprintf(" beyond ACK Basic's %s nodes", thousands(BasicMaxNodes))
	}
	return s
}

func capLimitWhat(name string) string {
	if name == LimitPodVSwitches {
		return "pod vSwitch addresses"
	}
	return "node vSwitch addresses"
}

// WriteCapacity prints c as tables for people: pods per node, the node
// limits (the binding one marked), Services, vSwitches, zones, route
// entries, then the sources (numbered, as the tables cite them) and the
// notes.
func WriteCapacity(w io.Writer, c Capacity) error {
	ew := &capWriter{w: w}
	src := &capFootnotes{}
	ew.printf("Capacity (%s) — modelled from the plan, not measured\n", c.Heading())

	ew.printf("\nPods per node\n")
	tw := ew.table()
	req := "—"
	if c.PodsPerNodeRequired > 0 {
		req = thousands(c.PodsPerNodeRequired)
	}
	fmt.Fprintf(tw, "  POOL\tZONE\tVSWITCH\tNODES\tINSTANCE TYPE\tPODS/NODE\tREQUIRED\tFORMULA\tSOURCE\n")
	for _, pc := range c.Pools {
		verdict := req
		if c.PodsPerNodeRequired > 0 {
			verdict += map[bool]string{true: " ok", false: " SHORT"}[pc.MeetsRequired]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pc.Name, capDash(pc.Zone), pc.VSwitch, thousands(pc.Nodes), capDash(pc.InstanceType), thousands(pc.PodsPerNode), verdict, pc.Formula, src.ref(pc.Source))
	}
	ew.flush(tw)
	ew.printf("  %s\n", c.Pods.Formula)
	for _, pc := range c.Pools {
		if pc.JoinRefused != "" {
			ew.printf("  pool %s: ACK refuses the node: %s\n", pc.Name, pc.JoinRefused)
		}
		if pc.Unverified != "" {
			ew.printf("  pool %s: %s figures %s\n", pc.Name, pc.InstanceType, pc.Unverified)
		}
	}

	ew.printf("\nMaximum nodes: %s (planned %s", capCountOrNone(c.MaxNodes, c.Binding), thousands(c.NodesPlanned))
	if c.SurgeNodes > 0 {
		ew.printf(" + %s surge", thousands(c.SurgeNodes))
	}
	ew.printf(")\n")
	tw = ew.table()
	fmt.Fprintf(tw, "  LIMIT\tZONE\tMAX NODES\tPLANNED\tFORMULA\tSOURCE\n")
	for _, l := range c.Limits {
		mark := ""
		switch {
		case l.Binding:
			mark = "  ← binds"
		case l.Planned > l.MaxNodes:
			mark = "  ← exceeded"
		}
		if l.Binding && l.Planned > l.MaxNodes {
			mark = "  ← binds, exceeded"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s%s\n", l.What, capDash(l.Zone), thousands(l.MaxNodes), thousands(l.Planned), l.Formula, src.ref(l.Source), mark)
	}
	ew.flush(tw)

	if s := c.Services; s != nil {
		ew.printf("\nServices: %s holds %s ClusterIPs, %s after the kubernetes Service", s.CIDR, thousands(s.Allocatable), thousands(s.Available))
		if s.Required > 0 {
			verdict := "ok"
			if s.Required > s.Available {
				verdict = "SHORT"
			}
			ew.printf("; plan.services %s: %s", thousands(s.Required), verdict)
		}
		ew.printf(" %s\n  %s\n", src.ref(s.Source), s.Formula)
	}

	ew.printf("\nAddresses per vSwitch (usable = size − %d reserved %s)\n", VSwitchReserved, src.ref(SourceVSwitchReserved))
	tw = ew.table()
	fmt.Fprintf(tw, "  VSWITCH\tZONE\tCIDR\tROLE\tUSABLE\tNODES\tPODS\tLEFT\tHEADROOM\tLEFT AFTER SURGE\n")
	for _, vc := range c.VSwitches {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", vc.Name, vc.Zone, vc.CIDR, vc.Role, thousands(vc.Usable), thousands(vc.Nodes), thousands(vc.Pods), capShort(vc.Left), vc.Headroom, capShort(vc.LeftAfterSurge))
	}
	ew.flush(tw)
	ew.printf("\nPer zone (node and pod vSwitches apart)\n")
	tw = ew.table()
	fmt.Fprintf(tw, "  ZONE\tVSWITCHES\tNODES\tUSABLE\tUSED\tLEFT\tSURGE\tLEFT AFTER SURGE\n")
	for _, z := range c.Zones {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", z.Zone, z.Role, thousands(z.Nodes), thousands(z.Usable), thousands(z.Used), capShort(z.Left), thousands(z.Surge), capShort(z.LeftAfterSurge))
	}
	ew.flush(tw)

	r := c.Routes
	ew.printf("\nVPC route entries: %s used of %s (%s custom", thousands(r.Used), thousands(r.Quota), thousands(r.Custom))
	if r.Nodes > 0 {
		ew.printf(" + %s nodes, one each", thousands(r.Nodes))
	}
	if r.Quota < r.QuotaOnRequest {
		ew.printf("); the quota can be raised to %s on request %s\n", thousands(r.QuotaOnRequest), src.ref(r.Source))
	} else {
		ew.printf("); the quota is at the most ACK grants on request %s\n", src.ref(r.Source))
	}
	if r.Used > r.Quota {
		if r.Quota < r.QuotaOnRequest {
			ew.printf("  over the quota by %s: raise it or plan fewer nodes\n", thousands(r.Used-r.Quota))
		} else {
			ew.printf("  over the quota by %s: plan fewer nodes or use Terway (no route entry per node)\n", thousands(r.Used-r.Quota))
		}
	}

	ew.printf("\nSources\n")
	for i, s := range src.list {
		ew.printf("  [%d] %s\n", i+1, s)
	}
	ew.printf("\nNotes\n")
	for _, n := range c.Notes {
		ew.printf("  - %s\n", n)
	}
	return ew.err
}

func capEditionName(e string) string {
	if e == "basic" {
		return "Basic"
	}
	return "Pro"
}

func capDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func capCountOrNone(n int, binding string) string {
	if binding == "" {
		return "no limit computed"
	}
	return fmt.Sprintf("%s, bound by %s", thousands(n), binding)
}

// capShort prints a count, "SHORT by n" when negative.
func capShort(n int) string {
	if n < 0 {
		return fmt.Sprintf("SHORT by %s", thousands(-n))
	}
	return thousands(n)
}

// capFootnotes numbers sources in the order the tables cite them.
type capFootnotes struct{ list []string }

func (f *capFootnotes) ref(s string) string {
	if s == "" {
		return ""
	}
	i := slices.Index(f.list, s)
	if i < 0 {
		f.list = append(f.list, s)
		i = len(f.list) - 1
	}
	return fmt.Sprintf("[%d]", i+1)
}

// capWriter keeps the first write error.
type capWriter struct {
	w   io.Writer
	err error
}

func (e *capWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *capWriter) table() *tabwriter.Writer {
	return tabwriter.NewWriter(e, 0, 0, 2, ' ', 0)
}

func (e *capWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *capWriter) flush(tw *tabwriter.Writer) {
	if err := tw.Flush(); err != nil && e.err == nil {
		e.err = err
	}
}
