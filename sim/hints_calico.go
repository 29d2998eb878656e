package sim

import (
	"fmt"
	"strings"
)

// hintCalicoOnVPC: Calico traffic to a pod that left a node without
// encapsulation (BGP, or CrossSubnet within a vSwitch) and met the
// vRouter, which routes pod blocks nowhere.
func hintCalicoOnVPC(c hintCtx) string {
	name := c.w.CNI.Name()
	if !strings.HasPrefix(name, "calico/") || c.w.VPC == nil || !c.dropped() || c.fr.Verdict.Reason != "vpc-no-route" {
		return ""
	}
	dstPod := c.w.PodByIP(c.dst)
	if dstPod == nil || !prefixOf(c.w.Scenario.Cluster.PodCIDR).Contains(c.dst) {
		return ""
	}
	src, inCluster := c.srcHost()
	if !inCluster {
		return "Calico's pod blocks live only in the nodes' routing tables (BIRD or felix), never in the VPC route table: an ECS outside the cluster cannot reach pod addresses; expose the pods through a Service (NodePort, SLB)"
	}
	peer := dstPod.Node
	switch {
	case name == "calico/bgp" && src != nil && peer != nil && src.VSwitch != peer.VSwitch:
		return fmt.Sprintf("Calico BGP without encapsulation: %s (vSwitch %s) is not on-link from %s (vSwitch %s), so BIRD's gateway recursive resolved the route through the vSwitch gateway, and the vRouter has no entry for the block; on ACK use ipipMode: Always or vxlanMode: Always",
			peer.Name, peer.VSwitch, src.Name, src.VSwitch)
	case name == "calico/bgp" || strings.HasSuffix(name, "-crosssubnet"):
		return "Calico sends pod packets unencapsulated to a node in the same vSwitch, but the VPC is not an Ethernet segment: the vRouter forwards by destination address and knows no pod block; on ACK use ipipMode: Always or vxlanMode: Always"
	}
	return ""
}

// hintCalicoNoDefaultRoute: a pod's ARP for 169.254.1.1 went unanswered —
// the host's proxy ARP needs a route for it.
func hintCalicoNoDefaultRoute(c hintCtx) string {
	if !strings.HasPrefix(c.w.CNI.Name(), "calico/") || c.fr.Verdict.Reason != "neigh-unresolved" || !strings.Contains(c.fr.Verdict.Detail, "169.254.1.1") {
		return ""
	}
	return "the host answers a Calico pod's ARP for 169.254.1.1 by proxy ARP only when it has a route for 169.254.1.1 that does not lead back into the pod's cali veth — normally the node's default route; this node has none (ip route add default via <router>)"
}
