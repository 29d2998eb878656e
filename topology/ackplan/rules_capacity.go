package ackplan

import (
	"fmt"
	"net/netip"
	"strings"

	"netsim/topology/ack"
)

// Field paths of the plan block's scalar requirements.
const (
	PathPodsPerNode = "plan.podsPerNode"
	PathServices    = "plan.services"
	PathSurgeNodes  = "plan.surgeNodes"
	PathEdition     = "plan.edition"
)

// nodesPath is where a pool's node count is written: plan.nodePools[i].nodes,
// or the first node of a pool made of a scenario's nodes.
func (pool Pool) nodesPath() string {
	if pool.FirstNode != "" {
		return pool.Path
	}
	return pool.Path + ".nodes"
}

// crossing returns the pool at which the running node count passes limit
// (the last pool when only the surge nodes pass it).
func (p *Plan) crossing(limit int) Pool {
	n := 0
	for _, pool := range p.Pools {
		if n += pool.Nodes; n > limit {
			return pool
		}
	}
	return p.Pools[len(p.Pools)-1]
}

// AllocatableClusterIPs is the ClusterIPs Kubernetes hands out from a
// Service CIDR /N: 2^(32−N) − 2. kube-apiserver's allocator skips the
// network address ("Don't use the network's \".0\" address") and, in
// IPv4, the broadcast address ("Don't use the IPv4 network's broadcast
// address") — kubernetes pkg/registry/core/service/ipallocator/bitmap.go
// New, and ipallocator.go hostsPerNetwork "IPv4: 2^x – 2". The first of
// them is the kubernetes Service's (the default/kubernetes ClusterIP).
func AllocatableClusterIPs(p netip.Prefix) int { return max(Size(p)-2, 0) }

// TerwayENIMode is the plan's Terway ENI mode as package ack names it.
func (p *Plan) TerwayENIMode() ack.ENIMode {
	if p.CNI.ENIMode == string(ack.ExclusiveENI) {
		return ack.ExclusiveENI
	}
	return ack.SharedENI
}

var capacityRules = []Rule{
	{
		ID:    "pod-cidr-nodes",
		Title: "the pod CIDR holds a node subnet for every planned node and surge node",
		// Error when the planned nodes do not fit: the pod CIDR cannot be
		// changed after creation and a node without a subnet gets no pods.
		// Warning when only the surge nodes of an upgrade do not fit.
		Source:  srcComparison + ` — Flannel: "ACK evenly divides the pod CIDR block and allocates one subnet to each node based on a subnet mask" (` + srcWorkWithFlannel + `); max nodes = 2^(node mask − pod CIDR mask) (ack-cni-facts §5); the pod CIDR "can't be expanded" (§1.11)`,
		Kinds:   []Severity{Error, Warning},
		Scope:   "Flannel and Calico plans with a pod CIDR",
		Applies: podCIDRRule,
		Check: func(p *Plan, r *Reporter) {
			mask, pod := p.NodeMask, p.PodCIDR
			if !p.ok(pod) || !p.Valid(p.NodeMaskPath) || mask <= pod.Prefix.Bits() || mask > 32 || len(p.Pools) == 0 {
				return
			}
			n := uint64(1) << (mask - pod.Prefix.Bits())
			nodes := p.TotalNodes()
			switch {
			case n < uint64(nodes):
				r.Errorf(pod.Path, "%s holds %s node subnets of /%d, but there are %s nodes: use a larger pod CIDR or a longer nodeCIDRMask (%s)", pod.Prefix, thousands(int(min(n, 1<<40))), mask, thousands(nodes), subnetFix(p, nodes))
			case n < uint64(nodes+p.SurgeNodes):
				r.Warnf(pod.Path, "%s holds %s node subnets of /%d: the %s fit, but not the %s a node pool upgrade adds (%s in all): the surge nodes get no pod subnet; use a larger pod CIDR or a longer nodeCIDRMask (%s; the pod CIDR cannot be changed after the cluster is created)",
					pod.Prefix, thousands(int(min(n, 1<<40))), mask, plural(nodes, "node", "nodes"), plural(p.SurgeNodes, "surge node", "surge nodes"), thousands(nodes+p.SurgeNodes), subnetFix(p, nodes+p.SurgeNodes))
			}
		},
	},
	{
		ID:    "node-limit",
		Title: "the cluster's nodes are within ACK's limit for its CNI and edition",
		// Error above the limit ACK cannot raise (Flannel 1,000, Terway
		// 15,000, ACK Basic 10); Warning above Terway's default 5,000,
		// which a quota request raises. Calico is not an ACK CNI: no ACK
		// limit is modelled for it.
		Source: srcComparison + ` — maximum nodes, ACK Pro: Terway "15,000" (5,000 by default), Flannel "1,000"; ACK Basic: 10 nodes (ack-cni-facts §1.11, §5). ACK installs Flannel only in its VPC-route mode, ali-vpc (§3.3): Flannel vxlan/host-gw/udp and Calico are not ACK CNI options, no ACK node limit is modelled for them`,
		Kinds:  []Severity{Error, Warning},
		// ACK installs Flannel only in its VPC-route mode (ali-vpc,
		// ack-cni-facts §3.3), and Flannel's 1,000 nodes are the route
		// table's 1,000 entries; Flannel vxlan / host-gw / udp and Calico
		// are self-managed on ECS, with no ACK node limit.
		// ACK Basic's 10 nodes are the edition's, whatever the CNI: they
		// apply to those plans too, as in the capacity report.
		Scope: "ACK's own CNIs, Flannel ali-vpc and Terway, and every plan on ACK Basic, with node pools; Flannel vxlan/host-gw/udp and Calico on ACK Pro are not ACK CNI options: no ACK node limit modelled",
		Applies: func(p *Plan) bool {
			return (p.FlannelAliVPC() || p.CNI.Mode == "terway" || p.edition() == "basic") && len(p.Pools) > 0
		},
		Check: func(p *Plan, r *Reporter) {
			nodes := p.TotalNodes()
			total := nodes + p.SurgeNodes
			surge := ""
			if p.SurgeNodes > 0 {
				surge = fmt.Sprintf(" (%s planned + %s surge)", thousands(nodes), thousands(p.SurgeNodes))
			}
			if p.edition() == "basic" {
				if total > BasicMaxNodes {
					r.Errorf(p.crossing(BasicMaxNodes).nodesPath(), "%s nodes%s are more than ACK Basic's %d: use ACK Pro (plan.edition: pro)", thousands(total), surge, BasicMaxNodes)
				}
				return
			}
			switch {
			case p.CNI.Mode == "flannel" && total > FlannelMaxNodes:
				r.Errorf(p.crossing(FlannelMaxNodes).nodesPath(), "%s nodes%s are more than ACK Pro allows with Flannel (%s: one VPC route entry per node, and the route quota goes up to %s on request): use Terway, or split the workload over clusters",
					thousands(total), surge, thousands(FlannelMaxNodes), thousands(MaxRouteQuota))
			case p.CNI.Mode == "terway" && total > TerwayMaxNodes:
				r.Errorf(p.crossing(TerwayMaxNodes).nodesPath(), "%s nodes%s are more than ACK Pro allows with Terway (%s, the most a quota request raises it to): split the workload over clusters",
					thousands(total), surge, thousands(TerwayMaxNodes))
			case p.CNI.Mode == "terway" && total > TerwayDefaultMaxNodes:
				r.Warnf(p.crossing(TerwayDefaultMaxNodes).nodesPath(), "%s nodes%s are more than ACK Pro's default %s with Terway: the cluster needs a quota request (up to %s) before it grows past %s nodes",
					thousands(total), surge, thousands(TerwayDefaultMaxNodes), thousands(TerwayMaxNodes), thousands(TerwayDefaultMaxNodes))
			}
		},
	},
	{
		ID:    "pods-per-node",
		Title: "a node holds plan.podsPerNode pods and, with Terway, may join the cluster",
		// Error: a Terway node that fails ACK's join rule is refused; a
		// node that cannot hold the planned pods leaves them Pending from
		// the first day (the node CIDR mask and the instance type are
		// chosen before the nodes exist).
		Source:  srcTerraformACK + ` — Flannel node_cidr_mask: "24 means 2^(32-24)-1=255 and the node can run at most 255 pods"; Terway (` + srcNodePods + `): shared ENI "(EniQuantity − 1) × EniPrivateIpAddressQuantity" (terway pkg/aliyun/client/limit.go MultiIPPod), exclusive ENI EniQuantity − 1 (ExclusiveENIPod), "A node can join a cluster only if the maximum number of pods per node is greater than 11"; exclusive ENI: "A worker node must have more than six ENIs" (configure-a-node-pool-level-container-network). Calico: netsim gives a node one IPAM block; Calico borrows more, so no per-node limit is modelled`,
		Kinds:   []Severity{Error},
		Scope:   "Flannel and Terway plans",
		Applies: func(p *Plan) bool { return p.CNI.Mode == "flannel" || p.CNI.Mode == "terway" },
		Check: func(p *Plan, r *Reporter) {
			need := p.PodsPerNode
			if p.CNI.Mode == "flannel" {
				mask := p.NodeMask
				if need <= 0 || !p.Valid(p.NodeMaskPath) || mask < MinNodeMask || mask > MaxNodeMask {
					return
				}
				if have := ack.FlannelPodsPerNode(mask); need > have {
					fix := fmt.Sprintf("ACK's largest node CIDR, /%d, holds %s: lower podsPerNode, or use Terway (pods per node from the instance type)", MinNodeMask, ack.FlannelFormula(MinNodeMask))
					if mask == MinNodeMask {
						fix = fmt.Sprintf("/%d is ACK's largest node CIDR: lower podsPerNode to %d or fewer, or use Terway (pods per node from the instance type)", MinNodeMask, have)
					} else if m := longestNodeMask(need); m >= MinNodeMask {
						fix = fmt.Sprintf("use nodeCIDRMask /%d (%s)", m, ack.FlannelFormula(m))
					}
					r.Errorf(PathPodsPerNode, "%s pods per node do not fit a Flannel node CIDR /%d, which holds %s pods: %s",
						thousands(need), mask, ack.FlannelFormula(mask), fix)
				}
				return
			}
			mode := p.TerwayENIMode()
			for i, pool := range p.joinPools() {
				planned := i < len(p.Pools)
				t := pool.Type
				if t.Name == "" {
					continue
				}
				if ok, why := t.CanJoin(mode); !ok {
					def := ""
					if pool.TypeDefault {
						def = " (the default instance type: the node names none)"
						if pool.FirstNode == "" {
							def = " (the default instance type: the pool names none)"
						}
					}
					r.Errorf(pool.TypePath, "%s cannot join the cluster: %s%s%s", pool.what(), why, def, suggestType(p.Catalog, t, mode, 0))
					continue
				}
				if have := t.MaxPods(mode); planned && need > have {
					fix := suggestType(p.Catalog, t, mode, need)
					if fix == "" {
						fix = ": use an instance type with more ENIs or more addresses per ENI (add it under instanceTypes:)"
					}
					r.Errorf(pool.TypePath, "%s: %s holds %s pods in %s ENI mode (%s), but plan.podsPerNode is %s%s, or plan more nodes with fewer pods each",
						pool.what(), t.Name, thousands(have), mode, t.Formula(mode), thousands(need), fix)
				}
			}
		},
	},
	{
		ID:    "services-capacity",
		Title: "the Service CIDR holds plan.services ClusterIPs",
		// Error: the Service CIDR cannot be changed after creation, and
		// a Service beyond its last address is refused ("range is full").
		Source: `kubernetes pkg/registry/core/service/ipallocator/bitmap.go New — IPv4: "Don't use the IPv4 network's broadcast address" and "Don't use the network's \".0\" address", so a /N holds 2^(32−N) − 2 ClusterIPs, the first taken by the kubernetes Service; ACK: the Service CIDR cannot be changed after creation (ack-cni-facts §5)`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			c := p.ServiceCIDR
			if p.Services <= 0 || !p.ok(c) {
				return
			}
			alloc := AllocatableClusterIPs(c.Prefix)
			if free := alloc - 1; p.Services > free {
				fix := fmt.Sprintf("ACK's largest Service CIDR, a /%d, holds %s", MinServiceMask, thousands(max(1<<(32-MinServiceMask)-3, 0)))
				for m := MaxServiceMask; m >= MinServiceMask; m-- {
					if 1<<(32-m)-3 >= p.Services {
						fix = fmt.Sprintf("use a /%d Service CIDR (%s ClusterIPs besides the kubernetes Service's)", m, thousands(1<<(32-m)-3))
						break
					}
				}
				r.Errorf(c.Path, "%s Services need %s ClusterIPs, but %s has %s allocatable (2^(32−%d) − 2: Kubernetes skips the network and broadcast addresses), one of them the kubernetes Service's: %s; the Service CIDR cannot be changed after the cluster is created (headless Services take no ClusterIP)",
					thousands(p.Services), thousands(p.Services), c.Prefix, thousands(alloc), c.Prefix.Bits(), fix)
			}
		},
	},
	{
		ID:    "node-vswitch-addresses",
		Title: "each node vSwitch has an address for every node planned in it and the surge nodes",
		// Error when the planned nodes do not fit (the node pool cannot
		// create them: no address left in the vSwitch); Warning when only
		// the surge nodes of an upgrade do not. With Terway shared ENI the
		// secondary ENIs' addresses come from the pod vSwitches, so a node
		// takes one address of its vSwitch (its primary ENI's).
		Source: srcCreateVSwitch + ` — "The first IP address and last three IP addresses of each vSwitch CIDR block are reserved." (so a /N has 2^(32−N) − 4 usable addresses); a node's primary ENI takes one (Terway: "Terway does not manage the primary ENI", pod addresses come from the pod vSwitches, ack-cni-facts §1.7)`,
		Kinds:  []Severity{Error, Warning},
		Check: func(p *Plan, r *Reporter) {
			for _, sw := range p.VSwitches {
				if !p.cidrOK(sw) {
					continue
				}
				nodes := 0
				for _, pool := range p.Pools {
					if pool.VSwitch == sw.Name {
						nodes += pool.Nodes
					}
				}
				if nodes == 0 {
					continue
				}
				usable := UsableVSwitchAddresses(sw.CIDR)
				switch {
				case nodes > usable:
					r.Errorf(sw.Path+".cidr", "vSwitch %q (%s) has %s usable addresses (%s minus the %d Alibaba Cloud reserves), but %s planned in it: use a larger vSwitch (at least /%d) or spread the nodes over more vSwitches",
						sw.Name, sw.CIDR, thousands(usable), thousands(Size(sw.CIDR)), VSwitchReserved, plural(nodes, "node is", "nodes are"), vswitchMaskFor(nodes))
				case nodes+p.SurgeNodes > usable:
					r.Warnf(sw.Path+".cidr", "vSwitch %q (%s) has %s usable addresses: its %s fit, but not the %s a node pool upgrade adds: the upgrade fails for want of an address; use a larger vSwitch (at least /%d) or add a vSwitch to the node pool",
						sw.Name, sw.CIDR, thousands(usable), plural(nodes, "node", "nodes"), plural(p.SurgeNodes, "surge node", "surge nodes"), vswitchMaskFor(nodes+p.SurgeNodes))
				}
			}
		},
	},
}

// longestNodeMask is the longest node CIDR mask whose node holds need
// pods (ACK's 2^(32−mask) − 1), or 0 if none from /0.
func longestNodeMask(need int) int {
	for m := MaxNodeMask; m >= 0; m-- {
		if ack.FlannelPodsPerNode(m) >= need {
			return m
		}
	}
	return 0
}

// vswitchMaskFor is the longest vSwitch mask with n usable addresses
// (not shorter than /16, the shortest a vSwitch takes).
func vswitchMaskFor(n int) int {
	for m := MaxVSwitchMask; m > MinVSwitchMask; m-- {
		if 1<<(32-m)-VSwitchReserved >= n {
			return m
		}
	}
	return MinVSwitchMask
}

// suggestType names the smallest type of t's family in the catalog that
// joins in mode m and holds need pods, as "; the smallest ecs.g6 type that
// joins is ecs.g6.xlarge (…)", or "".
func suggestType(c *ack.Catalog, t ack.InstanceType, m ack.ENIMode, need int) string {
	family := instanceFamily(t.Name)
	var best ack.InstanceType
	for _, name := range c.Names() {
		o, _ := c.Lookup(name)
		if instanceFamily(name) != family || name == t.Name {
			continue
		}
		if ok, _ := o.CanJoin(m); !ok || o.MaxPods(m) < need {
			continue
		}
		if best.Name == "" || o.MaxPods(m) < best.MaxPods(m) {
			best = o
		}
	}
	if best.Name == "" {
		return ""
	}
	if need > 0 {
		return fmt.Sprintf(": the smallest %s type that holds them is %s (%s)", family, best.Name, best.Formula(m))
	}
	return fmt.Sprintf("; the smallest %s type that joins is %s (%s)", family, best.Name, best.Formula(m))
}

// instanceFamily is "ecs.g7" for "ecs.g7.xlarge".
func instanceFamily(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// subnetFix says, for nodes node subnets, the pod CIDR mask that holds
// them with the plan's node mask and, when one exists in range, the
// node mask that fits them in the plan's pod CIDR.
func subnetFix(p *Plan, nodes int) string {
	mask, pod := p.NodeMask, p.PodCIDR.Prefix
	bits := 0 // subnet bits needed: 2^bits >= nodes
	for 1<<bits < nodes {
		bits++
	}
	parts := []string{}
	if m := mask - bits; m >= 0 {
		parts = append(parts, fmt.Sprintf("%s nodes need a /%d pod CIDR with /%d node subnets", thousands(nodes), m, mask))
	}
	hi := MaxNodeMask
	if p.CNI.Mode == "calico" {
		hi = MaxCalicoBlock
	}
	if m := pod.Bits() + bits; m <= hi {
		what := "nodeCIDRMask"
		if p.CNI.Mode == "calico" {
			what = "blockSize"
		}
		// A longer Flannel node mask holds fewer pods: offer it only
		// when it still holds plan.podsPerNode (2^(32−mask) − 1, the
		// pods-per-node rule's figure). Calico borrows further blocks,
		// so a smaller blockSize does not bound a node's pods.
		if p.CNI.Mode == "calico" || p.PodsPerNode <= 0 || ack.FlannelPodsPerNode(m) >= p.PodsPerNode {
			parts = append(parts, fmt.Sprintf("or %s /%d in %s", what, m, pod))
		} else if len(parts) > 0 {
			parts[len(parts)-1] += fmt.Sprintf("; not nodeCIDRMask /%d in %s: it holds only %s pods per node, fewer than plan.podsPerNode %s", m, pod, thousands(ack.FlannelPodsPerNode(m)), thousands(p.PodsPerNode))
		}
	}
	return strings.Join(parts, ", ")
}

// joinPools are the pools ACK's join rule and Terway's zone rule judge:
// the planned pools, then the scenario's own nodes when a plan block gives
// the pools.
func (p *Plan) joinPools() []Pool {
	return append(p.Pools[:len(p.Pools):len(p.Pools)], p.NodePools...)
}
