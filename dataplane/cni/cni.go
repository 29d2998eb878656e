// Package cni is the small interface every CNI data path implements, and
// the registry that finds a mode by name. A mode sets up a node (devices,
// sysctls, iptables rules, cloud routes), reacts to peers appearing (as
// flanneld programs one route, one ARP and one FDB entry per peer), and
// wires pods (the CNI ADD: veth, address, routes). Modes live in one
// folder each under cni/ and never import each other.
package cni

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"

	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
)

// Cluster is what every mode may know about the cluster.
type Cluster struct {
	Env         *link.Env
	PodCIDR     netip.Prefix
	ServiceCIDR netip.Prefix
	// Underlay is "vpc" or "l2".
	Underlay string
	// VPC is the Alibaba Cloud VPC (nil on an l2 underlay).
	VPC *vpc.VPC
	// UnderlayMTU is the MTU of the nodes' primary NICs.
	UnderlayMTU int
	// IPAM hands out vSwitch addresses to modes that create ENIs
	// (Terway); nil for modes that do not.
	IPAM VSwitchIPAM
}

// VSwitchIPAM is the VPC's address allocation in vSwitches, shared with
// the builder so that ENIs a mode creates and the addresses it allocates
// later (SLBs, NAT gateways) never collide.
type VSwitchIPAM interface {
	// Allocate takes the lowest free address of sw (invalid when none is left).
	Allocate(sw *vpc.VSwitch) netip.Addr
	// Take claims a given address of sw; false if it is taken or reserved.
	Take(sw *vpc.VSwitch, a netip.Addr) bool
	// Available is the number of free addresses of sw (the console's
	// "Number of Available Private IPs", AvailableIpAddressCount).
	Available(sw *vpc.VSwitch) int
}

// PendingError is what AddPod returns when the pod cannot be started: the
// pod stays Pending with Reason and Message as its event would show them
// (kubectl describe pod), e.g. FailedScheduling "0/2 nodes are
// available: ..." or FailedCreatePodSandBox with the CNI's error. The
// builder keeps building; flows to or from the pod are dropped.
type PendingError struct {
	// Reason is the event reason, e.g. "FailedScheduling".
	Reason string
	// Message is the event message.
	Message string
}

func (e *PendingError) Error() string { return "Pending: " + e.Reason + ": " + e.Message }

// Node is a Kubernetes node as a mode sees it.
type Node struct {
	Name    string
	Stack   *netstack.Stack
	Filter  *netfilter.Netfilter
	NIC     *netstack.Iface
	IP      netip.Addr
	PodCIDR netip.Prefix
	// State is the mode's own per-node state.
	State any
}

// Pod is a pod being wired.
type Pod struct {
	Namespace, Name string
	Node            *Node
	Stack           *netstack.Stack
	// IP is the requested address (invalid: allocate); set by AddPod.
	IP netip.Addr
	// MTU overrides the mode's pod MTU when non-zero.
	MTU int
	// HostVeth is the node-side end of the pod's veth (set by AddPod).
	HostVeth *link.Device
}

// Mode is one CNI data path.
type Mode interface {
	// Name is e.g. "flannel/vxlan".
	Name() string
	// PodMTU is the MTU pods get.
	PodMTU() int
	// SetupNode prepares a node before any pod or peer.
	SetupNode(n *Node) error
	// AddPeer programs node n for a peer node.
	AddPeer(n, peer *Node) error
	// AddPod wires a pod on its node.
	AddPod(p *Pod) error
	// Notes are things the mode's agents would have logged while setting
	// up (a route the kernel refused, say), for the build report.
	Notes() []string
}

// Factory makes a mode for a cluster from the mode's options.
type Factory func(c *Cluster, opts any) (Mode, error)

var registry = map[string]Factory{}

// Register makes a mode available by name; modes call it from init.
func Register(name string, f Factory) {
	if _, dup := registry[name]; dup {
		panic("cni: mode registered twice: " + name)
	}
	registry[name] = f
}

// New makes the mode registered as name.
func New(name string, c *Cluster, opts any) (Mode, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("cni: unknown mode %q (registered: %v)", name, Names())
	}
	return f(c, opts)
}

// Names lists the registered modes.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// MACFromIP is the CNI bridge plugin's MAC for an address: 0a:58 followed
// by the four address bytes (hwaddr.GenerateHardwareAddr4).
func MACFromIP(a netip.Addr) packet.MAC {
	b := a.As4()
	return packet.MAC{0x0a, 0x58, b[0], b[1], b[2], b[3]}
}

// LocalMAC is a stable locally administered unicast MAC derived from a
// name (where the kernel would pick a random one).
func LocalMAC(name string) packet.MAC {
	h := fnv.New64a()
	h.Write([]byte(name))
	v := h.Sum64()
	m := packet.MAC{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	m[0] = m[0]&0xfe | 0x02
	return m
}

// VethName is the host-side veth name the CNI plugins generate: "veth"
// and eight hex digits (random in real life, a hash here).
func VethName(ns, name string) string {
	h := fnv.New32a()
	h.Write([]byte(ns + "/" + name))
	return fmt.Sprintf("veth%08x", h.Sum32())
}

// Nth returns the n-th address of a prefix (0 is the network address).
func Nth(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
