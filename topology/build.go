package topology

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"netsim/dataplane/cilium"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/cni"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/ipvs"
	"netsim/dataplane/kubeproxy"
	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netpol"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
	"netsim/topology/ack"
	"netsim/topology/k8s"
)

// World is a built scenario: every namespace, device and table, ready for
// packets. The event loop that drives it is the scheduler Build was given.
type World struct {
	Scenario *Scenario
	Env      *link.Env
	// VPC is the Alibaba Cloud VPC (nil with an l2 underlay).
	VPC *vpc.VPC
	// L2 is the on-premises segment (nil with a vpc underlay).
	L2 *vpc.L2
	// CNI is the cluster's CNI mode.
	CNI       cni.Mode
	Nodes     []*Host
	Instances []*Host
	Pods      []*WiredPod
	// Pending are pods that were never started (see PendingPod).
	Pending []*PendingPod
	// Services are the resolved Services (with endpoints) of the manifests.
	Services []*kubeproxy.Service
	// ProxyMode is kube-proxy's mode: "iptables" or "ipvs".
	ProxyMode string
	// Namespaces are the cluster's namespaces, sorted by name: the
	// Namespace objects of the manifests (labels as declared, plus
	// kubernetes.io/metadata.name) and every other namespace a pod or a
	// NetworkPolicy is in (only kubernetes.io/metadata.name). Set before
	// the CNI wires the pods.
	Namespaces []netpol.Namespace
	// Policies are the NetworkPolicies of the manifests, in declaration
	// order, converted for the data plane. Whether they are enforced is
	// PolicyEnforcement's answer. Set before the CNI wires the pods.
	Policies []*netpol.Policy
	// Internet is the client outside the VPC (nil when the scenario has none).
	Internet *Host
	// APIServer is the modelled API server behind the kubernetes Service
	// (nil when the scenario has no node).
	APIServer *APIServer
	// Notes are what agents would have logged during setup (routes the
	// kernel refused and such), and the failures injected.
	Notes []string
	// Warnings are things in the input that load and build but do not do
	// what their author probably expects (a Service whose targetPort no
	// container declares, an object netsim loads but does not enforce),
	// each located like a load error. `validate` and `run` print them.
	Warnings Problems

	// listening records the ports each namespace listens on (ListenPorts).
	listening map[*netstack.Stack][]k8s.ContainerPort
	// deletedRoutes and deletedPods are what actions removed, for show.
	deletedRoutes map[*netstack.Stack][]*netstack.Route
	deletedPods   []*WiredPod
	// scenarioPods indexes Scenario.Pods by namespace/name (the first of
	// a name), built when first needed (scenarioPod).
	scenarioPods  map[[2]string]int
	scenarioPodsN int // len(Scenario.Pods) when indexed
	// podIndex indexes Pods by namespace/name (the first of a name) for
	// Pod; an entry is used only while Pods still has that pod there.
	podIndex map[[2]string]int
}

// Warn records a warning located at a field path of the scenario file.
func (w *World) Warn(path, format string, args ...any) {
	w.Warnings = append(w.Warnings, w.Scenario.At(path, format, args...))
}

// Host is an ECS instance: a node or a plain instance.
type Host struct {
	Name    string
	IP      netip.Addr
	VSwitch string
	Stack   *netstack.Stack
	Filter  *netfilter.Netfilter // nodes only
	NIC     *netstack.Iface
	ENI     *vpc.ENI // vpc underlay only
	// InstanceType is the ECS instance type with its ENI figures (the
	// scenario's instanceType, or ack.DefaultInstanceType).
	InstanceType ack.InstanceType
	// PodCIDR and CNI are set for nodes.
	PodCIDR netip.Prefix
	CNI     *cni.Node
	// IPVS is kube-proxy's IPVS in ipvs mode.
	IPVS *ipvs.IPVS
	// Cilium is the modelled Cilium agent of a node on Terway's ipvlan
	// datapath while policies are enforced there (nil otherwise).
	Cilium *cilium.Endpoints
	// ProxyConfig is kube-proxy's configuration on a node (set when the
	// scenario has Services), kept for resyncs after actions.
	ProxyConfig kubeproxy.Config
}

// WiredPod is a pod with its namespace and address.
type WiredPod struct {
	Namespace, Name string
	Labels          map[string]string
	Node            *Host
	IP              netip.Addr
	Stack           *netstack.Stack
	HostVeth        *link.Device
}

// Ref is "NS/NAME".
func (p *WiredPod) Ref() string { return p.Namespace + "/" + p.Name }

// seedFor derives a per-object seed from the scenario seed and a name.
func seedFor(seed int64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return uint64(seed)*0x9e3779b97f4a7c15 ^ h.Sum64()
}

// ECSMAC is an Alibaba Cloud ECS NIC MAC: the 00:16:3e OUI and three bytes
// derived from the instance name.
func ECSMAC(name string) packet.MAC {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return packet.MAC{0x00, 0x16, 0x3e, byte(v >> 16), byte(v >> 8), byte(v)}
}

// Build turns a loaded scenario into a world driven by sched. Build-time
// problems (a route quota exceeded, a failure naming a device that does not
// exist, no address left in a vSwitch) are returned as Problems located in
// the scenario file.
func Build(s *Scenario, sched link.Scheduler) (*World, error) {
	if s.IsPlanFile() {
		return nil, Problems{s.At("plan", "a plan file (a plan: block and no nodes:) has no nodes to build: check it with `netsim plan %s`, or add nodes: to make it a scenario", s.File)}
	}
	b := &builder{s: s, w: &World{Scenario: s, Env: link.NewEnv(sched)}}
	// The planning rules' warnings come first, located like load errors.
	b.w.Warnings = append(b.w.Warnings, s.planWarnings()...)
	b.build()
	if len(b.probs) > 0 {
		b.probs.Sort()
		return nil, b.probs
	}
	// A warning repeated for many items (thousands of Pending pods) is
	// one line with a count, as problems are.
	b.w.Warnings = b.w.Warnings.Collapse()
	return b.w, nil
}

type builder struct {
	s     *Scenario
	w     *World
	probs Problems
	// podAddrs is w.PodAddrs() as services resolved the Services with
	// (the pods do not change after), for warnDanglingTargetPorts.
	podAddrs []PodAddr
	used     *addrSet
	vsw      map[string]*vpc.VSwitch
	cidr     map[string]netip.Prefix
	// scratch marks the copy of the world checkActions plays actions on.
	scratch bool
	// eagerPeers programs per-peer state pair by pair even when the CNI
	// mode could share it (tests compare the two).
	eagerPeers bool
}

func (b *builder) fail(path, format string, args ...any) {
	b.probs = append(b.probs, b.s.At(path, format, args...))
}

func (b *builder) build() {
	s, w := b.s, b.w
	b.used = newAddrSet()
	b.policies()
	b.vsw = map[string]*vpc.VSwitch{}
	b.cidr = map[string]netip.Prefix{}
	latency := 50 * time.Microsecond
	if s.VPC.Latency != nil {
		latency = *s.VPC.Latency
	}
	vcidr := netip.MustParsePrefix(s.VPC.CIDR)
	for _, sw := range s.VPC.VSwitches {
		b.cidr[sw.Name] = netip.MustParsePrefix(sw.CIDR)
	}
	if s.VPC.Underlay == "l2" {
		w.L2 = vpc.NewL2(w.Env, "l2", s.VPC.MTU, latency)
	} else {
		name := s.VPC.Name
		if name == "" {
			name = "vpc"
		}
		w.VPC = vpc.New(w.Env, name, vcidr, latency, s.VPC.RouteQuota)
		for i, sw := range s.VPC.VSwitches {
			v, err := w.VPC.AddVSwitch(sw.Name, sw.Zone, b.cidr[sw.Name])
			if err != nil {
				b.fail(fmt.Sprintf("vpc.vswitches[%d]", i), "%v", err)
				continue
			}
			b.vsw[sw.Name] = v
		}
	}
	// Pinned addresses first, so that allocation skips them.
	for _, n := range s.Nodes {
		if n.IP != "" {
			b.used.add(netip.MustParseAddr(n.IP))
		}
	}
	for _, n := range s.Instances {
		if n.IP != "" {
			b.used.add(netip.MustParseAddr(n.IP))
		}
	}
	for i, n := range s.Nodes {
		h := b.host(fmt.Sprintf("nodes[%d]", i), n.Name, n.VSwitch, n.IP, n.Sysctls)
		if h == nil {
			continue
		}
		h.InstanceType, _ = s.InstanceTypeOf(n.InstanceType)
		h.Filter = netfilter.ForStack(h.Stack, seedFor(s.Seed, "netfilter/"+n.Name))
		if err := kubeproxy.InstallKubelet(h.Filter); err != nil {
			b.fail(fmt.Sprintf("nodes[%d]", i), "%v", err)
		}
		w.Nodes = append(w.Nodes, h)
	}
	for i, n := range s.Instances {
		if h := b.host(fmt.Sprintf("instances[%d]", i), n.Name, n.VSwitch, n.IP, n.Sysctls); h != nil {
			h.InstanceType, _ = s.InstanceTypeOf(n.InstanceType)
			w.Instances = append(w.Instances, h)
		}
	}
	if len(b.probs) > 0 {
		return
	}
	b.apiServer()
	if len(b.probs) > 0 {
		return
	}
	if s.Cluster.CNI.Mode != "terway" {
		b.podCIDRs()
	}
	if len(b.probs) > 0 {
		return
	}
	b.cni()
	if len(b.probs) > 0 {
		return
	}
	b.deviceSysctls()
	b.services()
	if len(b.probs) > 0 {
		return
	}
	b.calicoRefresh()
	b.listeners()
	b.felixSync()
	w.warnDanglingTargetPorts(b.podAddrs)
	w.warnUnservedEndpoints()
	b.natGateways()
	// Hand-added entries first, so that failures can delete any entry;
	// re-adding an entry after a failure is an action between flows
	// (add-vpc-route), as in scenarios/flannel-alivpc-wrong-nexthop.yaml.
	b.customRoutes()
	b.failures()
	if !b.scratch {
		b.checkActions()
	}
}

// podPath locates pod i of the scenario's pods followed by the manifest
// pods: "pods[i]", or the manifest object's position.
func (b *builder) podPath(i int) string {
	if i < len(b.s.Pods) {
		return fmt.Sprintf("pods[%d]", i)
	}
	return "manifests"
}

// host creates an ECS instance: its namespace, eth0 on the vSwitch (or the
// L2 segment), the kernel's connected route and the DHCP default route via
// the vSwitch gateway.
func (b *builder) host(path, name, vswitch, ipText string, sysctls map[string]int) *Host {
	s, w := b.s, b.w
	cidr := b.cidr[vswitch]
	var ip netip.Addr
	if ipText != "" {
		ip = netip.MustParseAddr(ipText)
	} else {
		ip = b.allocate(cidr)
		if !ip.IsValid() {
			b.fail(path+".vswitch", "no free address left in vSwitch %s (%s) for %s", vswitch, cidr, name)
			return nil
		}
	}
	b.used.add(ip)
	st := netstack.New(w.Env, name, seedFor(s.Seed, name))
	applySysctls(st, sysctls, false) // conf.all, conf.default at boot
	eth0 := link.NewDevice(w.Env, name, "eth0", "device", link.Ether, s.VPC.MTU, ECSMAC(name), nil)
	nic := st.AddIface(eth0)
	if err := st.AddAddr("eth0", netip.PrefixFrom(ip, cidr.Bits())); err != nil {
		b.fail(path, "%v", err)
		return nil
	}
	h := &Host{Name: name, IP: ip, VSwitch: vswitch, Stack: st, NIC: nic}
	if w.VPC != nil {
		sw := b.vsw[vswitch]
		eni, err := w.VPC.Attach(name, sw, eth0, ip)
		if err != nil {
			b.fail(path, "%v", err)
			return nil
		}
		h.ENI = eni
		if err := st.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: sw.Gateway, Dev: nic}); err != nil {
			b.fail(path, "%v", err)
			return nil
		}
	} else {
		w.L2.Attach(name, eth0)
	}
	return h
}

// allocate returns the lowest free address of a vSwitch, skipping the
// network address and Alibaba's three reserved addresses at the end.
func (b *builder) allocate(cidr netip.Prefix) netip.Addr {
	return b.used.lowestFree(cidr)
}

// podCIDRs gives every node its pod subnet: pinned ones first, then the
// lowest free subnets in node order, as the node IPAM controller does.
func (b *builder) podCIDRs() {
	s := b.s
	pod := netip.MustParsePrefix(s.Cluster.PodCIDR)
	mask := s.Cluster.NodeCIDRMask
	taken := map[netip.Prefix]bool{}
	for i, n := range s.Nodes {
		if n.PodCIDR != "" {
			p := netip.MustParsePrefix(n.PodCIDR)
			taken[p] = true
			b.w.Nodes[i].PodCIDR = p
		}
	}
	next := 0
	for i, n := range s.Nodes {
		if n.PodCIDR != "" {
			continue
		}
		for {
			p := netip.PrefixFrom(cni.Nth(pod, next<<(32-mask)), mask)
			next++
			if !pod.Contains(p.Addr()) {
				b.fail(fmt.Sprintf("nodes[%d]", i), "no free /%d left in cluster.podCIDR %s for %s", mask, pod, n.Name)
				return
			}
			if !taken[p] {
				taken[p] = true
				b.w.Nodes[i].PodCIDR = p
				break
			}
		}
	}
}

// cni sets up the CNI mode on every node, programs peers and wires pods.
func (b *builder) cni() {
	s, w := b.s, b.w
	c := &cni.Cluster{
		Env:         w.Env,
		PodCIDR:     clusterPodCIDR(s),
		ServiceCIDR: netip.MustParsePrefix(s.Cluster.ServiceCIDR),
		Underlay:    s.VPC.Underlay,
		VPC:         w.VPC,
		UnderlayMTU: s.VPC.MTU,
		IPAM:        vswitchIPAM{b},
	}
	var opts any
	switch s.Cluster.CNI.Mode {
	case "flannel":
		f := s.Cluster.CNI.Flannel
		o := &flannel.Options{Backend: f.Backend, DirectRouting: f.DirectRouting, MTU: f.MTU, IPMasq: true}
		if f.VNI != nil {
			o.VNI = *f.VNI
		}
		if f.Port != nil {
			o.Port = *f.Port
		}
		if f.IPMasq != nil {
			o.IPMasq = *f.IPMasq
		}
		opts = o
	case "terway":
		opts = b.terwayOptions()
	case "calico":
		opts = calicoOptions(s.Cluster.CNI.Calico)
	}
	mode, err := cni.New(s.Cluster.CNI.Mode, c, opts)
	if err != nil {
		b.fail("cluster.cni", "%v", err)
		return
	}
	w.CNI = mode
	for i, h := range w.Nodes {
		h.CNI = &cni.Node{Name: h.Name, Stack: h.Stack, Filter: h.Filter, NIC: h.NIC, IP: h.IP, PodCIDR: h.PodCIDR}
		if err := mode.SetupNode(h.CNI); err != nil {
			b.fail(fmt.Sprintf("nodes[%d]", i), "%v", err)
		}
	}
	if len(b.probs) > 0 {
		return
	}
	b.addPeers(mode)
	w.Notes = append(w.Notes, mode.Notes()...)
	// Pods with a pinned address are wired first, so that host-local
	// allocation for the others skips their addresses (as for node IPs);
	// w.Pods keeps the file's order.
	pods := append(append([]Pod(nil), s.Pods...), s.ManifestPods()...)
	wired := make([]*WiredPod, len(pods))
	var order []int
	for i, p := range pods {
		if p.IP != "" {
			order = append(order, i)
		}
	}
	for i, p := range pods {
		if p.IP == "" {
			order = append(order, i)
		}
	}
	nodeByName := make(map[string]*Host, len(w.Nodes))
	for _, h := range w.Nodes {
		nodeByName[h.Name] = h // the last of a name, as the scan was
	}
	for _, i := range order {
		p := pods[i]
		node := nodeByName[p.Node]
		ref := p.Namespace + "/" + p.Name
		st := netstack.New(w.Env, ref, seedFor(s.Seed, "pod/"+ref))
		if node != nil {
			// A new netns copies the host's conf.all and conf.default
			// (net.core.devconf_inherit_init_net=0); the pod's eth0,
			// created inside it by the CNI, starts from conf.default.
			st.ConfAll, st.ConfDefault = node.Stack.ConfAll, node.Stack.ConfDefault
		}
		cp := &cni.Pod{Namespace: p.Namespace, Name: p.Name, Node: node.CNI, Stack: st, MTU: p.MTU}
		if p.IP != "" {
			cp.IP = netip.MustParseAddr(p.IP)
		}
		if node == nil {
			b.fail(b.podPath(i), "pod %s has no node to run on", ref)
			continue
		}
		if err := mode.AddPod(cp); err != nil {
			if !b.pending(b.podPath(i), p, node, st, err) {
				b.fail(b.podPath(i), "%v", err)
			}
			continue
		}
		wired[i] = &WiredPod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Node: node, IP: cp.IP, Stack: st, HostVeth: cp.HostVeth}
	}
	for _, p := range wired {
		if p != nil {
			w.Pods = append(w.Pods, p)
		}
	}
	w.indexPods()
}

// peerSharer is a CNI mode that programs every node for every other node
// from one shared table of peers (flannel.Mode.SharePeers): the N − 1
// per-peer entries of each node are not copied N times. It reports false
// when it does not share this cluster's peers.
type peerSharer interface {
	SharePeers(nodes []*cni.Node, fail func(i int, err error)) bool
}

// addPeers programs every node for every other node: shared when the mode
// can, else pair by pair.
func (b *builder) addPeers(mode cni.Mode) {
	w := b.w
	if ps, ok := mode.(peerSharer); ok && !b.eagerPeers {
		nodes := make([]*cni.Node, len(w.Nodes))
		for i, h := range w.Nodes {
			nodes[i] = h.CNI
		}
		if ps.SharePeers(nodes, func(i int, err error) { b.fail(fmt.Sprintf("nodes[%d]", i), "%v", err) }) {
			return
		}
	}
	for i, h := range w.Nodes {
		for _, p := range w.Nodes {
			if p == h {
				continue
			}
			if err := mode.AddPeer(h.CNI, p.CNI); err != nil {
				b.fail(fmt.Sprintf("nodes[%d]", i), "%v", err)
			}
		}
	}
}

// customRoutes adds the scenario's own VPC route entries.
func (b *builder) customRoutes() {
	s, w := b.s, b.w
	for i, r := range s.VPC.Routes {
		dst := netip.MustParsePrefix(r.Destination)
		if _, err := w.VPC.AddRoute(dst, r.NextHop, "custom route from the scenario"); err != nil {
			b.fail(fmt.Sprintf("vpc.routes[%d]", i), "%v", err)
			continue
		}
		b.w.wrongNextHop(fmt.Sprintf("vpc.routes[%d].nextHop", i), dst, r.NextHop, b.w.Warn)
	}
}

// wrongNextHop warns (through warn, at path) about a custom entry that
// sends (part of) a node's pod CIDR to another host that cannot deliver
// it: one that does not forward, or one whose own route for those pods
// leads straight back to the VPC through the NIC the packet came in on
// (ali-vpc nodes have no per-peer routes) — a loop the kernel ends with a
// martian drop once the node has masqueraded the packet to its own
// address. It is called for vpc.routes and for add-vpc-route actions.
func (w *World) wrongNextHop(path string, dst netip.Prefix, nextHop string, warn func(path, format string, args ...any)) {
	h := w.Host(nextHop)
	if h == nil {
		return
	}
	for _, n := range w.Nodes {
		if !n.PodCIDR.IsValid() || !n.PodCIDR.Overlaps(dst) || n.Name == nextHop {
			continue
		}
		probe := n.PodCIDR.Addr().Next()
		if !dst.Contains(probe) {
			probe = dst.Addr()
		}
		switch r := h.Stack.Routes.Lookup(probe); {
		case !h.Stack.Forwarding:
			warn(path, "%s overlaps %s's pod CIDR %s, but the entry sends it to %s, which does not forward (net.ipv4.ip_forward=0): traffic to %s's pods from outside its node is dropped there",
				dst, n.Name, n.PodCIDR, nextHop, n.Name)
		case r != nil && r.Dev == h.NIC:
			warn(path, "%s overlaps %s's pod CIDR %s, but the entry sends it to %s, whose route for it is %q, straight back to the VPC: the packet loops between the vRouter and %s until %s drops it (as a martian once it has masqueraded it to its own address, else when the TTL runs out)",
				dst, n.Name, n.PodCIDR, nextHop, r.String(), nextHop, nextHop)
		}
	}
}

// failures injects the scenario's faults: the same actions as those
// between flows, applied before the first flow.
func (b *builder) failures() {
	s, w := b.s, b.w
	for i, f := range s.Failures {
		path := fmt.Sprintf("failures[%d]", i)
		out, err := w.Apply(failureAction(f))
		if err != nil {
			if f.Type == "delete-vpc-route" {
				b.fail(path, "%v", err)
			} else {
				b.probs = append(b.probs, s.ActionError(path, err))
			}
			continue
		}
		if f.Type == "delete-vpc-route" {
			d := w.VPC.Deleted()
			e := d[len(d)-1]
			w.Notes = append(w.Notes, fmt.Sprintf("failure: deleted VPC route entry %s → %s (%s)", e.Destination, e.NextHop, e.ID))
			continue
		}
		w.Notes = append(w.Notes, "failure: "+out.Text)
	}
}

func routeList(v *vpc.VPC) string {
	s := ""
	for i, e := range v.Routes() {
		if i > 0 {
			s += ", "
		}
		s += e.Destination.String()
	}
	return s
}

// Node returns the node named name, or nil.
func (w *World) Node(name string) *Host {
	for _, h := range w.Nodes {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Host returns the node or instance named name, or nil.
func (w *World) Host(name string) *Host {
	if h := w.Node(name); h != nil {
		return h
	}
	for _, h := range w.Instances {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Pod returns the pod "NAME" (namespace default) or "NS/NAME", or nil.
func (w *World) Pod(ref string) *WiredPod {
	ns, name := "default", ref
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			ns, name = ref[:i], ref[i+1:]
		}
	}
	key := [2]string{ns, name}
	if i, ok := w.podIndex[key]; ok && i < len(w.Pods) && w.Pods[i].Namespace == ns && w.Pods[i].Name == name {
		return w.Pods[i]
	}
	// Not indexed, or the index is out of date (an action deleted a pod,
	// or w.Pods was changed): index again, and answer as the scan would.
	w.indexPods()
	if i, ok := w.podIndex[key]; ok {
		return w.Pods[i]
	}
	return nil
}

// indexPods indexes w.Pods for Pod (Build does it once the pods are
// wired, so that the first flow does not pay for it).
func (w *World) indexPods() {
	w.podIndex = make(map[[2]string]int, len(w.Pods))
	for i, p := range w.Pods {
		k := [2]string{p.Namespace, p.Name}
		if _, dup := w.podIndex[k]; !dup {
			w.podIndex[k] = i
		}
	}
}

// PodByIP returns the pod with address a, or nil.
func (w *World) PodByIP(a netip.Addr) *WiredPod {
	for _, p := range w.Pods {
		if p.IP == a {
			return p
		}
	}
	return nil
}

// Target is a resolved flow endpoint.
type Target struct {
	// Name is the canonical text (pod/NS/NAME, node/NAME, ecs/NAME, an IP).
	Name string
	// Stack is the namespace (nil for a bare IP nobody in the world owns,
	// and for Service addresses).
	Stack *netstack.Stack
	IP    netip.Addr
	// Service is set for svc/, slb/ and dns: destinations.
	Service *kubeproxy.Service
	// DNS is the name to resolve at run time (dns: destinations).
	DNS string
	// Pending is set for a Pending pod: why it has no address.
	Pending string
}

// Resolve turns a flow endpoint into a namespace and address. A bare IP
// owned by a pod, node or instance resolves to that namespace.
func (w *World) Resolve(ref string) (Target, error) {
	e, err := ParseEndpoint(ref)
	if err != nil {
		return Target{}, err
	}
	switch e.Kind {
	case EndpointPod:
		if p := w.Pod(e.Namespace + "/" + e.Name); p != nil {
			return Target{Name: e.String(), Stack: p.Stack, IP: p.IP}, nil
		}
		if p := w.PendingPod(e.Namespace + "/" + e.Name); p != nil {
			return Target{Name: e.String(), Stack: p.Stack, Pending: fmt.Sprintf("pod %s is Pending on %s (never started, no address): %s", p.Ref(), p.Node.Name, p.Event())}, nil
		}
	case EndpointNode:
		if h := w.Node(e.Name); h != nil {
			return Target{Name: e.String(), Stack: h.Stack, IP: h.IP}, nil
		}
	case EndpointECS:
		for _, h := range w.Instances {
			if h.Name == e.Name {
				return Target{Name: e.String(), Stack: h.Stack, IP: h.IP}, nil
			}
		}
	case EndpointService:
		if svc := w.Service(e.Namespace, e.Name); svc != nil {
			if svc.Headless() {
				return Target{}, fmt.Errorf("%s is headless (clusterIP: None): address it through dns:%s", e, e.Host())
			}
			return Target{Name: e.String(), IP: svc.ClusterIP, Service: svc}, nil
		}
	case EndpointSLB:
		if svc := w.Service(e.Namespace, e.Name); svc != nil {
			if len(svc.LoadBalancerIPs) == 0 {
				return Target{}, fmt.Errorf("%s: Service %s/%s has no load balancer address (type %s)", ref, e.Namespace, e.Name, svc.Type)
			}
			return Target{Name: e.String(), IP: svc.LoadBalancerIPs[0], Service: svc}, nil
		}
	case EndpointDNS:
		svc := w.Service(e.Namespace, e.Name)
		return Target{Name: "dns:" + e.Host(), Service: svc, DNS: e.Host()}, nil
	case EndpointInternet:
		if w.Internet != nil {
			return Target{Name: "internet", Stack: w.Internet.Stack, IP: w.Internet.IP}, nil
		}
		return Target{}, fmt.Errorf("internet: the scenario has no internet client (add internet: {} )")
	case EndpointIP:
		t := Target{Name: e.IP.String(), IP: e.IP}
		for _, p := range w.Pods {
			if p.IP == e.IP {
				t.Stack = p.Stack
			}
		}
		for _, h := range w.hosts() {
			// Every namespace has 127.0.0.0/8: no one namespace owns it.
			if !e.IP.IsLoopback() && h.Stack.IsLocal(e.IP) {
				t.Stack = h.Stack
			}
		}
		if h := w.eipHost(e.IP); h != nil {
			t.Stack = h.Stack // an EIP reaches its instance (1:1 NAT)
		}
		return t, nil
	}
	return Target{}, fmt.Errorf("%s does not exist", ref)
}

// Stacks returns every namespace: nodes, instances, pods.
func (w *World) Stacks() []*netstack.Stack {
	var out []*netstack.Stack
	for _, h := range w.Nodes {
		out = append(out, h.Stack)
	}
	for _, h := range w.Instances {
		out = append(out, h.Stack)
	}
	for _, p := range w.Pods {
		out = append(out, p.Stack)
	}
	if w.Internet != nil {
		out = append(out, w.Internet.Stack)
	}
	if w.APIServer != nil {
		out = append(out, w.APIServer.Host.Stack)
	}
	return out
}

// hosts returns the nodes, the instances and the modelled API server host.
func (w *World) hosts() []*Host {
	out := append(append([]*Host(nil), w.Nodes...), w.Instances...)
	if w.APIServer != nil {
		out = append(out, w.APIServer.Host)
	}
	return out
}

// applySysctls sets a host's conf.all and conf.default keys (devices
// false) or its conf.DEV keys (devices true); keys were validated.
func applySysctls(st *netstack.Stack, sys map[string]int, devices bool) []string {
	var missing []string
	for k, v := range sys {
		scope, knob, _ := parseSysctl(k)
		var c *netstack.Conf
		switch scope {
		case "all":
			c = &st.ConfAll
		case "default":
			c = &st.ConfDefault
		default:
			if !devices {
				continue
			}
			i := st.Iface(scope)
			if i == nil {
				missing = append(missing, k)
				continue
			}
			c = &i.Conf
		}
		if (scope == "all" || scope == "default") == devices {
			continue
		}
		switch knob {
		case "rp_filter":
			c.RPFilter = uint8(v)
		case "accept_local":
			c.AcceptLocal = v != 0
		case "route_localnet":
			c.RouteLocalnet = v != 0
		}
	}
	sort.Strings(missing)
	return missing
}

// deviceSysctls applies the conf.DEV sysctls once the CNI has created the
// devices; a device that does not exist is an error at the key.
func (b *builder) deviceSysctls() {
	apply := func(kind string, i int, h *Host, sys map[string]int) {
		for _, k := range applySysctls(h.Stack, sys, true) {
			var names []string
			for _, ifc := range h.Stack.Ifaces() {
				names = append(names, ifc.Dev.Name)
			}
			b.fail(joinPath(fmt.Sprintf("%s[%d].sysctls", kind, i), k), "%s has no device for %s (devices: %s)", h.Name, k, strings.Join(names, ", "))
		}
	}
	for i, n := range b.s.Nodes {
		if h := b.w.Node(n.Name); h != nil {
			apply("nodes", i, h, n.Sysctls)
		}
	}
	for i, n := range b.s.Instances {
		if h := b.w.Host(n.Name); h != nil {
			apply("instances", i, h, n.Sysctls)
		}
	}
}
