package sim

import (
	"fmt"
	"net/netip"
	"strings"

	"netsim/dataplane/trace"
	"netsim/topology"
)

// hintCtx is what a hint rule looks at: the world, the flow as written,
// its resolved ends and its result.
type hintCtx struct {
	w        *topology.World
	flow     *topology.Flow
	from, to topology.Target
	fr       *FlowResult
	dst      netip.Addr
}

// hintRules recognise the common mistakes, each from the world and the
// flow, and name the fix. The first rule that answers wins.
var hintRules = []struct {
	name string
	fn   func(c hintCtx) string
}{
	{"clusterip-from-outside", hintClusterIPFromOutside},
	{"clusterip-ping", hintClusterIPPing},
	{"hostgw-on-vpc", hintHostGWOnVPC},
	{"calico-on-vpc", hintCalicoOnVPC},
	{"calico-no-default-route", hintCalicoNoDefaultRoute},
	{"egress-outside-vpc", hintEgress},
	{"vxlan-vpc-entry", hintVXLANDeletedEntry},
	{"flanneld-unleased", hintFlanneldUnleased},
	{"policy-not-enforced", hintPolicyNotEnforced},
}

// explain fills the verdict's why (the drop reason's concept) and hint
// (the likely mistake and its fix).
func (r *Runner) explain(f *topology.Flow, from, to topology.Target, fr *FlowResult) {
	if fr.Verdict.Result != "delivered" {
		fr.Verdict.Why = trace.WhyCode(fr.Verdict.Reason)
	}
	dst, _ := netip.ParseAddr(fr.DstIP)
	c := hintCtx{w: r.World, flow: f, from: from, to: to, fr: fr, dst: dst}
	for _, h := range hintRules {
		if s := h.fn(c); s != "" {
			fr.Verdict.Hint = s
			return
		}
	}
}

func (c hintCtx) dropped() bool { return c.fr.Verdict.Result != "delivered" }

func prefixOf(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}

func (c hintCtx) inServiceCIDR(a netip.Addr) bool {
	p := prefixOf(c.w.Scenario.Cluster.ServiceCIDR)
	return p.IsValid() && a.IsValid() && p.Contains(a)
}

// srcHost is the node or instance the flow starts on, or the node of the
// pod it starts in; inCluster says whether that is a node or a pod.
func (c hintCtx) srcHost() (h *topology.Host, inCluster bool) {
	for _, p := range c.w.Pods {
		if p.Stack == c.from.Stack {
			return p.Node, true
		}
	}
	for _, n := range c.w.Nodes {
		if n.Stack == c.from.Stack {
			return n, true
		}
	}
	for _, n := range c.w.Instances {
		if n.Stack == c.from.Stack {
			return n, false
		}
	}
	return nil, false
}

func hintClusterIPFromOutside(c hintCtx) string {
	if _, in := c.srcHost(); in || !c.dropped() || !c.inServiceCIDR(c.dst) {
		return ""
	}
	return "a ClusterIP exists only on nodes (kube-proxy's rules); from outside the cluster use a NodePort or an intranet SLB"
}

func hintClusterIPPing(c hintCtx) string {
	p := c.fr.Protocol
	if !c.dropped() || (p != "icmp" && p != "") || !c.inServiceCIDR(c.dst) {
		return ""
	}
	return "a ClusterIP answers only the Service's ports: kube-proxy translates TCP/UDP/SCTP to an endpoint and nothing owns the address itself, so ping is not answered; test a Service with its port (curl, nc)"
}

func hintHostGWOnVPC(c hintCtx) string {
	if c.w.CNI.Name() != "flannel/host-gw" || c.w.VPC == nil || !c.dropped() {
		return ""
	}
	if r := c.fr.Verdict.Reason; r != "vpc-no-route" && r != "no-route" {
		return ""
	}
	dstPod := c.w.PodByIP(c.dst)
	if !prefixOf(c.w.Scenario.Cluster.PodCIDR).Contains(c.dst) || dstPod == nil {
		return ""
	}
	src, _ := c.srcHost()
	peer := dstPod.Node
	if src != nil && peer != nil && src.VSwitch != peer.VSwitch {
		return fmt.Sprintf("flannel host-gw routes pods via the peer node's address, which must be on-link: %s (vSwitch %s) is not on-link from %s (vSwitch %s), so the kernel refused the route; on ACK use the ali-vpc backend (a VPC route entry per node) or vxlan",
			peer.Name, peer.VSwitch, src.Name, src.VSwitch)
	}
	return "flannel host-gw hands pod packets unencapsulated to the peer node, but the VPC forwards by destination address and knows no pod CIDR; on ACK use the ali-vpc backend (a VPC route entry per node) or vxlan"
}

func hintVXLANDeletedEntry(c hintCtx) string {
	if c.w.CNI.Name() != "flannel/vxlan" || !c.dropped() || !prefixOf(c.w.Scenario.Cluster.PodCIDR).Contains(c.dst) {
		return ""
	}
	// Deleted by a failure or by an action before this flow.
	if c.w.VPC == nil || len(c.w.VPC.Deleted()) == 0 {
		return ""
	}
	return "flannel vxlan carries pod traffic between node addresses and never needed VPC route entries: the deleted entry is not the cause, look at where the drop is"
}

// hintFlanneldUnleased: flannel udp sends the whole pod network into
// flannel0, and only flanneld's lease table says which subnets exist.
func hintFlanneldUnleased(c hintCtx) string {
	if c.fr.Verdict.Reason != trace.ReasonFlanneldNoRoute.Code() || !c.dst.IsValid() {
		return ""
	}
	var leases []string
	for _, n := range c.w.Nodes {
		leases = append(leases, n.Name+" "+n.PodCIDR.String())
	}
	return fmt.Sprintf("%s is inside the pod network %s but in no node's lease (%s): the kernel routes all of %s into flannel0 and only flanneld knows which subnets have a node; look for a stale pod IP or a node that is gone",
		c.dst, c.w.Scenario.Cluster.PodCIDR, strings.Join(leases, ", "), c.w.Scenario.Cluster.PodCIDR)
}

func hintEgress(c hintCtx) string {
	r := c.fr.Verdict.Reason
	if !c.dropped() || (r != "vpc-no-route" && r != "vpc-no-internet") || !c.dst.IsValid() {
		return ""
	}
	s := c.w.Scenario
	for _, p := range []string{s.VPC.CIDR, s.Cluster.PodCIDR, s.Cluster.ServiceCIDR} {
		if pp := prefixOf(p); pp.IsValid() && pp.Contains(c.dst) {
			return ""
		}
	}
	if c.dst.IsPrivate() {
		return fmt.Sprintf("%s is outside the VPC and the cluster's ranges: the vRouter reaches it only through a custom route entry toward a next hop (an ECS instance, a VPN gateway)", c.dst)
	}
	return "internet egress from a VPC needs a NAT gateway with an SNAT entry for the source's vSwitch, or an EIP bound to the instance (pods go out masqueraded to their node's address)"
}

func hintPolicyNotEnforced(c hintCtx) string {
	if len(c.w.Policies) == 0 {
		return ""
	}
	enforced, why := c.w.PolicyEnforcement()
	if enforced {
		return ""
	}
	pods := []*topology.WiredPod{c.w.PodByIP(c.dst)}
	for _, p := range c.w.Pods {
		if p.Stack == c.from.Stack {
			pods = append(pods, p)
		}
	}
	for _, np := range c.w.Policies {
		for _, p := range pods {
			if p != nil && np.Selects(p.Namespace, p.Labels) {
				return fmt.Sprintf("NetworkPolicy %s selects %s, but it is not enforced: %s; nothing was filtered",
					np.Ref(), p.Ref(), why)
			}
		}
	}
	return ""
}
