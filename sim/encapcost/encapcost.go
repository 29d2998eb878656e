// Package encapcost derives the modelled cost of each CNI mode's data path
// from traced runs of the simulator: the bytes a pod-to-pod UDP datagram
// puts on the underlay per payload byte, and the work one warm packet
// meets on the way (namespaces, device transmissions, route lookups,
// netfilter hooks and rules, conntrack, encapsulations, userspace).
//
// Nothing here is written by hand per mode: every figure is read from the
// simulator's world (the pod MTU the CNI set), from the frames it moved
// (the lengths a capture sees) and from the hops of its trace. They are
// modelled figures (what the simulator's model of the kernel and the VPC
// does), not measurements of a kernel.
package encapcost

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/topology"
)

// Mode is one CNI data path.
type Mode struct {
	// Name is how the tables name the mode, e.g. "flannel vxlan".
	Name string
	// cni is the scenario's cluster.cni value; underlay its vpc.underlay.
	cni, underlay string
	// extra are lines added to the scenario (node routes a mode needs).
	extra string
	// terway is a Terway mode (pods on ENI addresses, no pod CIDR).
	terway, exclusive bool
}

// Modes are the data paths the model reports, in table order: Flannel's
// four backends, Calico's three, Terway's three.
func Modes() []Mode {
	bgpRoutes := "  - {action: add-node-route, node: node-1, route: default via 192.168.0.1 dev eth0}\n" +
		"  - {action: add-node-route, node: node-2, route: default via 192.168.0.1 dev eth0}\n"
	return []Mode{
		{Name: "flannel vxlan", cni: "{mode: flannel, flannel: {backend: vxlan}}", underlay: "vpc"},
		{Name: "flannel host-gw", cni: "{mode: flannel, flannel: {backend: host-gw}}", underlay: "l2"},
		{Name: "flannel alivpc", cni: "{mode: flannel, flannel: {backend: alivpc}}", underlay: "vpc"},
		{Name: "flannel udp", cni: "{mode: flannel, flannel: {backend: udp}}", underlay: "vpc"},
		{Name: "calico ipip", cni: "{mode: calico, calico: {ipipMode: Always}}", underlay: "vpc"},
		{Name: "calico vxlan", cni: "{mode: calico, calico: {vxlanMode: Always}}", underlay: "vpc"},
		// BGP routes pod CIDRs between nodes on one L2 segment; the nodes
		// need a default route to proxy-ARP 169.254.1.1 for their pods.
		{Name: "calico bgp", cni: "{mode: calico, calico: {ipipMode: Never}}", underlay: "l2", extra: bgpRoutes},
		{Name: "terway veth", cni: "{mode: terway, terway: {eniMode: shared, eniipVirtualType: veth, podVSwitches: {zone-a: [vsw-pod]}}}", underlay: "vpc", terway: true},
		{Name: "terway ipvlan", cni: "{mode: terway, terway: {eniMode: shared, eniipVirtualType: ipvlan, podVSwitches: {zone-a: [vsw-pod]}}}", underlay: "vpc", terway: true},
		{Name: "terway exclusive", cni: "{mode: terway, terway: {eniMode: exclusive, podVSwitches: {zone-a: [vsw-pod]}}}", underlay: "vpc", terway: true, exclusive: true},
	}
}

// Payloads are the UDP payload sizes the wire table reports, before the
// mode's largest (MTU-limited) one.
var Payloads = []int{64, 512, 1400}

// Wire is one payload size's cost on the wire.
type Wire struct {
	// Payload is the UDP payload in bytes.
	Payload int `json:"payload"`
	// Frame is the Ethernet frame the underlay carries (header included;
	// no preamble, FCS or inter-frame gap).
	Frame int `json:"frame_bytes"`
}

// PerByte is wire bytes per payload byte.
func (w Wire) PerByte() float64 { return float64(w.Frame) / float64(w.Payload) }

// Work is what one warm datagram from pod a on node-1 to pod b on node-2
// meets, counted from its trace up to its delivery in pod b (the request
// direction only): warm means every neighbour is resolved and its
// conntrack entries have seen a reply (ESTABLISHED), so the nat table is
// not consulted, as for every packet of a flow after its first.
type Work struct {
	// Namespaces counts the network namespaces (and the VPC or L2 fabric)
	// the packet passes through, entering each once a visit.
	Namespaces int `json:"namespaces"`
	// Transmits counts device transmissions (trace "tx" hops).
	Transmits int `json:"transmits"`
	// Routes counts kernel route lookups; Fabric the VPC vRouter and L2
	// switch decisions.
	Routes int `json:"route_lookups"`
	Fabric int `json:"fabric_lookups"`
	// Neighbours counts neighbour (ARP table) lookups; FDB bridge and
	// VXLAN forwarding database lookups.
	Neighbours int `json:"neighbour_lookups"`
	FDB        int `json:"fdb_lookups"`
	// Hooks counts netfilter hook traversals in which a rule matched (one
	// per node and table and hook, e.g. node-1 filter FORWARD); Rules the
	// rules that matched.
	Hooks int `json:"netfilter_hooks"`
	Rules int `json:"netfilter_rules"`
	// Conntrack counts conntrack lookups and updates.
	Conntrack int `json:"conntrack"`
	// Encaps and Decaps count tunnel headers added and removed.
	Encaps int `json:"encaps"`
	Decaps int `json:"decaps"`
	// Userspace counts a userspace program's reads and writes (flanneld
	// in udp mode).
	Userspace int `json:"userspace"`
}

// Cost is one mode's modelled cost.
type Cost struct {
	Mode string `json:"mode"`
	// PodMTU is the MTU of the pod's eth0, as the CNI set it.
	PodMTU int `json:"pod_mtu"`
	// Overhead is the bytes the mode adds to a pod's frame on the wire.
	Overhead int `json:"overhead_bytes"`
	// Wire is the cost at each of Payloads and at MaxPayload, the largest
	// UDP payload the pod MTU lets through unfragmented.
	Wire       []Wire `json:"wire"`
	MaxPayload int    `json:"max_payload"`
	Work       Work   `json:"work"`
}

const (
	ipv4Header = 20
	udpHeader  = 8
	ethHeader  = 14
)

// scenario is the two-node, two-pod scenario of the mode with one warm-up
// UDP flow from pod a to pod b.
func (m Mode) scenario() string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: encapcost\nseed: 1\nvpc:\n  cidr: 192.168.0.0/16\n  underlay: %s\n  vswitches:\n", m.underlay)
	b.WriteString("    - {name: vsw-a, zone: zone-a, cidr: 192.168.0.0/24}\n")
	if m.terway {
		b.WriteString("    - {name: vsw-pod, zone: zone-a, cidr: 192.168.16.0/24}\n")
	}
	instance := ""
	if m.exclusive {
		instance = "instanceType: ecs.g7.4xlarge, " // more than six ENIs
	}
	fmt.Fprintf(&b, "nodes:\n  - {name: node-1, vswitch: vsw-a, %sip: 192.168.0.10}\n  - {name: node-2, vswitch: vsw-a, %sip: 192.168.0.11}\n", instance, instance)
	b.WriteString("cluster:\n")
	if !m.terway {
		b.WriteString("  podCIDR: 172.20.0.0/16\n")
	}
	fmt.Fprintf(&b, "  serviceCIDR: 172.21.0.0/20\n  cni: %s\n", m.cni)
	b.WriteString("pods:\n  - {name: a, node: node-1}\n  - {name: b, node: node-2, ports: [{port: 9000, protocol: UDP}]}\nflows:\n")
	b.WriteString(m.extra)
	b.WriteString("  - {name: warm, from: pod/a, to: pod/b, protocol: udp, port: 9000, size: 64, expect: delivered}\n")
	return b.String()
}

// Scenario is the mode's scenario: two nodes on one vSwitch (or L2
// segment), pod a on node-1, pod b on node-2 listening on UDP 9000 (an
// echo), and one warm-up flow of a 64-byte datagram from a to b.
func (m Mode) Scenario() (*topology.Scenario, error) {
	s, err := topology.Parse(strings.ReplaceAll(m.Name, " ", "-")+".yaml", []byte(m.scenario()))
	if err != nil {
		return nil, fmt.Errorf("%s: the scenario: %w", m.Name, err)
	}
	return s, nil
}

// frame is one frame a device sent.
type frame struct {
	id  uint64
	len int
}

// recorder is a link.Capturer that keeps the length of every frame sent.
type recorder struct{ frames []frame }

// Capture implements link.Capturer.
func (r *recorder) Capture(_ *link.Device, dir link.Dir, pkt *packet.Buffer) {
	if dir == link.Out {
		r.frames = append(r.frames, frame{id: pkt.ID, len: pkt.Len()})
	}
}

// sport is pod a's UDP port for the measured datagrams.
const sport = 40000

// Measure builds the mode's scenario, runs its warm-up flow (neighbours
// resolved), and then, for each payload size, sends a datagram from pod a
// to pod b and has b's echo answer it (the conntrack entry has seen a
// reply: ESTABLISHED), and sends one more, traced and captured: its hops
// and frames give the cost.
func Measure(m Mode) (Cost, error) {
	c := Cost{Mode: m.Name}
	s, err := m.Scenario()
	if err != nil {
		return c, err
	}
	r, err := sim.NewRunner(s)
	if err != nil {
		return c, fmt.Errorf("%s: building: %w", m.Name, err)
	}
	res, err := r.Run(sim.Options{})
	if err != nil {
		return c, fmt.Errorf("%s: the warm-up flow: %w", m.Name, err)
	}
	if !res.AllMet() {
		return c, fmt.Errorf("%s: the warm-up flow: %s %s", m.Name, res.Flows[0].Verdict.Result, res.Flows[0].Verdict.Detail)
	}
	w := r.World
	a, b := w.Pod("a"), w.Pod("b")
	if a == nil || b == nil {
		return c, fmt.Errorf("%s: pods a and b not built", m.Name)
	}
	eth0 := a.Stack.Iface("eth0")
	if eth0 == nil {
		return c, fmt.Errorf("%s: pod a has no eth0", m.Name)
	}
	c.PodMTU = eth0.Dev.MTU
	c.MaxPayload = c.PodMTU - ipv4Header - udpHeader
	a.Stack.ListenUDP(sport, false) // takes b's echoes silently
	dst := netip.AddrPortFrom(b.IP, 9000)
	rec := &recorder{}
	for i, size := range append(slices.Clone(Payloads), c.MaxPayload) {
		w.Env.Trace, w.Env.Capture = nil, nil
		if !a.Stack.SendUDP(sport, dst, size, netstack.DFWant, 0) {
			return c, fmt.Errorf("%s: pod a could not send %d bytes", m.Name, size)
		}
		r.Loop.Run()
		r.Rec.Reset()
		r.Rec.Hops = true
		rec.frames = rec.frames[:0]
		w.Env.Trace, w.Env.Capture = r.Rec, rec
		a.Stack.SendUDP(sport, dst, size, netstack.DFWant, 0)
		r.Loop.Run()
		w.Env.Trace, w.Env.Capture = nil, nil
		hops, err := request(r.Rec.HopList(), b.Ref())
		if err != nil {
			return c, fmt.Errorf("%s: %d-byte datagram: %w", m.Name, size, err)
		}
		wire, overhead, err := wireCost(size, rec.frames, packets(hops))
		if err != nil {
			return c, fmt.Errorf("%s: %d-byte datagram: %w", m.Name, size, err)
		}
		if i == 0 {
			c.Overhead = overhead
			c.Work = countWork(hops)
		} else if overhead != c.Overhead {
			return c, fmt.Errorf("%s: a %d-byte datagram gets %d bytes of headers, a %d-byte one %d", m.Name, size, overhead, Payloads[0], c.Overhead)
		}
		c.Wire = append(c.Wire, wire)
	}
	return c, nil
}

// request is the hops of the datagram from pod a to its delivery in pod
// dst (the ref of pod b), ARP left out: the packet pod a sent, and the
// packets it caused on the way (flanneld's UDP datagram and the packet it
// writes to its TUN device, say). The echo comes after the delivery.
func request(hops []trace.Hop, dst string) ([]trace.Hop, error) {
	arp := map[uint64]bool{}
	for _, h := range hops {
		if h.Kind == trace.KindARP {
			arp[h.Packet] = true
		}
	}
	var out []trace.Hop
	for _, h := range hops {
		if h.Kind == trace.KindDrop {
			return nil, fmt.Errorf("dropped at %s %s: %s", h.Node, h.Device, h.Change)
		}
		if arp[h.Packet] {
			continue
		}
		out = append(out, h)
		if h.Kind == trace.KindDeliver && h.Node == dst {
			if ct := firstCT(out); strings.Contains(ct, "NEW") {
				return nil, fmt.Errorf("the traced datagram is not warm: conntrack %s", ct)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("not delivered to %s (%d hops traced)", dst, len(hops))
}

// firstCT is the result of the first conntrack lookup among hops.
func firstCT(hops []trace.Hop) string {
	for _, h := range hops {
		if h.Kind == trace.KindCT && h.Lookup != "" {
			return h.Match
		}
	}
	return ""
}

// packets is the set of packet IDs of hops.
func packets(hops []trace.Hop) map[uint64]bool {
	ids := map[uint64]bool{}
	for _, h := range hops {
		ids[h.Packet] = true
	}
	return ids
}

// wireCost reads the request's frames: the pod's own frame (the first one
// sent) and the largest frame the path carried, which is the one on the
// underlay (an encapsulating mode's outer frame; a routed mode's frames
// are all as long as the pod's).
func wireCost(payload int, frames []frame, ids map[uint64]bool) (Wire, int, error) {
	pod, biggest := 0, 0
	for _, f := range frames {
		if !ids[f.id] {
			continue
		}
		if pod == 0 {
			pod = f.len
		}
		biggest = max(biggest, f.len)
	}
	if want := ethHeader + ipv4Header + udpHeader + payload; pod != want {
		return Wire{}, 0, fmt.Errorf("the pod sent a %d-byte frame, want %d", pod, want)
	}
	return Wire{Payload: payload, Frame: biggest}, biggest - pod, nil
}

// countWork counts the request's hops.
func countWork(hops []trace.Hop) Work {
	var w Work
	lastNode, lastHook := "", ""
	for _, h := range hops {
		if h.Node != lastNode {
			w.Namespaces++
			lastNode, lastHook = h.Node, ""
		}
		switch h.Kind {
		case trace.KindTx:
			w.Transmits++
		case trace.KindRoute:
			w.Routes++
		case trace.KindVPC, trace.KindSwitch:
			w.Fabric++
		case trace.KindNeigh:
			w.Neighbours++
		case trace.KindFDB:
			w.FDB++
		case trace.KindRule:
			w.Rules++
			if hook := hookOf(h.Lookup); hook != lastHook {
				w.Hooks++
				lastHook = hook
			}
		case trace.KindCT:
			w.Conntrack++
		case trace.KindEncap:
			w.Encaps++
		case trace.KindDecap:
			w.Decaps++
		case trace.KindApp:
			w.Userspace++
		}
	}
	return w
}

// hookOf is the table and hook of a rule hop's lookup: "iptables -t filter
// FORWARD → KUBE-FORWARD" is "filter FORWARD".
func hookOf(lookup string) string {
	f := strings.Fields(lookup)
	if len(f) >= 4 && f[1] == "-t" {
		return f[2] + " " + f[3]
	}
	return lookup
}
