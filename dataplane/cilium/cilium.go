// Package cilium models the NetworkPolicy enforcement of Cilium on ACK's
// Terway ipvlan datapath: per-endpoint policy at each pod's ipvlan slave.
//
// Design notes (what is modelled and how):
//
//   - On a real node Cilium attaches eBPF programs on the pod's path
//     (ack-cni-facts §1.3, §1.9: in ipvlan mode calico-felix cannot see
//     the traffic, which never crosses the node's netfilter) and keeps the
//     endpoints' policy in BPF policy maps with its own connection
//     tracking. netsim stands in for both with one policy-only netfilter
//     per node, programmed by felix (felix.Sync) from the same policies
//     and workloads: the Kubernetes semantics are those felix's rules
//     implement, and the BPF maps and Cilium's conntrack are not
//     reproduced as such.
//   - Every pod endpoint gets a synthetic device name in those rules:
//     terway.VethName ("cali" + 11 hex digits of sha1("<ns>.<pod>")), the
//     name Terway's veth datapath gives the pod's host veth. On ipvlan no
//     such device exists (Cilium's own endpoints would be lxc…, but ipvlan
//     pods have no host-side device at all); the name only tells felix's
//     dispatch chains which endpoint a frame belongs to.
//   - Egress: every unicast IPv4 frame a pod's slave transmits is judged
//     with the endpoint as the in device and the ENI (the slave's parent)
//     as the out device, so only the endpoint's from-workload chain runs.
//     Ingress: every unicast IPv4 frame handed to a pod's slave (from
//     another slave of the ENI or from the wire) is judged with the ENI as
//     in and the endpoint as out (the to-workload chain). A same-ENI
//     slave-to-slave frame is judged twice, egress of the sender and
//     ingress of the receiver, in the node's one conntrack table.
//     Replies of allowed connections pass by conntrack
//     (ESTABLISHED/RELATED first in felix's chains).
//   - Traffic from the node itself (source a local address of the node)
//     to a local pod is allowed, as Cilium's default allow-localhost does
//     (and as felix treats host-to-workload traffic).
//   - Not modelled: Cilium's eBPF Service load balancing (the model sends
//     Service traffic through the host stack as the legacy ipvlan
//     datapath's tc redirect does, so a frame to a ClusterIP is judged on
//     the ClusterIP), identities, L7 policy, CiliumNetworkPolicy,
//     broadcast and multicast (not judged), and policy on the host's own
//     slave ipvl_N (not an endpoint: never judged).
package cilium

import (
	"net/netip"

	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Enforcer names the enforcer in drop details.
const Enforcer = "Cilium (modelled with felix's rules)"

// Endpoints is one node's modelled Cilium agent: the policy netfilter and
// the node's ipvlan endpoints. It implements link.IPVlanPolicy.
type Endpoints struct {
	// NF is the policy-only netfilter felix programs.
	NF *netfilter.Netfilter

	env  *link.Env
	node string
	host netfilter.Host
	eps  map[*link.IPVlan]*link.Device
}

// New returns node's agent with an empty policy netfilter; host says which
// addresses are the node's own (IsLocal).
func New(env *link.Env, node string, host netfilter.Host, seed uint64) *Endpoints {
	return &Endpoints{NF: netfilter.New(env, node, host, seed), env: env, node: node, host: host, eps: map[*link.IPVlan]*link.Device{}}
}

// Reset forgets every endpoint (before they are added again).
func (e *Endpoints) Reset() { clear(e.eps) }

// Add makes slave s the endpoint named name (the workload interface name
// felix's rules match) and installs the agent as the policy of s's port.
func (e *Endpoints) Add(s *link.IPVlan, name string) {
	e.eps[s] = link.NewDevice(e.env, e.node, name, "cilium-endpoint", link.Ether, s.Dev.MTU, s.Dev.MAC, nil)
	s.Port.SetPolicy(e)
}

// Endpoint returns the endpoint device name of slave s ("" when s is not
// an endpoint).
func (e *Endpoints) Endpoint(s *link.IPVlan) string {
	if d := e.eps[s]; d != nil {
		return d.Name
	}
	return ""
}

// Egress implements link.IPVlanPolicy: the sending pod's egress policy.
func (e *Endpoints) Egress(from *link.IPVlan, pkt *packet.Buffer) (bool, trace.Reason, string) {
	ep := e.eps[from]
	if ep == nil {
		return true, 0, ""
	}
	return e.verdict(pkt, ep, from.Port.Parent)
}

// Ingress implements link.IPVlanPolicy: the receiving pod's ingress
// policy; the node's own traffic is allowed (allow-localhost).
func (e *Endpoints) Ingress(to *link.IPVlan, pkt *packet.Buffer) (bool, trace.Reason, string) {
	ep := e.eps[to]
	if ep == nil {
		return true, 0, ""
	}
	if ip := packet.IPv4(pkt.Bytes()); len(ip) >= packet.IPv4HeaderLen && e.host != nil && e.host.IsLocal(ip.Src()) {
		return true, 0, ""
	}
	return e.verdict(pkt, to.Port.Parent, ep)
}

func (e *Endpoints) verdict(pkt *packet.Buffer, in, out *link.Device) (bool, trace.Reason, string) {
	v := e.NF.Judge(pkt, in, out)
	if v.Kind == netstack.Accept {
		return true, 0, ""
	}
	return false, v.Reason, Enforcer + ": " + v.Detail
}

// localHost is netfilter.Host over a set of addresses.
type localHost struct{ is func(netip.Addr) bool }

func (h localHost) IsLocal(a netip.Addr) bool { return h.is(a) }
func (h localHost) MasqueradeSource(*link.Device, netip.Addr) (netip.Addr, bool) {
	return netip.Addr{}, false
}

// HostOf returns a netfilter.Host whose local addresses are those is
// reports (the node stack's IsLocal).
func HostOf(is func(netip.Addr) bool) netfilter.Host { return localHost{is} }
