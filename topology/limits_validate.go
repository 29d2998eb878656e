package topology

import (
	"netsim/internal/prose"

	"fmt"
	"net/netip"
	"slices"
	"strings"

	"netsim/topology/k8s"
)

// The size limits of a scenario. Each says where its number comes from:
// an ACK quota, or what netsim's memory and time allow (measured with
// `/usr/bin/time -v netsim run` on generated scenarios; the commands and
// figures are in the notes of issue 9 and the README's "Limits" table).
const (
	// maxNodes: ACK Pro allows 1,000 nodes with Flannel (one VPC route
	// entry per node, quota 200 by default, 1,000 at most) and 5,000 with
	// Terway by default, 15,000 on request — "Comparison between Terway
	// and Flannel",
	// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel
	// netsim's own bound is ACK's default Terway maximum, a memory bound:
	// 5,000 nodes × 30 pods of Terway, Flannel ali-vpc or Calico build in
	// under 2 GiB (measured with `make scale`; see the notes of issue 12).
	maxNodes = 5000
	// maxPeerNodes bounds the nodes of the Flannel backends whose every
	// node holds a route, an ARP entry and an FDB entry (vxlan) for every
	// other node (vxlan, udp, host-gw). netsim shares those entries
	// between the nodes (netstack.PeerSet), so memory is linear in the
	// nodes (vxlan × 30 pods: 1,000 nodes 154 MiB of heap), but what
	// `netsim show` prints of them is still N² lines; 1,000 is ACK's Flannel
	// maximum.
	maxPeerNodes = 1000
	// maxInstances is the ECS instances that are not nodes: netsim's
	// memory, about 10 KB RSS each (measured: 2,000 instances, 34 MB).
	maxInstances = 5000
	// maxPods is the pods of a scenario, its own and the manifests'
	// together (k8s.MaxPods bounds a Deployment's replicas and the
	// manifests' pods alone): memory, ACK's largest default cluster
	// (5,000 nodes × 30 pods) within 2 GiB (measured with `make scale`).
	maxPods = 150_000
	// maxFlows is the flows and actions of a scenario: netsim's time, the
	// text report of every flow's first exchange (measured, ping flows
	// between two pods, with the streaming report: 2,000 flows 4.6 s and
	// 50 MB RSS as text, 1.3 s as JSON; 10,000 flows 56 s and 121 MB as text.
	// Before the report streamed, 10,000 flows took 840 MB).
	maxFlows = 1000
	// maxPackets bounds the work of a run: the packets the flows send,
	// estimated from count and size (see flowPackets). netsim forwards
	// about 100,000 packets a second (measured: 100,000 refused TCP
	// connections, 200,000 packets, 1.6 s; 2,000 TCP exchanges of 65,495
	// bytes each way, about 190,000 packets, 1.9 s), so the limit is
	// about 10 s of simulation.
	maxPackets = 1000000
	// tcpMSS is the segment size used to estimate packets: 1500 − 20 − 20
	// − 12 (timestamps).
	tcpMSS = 1448
)

// checkLimits checks the size limits that do not need the manifests:
// nodes, the scenario's pods, flows. Each excess is one problem at the
// first item over the limit.
func (v *validator) checkLimits() {
	s := v.s
	if n := len(s.Nodes); n > maxNodes {
		v.addf(indexPath("nodes", maxNodes), "%s nodes are more than netsim's limit of %s (a memory bound; ACK allows 1,000 with Flannel and 5,000 with Terway, 15,000 on request): simulate a smaller cluster",
			thousands(n), thousands(maxNodes))
	} else if b := flannelPeerBackend(s); b != "" && n > maxPeerNodes {
		v.addf(indexPath("nodes", maxPeerNodes), "%s nodes are more than netsim's limit of %s with flannel's %s backend, ACK's Flannel maximum (every node holds a route to every other; ACK allows 1,000 nodes with Flannel, 5,000 with Terway): simulate a smaller cluster, or use Terway",
			thousands(n), thousands(maxPeerNodes), b)
	}
	if n := len(s.Instances); n > maxInstances {
		v.addf(indexPath("instances", maxInstances), "%s instances are more than netsim's limit of %s", thousands(n), thousands(maxInstances))
	}
	if n := len(s.Pods); n > maxPods {
		v.addf(indexPath("pods", maxPods), "%s pods are more than netsim's limit of %s pods in a scenario (its own and its manifests' together)", thousands(n), thousands(maxPods))
	}
	if n := len(s.Flows); n > maxFlows {
		v.addf(indexPath("flows", maxFlows), "%s flows and actions are more than netsim's limit of %s", thousands(n), thousands(maxFlows))
	}
}

// flannelPeerBackend is the scenario's Flannel backend when it is one
// whose nodes program state for every peer (vxlan, udp, host-gw), else "".
func flannelPeerBackend(s *Scenario) string {
	f := s.Cluster.CNI.Flannel
	if s.Cluster.CNI.Mode != "flannel" {
		return ""
	}
	b := defaultBackend
	if f != nil && f.Backend != "" {
		b = f.Backend
	}
	switch b {
	case "vxlan", "udp", "host-gw":
		return b
	}
	return ""
}

// flowPackets estimates the packets one exchange of f sends, both ways:
// ICMP and UDP a request and a reply (each fragmented into MTU-sized
// pieces), TCP and SCTP the handshake and the close too (and a segment
// plus an ACK per MSS of payload each way).
func flowPackets(f *Flow) int {
	size := 0
	if f.Size != nil {
		size = max(*f.Size, 0)
	}
	pieces := 1 + size/tcpMSS
	switch f.Protocol {
	case "tcp", "sctp":
		return 7 + 4*pieces
	}
	return 2 * pieces
}

// checkWork checks that the flows' exchanges stay within maxPackets; it
// runs after checkFlows (count and size in range) and reports one problem,
// at the count of the flow that crosses the limit.
func (v *validator) checkWork() {
	total := 0
	for i := range v.s.Flows {
		f := &v.s.Flows[i]
		if f.Action != "" || f.Count < 1 || f.Count > maxCount {
			continue
		}
		per := flowPackets(f)
		total += f.Count * per
		if total > maxPackets {
			v.addf(indexPath("flows", i)+".count", "%s exchanges of about %s packets each bring the flows to about %s packets, more than netsim's limit of %s (about 10 s of simulation): lower count or size, or split the scenario",
				thousands(f.Count), thousands(per), thousands(total), thousands(maxPackets))
			return
		}
	}
}

// podCapacity is how many pods a node's pod CIDR holds under the
// cluster's CNI, with what it comes from; 0 when netsim does not bound it
// here (Terway: pods over the ENI capacity stay Pending, as on ACK).
func (v *validator) podCapacity(node string) (int, string) {
	s := v.s
	switch s.Cluster.CNI.Mode {
	case "flannel":
		mask := s.Cluster.NodeCIDRMask
		if cidr, ok := v.nodePodCIDR[node]; ok {
			mask = cidr.Bits()
		}
		if mask < 1 || mask > 30 {
			return 0, ""
		}
		// host-local hands out .2 to the last but one address: the network
		// address, cni0's gateway (.1) and the broadcast address are not pods'.
		return 1<<(32-mask) - 3, fmt.Sprintf("flannel's node pod CIDR /%d holds 2^(32−%d) − 3 = %d pod addresses (network, cni0 gateway and broadcast excluded)", mask, mask, 1<<(32-mask)-3)
	case "calico":
		if k := s.Cluster.CNI.Calico; k != nil && k.BlockSize >= minCalicoBlock && k.BlockSize <= maxCalicoBlock {
			n := calicoBlockPods(s)
			return n, fmt.Sprintf("netsim gives each node one Calico IPAM block /%d: %d pod addresses", k.BlockSize, n)
		}
	}
	return 0, ""
}

// checkPodsPerNode checks, once the manifests are expanded and placed,
// that every node's pod CIDR holds its pods. The pods over a node's
// capacity are reported once per origin: a Deployment at its
// spec.replicas, a manifest Pod at its spec.nodeName, the scenario's pods
// at the first one over.
func (v *validator) checkPodsPerNode() {
	s := v.s
	if len(s.Pods) > maxPods {
		return // checkLimits said so
	}
	total := len(s.Pods)
	if s.Objects != nil {
		total += len(s.Objects.Pods)
	}
	if total > maxPods && len(s.Pods) <= maxPods {
		n := len(s.Pods)
		for _, p := range s.Objects.Pods {
			if n++; n <= maxPods {
				continue
			}
			what := fmt.Sprintf("the manifests bring the scenario to %s pods (%s of them the scenario's own), more than netsim's limit of %s pods", thousands(total), thousands(len(s.Pods)), thousands(maxPods))
			if dep := v.deployment(p.Owner); dep != nil {
				v.addK8s(dep.Errorf("spec.replicas", "%s replicas: %s", thousands(dep.Replicas), what))
			} else {
				v.addK8s(p.Errorf("metadata.name", "%s", what))
			}
			break
		}
		return
	}
	used := map[string]int{}
	type excess struct {
		count, first int
		why          string
	}
	var scenarioOver excess
	for i, p := range s.Pods {
		if v.nodes[p.Node] == nil {
			continue
		}
		used[p.Node]++
		if c, why := v.podCapacity(p.Node); c > 0 && used[p.Node] > c {
			if scenarioOver.count == 0 {
				scenarioOver.first, scenarioOver.why = i, fmt.Sprintf("node %q already has %d pods: %s", p.Node, c, why)
			}
			scenarioOver.count++
		}
	}
	if scenarioOver.count > 0 {
		more := ""
		if scenarioOver.count > 1 {
			more = fmt.Sprintf(" (and %s more pods after it over their node's capacity)", thousands(scenarioOver.count-1))
		}
		v.addf(indexPath("pods", scenarioOver.first)+".node", "the pod does not fit: %s%s", scenarioOver.why, more)
	}
	if s.Objects == nil {
		return
	}
	type over struct {
		pod      *k8s.Pod
		count    int
		nodes    []string
		why      string
		capacity int
	}
	byOwner := map[string]*over{}
	var order []string
	for _, p := range s.Objects.Pods {
		if v.nodes[p.Node] == nil {
			continue
		}
		used[p.Node]++
		c, why := v.podCapacity(p.Node)
		if c == 0 || used[p.Node] <= c {
			continue
		}
		key := p.Owner
		if key == "" {
			key = "Pod " + p.Ref()
		}
		o := byOwner[key]
		if o == nil {
			o = &over{pod: p, why: why, capacity: c}
			byOwner[key] = o
			order = append(order, key)
		}
		o.count++
		if len(o.nodes) == 0 || o.nodes[len(o.nodes)-1] != p.Node {
			if !containsString(o.nodes, p.Node) {
				o.nodes = append(o.nodes, p.Node)
			}
		}
	}
	for _, key := range order {
		o := byOwner[key]
		if dep := v.deployment(o.pod.Owner); dep != nil {
			nodes := "node " + o.nodes[0]
			if len(o.nodes) > 1 {
				nodes = "nodes " + strings.Join(o.nodes, ", ")
			}
			v.addK8s(dep.Errorf("spec.replicas", "%s of its %s pods do not fit on %s: %s; lower replicas or add nodes",
				thousands(o.count), thousands(dep.Replicas), nodes, o.why))
			continue
		}
		v.addK8s(o.pod.Errorf("spec.nodeName", "the pod does not fit: node %q already has %s pods: %s", o.nodes[0], thousands(o.capacity), o.why))
	}
}

// deployment returns the Deployment named by a pod's Owner ("Deployment
// ns/name"), or nil.
func (v *validator) deployment(owner string) *k8s.Deployment {
	if v.s.Objects == nil || owner == "" {
		return nil
	}
	for _, d := range v.s.Objects.Deployments {
		if d.String() == owner {
			return d
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// thousands writes n with commas between groups of three digits: 99,497.
var thousands = prose.Thousands[int]

// Special destinations netsim refuses: it models unicast flows.
var (
	multicastRange = netip.MustParsePrefix("224.0.0.0/4")
	reservedRange  = netip.MustParsePrefix("240.0.0.0/4") // class E (RFC 1112), 255.255.255.255 included
	loopbackRange  = netip.MustParsePrefix("127.0.0.0/8")
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")
)

// checkTargetAddr refuses flow destinations that Linux would not send as
// one unicast packet to one host: 0.0.0.0 (and 0.0.0.0/8), the limited
// broadcast 255.255.255.255, multicast, class E, loopback (it never leaves
// the sender, so it would not test the network), and the broadcast
// address of a vSwitch or a pod CIDR (Linux sends it as a link-layer
// broadcast, to every host of the subnet).
func (v *validator) checkTargetAddr(path string, a netip.Addr) bool {
	const unicast = "netsim models unicast flows to one host only"
	switch {
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		v.addf(path, "%s is the limited broadcast address: Linux sends it to every host of the link (SO_BROADCAST), never through a router; %s", a, unicast)
	case thisNetwork.Contains(a):
		v.addf(path, "%s is in 0.0.0.0/8 (\"this network\", RFC 1122): it is not a destination on the wire (Linux delivers a packet to 0.0.0.0 to the sender itself); %s", a, unicast)
	case multicastRange.Contains(a):
		v.addf(path, "%s is a multicast address (224.0.0.0/4): Linux sends it to a group, not to one host; %s", a, unicast)
	case reservedRange.Contains(a):
		v.addf(path, "%s is in 240.0.0.0/4, reserved (RFC 1112): Linux does not route it; %s", a, unicast)
	case loopbackRange.Contains(a):
		v.addf(path, "%s is a loopback address (127.0.0.0/8): the sender answers itself and the packet never reaches the network; use node/NAME or pod/NAME to reach a host", a)
	default:
		if what := v.subnetBroadcast(a); what != "" {
			v.addf(path, "%s is the broadcast address of %s: Linux sends it as a link-layer broadcast to every host of the subnet; %s", a, what, unicast)
		} else {
			return true
		}
	}
	return false
}

// subnetBroadcast names the subnet a is the last (broadcast) address of: a
// vSwitch or (flannel) a node's pod CIDR; "" if none. (The VPC CIDR's
// last address is not a broadcast: the VPC is routed, not one subnet.)
func (v *validator) subnetBroadcast(a netip.Addr) string {
	for _, name := range v.vswitchNames {
		if p, ok := v.vswitchCIDR[name]; ok && p.Bits() < 31 && lastAddr(p) == a {
			return fmt.Sprintf("vSwitch %s (%s)", name, p)
		}
	}
	if v.s.Cluster.CNI.Mode != "flannel" {
		return ""
	}
	// Flannel's bridge: each node's pod CIDR is a subnet on cni0.
	for _, n := range v.nodeNames {
		if p, ok := v.nodePodCIDR[n]; ok && lastAddr(p) == a {
			return fmt.Sprintf("node %s's pod CIDR %s (cni0)", n, p)
		}
	}
	mask := v.s.Cluster.NodeCIDRMask
	if p := v.podCIDR; p.IsValid() && p.Contains(a) && mask >= p.Bits() && mask >= minNodeMask && mask <= maxNodeMask {
		sub := netip.PrefixFrom(a, mask).Masked()
		if lastAddr(sub) == a {
			return fmt.Sprintf("the node pod CIDR %s (cni0's subnet on the node that gets it)", sub)
		}
	}
	return ""
}

// checkCNIMTU checks that a configured CNI MTU fits the NIC: the tunnel's
// packets, MTU plus the encapsulation headers, must fit vpc.mtu (the ECS
// NIC's MTU, 1500 on ACK).
func (v *validator) checkCNIMTU() {
	s := v.s
	nic := s.VPC.MTU
	if nic < minMTU || nic > maxMTU {
		return
	}
	check := func(path string, mtu, overhead int, what string) {
		if mtu == 0 || mtu < minMTU || mtu > maxMTU || mtu+overhead <= nic {
			return
		}
		v.addf(path, "%d is more than the NIC carries: %s, so the MTU is at most vpc.mtu %d − %d = %d (leave mtu out to get that)",
			mtu, what, nic, overhead, nic-overhead)
	}
	if f := s.Cluster.CNI.Flannel; s.Cluster.CNI.Mode == "flannel" && f != nil {
		switch f.Backend {
		case "vxlan":
			check("cluster.cni.flannel.mtu", f.MTU, 50, "flannel's vxlan backend adds 50 bytes (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14)")
		case "udp":
			check("cluster.cni.flannel.mtu", f.MTU, 28, "flannel's udp backend adds 28 bytes (outer IPv4 20, UDP 8)")
		default:
			check("cluster.cni.flannel.mtu", f.MTU, 0, fmt.Sprintf("flannel's %s backend does not encapsulate", f.Backend))
		}
	}
	if k := s.Cluster.CNI.Calico; s.Cluster.CNI.Mode == "calico" && k != nil {
		switch {
		case k.VXLANMode != "" && k.VXLANMode != "Never":
			check("cluster.cni.calico.mtu", k.MTU, 50, "Calico's VXLAN adds 50 bytes (vxlan.calico)")
		case k.IPIPMode != "" && k.IPIPMode != "Never":
			check("cluster.cni.calico.mtu", k.MTU, 20, "Calico's IPIP adds 20 bytes (tunl0)")
		default:
			check("cluster.cni.calico.mtu", k.MTU, 0, "Calico without encapsulation adds nothing")
		}
	}
}

// maxProxyEntries bounds kube-proxy's rules: what every node programs for
// the Services (a KUBE-SVC chain or IPVS virtual server per Service port,
// a KUBE-SEP chain or real server per endpoint and port), summed over the
// Services and the nodes. netsim's memory
// and time: about 4 KB and 0.1 ms an entry (measured: a Service with one
// port over 2,000 pods on 20 nodes, 40,000 entries, 230 MB RSS and 4.2 s;
// ten such Services, 400,000 entries, 1.7 GB and 43 s).
const maxProxyEntries = 50000

// checkProxyRules checks that the Services' endpoints, times their ports,
// times the nodes, stay within maxProxyEntries; one problem, at the
// Service that crosses it. It runs after the manifests are expanded.
func (v *validator) checkProxyRules() {
	s := v.s
	objs := s.Objects
	nodes := len(s.Nodes)
	if objs == nil || nodes == 0 || len(objs.Services) == 0 {
		return
	}
	// Pods by namespace and label pair, to find a selector's pods without
	// matching every Service against every pod.
	type podLabels struct{ labels map[string]string }
	byNS := map[string][]podLabels{}
	byPair := map[string][]podLabels{}
	addPod := func(ns string, labels map[string]string) {
		p := podLabels{labels}
		byNS[ns] = append(byNS[ns], p)
		for k, val := range labels {
			byPair[ns+"\x00"+k+"="+val] = append(byPair[ns+"\x00"+k+"="+val], p)
		}
	}
	for _, p := range s.Pods {
		addPod(p.Namespace, p.Labels)
	}
	for _, p := range objs.Pods {
		addPod(p.Namespace, p.Labels)
	}
	explicit := map[string]int{} // "ns/service" → addresses × ports
	for _, e := range objs.Endpoints {
		for _, sub := range e.Subsets {
			explicit[e.Namespace+"/"+e.Service] += len(sub.Addresses) * len(sub.Ports)
		}
	}
	total := 0
	for _, svc := range objs.Services {
		if svc.Type == k8s.TypeExternalName || svc.Headless || len(svc.Ports) == 0 {
			continue // no rules
		}
		endpoints := 0
		if svc.Selector == nil {
			endpoints = explicit[svc.Namespace+"/"+svc.Name]
		} else {
			candidates := byNS[svc.Namespace]
			for k, val := range svc.Selector {
				candidates = byPair[svc.Namespace+"\x00"+k+"="+val]
				break
			}
			for _, p := range candidates {
				if matches(svc.Selector, p.labels) {
					endpoints++
				}
			}
			endpoints *= len(svc.Ports)
		}
		// A chain (or virtual server) per port, and one per endpoint.
		total += (endpoints + len(svc.Ports)) * nodes
		if total > maxProxyEntries {
			at := "spec.selector"
			if svc.Selector == nil {
				at = "metadata.name"
			}
			v.addK8s(svc.Errorf(at, "its %s endpoints (pods × ports) and %s on %s nodes bring kube-proxy's rules to %s entries (every node programs every Service port and endpoint), more than netsim's limit of %s: select fewer pods, or use fewer nodes or Services",
				thousands(endpoints), plural(len(svc.Ports), "port"), thousands(nodes), thousands(total), thousands(maxProxyEntries)))
			return
		}
	}
}

// maxPolicyEntries bounds what the policy engine (felix, Cilium) programs
// for the NetworkPolicies: for every policy, the pods it selects plus the
// pods its rules' podSelector peers match (ipset members), summed over
// the policies. netsim's memory and time (measured, Terway veth + felix,
// policies selecting 402 pods with one podSelector peer each, 804 entries
// a policy: 1,000 policies, 804,000 entries, 4.1 s and 144 MB RSS; 4,000
// policies, 3.2 million entries, 26 s and 400 MB).
const maxPolicyEntries = 1000000

// maxPolicyRuleLines bounds the NetworkPolicies' rule lines, Σ over rules
// of peers × ports with an ipBlock's excepts counted: every packet a
// policy judges walks them (one ipBlock of 140,000 excepts, /32s: 72 s
// and 774 MB for nine flows; 40,000 lines: 4 s). Felix would put the
// excepts in an ipset; netsim's chains list them.
const maxPolicyRuleLines = 20000

// maxSelectorChecks bounds the work of counting them: selector
// evaluations (policies × pods), a few seconds at most.
const maxSelectorChecks = 20000000

// checkPolicyRules checks that the NetworkPolicies stay within
// maxPolicyEntries; one problem, at the policy that crosses it. Flannel
// does not enforce policies (netsim, like ACK, ignores them there).
func (v *validator) checkPolicyRules() {
	s := v.s
	objs := s.Objects
	if objs == nil || len(objs.NetworkPolicies) == 0 || s.Cluster.CNI.Mode == "flannel" {
		return
	}
	type pod struct {
		ns     string
		labels map[string]string
	}
	var all []pod
	byNS := map[string][]pod{}
	for _, p := range s.Pods {
		all = append(all, pod{p.Namespace, p.Labels})
		byNS[p.Namespace] = append(byNS[p.Namespace], pod{p.Namespace, p.Labels})
	}
	for _, p := range objs.Pods {
		all = append(all, pod{p.Namespace, p.Labels})
		byNS[p.Namespace] = append(byNS[p.Namespace], pod{p.Namespace, p.Labels})
	}
	checks, total, ruleLines := 0, 0, 0
	count := func(pods []pod, sel func(map[string]string) bool) int {
		n := 0
		for _, p := range pods {
			if sel(p.labels) {
				n++
			}
		}
		checks += len(pods)
		return n
	}
	for _, np := range objs.NetworkPolicies {
		pol := np.Policy
		if pol == nil {
			continue
		}
		entries := count(byNS[pol.Namespace], pol.PodSelector.Matches)
		for _, r := range slices.Concat(pol.IngressRules, pol.EgressRules) {
			// Each peer × port is a rule line in the felix chains, an
			// ipBlock one line for its CIDR and one for each except.
			lines := 0
			for _, peer := range r.Peers {
				lines++
				if peer.IPBlock != nil {
					lines += len(peer.IPBlock.Except)
				}
			}
			ruleLines += max(lines, 1) * max(len(r.Ports), 1)
			for _, peer := range r.Peers {
				pods := byNS[pol.Namespace]
				if peer.NamespaceSelector != nil {
					pods = all
				}
				switch {
				case peer.PodSelector != nil:
					entries += count(pods, peer.PodSelector.Matches)
				case peer.NamespaceSelector != nil:
					entries += len(all)
				}
			}
		}
		total += entries
		switch {
		case ruleLines > maxPolicyRuleLines:
			v.addK8s(np.Errorf("spec", "its rules bring the NetworkPolicies to %s rule lines (peers × ports, an ipBlock counting one line and one for each except), more than netsim's limit of %s: every packet a policy judges walks these lines; use fewer excepts (a wider cidr, or several policies with fewer peers) or fewer ports",
				thousands(ruleLines), thousands(maxPolicyRuleLines)))
			return
		case total > maxPolicyEntries:
			v.addK8s(np.Errorf("spec.podSelector", "the pods it selects and its rules' peers (%s) bring the NetworkPolicies to %s policy entries (pods selected plus peer pods, over every policy), more than netsim's limit of %s: use fewer policies or select fewer pods",
				thousands(entries), thousands(total), thousands(maxPolicyEntries)))
			return
		case checks > maxSelectorChecks:
			v.addK8s(np.Errorf("metadata.name", "%s NetworkPolicies over %s pods are more than netsim checks (%s selector evaluations at most): use fewer policies or fewer pods",
				thousands(len(objs.NetworkPolicies)), thousands(len(all)), thousands(maxSelectorChecks)))
			return
		}
	}
}

// plural is "1 port", "3 ports".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return thousands(n) + " " + what + "s"
}
