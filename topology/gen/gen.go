// Package gen writes scenarios of N nodes × P pods for each CNI netsim
// models, for measuring how netsim scales (`netsim gen`, `make scale`).
//
// A generated scenario is an ACK-shaped cluster: nodes spread over three
// zones (one L2 segment for the CNIs that need one), vSwitches sized by
// Alibaba Cloud's rules (the smallest block that holds its addresses plus
// the four the VPC reserves, no larger than /16, several per zone when
// one /16 is not enough), a pod network sized for every node's block,
// two Services over two pods each and a handful of flows (pod to pod on
// one node and across nodes, pod to Service) that are expected to be
// delivered.
package gen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"slices"

	"netsim/topology/ack"
	"netsim/topology/ackplan"
)

// The CNI modes the generator writes.
const (
	FlannelVXLAN  = "flannel-vxlan"
	FlannelHostGW = "flannel-hostgw"
	FlannelAliVPC = "flannel-alivpc"
	Terway        = "terway"
	CalicoIPIP    = "calico-ipip"
	CalicoBGP     = "calico-bgp"
)

// Modes lists the CNI modes Write accepts, in a fixed order.
func Modes() []string {
	return []string{FlannelVXLAN, FlannelHostGW, FlannelAliVPC, Terway, CalicoIPIP, CalicoBGP}
}

// Options say what to generate.
type Options struct {
	// CNI is one of Modes().
	CNI string
	// Nodes is the number of nodes, at least 2 (the flows cross nodes).
	Nodes int
	// Pods is the number of pods on each node, at least 2.
	Pods int
}

// Limits of the generator itself (the scenario's own limits are
// netsim's, checked when it loads).
const (
	// MaxNodes is the most nodes Write generates: ACK Pro's largest
	// Terway cluster (ackplan.TerwayMaxNodes).
	MaxNodes = ackplan.TerwayMaxNodes
	// MaxPods is the most pods per node Write generates.
	MaxPods = 250
)

// zones are the zones of a VPC-underlay cluster.
var zones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}

// Generate returns the scenario Write writes.
func Generate(o Options) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, o); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes a scenario of o.Nodes nodes with o.Pods pods each for
// o.CNI to w.
func Write(w io.Writer, o Options) error {
	if !slices.Contains(Modes(), o.CNI) {
		return fmt.Errorf("gen: unknown CNI %q (one of %v)", o.CNI, Modes())
	}
	if o.Nodes < 2 || o.Nodes > MaxNodes {
		return fmt.Errorf("gen: %d nodes: want 2 to %d", o.Nodes, MaxNodes)
	}
	if o.Pods < 2 || o.Pods > MaxPods {
		return fmt.Errorf("gen: %d pods per node: want 2 to %d", o.Pods, MaxPods)
	}
	l, err := plan(o)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	l.write(bw)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen: writing the scenario: %w", err)
	}
	return nil
}

// vswitch is one generated vSwitch.
type vswitch struct {
	name, zone string
	cidr       netip.Prefix
}

// layout is the address plan of one generated scenario.
type layout struct {
	o        Options
	underlay string
	vpc      netip.Prefix
	nodeVSW  []vswitch   // the node vSwitches, one per zone
	podVSW   [][]vswitch // Terway: the pod vSwitches of each zone
	podCIDR  netip.Prefix
	nodeMask int    // flannel: node pod CIDR mask; calico: block size
	itype    string // Terway: the nodes' instance type
}

// prefixBits is the longest prefix length whose block holds n addresses.
func prefixBits(n int) int {
	if n <= 1 {
		return 32
	}
	return 32 - bits.Len(uint(n-1))
}

// allocator hands out aligned blocks from a range, in order.
type allocator struct {
	next, end uint64
}

func newAllocator(p netip.Prefix) *allocator {
	a := p.Addr().As4()
	start := uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
	return &allocator{next: start, end: start + 1<<(32-p.Bits())}
}

func (a *allocator) take(bits int) (netip.Prefix, bool) {
	size := uint64(1) << (32 - bits)
	start := (a.next + size - 1) &^ (size - 1)
	if start+size > a.end {
		return netip.Prefix{}, false
	}
	a.next = start + size
	u := uint32(start)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), bits), true
}

// vswitchBits is the prefix length of a vSwitch for n addresses: the
// smallest block that holds them and the ones Alibaba Cloud reserves,
// within ACK's vSwitch masks.
func vswitchBits(n int) int {
	return min(max(prefixBits(n+ackplan.VSwitchReserved), ackplan.MinVSwitchMask), ackplan.MaxVSwitchMask)
}

// perZone splits n items over z zones, the first zones taking one more.
func perZone(n, z, i int) int {
	q, r := n/z, n%z
	if i < r {
		return q + 1
	}
	return q
}

// plan lays out the addresses of o.
func plan(o Options) (*layout, error) {
	l := &layout{o: o, underlay: "vpc"}
	zs := zones[:min(len(zones), o.Nodes)]
	if o.CNI == FlannelHostGW || o.CNI == CalicoBGP {
		// One Ethernet segment: host-gw and BGP without encapsulation
		// need their peers on-link (an ACK VPC's vRouter drops them).
		l.underlay, zs = "l2", []string{"dc-1"}
	}
	l.vpc = netip.MustParsePrefix("192.168.0.0/16")
	if o.CNI == Terway {
		l.vpc = netip.MustParsePrefix("10.0.0.0/8")
	}
	alloc := newAllocator(l.vpc)
	for i, z := range zs {
		n := perZone(o.Nodes, len(zs), i)
		b := vswitchBits(n + 1) // + the zone's database instance
		p, ok := alloc.take(b)
		if !ok {
			return nil, fmt.Errorf("gen: %d nodes do not fit in VPC %s", o.Nodes, l.vpc)
		}
		name := fmt.Sprintf("vsw-node-%c", 'a'+i)
		if l.underlay == "l2" {
			name = "rack-1"
		}
		l.nodeVSW = append(l.nodeVSW, vswitch{name, z, p})
	}
	switch o.CNI {
	case Terway:
		t, err := instanceType(o.Pods)
		if err != nil {
			return nil, err
		}
		l.itype = t
		per := 1<<(32-ackplan.MinVSwitchMask) - ackplan.VSwitchReserved
		for i, z := range zs {
			need := perZone(o.Nodes, len(zs), i) * o.Pods
			var vs []vswitch
			for j := 0; need > 0; j++ {
				n := min(need, per)
				need -= n
				p, ok := alloc.take(vswitchBits(n))
				if !ok {
					return nil, fmt.Errorf("gen: %d pods do not fit in VPC %s", o.Nodes*o.Pods, l.vpc)
				}
				vs = append(vs, vswitch{fmt.Sprintf("vsw-pod-%c%d", 'a'+i, j+1), z, p})
			}
			l.podVSW = append(l.podVSW, vs)
		}
	case CalicoIPIP, CalicoBGP:
		// One block a node; a block with a tunnel address loses one.
		l.nodeMask = 26
		for l.nodeMask > ackplan.MinCalicoBlock && 1<<(32-l.nodeMask)-1 < o.Pods {
			l.nodeMask--
		}
		l.podCIDR = podNetwork(o.Nodes, l.nodeMask)
	default:
		// host-local hands out the node pod CIDR less its network, cni0's
		// and the broadcast address (netsim's bound; ACK quotes 2 more).
		fits := func(mask int) bool { return 1<<(32-mask)-3 >= o.Pods }
		l.nodeMask = ackplan.MaxNodeMask
		for l.nodeMask > ackplan.MinNodeMask && !fits(l.nodeMask) {
			l.nodeMask--
		}
		if !fits(l.nodeMask) {
			return nil, fmt.Errorf("gen: %d pods per node are more than flannel's largest node pod CIDR (/%d) holds", o.Pods, ackplan.MinNodeMask)
		}
		l.podCIDR = podNetwork(o.Nodes, l.nodeMask)
	}
	return l, nil
}

// podNetwork is the cluster pod CIDR for nodes blocks of /mask, out of
// 10.0.0.0/8 (no larger than needed, no smaller than /16).
func podNetwork(nodes, mask int) netip.Prefix {
	b := min(prefixBits(nodes<<(32-mask)), 16)
	return netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), max(b, 8))
}

// instanceType is the built-in instance type with the smallest shared-ENI
// pod capacity that holds pods and can join a cluster.
func instanceType(pods int) (string, error) {
	best, bestPods := "", 0
	for _, name := range ack.BuiltinNames() {
		t, _ := ack.Builtin(name)
		if ok, _ := t.CanJoin(ack.SharedENI); !ok || !t.Verified(ack.FieldENIs) || !t.Verified(ack.FieldIPv4PerENI) {
			continue
		}
		if n := t.SharedENIPods(); n >= pods && (best == "" || n < bestPods) {
			best, bestPods = name, n
		}
	}
	if best == "" {
		return "", fmt.Errorf("gen: no built-in instance type holds %d Terway pods a node", pods)
	}
	return best, nil
}

// nodeName and podName name the generated objects (1-based).
func nodeName(i int) string   { return fmt.Sprintf("node-%d", i) }
func podName(n, i int) string { return fmt.Sprintf("p-%d-%d", n, i) }

func (l *layout) write(w *bufio.Writer) {
	o := l.o
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Generated by netsim gen --cni %s --nodes %d --pods %d.\n", o.CNI, o.Nodes, o.Pods)
	p("name: gen-%s-%dx%d\n", o.CNI, o.Nodes, o.Pods)
	p("description: %d nodes × %d pods, %s (generated).\n", o.Nodes, o.Pods, o.CNI)
	p("seed: 1\n")
	p("vpc:\n  name: vpc-gen\n  cidr: %s\n  underlay: %s\n", l.vpc, l.underlay)
	if o.CNI == FlannelAliVPC {
		// One custom route entry a node.
		p("  routeQuota: %d\n", max(o.Nodes, ackplan.DefaultRouteQuota))
	}
	p("  vswitches:\n")
	for _, v := range l.nodeVSW {
		p("    - {name: %s, zone: %s, cidr: %s}\n", v.name, v.zone, v.cidr)
	}
	for _, vs := range l.podVSW {
		for _, v := range vs {
			p("    - {name: %s, zone: %s, cidr: %s}\n", v.name, v.zone, v.cidr)
		}
	}
	// Nodes round-robin over the zones; addresses are left to netsim.
	p("nodes:\n")
	for i := 1; i <= o.Nodes; i++ {
		v := l.nodeVSW[(i-1)%len(l.nodeVSW)]
		if l.itype != "" {
			p("  - {name: %s, vswitch: %s, instanceType: %s}\n", nodeName(i), v.name, l.itype)
		} else {
			p("  - {name: %s, vswitch: %s}\n", nodeName(i), v.name)
		}
	}
	p("instances:\n  - name: ecs-db\n    vswitch: %s\n    ports: [{port: 3306, name: mysql}]\n", l.nodeVSW[0].name)
	p("cluster:\n")
	if l.podCIDR.IsValid() {
		p("  podCIDR: %s\n", l.podCIDR)
	}
	if l.nodeMask != 0 && o.CNI != CalicoIPIP && o.CNI != CalicoBGP {
		p("  nodeCIDRMask: %d\n", l.nodeMask)
	}
	p("  serviceCIDR: 172.21.0.0/20\n  cni:\n")
	switch o.CNI {
	case FlannelVXLAN:
		p("    mode: flannel\n    flannel: {backend: vxlan}\n")
	case FlannelHostGW:
		p("    mode: flannel\n    flannel: {backend: host-gw}\n")
	case FlannelAliVPC:
		p("    mode: flannel\n    flannel: {backend: alivpc}\n")
	case Terway:
		p("    mode: terway\n    terway:\n      eniMode: shared\n      eniipVirtualType: veth\n      podVSwitches:\n")
		for i, vs := range l.podVSW {
			p("        %s: [", l.nodeVSW[i].zone)
			for j, v := range vs {
				if j > 0 {
					p(", ")
				}
				p("%s", v.name)
			}
			p("]\n")
		}
	case CalicoIPIP:
		p("    mode: calico\n    calico: {ipipMode: Always, vxlanMode: Never, blockSize: %d}\n", l.nodeMask)
	case CalicoBGP:
		p("    mode: calico\n    calico: {ipipMode: Never, vxlanMode: Never, blockSize: %d}\n", l.nodeMask)
	}
	// Pods: p-1-2 and p-2-2 are app=api, the first pod of the last two
	// nodes app=db (the two Services select them); the others carry no
	// labels. The Services' pods listen on 8080.
	p("pods:\n")
	for n := 1; n <= o.Nodes; n++ {
		for i := 1; i <= o.Pods; i++ {
			switch {
			case i == 2 && n <= 2:
				p("  - {name: %s, node: %s, labels: {app: api}, ports: [{port: 8080, name: http}]}\n", podName(n, i), nodeName(n))
			case i == 1 && n >= o.Nodes-1:
				p("  - {name: %s, node: %s, labels: {app: db}, ports: [{port: 8080, name: http}]}\n", podName(n, i), nodeName(n))
			default:
				p("  - {name: %s, node: %s}\n", podName(n, i), nodeName(n))
			}
		}
	}
	p("resources:\n")
	for _, svc := range []string{"api", "db"} {
		p("  - apiVersion: v1\n    kind: Service\n    metadata: {name: %s, namespace: default}\n", svc)
		p("    spec:\n      selector: {app: %s}\n      ports: [{name: http, port: 80, targetPort: http}]\n", svc)
	}
	p("flows:\n")
	if o.CNI == CalicoBGP {
		// On an L2 segment nothing gives the nodes a default route, and
		// calico's proxy ARP for 169.254.1.1 answers only with one (see
		// scenarios/calico-bgp.yaml): the nodes of the flows get one.
		for _, i := range slices.Compact([]int{1, 2, max(o.Nodes-1, 3), max(o.Nodes, 3)}) {
			if i > o.Nodes {
				continue
			}
			n := nodeName(i)
			p("  - {name: default-route-%s, action: add-node-route, node: %s, route: default via %s dev eth0}\n", n, n, gateway(l.nodeVSW[0].cidr))
		}
	}
	p("  - {name: pod-to-pod-same-node, from: pod/%s, to: pod/%s, expect: delivered}\n", podName(1, 1), podName(1, 2))
	p("  - {name: pod-to-pod-cross-node, from: pod/%s, to: pod/%s, protocol: tcp, port: 8080, expect: delivered}\n", podName(1, 1), podName(o.Nodes, 1))
	p("  - {name: pod-to-pod-cross-node-icmp, from: pod/%s, to: pod/%s, expect: delivered}\n", podName(o.Nodes, 3%o.Pods+1), podName(1, 2))
	p("  - {name: pod-to-service, from: pod/%s, to: svc/api, protocol: tcp, port: 80, count: 2, expect: delivered}\n", podName(o.Nodes, 1))
	p("  - {name: pod-to-service-db, from: pod/%s, to: svc/db, protocol: tcp, port: 80, expect: delivered}\n", podName(1, 2))
}

// gateway is an address of the segment no node or instance has: the last
// but one (the generated vSwitches hold their addresses and four more,
// and netsim allocates from the bottom).
func gateway(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	u := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) + 1<<(32-p.Bits()) - 2
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
