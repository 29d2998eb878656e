package vpc

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// SLB models an Alibaba Cloud Classic Load Balancer (CLB) instance with
// layer-4 listeners, as the ACK cloud controller manager creates one for a
// Service of type LoadBalancer:
//
//   - one listener per Service port (TCP/UDP, the Service port);
//   - backends are either ECS nodes at the NodePort ("ecs") or pod
//     addresses at the target port ("eni", only for CNIs whose pods have
//     VPC addresses);
//   - weighted round robin (the CLB default scheduler "wrr"), smooth and
//     deterministic;
//   - a layer-4 listener keeps the client's source address: the request is
//     DNATed to the backend, and the backend's reply, which the VPC hands
//     back to the SLB because it belongs to an SLB session, has its source
//     rewritten to the listener's address;
//   - the access control whitelist (loadBalancerSourceRanges) is checked
//     first.
//
// Sessions time out after 900 s (TCP) / 300 s (UDP) of silence.
type SLB struct {
	Name    string
	ID      string
	Address netip.Addr
	// AddressType is "internet" or "intranet".
	AddressType string
	// ACL, when not empty, is the whitelist of client prefixes.
	ACL []netip.Prefix
	// Service names the Kubernetes Service ("ns/name").
	Service string

	listeners map[listenerKey]*Listener
	front     map[slbKey]*slbSession
	back      map[slbKey]*slbSession
}

// Backend is one backend server of a listener.
type Backend struct {
	// Name is the ECS instance or pod.
	Name   string
	Addr   netip.Addr
	Port   uint16
	Weight int

	current int
}

// Listener is a layer-4 listener.
type Listener struct {
	Proto    string // "TCP" or "UDP"
	Port     uint16
	Backends []*Backend
	// BackendType is "ecs" or "eni".
	BackendType string
}

type listenerKey struct {
	proto uint8
	port  uint16
}

type slbKey struct {
	proto uint8
	a, b  netip.AddrPort
}

type slbSession struct {
	client  netip.AddrPort
	vip     netip.AddrPort
	backend netip.AddrPort
	expires time.Duration
}

// NewSLB makes a load balancer with the given address.
func NewSLB(name string, addr netip.Addr, addrType string) *SLB {
	return &SLB{Name: name, ID: ID("lb", name), Address: addr, AddressType: addrType,
		listeners: map[listenerKey]*Listener{}, front: map[slbKey]*slbSession{}, back: map[slbKey]*slbSession{}}
}

func protoNum(p string) uint8 {
	if p == "UDP" {
		return packet.ProtoUDP
	}
	return packet.ProtoTCP
}

// AddListener adds a listener.
func (s *SLB) AddListener(l *Listener) { s.listeners[listenerKey{protoNum(l.Proto), l.Port}] = l }

// Listeners returns the listeners sorted by port.
func (s *SLB) Listeners() []*Listener {
	out := make([]*Listener, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Proto < out[j].Proto
	})
	return out
}

// String describes the SLB like the console's listener list.
func (s *SLB) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SLB %s (%s) %s %s for %s", s.Name, s.ID, s.AddressType, s.Address, s.Service)
	if len(s.ACL) > 0 {
		fmt.Fprintf(&b, ", access control whitelist %v", s.ACL)
	}
	for _, l := range s.Listeners() {
		fmt.Fprintf(&b, "\n  listener %s:%d → %s backends:", l.Proto, l.Port, l.BackendType)
		if len(l.Backends) == 0 {
			b.WriteString(" (none)")
		}
		for _, be := range l.Backends {
			fmt.Fprintf(&b, " %s(%s) weight %d;", netip.AddrPortFrom(be.Addr, be.Port), be.Name, be.Weight)
		}
	}
	return b.String()
}

// pick is smooth weighted round robin (nginx's algorithm): deterministic,
// spreads picks in proportion to weights.
func (l *Listener) pick() *Backend {
	total := 0
	var best *Backend
	for _, b := range l.Backends {
		if b.Weight <= 0 {
			continue
		}
		b.current += b.Weight
		total += b.Weight
		if best == nil || b.current > best.current {
			best = b
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}

func l4ports(ip packet.IPv4) (uint16, uint16, bool) {
	if ip.FragOffset() != 0 || (ip.Protocol() != packet.ProtoTCP && ip.Protocol() != packet.ProtoUDP) {
		return 0, 0, false
	}
	seg := ip[ip.HeaderLen():]
	if len(seg) < 4 {
		return 0, 0, false
	}
	return packet.UDP(seg).SrcPort(), packet.UDP(seg).DstPort(), true
}

func sessionTimeout(proto uint8) time.Duration {
	if proto == packet.ProtoUDP {
		return 300 * time.Second
	}
	return 900 * time.Second
}

// request handles a packet for the SLB address; it returns the packet
// rewritten toward a backend, or a drop reason.
func (s *SLB) request(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) (trace.Reason, string) {
	sport, dport, ok := l4ports(ip)
	if !ok {
		return trace.ReasonNoListener, fmt.Sprintf("SLB %s forwards only TCP and UDP to its listeners (got protocol %d)", s.Name, ip.Protocol())
	}
	client := netip.AddrPortFrom(ip.Src(), sport)
	vip := netip.AddrPortFrom(ip.Dst(), dport)
	now := env.Now()
	k := slbKey{ip.Protocol(), client, vip}
	sess := s.front[k]
	if sess != nil && now >= sess.expires {
		delete(s.front, k)
		delete(s.back, slbKey{ip.Protocol(), sess.backend, client})
		sess = nil
	}
	if sess == nil {
		if len(s.ACL) > 0 {
			allowed := false
			for _, p := range s.ACL {
				if p.Contains(client.Addr()) {
					allowed = true
				}
			}
			if !allowed {
				return trace.ReasonSourceRangeDenied, fmt.Sprintf("SLB %s access control whitelist %v does not contain %s (loadBalancerSourceRanges of %s)", s.Name, s.ACL, client.Addr(), s.Service)
			}
		}
		l := s.listeners[listenerKey{ip.Protocol(), dport}]
		if l == nil {
			return trace.ReasonNoListener, fmt.Sprintf("SLB %s has no %s listener on port %d", s.Name, protoName(ip.Protocol()), dport)
		}
		be := l.pick()
		if be == nil {
			return trace.ReasonNoEndpoints, fmt.Sprintf("SLB %s listener %s:%d has no backend with weight > 0", s.Name, l.Proto, l.Port)
		}
		sess = &slbSession{client: client, vip: vip, backend: netip.AddrPortFrom(be.Addr, be.Port)}
		s.front[k] = sess
		s.back[slbKey{ip.Protocol(), sess.backend, client}] = sess
		if env.Tracing() {
			env.Hop(pkt, trace.Hop{Node: "slb " + s.Name, Kind: trace.KindNAT, Lookup: fmt.Sprintf("listener %s:%d (%s backends)", l.Proto, l.Port, l.BackendType),
				Match: fmt.Sprintf("wrr → %s (%s, weight %d)", sess.backend, be.Name, be.Weight)})
		}
	}
	sess.expires = now + sessionTimeout(ip.Protocol())
	packet.RewriteAddrPort(ip, sess.backend, false)
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "slb " + s.Name, Kind: trace.KindNAT,
			Change: fmt.Sprintf("layer-4 listener: dst %s → %s, client source %s kept", vip, sess.backend, client)})
	}
	return trace.ReasonNone, ""
}

// reply rewrites a backend's reply to come from the listener; false when
// the packet belongs to no session of this SLB.
func (s *SLB) reply(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) bool {
	sport, dport, ok := l4ports(ip)
	if !ok || len(s.back) == 0 {
		return false
	}
	sess := s.back[slbKey{ip.Protocol(), netip.AddrPortFrom(ip.Src(), sport), netip.AddrPortFrom(ip.Dst(), dport)}]
	if sess == nil || env.Now() >= sess.expires {
		return false
	}
	sess.expires = env.Now() + sessionTimeout(ip.Protocol())
	packet.RewriteAddrPort(ip, sess.vip, true)
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "slb " + s.Name, Kind: trace.KindNAT,
			Change: fmt.Sprintf("reply of SLB session: src %s → %s", sess.backend, sess.vip)})
	}
	return true
}

func protoName(p uint8) string {
	if p == packet.ProtoUDP {
		return "UDP"
	}
	return "TCP"
}
