// Package netstack is one Linux network namespace in miniature: interfaces
// with addresses, a longest-prefix-match routing table, a neighbour (ARP)
// table, IPv4 input, forwarding and output with the kernel's TTL, MTU/DF,
// ICMP error and fragmentation behaviour, netfilter hook points, and just
// enough of ICMP, UDP and TCP sockets to answer ping, datagrams and a TCP
// exchange.
//
// The order of operations follows net/ipv4: ip_rcv (header checks) →
// PREROUTING → route decision → ip_local_deliver (INPUT) or ip_forward
// (TTL check, MTU check, TTL decrement, FORWARD) → ip_output
// (POSTROUTING, fragmentation) → neighbour output. Locally generated
// packets take ip_route_output → OUTPUT → POSTROUTING.
package netstack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// DefaultTTL is net.ipv4.ip_default_ttl.
const DefaultTTL = 64

// Addr is an address assigned to an interface (`ip addr add A/LEN dev D`).
type Addr struct {
	Prefix netip.Prefix
}

// Iface is a device as this namespace sees it, with its addresses.
type Iface struct {
	Dev   *link.Device
	Addrs []Addr
	// ProxyARP answers ARP for addresses routed via other interfaces
	// (net.ipv4.conf.DEV.proxy_arp).
	ProxyARP bool
	// NoARP marks devices that never resolve neighbours (IFF_NOARP).
	NoARP bool
	// Conf is net.ipv4.conf.DEV (rp_filter, accept_local, route_localnet),
	// copied from the namespace's ConfDefault when the device is added.
	Conf Conf
}

// Primary returns the first address of the interface.
func (i *Iface) Primary() (netip.Addr, bool) {
	if len(i.Addrs) == 0 {
		return netip.Addr{}, false
	}
	return i.Addrs[0].Prefix.Addr(), true
}

// Stack is one network namespace.
type Stack struct {
	// Name is the namespace name used in traces: a node name, or NS/NAME of a pod.
	Name string
	// Forwarding is net.ipv4.ip_forward.
	Forwarding bool
	// AnswerBroadcastEcho is net.ipv4.icmp_echo_ignore_broadcasts = 0. The
	// kernel's default, 1, ignores an echo request sent to a broadcast or
	// multicast address (icmp_rcv: dropped without a reply).
	AnswerBroadcastEcho bool
	// Filter runs the netfilter hooks; nil when no rules are installed.
	Filter Filter
	// IPVS, if set, takes packets at IPVS's hook points.
	IPVS Interceptor
	// ConntrackDefrag is nf_defrag_ipv4, loaded with conntrack: fragments
	// are reassembled at PREROUTING priority −400, before conntrack and
	// NAT, so that every fragment of a datagram gets the datagram's
	// translation; a forwarded datagram is refragmented on output.
	ConntrackDefrag bool
	// Routes is the main routing table (Table(TableMain)); other tables
	// and the rules that choose between them are in rules.go.
	Routes RouteTable
	// ConfAll is net.ipv4.conf.all; ConfDefault is net.ipv4.conf.default,
	// which a device gets when it is added (see Conf for the kernel's
	// defaults and EffectiveConf for how all and DEV combine).
	ConfAll, ConfDefault Conf

	env    *link.Env
	ifaces []*Iface // by ifindex; 0 unused
	local  map[uint32]*Iface
	bcast  []netip.Addr // directed broadcast addresses of the interfaces
	neigh  map[uint64]*Neigh
	// peerNeigh is the shared layer of per-peer neighbours (nil: none).
	peerNeigh *peerNeighs
	rng       *rand.Rand
	idents    map[identKey]*identBucket
	// snapRec and snapSeen are the recording and snap of the last op
	// this stack added to a segment (snapFor).
	snapRec  uint64
	snapSeen snap

	redirects map[netip.Addr]*redirectPeer // ICMP redirect rate limit per source

	rules       []Rule                 // policy routing rules, in priority order
	customRules bool                   // rules other than the three defaults
	tables      map[uint32]*RouteTable // tables other than main

	flushed []flushedRoute  // routes removed because their device went down
	probe   *RouteGetResult // set while RouteGet runs the input checks
	lo      *Route
	pmtu    map[netip.Addr]pmtuEntry

	// OnEvent, if set, hears what the namespace's sockets see (the runner
	// uses it to learn that a request arrived and what its source was).
	OnEvent func(s *Stack, ev Event)

	udp       map[uint16]*UDPSocket
	tunnels   map[uint16]TunnelReceiver
	ipProtos  map[uint8]TunnelReceiver
	pings     map[uint16]*PingSocket
	pingFlows map[int32]uint16 // the ping socket of each flow (one ping process)
	pingPort  uint16           // ping_table.next_port
	tcpListen map[uint16]*TCPListener
	tcpConns  map[tcpKey]*TCPConn
	timeWait  map[tcpKey]time.Duration // 4-tuples in TIME-WAIT, until when

	sctpListen map[uint16]*SCTPListener
	sctpAssocs map[tcpKey]*SCTPAssoc
	sctpSecret []byte // the key that signs state cookies
	twSweepAt  int
	frags      map[fragKey]*reasm
	nextPort   uint16
	// gen advances with every change to the namespace's interfaces,
	// addresses, rules and tables, neighbour entries (added, replaced or
	// removed) and sockets: what a recorded segment's decisions here
	// depend on besides the exported settings (see flow.go).
	gen uint64
}

// New creates an empty namespace with a loopback device.
func New(env *link.Env, name string, seed uint64) *Stack {
	s := &Stack{
		Name:   name,
		env:    env,
		ifaces: []*Iface{nil},
		local:  make(map[uint32]*Iface),
		neigh:  make(map[uint64]*Neigh),
		rng:    rand.New(rand.NewPCG(seed, 0x6e657473696d)),
		rules:  defaultRuleList,
	}
	// ping_get_port's rover is global to the kernel and has moved since
	// boot: start it anywhere.
	s.pingPort = uint16(s.rng.Uint32())
	lo := link.NewDevice(env, name, "lo", "loopback", link.RawIP, 65536, packet.MAC{}, loopback{s})
	li := s.AddIface(lo)
	li.NoARP = true
	s.AddAddr("lo", netip.MustParsePrefix("127.0.0.1/8"))
	return s
}

// Env returns the shared environment.
func (s *Stack) Env() *link.Env { return s.env }

// Rand is the namespace's seeded random source.
func (s *Stack) Rand() *rand.Rand { return s.rng }

// AddIface attaches dev to this namespace; the namespace becomes the
// device's receiver unless the device is enslaved to a bridge.
func (s *Stack) AddIface(dev *link.Device) *Iface {
	s.gen++
	dev.Index = int32(len(s.ifaces))
	dev.NS = s.Name
	i := &Iface{Dev: dev, Conf: s.ConfDefault}
	s.ifaces = append(s.ifaces, i)
	if dev.Master == nil {
		dev.SetReceiver(s)
	}
	return i
}

// Iface returns the interface named name, or nil.
func (s *Stack) Iface(name string) *Iface {
	for _, i := range s.ifaces[1:] {
		if i.Dev.Name == name {
			return i
		}
	}
	return nil
}

// Ifaces returns all interfaces in ifindex order.
func (s *Stack) Ifaces() []*Iface { return s.ifaces[1:] }

// IfaceOf returns the interface of a device in this namespace.
func (s *Stack) IfaceOf(dev *link.Device) *Iface {
	if int(dev.Index) < len(s.ifaces) && s.ifaces[dev.Index] != nil && s.ifaces[dev.Index].Dev == dev {
		return s.ifaces[dev.Index]
	}
	return nil
}

// AddAddr assigns an address (`ip addr add`); for prefixes shorter than
// /32 the kernel's connected route "PFX dev D proto kernel scope link src A"
// is added too.
func (s *Stack) AddAddr(dev string, p netip.Prefix) error {
	s.gen++
	i := s.Iface(dev)
	if i == nil {
		return fmt.Errorf("namespace %s: no device %q", s.Name, dev)
	}
	if o, ok := s.local[v4key(p.Addr())]; ok {
		return fmt.Errorf("namespace %s: address %s already on %s", s.Name, p.Addr(), o.Dev.Name)
	}
	i.Addrs = append(i.Addrs, Addr{Prefix: p})
	s.local[v4key(p.Addr())] = i
	if p.Bits() < 31 && i.Dev.Kind != "loopback" {
		s.bcast = append(s.bcast, lastAddr(p))
	}
	if p.Bits() < 32 && i.Dev.Kind != "loopback" {
		return s.Routes.Add(&Route{Dst: p.Masked(), Dev: i, Proto: "kernel", Scope: "link", Src: p.Addr()})
	}
	return nil
}

// v4key is an IPv4 address as a map key the runtime hashes fast.
func v4key(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// IsLocal reports whether a is one of this namespace's addresses.
func (s *Stack) IsLocal(a netip.Addr) bool {
	if _, ok := s.local[v4key(a)]; ok {
		return true
	}
	return a.Is4() && a.As4()[0] == 127
}

// AddRoute adds a route (`ip route add`). dev may be "" for blackhole and
// unreachable routes.
func (s *Stack) AddRoute(r *Route) error {
	s.gen++
	if r.Dev == nil && r.Type == RouteUnicast {
		return fmt.Errorf("namespace %s: route %s: needs a device", s.Name, r)
	}
	if r.Gw.IsValid() && !r.Onlink && r.Dev != nil {
		if rr := s.Routes.Lookup(r.Gw); rr == nil || rr.Gw.IsValid() || rr.Dev != r.Dev {
			return fmt.Errorf("namespace %s: route %s: RTNETLINK answers: Network is unreachable (gateway %s is not on-link on %s)", s.Name, r, r.Gw, r.Dev.Dev.Name)
		}
	}
	if err := s.Routes.Add(r); err != nil {
		return fmt.Errorf("namespace %s: %w", s.Name, err)
	}
	return nil
}

// SetLinkUp sets a device up or down (`ip link set DEV up|down`). Going
// down flushes the routes through the device, as the kernel does; going up
// puts them back (netsim's stand-in for the agents that re-add them).
func (s *Stack) SetLinkUp(name string, up bool) error {
	s.gen++
	i := s.Iface(name)
	if i == nil {
		return fmt.Errorf("namespace %s: no device %q", s.Name, name)
	}
	i.Dev.SetUp(up)
	if !up {
		for _, id := range append([]uint32{TableMain}, s.TableIDs()...) {
			t := s.Table(id)
			for _, r := range t.All() {
				if r.Dev == i {
					t.Delete(r)
					s.flushed = append(s.flushed, flushedRoute{id, r})
				}
			}
		}
		for k, n := range s.neigh {
			if n.Iface == i && n.State != NudPermanent {
				delete(s.neigh, k)
			}
		}
		return nil
	}
	kept := s.flushed[:0]
	for _, f := range s.flushed {
		if f.r.Dev == i {
			_ = s.Table(f.table).Add(f.r)
		} else {
			kept = append(kept, f)
		}
	}
	s.flushed = kept
	return nil
}

type flushedRoute struct {
	table uint32
	r     *Route
}

// Flushed returns the routes removed because their device is down.
func (s *Stack) Flushed() []*Route {
	out := make([]*Route, len(s.flushed))
	for i, f := range s.flushed {
		out[i] = f.r
	}
	return out
}

// selectAddr is inet_select_addr(dev, 0, RT_SCOPE_UNIVERSE) for a reply
// to a packet that arrived on ifc for a non-local address (a broadcast):
// ifc's first address, else the first address of another non-loopback
// device (an interface without an address, such as a Calico cali* veth,
// borrows one of the namespace's). ok is false when the namespace has no
// address at all.
func (s *Stack) selectAddr(ifc *Iface) (netip.Addr, bool) {
	if a, ok := ifc.Primary(); ok {
		return a, true
	}
	for _, i := range s.ifaces[1:] {
		if i.Dev.Kind == "loopback" {
			continue
		}
		if a, ok := i.Primary(); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// SourceFor picks the source address for traffic leaving through r
// (inet_select_addr): the route's src, else the out device's first
// address, else the first address of any other device.
func (s *Stack) SourceFor(r *Route) netip.Addr {
	if r.Src.IsValid() {
		return r.Src
	}
	if r.Dev != nil {
		if a, ok := r.Dev.Primary(); ok {
			return a
		}
	}
	for _, i := range s.ifaces[1:] {
		if i.Dev.Kind == "loopback" {
			continue
		}
		if a, ok := i.Primary(); ok {
			return a
		}
	}
	return netip.Addr{}
}

// IPIdent returns the IPv4 ID the kernel's hash generator gives the next
// packet from src to dst with protocol proto (__ip_select_ident): what
// packets without DF and without a connected socket carry, such as a
// tunnel's outer header.
func (s *Stack) IPIdent(src, dst netip.Addr, proto uint8) uint16 {
	return s.ipIdent(src, dst, proto, 1)
}

// EphemeralPort returns a free local port from 32768–60999
// (net.ipv4.ip_local_port_range), chosen with the seeded random source.
func (s *Stack) EphemeralPort() uint16 {
	for {
		p := uint16(32768 + s.rng.IntN(60999-32768+1))
		if _, ok := s.udp[p]; ok {
			continue
		}
		if _, ok := s.tcpListen[p]; ok {
			continue
		}
		return p
	}
}

func (s *Stack) now() time.Duration { return s.env.Now() }

func (s *Stack) tracing() bool { return s.env.Tracing() }

func (s *Stack) hop(pkt *packet.Buffer, h trace.Hop) {
	h.Node = s.Name
	s.env.Hop(pkt, h)
}

func (s *Stack) drop(pkt *packet.Buffer, dev string, r trace.Reason, detail string) {
	if s.probe != nil {
		s.probeDrop(r, detail)
		return
	}
	s.env.Drop(pkt, s.Name, dev, r, detail)
}

// loopback delivers what is sent on lo back into the namespace.
type loopback struct{ s *Stack }

func (l loopback) Xmit(d *link.Device, pkt *packet.Buffer) {
	l.s.env.Sched.Deliver(0, d, d, pkt)
}
