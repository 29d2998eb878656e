// Package terway is Alibaba Cloud's Terway CNI (ACK), with its shared-ENI
// veth policy-routing datapath and its exclusive-ENI datapath, named and
// numbered as terwayd and the terway CNI binary program them.
//
// Design notes (facts from AliyunContainerService/terway, see the README):
//
//   - Pods take VPC addresses: secondary ENIs eth1, eth2… are created on
//     the node (in the node's zone, in a pod vSwitch chosen by the
//     vswitch_selection_policy; "ordered" behaves as "most", as terwayd
//     maps it), attached to the VPC, and their private IPs (primary and
//     secondary, all from the ENI's vSwitch) are the pods' addresses. The
//     VPC delivers to the ENI that owns an address: no route entry, no
//     tunnel. The node's primary ENI (eth0) is never used for pods.
//   - Shared ENI, veth (PolicyRoute): pod eth0 with <podIP>/32, "default
//     via 169.254.1.1 dev eth0 onlink" and a PERMANENT neighbour
//     169.254.1.1 → the host veth's MAC; host veth "cali" + 11 hex of
//     sha1("<ns>.<name>") with "<podIP> dev cali… scope link"; rules
//     "512: from all to <podIP> lookup main" and "2048: from <podIP>
//     lookup <1000+ENI ifindex>"; that table holds "default via <vSwitch
//     gateway> dev ethN onlink"; the node's primary IP /32 is on every
//     secondary ENI. forwarding=1 and rp_filter=0 on every device.
//   - Exclusive ENI: the ENI itself is moved into the pod as eth0
//     (<podIP>/32, "default via <vSwitch gateway> dev eth0 onlink"), plus
//     a veth pair veth1 (pod) / cali… (host) for Service and node traffic:
//     "169.254.1.1 dev veth1 scope link", "<Service CIDR> via 169.254.1.1
//     dev veth1 onlink", "<node IP> via 169.254.1.1 dev veth1". The
//     policy container installs only masquerade (terway-masq), so that
//     Service replies come back through the host.
//   - Capacity: shared (EniQuantity−1)×EniPrivateIpAddressQuantity pods,
//     exclusive EniQuantity−1; beyond it the pod is not scheduled
//     (FailedScheduling). A pod whose zone has no pod vSwitch with a free
//     address fails in the CNI (FailedCreatePodSandBox, terwayd's "no ip
//     left" / "no available vSwitch for zone"). Both leave the pod Pending
//     (cni.PendingError).
package terway

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
)

// eniip_virtual_type values and ENI modes.
const (
	Veth      = "veth"
	IPVlan    = "ipvlan"
	Shared    = "shared"
	Exclusive = "exclusive"
)

// vswitch_selection_policy values.
const (
	PolicyOrdered = "ordered"
	PolicyMost    = "most"
	PolicyRandom  = "random"
)

// Terway's rule priorities and route table numbering
// (plugin/datapath/consts_linux.go, plugin/driver/utils).
const (
	ToContainerPriority   = 512
	FromContainerPriority = 2048
	TableBase             = 1000
)

// LinkLocalGateway is the pod's gateway, 169.254.1.1.
var LinkLocalGateway = netip.MustParseAddr("169.254.1.1")

// Limits are an ECS instance type's ENI figures (DescribeInstanceTypes).
type Limits struct {
	// InstanceType names the type, e.g. "ecs.g7.4xlarge".
	InstanceType string
	// Adapters is EniQuantity (the primary ENI included).
	Adapters int
	// IPv4PerAdapter is EniPrivateIpAddressQuantity.
	IPv4PerAdapter int
}

// MaxPods is the node's pod capacity in an ENI mode: shared
// (Adapters−1)×IPv4PerAdapter, exclusive Adapters−1.
func (l Limits) MaxPods(eniMode string) int {
	if eniMode == Exclusive {
		return max(l.Adapters-1, 0)
	}
	return max(l.Adapters-1, 0) * l.IPv4PerAdapter
}

// Options are terway's eni-config and CNI configuration as netsim models them.
type Options struct {
	// VirtualType is eniip_virtual_type: "veth" (default, policy routing)
	// or "ipvlan" (the legacy IPvlan L2 datapath).
	VirtualType string
	// HostStackCIDRs are host_stack_cidrs, redirected into the host stack
	// in ipvlan mode with the Service CIDR (default DefaultHostStackCIDRs).
	HostStackCIDRs []netip.Prefix
	// ENIMode is "shared" (default, ENI multi-IP) or "exclusive".
	ENIMode string
	// VSwitchSelectionPolicy is "ordered" (the chart default, which
	// terwayd treats as "most"), "most" or "random".
	VSwitchSelectionPolicy string
	// VSwitches are eni_conf's "vswitches": the pod vSwitches of each
	// zone, in configuration order.
	VSwitches map[string][]*vpc.VSwitch
	// NodeVSwitch returns a node's own vSwitch (its primary ENI's). When
	// eni_conf lists no vSwitch for the node's zone, terwayd uses it for
	// the pods: AliyunContainerService/terway daemon/builder.go (@89aadf8,
	// lines 261-263) "if len(eniConfig.VSwitchOptions) == 0 {
	// eniConfig.VSwitchOptions = []string{vswitchID} }". May be nil.
	NodeVSwitch func(node string) *vpc.VSwitch
	// Zone returns a node's zone.
	Zone func(node string) string
	// Limits returns a node's instance type figures.
	Limits func(node string) Limits
	// Seed seeds the random selection policy.
	Seed uint64
}

func init() { cni.Register("terway", New) }

// Mode is terway configured for one cluster.
type Mode struct {
	c     *cni.Cluster
	o     Options
	rng   *rand.Rand
	nodes int
	notes []string
	// blocked are vSwitches an allocation found exhausted (terwayd's
	// SwitchPool.Block).
	blocked map[*vpc.VSwitch]bool
}

// ENI is a secondary ENI terwayd created on a node.
type ENI struct {
	*vpc.ENI
	// Name is the device name on the node (eth1, eth2…).
	Name string
	// Table is the policy routing table of its pods, 1000 + ifindex
	// (shared mode).
	Table uint32
	// Pod is the pod the ENI was moved into (exclusive mode), "NS/NAME".
	Pod string
	// Pods are the pods using its addresses (shared mode), by address.
	Pods map[netip.Addr]string
	// Slots is the number of private IPs it may hold.
	Slots int

	ipvlan *ipvlanENI // eniip_virtual_type ipvlan
}

type nodeState struct {
	zone string
	// vsws are the pod vSwitches terwayd uses on the node: its zone's,
	// or the node's own vSwitch when the zone lists none (fallback).
	vsws     []*vpc.VSwitch
	fallback bool
	limits   Limits
	enis     []*ENI
	pods     int
	ifaces   int // ENI devices created (eth1… numbering)
}

// New makes the terway mode; opts is *Options.
func New(c *cni.Cluster, opts any) (cni.Mode, error) {
	o, ok := opts.(*Options)
	if !ok || o == nil {
		return nil, fmt.Errorf("terway: options must be a non-nil *terway.Options, got %T", opts)
	}
	oo := *o
	if oo.VirtualType == "" {
		oo.VirtualType = Veth
	}
	if oo.ENIMode == "" {
		oo.ENIMode = Shared
	}
	if oo.VSwitchSelectionPolicy == "" {
		oo.VSwitchSelectionPolicy = PolicyOrdered
	}
	switch {
	case c.VPC == nil:
		return nil, fmt.Errorf("terway: pods take addresses from ENIs in the VPC: needs the Alibaba Cloud VPC underlay (underlay: vpc), not %q", c.Underlay)
	case c.IPAM == nil:
		return nil, fmt.Errorf("terway: no vSwitch address allocator (cni.Cluster.IPAM)")
	case oo.VirtualType != Veth && oo.VirtualType != IPVlan:
		return nil, fmt.Errorf("terway: eniipVirtualType %q is not modelled (only %q and %q)", oo.VirtualType, Veth, IPVlan)
	case oo.ENIMode != Shared && oo.ENIMode != Exclusive:
		return nil, fmt.Errorf("terway: unknown ENI mode %q (expected %q or %q)", oo.ENIMode, Shared, Exclusive)
	case oo.Zone == nil || oo.Limits == nil:
		return nil, fmt.Errorf("terway: options need Zone and Limits")
	}
	return &Mode{c: c, o: oo, rng: rand.New(rand.NewPCG(oo.Seed, 0x7465727761)), blocked: map[*vpc.VSwitch]bool{}}, nil
}

// Name is "terway/eniip" (shared ENI, veth) or "terway/eni" (exclusive),
// after the DaemonSets of ACK before v1.11.
func (m *Mode) Name() string {
	if m.o.ENIMode == Exclusive {
		return "terway/eni"
	}
	if m.o.VirtualType == IPVlan {
		return "terway/eniip-ipvlan"
	}
	return "terway/eniip"
}

// Options returns the effective options.
func (m *Mode) Options() Options { return m.o }

// PodMTU is terway's default MTU (the ENI's, 1500 on Alibaba Cloud).
func (m *Mode) PodMTU() int { return m.c.UnderlayMTU }

// Notes returns what terwayd would have logged.
func (m *Mode) Notes() []string { return m.notes }

// VethName is the host-side veth name terway (like Calico) gives a pod:
// "cali" and the first 11 hex digits of sha1("<namespace>.<name>").
func VethName(namespace, name string) string {
	h := sha1.Sum([]byte(namespace + "." + name))
	return "cali" + hex.EncodeToString(h[:])[:11]
}

// ENIMAC is the MAC of an ENI: Alibaba Cloud's OUI 00:16:3e and three
// bytes derived from the node and device name.
func ENIMAC(node, dev string) packet.MAC {
	h := fnv.New32a()
	h.Write([]byte("eni/" + node + "/" + dev))
	v := h.Sum32()
	return packet.MAC{0x00, 0x16, 0x3e, byte(v >> 16), byte(v >> 8), byte(v)}
}

// PodVSwitches returns the vSwitches a node's pods take addresses from,
// and whether that is the node's own vSwitch because its zone lists no
// pod vSwitch (terwayd's fallback, see Options.NodeVSwitch).
func PodVSwitches(n *cni.Node) ([]*vpc.VSwitch, bool) {
	if st, ok := n.State.(*nodeState); ok {
		return st.vsws, st.fallback
	}
	return nil, false
}

// ENIs returns the secondary ENIs terway created on a node.
func ENIs(n *cni.Node) []*ENI {
	if st, ok := n.State.(*nodeState); ok {
		return st.enis
	}
	return nil
}

// NodeLimits returns a node's instance type figures and its pod capacity
// in the mode.
func (m *Mode) NodeLimits(n *cni.Node) (Limits, int) {
	st, ok := n.State.(*nodeState)
	if !ok {
		return Limits{}, 0
	}
	return st.limits, st.limits.MaxPods(m.o.ENIMode)
}

// SetupNode sets forwarding and rp_filter as terway does and, in exclusive
// mode, the policy container's masquerade.
func (m *Mode) SetupNode(n *cni.Node) error {
	st := &nodeState{zone: m.o.Zone(n.Name), limits: m.o.Limits(n.Name)}
	st.vsws = m.o.VSwitches[st.zone]
	if len(st.vsws) == 0 && m.o.NodeVSwitch != nil {
		if sw := m.o.NodeVSwitch(n.Name); sw != nil {
			st.vsws, st.fallback = []*vpc.VSwitch{sw}, true
			m.notes = append(m.notes, fmt.Sprintf("terwayd on %s: eni_conf lists no pod vSwitch for zone %s, so its pods take addresses of the node's own vSwitch %s (%s), shared with the nodes (terway daemon/builder.go: VSwitchOptions defaults to the instance's vSwitch)",
				n.Name, st.zone, sw.Name, sw.CIDR))
		}
	}
	n.State = st
	m.nodes++
	s := n.Stack
	s.Forwarding = true
	s.ConfAll.RPFilter, s.ConfDefault.RPFilter = 0, 0
	for _, i := range s.Ifaces() {
		i.Conf.RPFilter = 0
	}
	if m.o.ENIMode == Exclusive && n.Filter != nil {
		// terway-cli policy, exclusive ENI: masq_eni_only.
		if err := n.Filter.NewChain("nat", "terway-masq"); err != nil {
			return fmt.Errorf("terway %s: %w", n.Name, err)
		}
		if err := n.Filter.Append("nat",
			`-A POSTROUTING -m comment --comment "terway:masq-outgoing" ! -o lo -j terway-masq`,
			`-A terway-masq -j MASQUERADE`,
		); err != nil {
			return fmt.Errorf("terway %s: %w", n.Name, err)
		}
	}
	return nil
}

// AddPeer does nothing: the VPC delivers to the ENI owning an address.
func (m *Mode) AddPeer(n, peer *cni.Node) error { return nil }

// AddPod schedules the pod against the node's capacity, takes an address
// (creating an ENI when needed) and wires the datapath.
func (m *Mode) AddPod(p *cni.Pod) error {
	n := p.Node
	st := n.State.(*nodeState)
	who := p.Namespace + "/" + p.Name
	if max := st.limits.MaxPods(m.o.ENIMode); st.pods >= max {
		return &cni.PendingError{Reason: "FailedScheduling", Message: m.unschedulable(n, st)}
	}
	if m.o.ENIMode == Exclusive {
		return m.addExclusive(p, st, who)
	}
	e, ip, err := m.allocate(n, st, who, p.IP)
	if err != nil {
		return err
	}
	p.IP = ip
	st.pods++
	e.Pods[ip] = who
	if m.o.VirtualType == IPVlan {
		return m.wireIPVlan(p, e, who)
	}
	return m.wireVeth(p, e, who)
}

// unschedulable is the scheduler's event for a pod pinned to a full node.
func (m *Mode) unschedulable(n *cni.Node, st *nodeState) string {
	what := "Too many pods"
	if m.o.ENIMode == Exclusive {
		what = "Insufficient aliyun/eni"
	}
	msg := fmt.Sprintf("0/%d nodes are available: 1 %s", m.nodes, what)
	if m.nodes > 1 {
		msg += fmt.Sprintf(", %d node(s) didn't match Pod's node affinity/selector", m.nodes-1)
	}
	return msg + fmt.Sprintf(". (node %s, %s: %d ENIs × %d private IPs: %s pod capacity %d, all in use)",
		n.Name, st.limits.InstanceType, st.limits.Adapters, st.limits.IPv4PerAdapter, m.o.ENIMode, st.limits.MaxPods(m.o.ENIMode))
}

// sandboxError is the kubelet event of a CNI ADD that terwayd failed.
func sandboxError(err string) *cni.PendingError {
	return &cni.PendingError{Reason: "FailedCreatePodSandBox",
		Message: `Failed to create pod sandbox: plugin type="terway" failed (add): error alloc ip: ` + err}
}

// pickVSwitch chooses a pod vSwitch of the node's zone by the selection
// policy, skipping those without a free address (terway's SwitchPool.GetOne).
func (m *Mode) pickVSwitch(st *nodeState) (*vpc.VSwitch, error) {
	ids := slices.Clone(st.vsws)
	switch m.o.VSwitchSelectionPolicy {
	case PolicyRandom:
		m.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	default: // "ordered" is mapped to "most" by terwayd ("keep the previous behave")
		sort.SliceStable(ids, func(i, j int) bool { return m.available(ids[i]) > m.available(ids[j]) })
	}
	var errs, names []string
	for _, sw := range ids {
		names = append(names, sw.Name)
		if m.available(sw) == 0 {
			errs = append(errs, sw.Name+" no ip left")
			continue
		}
		return sw, nil
	}
	errs = append(errs, fmt.Sprintf("no available vSwitch for zone %s, vswList [%s]", st.zone, strings.Join(names, " ")))
	return nil, sandboxError("[" + strings.Join(errs, ", ") + "]")
}

func (m *Mode) available(sw *vpc.VSwitch) int {
	if m.blocked[sw] {
		return 0
	}
	return m.c.IPAM.Available(sw)
}

// newENI creates and attaches a secondary ENI in sw (CreateNetworkInterface,
// AttachNetworkInterface) with primary address ip.
func (m *Mode) newENI(n *cni.Node, st *nodeState, sw *vpc.VSwitch, ip netip.Addr) (*ENI, *link.Device, error) {
	st.ifaces++
	name := fmt.Sprintf("eth%d", st.ifaces)
	dev := link.NewDevice(m.c.Env, n.Name, name, "device", link.Ether, m.c.UnderlayMTU, ENIMAC(n.Name, name), nil)
	ve, err := m.c.VPC.Attach(n.Name, sw, dev, ip)
	if err != nil {
		return nil, nil, fmt.Errorf("terway %s: %w", n.Name, err)
	}
	e := &ENI{ENI: ve, Name: name, Pods: map[netip.Addr]string{}, Slots: st.limits.IPv4PerAdapter}
	st.enis = append(st.enis, e)
	return e, dev, nil
}

// allocate finds an address for a shared-ENI pod: a free slot on an
// existing ENI (a secondary IP from that ENI's vSwitch,
// AssignPrivateIpAddresses), or a new ENI in a vSwitch the policy picks.
// want, when valid, is a pinned address.
func (m *Mode) allocate(n *cni.Node, st *nodeState, who string, want netip.Addr) (*ENI, netip.Addr, error) {
	var ipNotEnough []string
	for _, e := range st.enis {
		if len(e.Pods) >= e.Slots || (want.IsValid() && !e.VSwitch.CIDR.Contains(want)) {
			continue
		}
		if _, used := e.Pods[e.Primary]; !used && (!want.IsValid() || want == e.Primary) {
			return e, e.Primary, nil
		}
		ip := want
		if ip.IsValid() {
			if !m.c.IPAM.Take(e.VSwitch, ip) {
				return nil, netip.Addr{}, fmt.Errorf("terway %s: pod %s: requested IP %s is already in use in vSwitch %s", n.Name, who, ip, e.VSwitch.Name)
			}
		} else if m.blocked[e.VSwitch] {
			continue
		} else if ip = m.c.IPAM.Allocate(e.VSwitch); !ip.IsValid() {
			m.blocked[e.VSwitch] = true
			ipNotEnough = append(ipNotEnough, fmt.Sprintf(`Aliyun API Error: Code: InvalidVSwitchId.IpNotEnough Message: The specified VSwitch "%s" has not enough IpAddress.`, e.VSwitch.Name))
			continue
		}
		if err := m.c.VPC.AddSecondaryIP(e.ENI, ip); err != nil {
			return nil, netip.Addr{}, fmt.Errorf("terway %s: %w", n.Name, err)
		}
		return e, ip, nil
	}
	if len(st.enis) >= st.limits.Adapters-1 {
		if len(ipNotEnough) > 0 {
			return nil, netip.Addr{}, sandboxError(strings.Join(ipNotEnough, "; ") + fmt.Sprintf(" (and %s already has its %d secondary ENIs)", n.Name, st.limits.Adapters-1))
		}
		what := "a new address"
		if want.IsValid() {
			what = want.String() + " (its vSwitch's ENIs are full)"
		}
		return nil, netip.Addr{}, sandboxError(fmt.Sprintf("%s has its %d secondary ENIs (%s) and none has a free slot for %s", n.Name, st.limits.Adapters-1, st.limits.InstanceType, what))
	}
	var sw *vpc.VSwitch
	primary := netip.Addr{}
	if want.IsValid() {
		for _, s := range st.vsws {
			if s.CIDR.Contains(want) {
				sw = s
			}
		}
		if sw == nil {
			return nil, netip.Addr{}, fmt.Errorf("terway %s: pod %s: requested IP %s is in none of zone %s's pod vSwitches", n.Name, who, want, st.zone)
		}
		if !m.c.IPAM.Take(sw, want) {
			return nil, netip.Addr{}, fmt.Errorf("terway %s: pod %s: requested IP %s is already in use in vSwitch %s", n.Name, who, want, sw.Name)
		}
		primary = want
	} else {
		s, err := m.pickVSwitch(st)
		if err != nil {
			if len(ipNotEnough) > 0 {
				err.(*cni.PendingError).Message += " (" + strings.Join(ipNotEnough, "; ") + ")"
			}
			return nil, netip.Addr{}, err
		}
		sw = s
		primary = m.c.IPAM.Allocate(sw)
	}
	e, dev, err := m.newENI(n, st, sw, primary)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	if err := m.setupENI(n, e, dev); err != nil {
		return nil, netip.Addr{}, err
	}
	return e, primary, nil
}

// setupENI configures a new shared ENI on the node as
// GenerateENICfgForPolicy does: up, the node's primary IP /32, rp_filter 0,
// and its table's default route via the vSwitch gateway.
func (m *Mode) setupENI(n *cni.Node, e *ENI, dev *link.Device) error {
	s := n.Stack
	ifc := s.AddIface(dev)
	ifc.Conf.RPFilter = 0
	if m.o.VirtualType == IPVlan {
		return m.setupIPVlanENI(n, e, ifc)
	}
	e.Table = uint32(TableBase + int(dev.Index))
	if err := s.AddAddrAlias(e.Name, netip.PrefixFrom(n.IP, 32)); err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	return m.eniTable(n, e, ifc)
}

// wireVeth is the PolicyRoute datapath for a shared-ENI pod.
func (m *Mode) wireVeth(p *cni.Pod, e *ENI, who string) error {
	n := p.Node
	mtu := m.PodMTU()
	if p.MTU != 0 {
		mtu = p.MTU
	}
	host := VethName(p.Namespace, p.Name)
	podEnd, hostEnd := link.NewVethPair(m.c.Env, who, "eth0", cni.LocalMAC(who+"/eth0"), n.Name, host, cni.LocalMAC(n.Name+"/"+host), mtu)
	hi := n.Stack.AddIface(hostEnd)
	hi.Conf.RPFilter = 0
	p.HostVeth = hostEnd
	ps := p.Stack
	pi := ps.AddIface(podEnd)
	if err := ps.AddAddr("eth0", netip.PrefixFrom(p.IP, 32)); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := ps.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: LinkLocalGateway, Dev: pi, Onlink: true}); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := ps.AddNeigh("eth0", LinkLocalGateway, hostEnd.MAC, true); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := n.Stack.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(p.IP, 32), Dev: hi, Scope: "link"}); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	return m.podRules(n, e, p.IP)
}

// addExclusive moves a new ENI into the pod as eth0 and adds the veth1
// pair for Service and node traffic.
func (m *Mode) addExclusive(p *cni.Pod, st *nodeState, who string) error {
	n := p.Node
	var sw *vpc.VSwitch
	ip := p.IP
	if ip.IsValid() {
		for _, s := range st.vsws {
			if s.CIDR.Contains(ip) {
				sw = s
			}
		}
		if sw == nil {
			return fmt.Errorf("terway %s: pod %s: requested IP %s is in none of zone %s's pod vSwitches", n.Name, who, ip, st.zone)
		}
		if !m.c.IPAM.Take(sw, ip) {
			return fmt.Errorf("terway %s: pod %s: requested IP %s is already in use in vSwitch %s", n.Name, who, ip, sw.Name)
		}
	} else {
		s, err := m.pickVSwitch(st)
		if err != nil {
			return err
		}
		sw, ip = s, m.c.IPAM.Allocate(s)
	}
	e, dev, err := m.newENI(n, st, sw, ip)
	if err != nil {
		return err
	}
	e.Pod, e.Slots = who, 1
	e.Pods[ip] = who
	p.IP = ip
	st.pods++
	// LinkSetDown, rename to a random name, LinkSetNsFd, rename to eth0.
	dev.Name = "eth0"
	ps := p.Stack
	eth0 := ps.AddIface(dev)
	if err := ps.AddAddr("eth0", netip.PrefixFrom(ip, 32)); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := ps.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: sw.Gateway, Dev: eth0, Onlink: true}); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	host := VethName(p.Namespace, p.Name)
	podEnd, hostEnd := link.NewVethPair(m.c.Env, who, "veth1", cni.LocalMAC(who+"/veth1"), n.Name, host, cni.LocalMAC(n.Name+"/"+host), m.PodMTU())
	hi := n.Stack.AddIface(hostEnd)
	hi.Conf.RPFilter = 0
	p.HostVeth = hostEnd
	v1 := ps.AddIface(podEnd)
	if err := ps.AddAddrAlias("veth1", netip.PrefixFrom(ip, 32)); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	gw := netip.PrefixFrom(LinkLocalGateway, 32)
	for _, r := range []*netstack.Route{
		{Dst: gw, Dev: v1, Scope: "link"},
		{Dst: m.c.ServiceCIDR, Gw: LinkLocalGateway, Dev: v1, Onlink: true},
		{Dst: netip.PrefixFrom(n.IP, 32), Gw: LinkLocalGateway, Dev: v1},
	} {
		if err := ps.AddRoute(r); err != nil {
			return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
		}
	}
	if err := ps.AddNeigh("veth1", LinkLocalGateway, hostEnd.MAC, true); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := n.Stack.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(ip, 32), Dev: hi, Scope: "link"}); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	return nil
}
