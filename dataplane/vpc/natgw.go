package vpc

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Internet egress, as Alibaba Cloud builds it (see the README's model
// section, "NAT gateway and EIP"):
//
//   - An enhanced Internet NAT gateway lives in one vSwitch, where it has a
//     private address. Creating it adds the custom route entry
//     0.0.0.0/0 → NAT gateway to the VPC route table, so every destination
//     that no more specific entry covers goes to the gateway.
//   - Its SNAT table holds entries whose source is a vSwitch (its CIDR), an
//     ECS instance (its primary address, a /32) or any CIDR, each with an
//     EIP of the gateway. The entry that matches the packet's source with
//     the longest prefix wins ("the system determines the priorities of
//     SNAT entries based on longest prefix match"; each vSwitch or ECS
//     instance can be named by one entry only — NAT Gateway FAQ and
//     CreateSnatEntry).
//   - SNAT rewrites the source to the EIP and a port (ICMP: the echo
//     identifier) chosen from a generator seeded by the scenario, unique
//     per EIP and protocol. A session lives until it has been idle for the
//     documented timeout (TCP 900 s, UDP 60 s; ICMP, undocumented, taken as
//     60 s) and its reply is translated back; the later fragments of a
//     datagram follow its first fragment's translation. SNAT serves outbound traffic
//     only: an unsolicited packet to the EIP is dropped (no DNAT entries).
//   - An EIP associated with an ECS instance is a 1:1 NAT of the instance's
//     primary private address: outbound traffic from that address to the
//     Internet leaves with the EIP as source (it takes precedence over the
//     0.0.0.0/0 entry to a NAT gateway and so over SNAT), and the Internet
//     reaches the instance at the EIP, on every port.
//   - An Internet NAT gateway forwards only to public addresses: a private
//     destination that only the 0.0.0.0/0 entry matched is dropped as a
//     missing route.

// Idle timeouts of NAT gateway SNAT sessions (NAT Gateway FAQ: "What is the
// timeout period of an idle SNAT connection": TCP 900 s, UDP 60 s).
const (
	SNATTimeoutTCP  = 900 * time.Second
	SNATTimeoutUDP  = 60 * time.Second
	SNATTimeoutICMP = 60 * time.Second
)

// SNAT ports are taken from this range (the EIP's unprivileged ports).
const (
	snatPortLo = 1024
	snatPortHi = 65535
)

// SNATSource says what an SNAT entry's source names.
type SNATSource string

// SNAT entry source kinds.
const (
	SNATVSwitch  SNATSource = "vSwitch"
	SNATInstance SNATSource = "ECS instance"
	SNATCIDR     SNATSource = "CIDR"
)

// SNATEntry is one entry of a NAT gateway's SNAT table.
type SNATEntry struct {
	ID   string
	Kind SNATSource
	// Name is the vSwitch or instance the entry names ("" for a CIDR).
	Name string
	// Source is the prefix the entry matches (the vSwitch CIDR, the
	// instance's address /32, or the CIDR).
	Source netip.Prefix
	EIP    netip.Addr
}

// String describes the entry the way the console lists it.
func (e *SNATEntry) String() string {
	src := e.Source.String()
	if e.Name != "" {
		src = fmt.Sprintf("%s %s (%s)", e.Kind, e.Name, e.Source)
	}
	return fmt.Sprintf("%s: source %s → %s", e.ID, src, e.EIP)
}

// EIP is an elastic IP address: associated with a NAT gateway (for its
// SNAT entries) or with an ECS instance.
type EIP struct {
	ID   string
	Addr netip.Addr
	// Instance is the ECS instance the EIP is associated with ("" when it
	// belongs to a NAT gateway).
	Instance string
	// NATGateway owns the EIP when it is not an instance's.
	NATGateway *NATGateway

	eni *ENI
}

// String describes the EIP's association.
func (e *EIP) String() string {
	if e.NATGateway != nil {
		return fmt.Sprintf("EIP %s (%s) associated with NAT gateway %s (%s)", e.Addr, e.ID, e.NATGateway.Name, e.NATGateway.ID)
	}
	return fmt.Sprintf("EIP %s (%s) associated with ECS instance %s (%s, %s)", e.Addr, e.ID, e.Instance, e.eni.ID, e.eni.Primary)
}

// NATGateway is an enhanced Internet NAT gateway.
type NATGateway struct {
	Name string
	ID   string
	// VSwitch and PrivateIP are where the gateway lives.
	VSwitch   *VSwitch
	PrivateIP netip.Addr
	// SNATTableID names the SNAT table (SnatTableId).
	SNATTableID string
	// EIPs are the gateway's elastic IP addresses.
	EIPs []*EIP
	// Route is the 0.0.0.0/0 entry created with the gateway.
	Route *RouteEntry

	vpc     *VPC
	entries []*SNATEntry
	out     map[natKey]*natSession // (proto, inside, remote)
	in      map[natKey]*natSession // (proto, remote, public)
	ports   map[natPort]*natSession
	frags   map[fragKey]fragState // fragments following a translated first fragment
	rng     *rand.Rand
}

// fragKey names the fragments of one datagram (RFC 791: source,
// destination, protocol and identification), as seen on arrival.
type fragKey struct {
	proto    uint8
	src, dst netip.Addr
	id       uint16
}

// fragState is the session of a datagram's first fragment, kept for its
// other fragments for as long as Linux keeps fragments (ipfrag_time, 30 s).
type fragState struct {
	s       *natSession
	expires time.Duration
}

const fragTimeout = 30 * time.Second

// trackFragments remembers the session of a translated first fragment,
// forgetting datagrams whose last fragment never came.
func (g *NATGateway) trackFragments(k fragKey, s *natSession, now time.Duration) {
	if len(g.frags) >= 1024 {
		for fk, f := range g.frags {
			if now >= f.expires {
				delete(g.frags, fk)
			}
		}
	}
	g.frags[k] = fragState{s, now + fragTimeout}
}

type natKey struct {
	proto uint8
	a, b  netip.AddrPort
}

type natPort struct {
	proto  uint8
	public netip.AddrPort
}

type natSession struct {
	entry          *SNATEntry
	proto          uint8
	inside, remote netip.AddrPort
	public         netip.AddrPort
	expires        time.Duration
}

// SNATTimeout is the idle timeout of an SNAT session of protocol proto.
func SNATTimeout(proto uint8) time.Duration {
	switch proto {
	case packet.ProtoTCP:
		return SNATTimeoutTCP
	case packet.ProtoUDP:
		return SNATTimeoutUDP
	}
	return SNATTimeoutICMP
}

// AddNATGateway creates an enhanced Internet NAT gateway in vSwitch sw at
// address private, with the EIPs eips, and adds the custom route entry
// 0.0.0.0/0 pointing at it. seed seeds the SNAT port choice.
func (v *VPC) AddNATGateway(name string, sw *VSwitch, private netip.Addr, eips []netip.Addr, seed uint64) (*NATGateway, error) {
	v.gen++
	if !sw.CIDR.Contains(private) {
		return nil, fmt.Errorf("vpc %q: NAT gateway %s: %s is outside vSwitch %s (%s)", v.Name, name, private, sw.Name, sw.CIDR)
	}
	if o, ok := v.byAddr[private]; ok {
		return nil, fmt.Errorf("vpc %q: NAT gateway %s: %s is already used by %s", v.Name, name, private, o.Instance)
	}
	any4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if old, ok := v.routes.Get(any4); ok {
		return nil, fmt.Errorf("vpc %q: NAT gateway %s: route table %s already has the entry %s: the 0.0.0.0/0 entry pointing at the NAT gateway cannot be added", v.Name, name, v.RouteTableID, old)
	}
	if v.custom >= v.Quota {
		return nil, fmt.Errorf("vpc %q: NAT gateway %s: route table %s already has %d custom route entries, the quota: the 0.0.0.0/0 entry cannot be added (QuotaExceeded.RouteEntry)", v.Name, name, v.RouteTableID, v.Quota)
	}
	g := &NATGateway{Name: name, ID: ID("ngw", name), VSwitch: sw, PrivateIP: private, SNATTableID: ID("stb", name), vpc: v,
		out: map[natKey]*natSession{}, in: map[natKey]*natSession{}, ports: map[natPort]*natSession{}, frags: map[fragKey]fragState{},
		rng: rand.New(rand.NewPCG(seed, seed^0x6e6174677721))}
	for _, a := range eips {
		e, err := v.addEIP(a, "NAT gateway "+name)
		if err != nil {
			return nil, err
		}
		e.NATGateway = g
		g.EIPs = append(g.EIPs, e)
	}
	g.Route = &RouteEntry{ID: ID("rte", any4.String()), Destination: any4, Type: Custom, NextHop: g.ID, NATGateway: g,
		Description: "added with NAT gateway " + name}
	v.routes.Insert(any4, g.Route)
	v.entries = append(v.entries, g.Route)
	v.custom++
	v.natgws = append(v.natgws, g)
	return g, nil
}

// NATGateways returns the NAT gateways in creation order.
func (v *VPC) NATGateways() []*NATGateway { return v.natgws }

func (v *VPC) addEIP(a netip.Addr, owner string) (*EIP, error) {
	v.gen++
	if !IsPublic(a) || v.CIDR.Contains(a) {
		return nil, fmt.Errorf("vpc %q: EIP %s of %s is not a public address", v.Name, a, owner)
	}
	if o := v.eips[a]; o != nil {
		return nil, fmt.Errorf("vpc %q: EIP %s of %s: already %s", v.Name, a, owner, o)
	}
	if _, ok := v.slbs[a]; ok {
		return nil, fmt.Errorf("vpc %q: EIP %s of %s: already the address of an SLB", v.Name, a, owner)
	}
	e := &EIP{ID: ID("eip", a.String()), Addr: a}
	v.eips[a] = e
	v.eipList = append(v.eipList, e)
	return e, nil
}

// AssociateEIP associates the EIP a with an ECS instance's primary ENI.
func (v *VPC) AssociateEIP(a netip.Addr, instance string) (*EIP, error) {
	v.gen++
	eni := v.primary[instance]
	if eni == nil {
		return nil, fmt.Errorf("vpc %q: EIP %s: %q is not an ECS instance in this VPC", v.Name, a, instance)
	}
	if o := v.eipOf[eni.Primary]; o != nil {
		return nil, fmt.Errorf("vpc %q: EIP %s: instance %s already has %s (one EIP per primary private address)", v.Name, a, instance, o)
	}
	e, err := v.addEIP(a, "instance "+instance)
	if err != nil {
		return nil, err
	}
	e.Instance, e.eni = instance, eni
	v.eipOf[eni.Primary] = e
	return e, nil
}

// EIPs returns every EIP (of NAT gateways and instances) in creation order.
func (v *VPC) EIPs() []*EIP { return v.eipList }

// AddSNATEntry adds an entry to the gateway's SNAT table. name is the
// vSwitch or instance the entry names (kind vSwitch or ECS instance), src
// the prefix it matches; eip must be one of the gateway's EIPs.
func (g *NATGateway) AddSNATEntry(kind SNATSource, name string, src netip.Prefix, eip netip.Addr) (*SNATEntry, error) {
	owned := false
	for _, e := range g.EIPs {
		owned = owned || e.Addr == eip
	}
	if !owned {
		return nil, fmt.Errorf("NAT gateway %s: SNAT entry for %s: %s is not an EIP of the gateway (%s)", g.Name, src, eip, g.eipText())
	}
	src = src.Masked()
	for _, o := range g.entries {
		if o.Source == src || (kind != SNATCIDR && o.Kind == kind && o.Name == name) {
			return nil, fmt.Errorf("NAT gateway %s: SNAT entry for %s: the SNAT table %s already has %s (each vSwitch, instance or CIDR can be the source of one entry only)", g.Name, src, g.SNATTableID, o)
		}
	}
	e := &SNATEntry{ID: ID("snat", g.Name+"/"+src.String()), Kind: kind, Name: name, Source: src, EIP: eip}
	g.entries = append(g.entries, e)
	return e, nil
}

// SNATEntries returns the SNAT table, longest source prefix first (the
// order in which entries are matched).
func (g *NATGateway) SNATEntries() []*SNATEntry {
	out := append([]*SNATEntry(nil), g.entries...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source.Bits() != out[j].Source.Bits() {
			return out[i].Source.Bits() > out[j].Source.Bits()
		}
		return out[i].Source.Addr().Less(out[j].Source.Addr())
	})
	return out
}

// String describes the gateway and its SNAT table.
func (g *NATGateway) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "NAT gateway %s (%s, enhanced, Internet) in vSwitch %s at %s, EIPs %s; SNAT table %s:",
		g.Name, g.ID, g.VSwitch.Name, g.PrivateIP, g.eipText(), g.SNATTableID)
	if len(g.entries) == 0 {
		b.WriteString(" (no entries)")
	}
	for _, e := range g.SNATEntries() {
		b.WriteString("\n  " + e.String())
	}
	return b.String()
}

func (g *NATGateway) eipText() string {
	var s []string
	for _, e := range g.EIPs {
		s = append(s, e.Addr.String())
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// match is the SNAT entry for source src (longest prefix), or nil.
func (g *NATGateway) match(src netip.Addr) *SNATEntry {
	var best *SNATEntry
	for _, e := range g.entries {
		if e.Source.Contains(src) && (best == nil || e.Source.Bits() > best.Source.Bits()) {
			best = e
		}
	}
	return best
}

// Sessions is the number of live SNAT sessions at now.
func (g *NATGateway) Sessions(now time.Duration) int {
	n := 0
	for _, s := range g.out {
		if now < s.expires {
			n++
		}
	}
	return n
}

// IsPublic reports whether a is a public unicast IPv4 address (an
// Internet address): not private (RFC 1918), shared (100.64.0.0/10, which
// Alibaba Cloud uses for cloud services), loopback, link-local, multicast,
// "this network" or reserved.
func IsPublic(a netip.Addr) bool {
	if !a.Is4() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	b := a.As4()
	switch {
	case b[0] == 0, b[0] >= 240:
		return false
	case b[0] == 100 && b[1]&0xc0 == 64:
		return false
	}
	return true
}

// natPorts returns the (inside or remote, outside) port pair of a packet
// for NAT: TCP and UDP ports, or the echo identifier of an ICMP echo
// request (outbound) or reply (inbound) as the local port and 0 as the
// remote one. ok is false for anything else.
func natPorts(ip packet.IPv4, outbound bool) (local, remote uint16, ok bool) {
	if ip.FragOffset() != 0 {
		return 0, 0, false
	}
	seg := ip[ip.HeaderLen():]
	switch ip.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(seg) < 4 {
			return 0, 0, false
		}
		s, d := binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
		if outbound {
			return s, d, true
		}
		return d, s, true
	case packet.ProtoICMP:
		if len(seg) < 8 {
			return 0, 0, false
		}
		want := uint8(packet.ICMPEchoRequest)
		if !outbound {
			want = packet.ICMPEchoReply
		}
		if seg[0] != want {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(seg[4:6]), 0, true
	}
	return 0, 0, false
}

// portOf is the packet's source (src) or destination port, or an ICMP
// echo's identifier (either way), or 0: what a 1:1 NAT keeps.
func portOf(ip packet.IPv4, src bool) uint16 {
	seg := ip[ip.HeaderLen():]
	if ip.FragOffset() != 0 {
		return 0
	}
	switch ip.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(seg) >= 4 {
			if src {
				return binary.BigEndian.Uint16(seg[0:2])
			}
			return binary.BigEndian.Uint16(seg[2:4])
		}
	case packet.ProtoICMP:
		if len(seg) >= 8 {
			return binary.BigEndian.Uint16(seg[4:6])
		}
	}
	return 0
}

// rewrite sets the source (src) or destination address of ip to a, and
// the matching port (or an ICMP echo's identifier) to port, keeping every
// checksum valid.
func rewrite(ip packet.IPv4, a netip.Addr, port uint16, src bool) {
	first := ip.FragOffset() == 0
	if p := ip.Protocol(); first && (p == packet.ProtoTCP || p == packet.ProtoUDP) {
		packet.RewriteAddrPort(ip, netip.AddrPortFrom(a, port), src)
		return
	}
	off := 16
	if src {
		off = 12
	}
	old := [4]byte(ip[off : off+4])
	nw := a.As4()
	copy(ip[off:off+4], nw[:])
	binary.BigEndian.PutUint16(ip[10:12], packet.ChecksumUpdate32(ip.Checksum(), old, nw))
	seg := ip[ip.HeaderLen():]
	if first && ip.Protocol() == packet.ProtoICMP && len(seg) >= 8 && (seg[0] == packet.ICMPEchoRequest || seg[0] == packet.ICMPEchoReply) {
		oldID := binary.BigEndian.Uint16(seg[4:6])
		if oldID != port {
			binary.BigEndian.PutUint16(seg[4:6], port)
			binary.BigEndian.PutUint16(seg[2:4], packet.ChecksumUpdate16(binary.BigEndian.Uint16(seg[2:4]), oldID, port))
		}
	}
}

func natProtoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "TCP"
	case packet.ProtoUDP:
		return "UDP"
	case packet.ProtoICMP:
		return "ICMP"
	}
	return fmt.Sprintf("protocol %d", p)
}

func endText(proto uint8, ap netip.AddrPort) string {
	if proto == packet.ProtoICMP && ap.Port() == 0 {
		return ap.Addr().String()
	}
	if proto == packet.ProtoICMP {
		return fmt.Sprintf("%s id %d", ap.Addr(), ap.Port())
	}
	return ap.String()
}

// snat translates an outbound packet; it returns a drop reason and detail
// when the packet cannot leave.
func (g *NATGateway) snat(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) (trace.Reason, string) {
	src, dst := ip.Src(), ip.Dst()
	e := g.match(src)
	if e == nil {
		return trace.ReasonVPCNoInternet, g.noEntryDetail(src, dst)
	}
	if ip.FragOffset() != 0 {
		return g.fragment(env, pkt, ip, true)
	}
	if g.snatError(env, pkt, ip) {
		return trace.ReasonNone, ""
	}
	lport, rport, ok := natPorts(ip, true)
	if !ok {
		return trace.ReasonVPCNoInternet, fmt.Sprintf("NAT gateway %s translates TCP, UDP and ICMP echo requests: %s %s → %s cannot be SNATed",
			g.Name, natProtoName(ip.Protocol()), src, dst)
	}
	proto := ip.Protocol()
	inside, remote := netip.AddrPortFrom(src, lport), netip.AddrPortFrom(dst, rport)
	now := env.Now()
	k := natKey{proto, inside, remote}
	s := g.out[k]
	if s != nil && now >= s.expires {
		g.expire(s)
		s = nil
	}
	created := false
	if s == nil {
		public, ok := g.allocate(proto, e.EIP, now)
		if !ok {
			return trace.ReasonVPCNoInternet, fmt.Sprintf("NAT gateway %s: no free %s port left on EIP %s", g.Name, natProtoName(proto), e.EIP)
		}
		s = &natSession{entry: e, proto: proto, inside: inside, remote: remote, public: public}
		g.out[k] = s
		g.in[natKey{proto, remote, public}] = s
		g.ports[natPort{proto, public}] = s
		created = true
	}
	s.expires = now + SNATTimeout(proto)
	if ip.MF() {
		g.trackFragments(fragKey{proto, src, dst, ip.ID()}, s, now)
	}
	rewrite(ip, s.public.Addr(), s.public.Port(), true)
	if env.Tracing() {
		how := "existing session"
		if created {
			how = fmt.Sprintf("new session, idle timeout %d s", int(SNATTimeout(proto)/time.Second))
		}
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "natgw " + g.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("SNAT table %s of NAT gateway %s (%s): source %s", g.SNATTableID, g.Name, g.ID, src),
			Match:  e.String(),
			Change: fmt.Sprintf("SNAT src %s → %s (%s)", endText(proto, inside), endText(proto, s.public), how)})
	}
	return trace.ReasonNone, ""
}

// allocate picks a free public port (or ICMP identifier) on eip.
func (g *NATGateway) allocate(proto uint8, eip netip.Addr, now time.Duration) (netip.AddrPort, bool) {
	for range 4096 {
		p := netip.AddrPortFrom(eip, uint16(snatPortLo+g.rng.IntN(snatPortHi-snatPortLo+1)))
		o := g.ports[natPort{proto, p}]
		if o == nil {
			return p, true
		}
		if now >= o.expires {
			g.expire(o)
			return p, true
		}
	}
	return netip.AddrPort{}, false
}

// fragment translates a non-first fragment (addresses only: it carries
// no transport header) by the session its first fragment used; the last
// fragment (MF clear) forgets the datagram.
func (g *NATGateway) fragment(env *link.Env, pkt *packet.Buffer, ip packet.IPv4, outbound bool) (trace.Reason, string) {
	k := fragKey{ip.Protocol(), ip.Src(), ip.Dst(), ip.ID()}
	f, ok := g.frags[k]
	s := f.s
	if ok && env.Now() >= f.expires {
		delete(g.frags, k)
		s = nil
	}
	if s == nil {
		return trace.ReasonVPCNoInternet, fmt.Sprintf("NAT gateway %s: fragment (offset %d) of datagram id %d from %s to %s arrived before a translated first fragment",
			g.Name, ip.FragOffset(), ip.ID(), ip.Src(), ip.Dst())
	}
	if !ip.MF() {
		delete(g.frags, k)
	}
	before, after := ip.Src(), s.public.Addr()
	if !outbound {
		before, after = ip.Dst(), s.inside.Addr()
	}
	rewrite(ip, after, 0, outbound)
	if env.Tracing() {
		dir := "src"
		if !outbound {
			dir = "dst"
		}
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "natgw " + g.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("fragment id %d offset %d", ip.ID(), ip.FragOffset()), Match: s.entry.String(),
			Change: fmt.Sprintf("%s %s → %s (as its first fragment)", dir, before, after)})
	}
	return trace.ReasonNone, ""
}

func (g *NATGateway) expire(s *natSession) {
	delete(g.out, natKey{s.proto, s.inside, s.remote})
	delete(g.in, natKey{s.proto, s.remote, s.public})
	delete(g.ports, natPort{s.proto, s.public})
}

// unsnat translates a reply arriving from the Internet at one of the
// gateway's EIPs; false when it belongs to no live session.
func (g *NATGateway) unsnat(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) bool {
	if ip.FragOffset() != 0 {
		r, _ := g.fragment(env, pkt, ip, false)
		return r == trace.ReasonNone
	}
	lport, rport, ok := natPorts(ip, false)
	if !ok {
		return false
	}
	proto := ip.Protocol()
	remote, public := netip.AddrPortFrom(ip.Src(), rport), netip.AddrPortFrom(ip.Dst(), lport)
	s := g.in[natKey{proto, remote, public}]
	now := env.Now()
	if s == nil {
		return false
	}
	if now >= s.expires {
		g.expire(s)
		return false
	}
	s.expires = now + SNATTimeout(proto)
	if ip.MF() {
		g.trackFragments(fragKey{proto, ip.Src(), ip.Dst(), ip.ID()}, s, now)
	}
	rewrite(ip, s.inside.Addr(), s.inside.Port(), false)
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "natgw " + g.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("SNAT session of NAT gateway %s: %s ← %s", g.Name, endText(proto, public), endText(proto, remote)),
			Match:  s.entry.String(),
			Change: fmt.Sprintf("reply: dst %s → %s", endText(proto, public), endText(proto, s.inside))})
	}
	return true
}

func (g *NATGateway) noEntryDetail(src, dst netip.Addr) string {
	var ents []string
	for _, e := range g.SNATEntries() {
		ents = append(ents, e.String())
	}
	list := "it is empty"
	if len(ents) > 0 {
		list = "entries: " + strings.Join(ents, "; ")
	}
	s := fmt.Sprintf("route table %s sent %s to NAT gateway %s (0.0.0.0/0), but its SNAT table %s has no entry for source %s (%s)",
		g.vpc.RouteTableID, dst, g.Name, g.SNATTableID, src, list)
	if sw := g.vpc.VSwitchOf(src); sw != nil {
		s += fmt.Sprintf(": add an SNAT entry for vSwitch %s", sw.Name)
		if eni := g.vpc.byAddr[src]; eni != nil {
			s += fmt.Sprintf(" or associate an EIP with %s", eni.Instance)
		}
	} else {
		s += fmt.Sprintf(": %s is not a VPC address (a pod address not masqueraded to its node?); only a CIDR entry covering it would translate it", src)
	}
	return s
}

// egress handles a packet from inside the VPC to a public address that no
// more specific entry than 0.0.0.0/0 routes (e is that entry or nil): an
// EIP of the source instance, else the NAT gateway, else a drop.
func (v *VPC) egress(src *ENI, pkt *packet.Buffer, eth packet.Ethernet, ip packet.IPv4, e *RouteEntry) {
	v.env.Unrecordable()
	env := v.env
	from := ip.Src()
	if eip := v.eipOf[from]; eip != nil {
		if in := quoted(ip); in != nil && in.Dst() == from {
			rewriteQuoted(ip, in, netip.AddrPortFrom(eip.Addr, 0), true, false)
		} else {
			rewrite(ip, eip.Addr, portOf(ip, true), true)
		}
		if env.Tracing() {
			env.Hop(pkt, trace.Hop{Node: "vpc", Device: src.VSwitch.Name, Kind: trace.KindVPC,
				Lookup: fmt.Sprintf("EIP of %s: %s", src.Instance, from),
				Match:  eip.String() + ", before the route table's 0.0.0.0/0 entry",
				Change: fmt.Sprintf("1:1 NAT src %s → %s", from, eip.Addr)})
		}
		v.internet(src, pkt, eth, ip)
		return
	}
	if e == nil || e.NATGateway == nil {
		detail := fmt.Sprintf("route table %s of %s has no entry for %s and no 0.0.0.0/0 entry pointing at a NAT gateway, and %s has no EIP: Internet egress needs a NAT gateway SNAT entry for the source or an EIP associated with the instance",
			v.RouteTableID, v.Name, ip.Dst(), from)
		if eni := v.byAddr[from]; eni != nil {
			detail = fmt.Sprintf("route table %s of %s has no entry for %s and no 0.0.0.0/0 entry pointing at a NAT gateway, and %s (%s) has no EIP: Internet egress needs a NAT gateway with an SNAT entry for vSwitch %s, or an EIP associated with %s",
				v.RouteTableID, v.Name, ip.Dst(), eni.Instance, from, eni.VSwitch.Name, eni.Instance)
		}
		for _, d := range v.deleted {
			if d.NATGateway != nil {
				detail += fmt.Sprintf(" (the entry %s → NAT gateway %s (%s) was deleted)", d.Destination, d.NATGateway.Name, d.ID)
			}
		}
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonVPCNoInternet, detail)
		return
	}
	g := e.NATGateway
	if r, detail := g.snat(env, pkt, ip); r != trace.ReasonNone {
		env.Drop(pkt, "vpc", "natgw "+g.Name, r, detail)
		return
	}
	v.internet(src, pkt, eth, ip)
}

// internet hands a packet with a public source to the Internet: the
// Internet client when it is the destination, or back into the VPC's
// Internet edge (an EIP, an Internet-facing SLB).
func (v *VPC) internet(src *ENI, pkt *packet.Buffer, eth packet.Ethernet, ip packet.IPv4) {
	v.env.Unrecordable()
	dst := ip.Dst()
	if ie := v.inet[dst]; ie != nil {
		if v.env.Tracing() {
			v.env.Hop(pkt, trace.Hop{Node: "vpc", Device: "internet", Kind: trace.KindVPC,
				Lookup: fmt.Sprintf("Internet: %s", dst), Match: fmt.Sprintf("the Internet client %s", ie.Instance),
				Change: fmt.Sprintf("eth %s > %s", GatewayMAC, ie.MAC)})
		}
		v.deliver(pkt, eth, ie)
		return
	}
	if v.inbound(src, pkt, eth, ip) {
		return
	}
	v.env.Drop(pkt, "vpc", "internet", trace.ReasonInternetNoHost,
		fmt.Sprintf("%s is on the Internet, outside the model: the modelled Internet holds the Internet client%s, the EIPs and the Internet-facing SLB addresses", dst, v.inetText()))
}

func (v *VPC) inetText() string {
	var s []string
	for a := range v.inet {
		s = append(s, a.String())
	}
	sort.Strings(s)
	if len(s) == 0 {
		return " (none in this scenario)"
	}
	return " " + strings.Join(s, ", ")
}

// inbound handles a packet from the Internet to an EIP; false when the
// destination is no EIP (the packet is untouched then).
func (v *VPC) inbound(src *ENI, pkt *packet.Buffer, eth packet.Ethernet, ip packet.IPv4) bool {
	v.env.Unrecordable()
	env := v.env
	dst := ip.Dst()
	eip := v.eips[dst]
	if eip == nil {
		return false
	}
	if g := eip.NATGateway; g != nil {
		if !g.unsnat(env, pkt, ip) && !g.unsnatError(env, pkt, ip) {
			env.Drop(pkt, "vpc", "natgw "+g.Name, trace.ReasonNATNoSession,
				fmt.Sprintf("%s %s → %s: EIP %s of NAT gateway %s has no SNAT session for it (SNAT serves connections from inside the VPC only; no DNAT entries are modelled)",
					natProtoName(ip.Protocol()), ip.Src(), dst, dst, g.Name))
			return true
		}
		v.route(src, pkt, eth, ip)
		return true
	}
	if in := quoted(ip); in != nil && in.Src() == dst {
		rewriteQuoted(ip, in, netip.AddrPortFrom(eip.eni.Primary, 0), true, true)
	} else {
		rewrite(ip, eip.eni.Primary, portOf(ip, false), false)
	}
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "internet", Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("EIP %s", dst), Match: eip.String(),
			Change: fmt.Sprintf("1:1 NAT dst %s → %s", dst, eip.eni.Primary)})
	}
	v.route(src, pkt, eth, ip)
	return true
}

// quoted returns the IPv4 header quoted by an ICMP error (with at least
// 8 bytes of its transport header), or nil when ip is no such error.
func quoted(ip packet.IPv4) packet.IPv4 {
	if ip.Protocol() != packet.ProtoICMP || ip.FragOffset() != 0 || ip.TotalLen() > len(ip) {
		return nil
	}
	c := ip[ip.HeaderLen():ip.TotalLen()]
	if len(c) < 8+packet.IPv4HeaderLen+8 || !packet.ICMP(c).IsError() {
		return nil
	}
	in := packet.IPv4(c[8:])
	if in[0]>>4 != 4 || in.HeaderLen() < packet.IPv4HeaderLen || len(in) < in.HeaderLen()+8 || in.FragOffset() != 0 {
		return nil
	}
	return in
}

// quotedPorts are the quoted packet's source and destination ports (an
// echo request's identifier as its source port, 0 as its destination).
func quotedPorts(in packet.IPv4) (src, dst uint16, ok bool) {
	seg := in[in.HeaderLen():]
	switch in.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		return binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4]), true
	case packet.ProtoICMP:
		if seg[0] == packet.ICMPEchoRequest {
			return binary.BigEndian.Uint16(seg[4:6]), 0, true
		}
	}
	return 0, 0, false
}

// rewriteQuoted translates an ICMP error about a packet we translated:
// the outer address (dst when inbound, else src) and the quoted packet's
// source (inbound) or destination address become to's address, and its
// port (or echo identifier) to's port unless keepPort; the quoted header's
// checksums are updated and the ICMP checksum recomputed.
func rewriteQuoted(ip, in packet.IPv4, to netip.AddrPort, keepPort, inbound bool) {
	rewrite(ip, to.Addr(), 0, !inbound)
	aoff, poff := 12, 0
	if !inbound {
		aoff, poff = 16, 2
	}
	old := [4]byte(in[aoff : aoff+4])
	nw := to.Addr().As4()
	copy(in[aoff:aoff+4], nw[:])
	in.SetChecksum()
	seg := in[in.HeaderLen():]
	var csum int
	switch in.Protocol() {
	case packet.ProtoTCP:
		csum = 16
	case packet.ProtoUDP:
		csum = 6
	case packet.ProtoICMP:
		poff, csum = 4, -1 // the echo identifier; ICMP has no pseudo-header
	}
	oldPort := binary.BigEndian.Uint16(seg[poff : poff+2])
	if keepPort {
		to = netip.AddrPortFrom(to.Addr(), oldPort)
	}
	binary.BigEndian.PutUint16(seg[poff:poff+2], to.Port())
	if csum == -1 {
		if len(seg) >= 8 {
			binary.BigEndian.PutUint16(seg[2:4], packet.ChecksumUpdate16(binary.BigEndian.Uint16(seg[2:4]), oldPort, to.Port()))
		}
	} else if len(seg) >= csum+2 {
		if c := binary.BigEndian.Uint16(seg[csum : csum+2]); c != 0 || in.Protocol() == packet.ProtoTCP {
			c = packet.ChecksumUpdate16(packet.ChecksumUpdate32(c, old, nw), oldPort, to.Port())
			binary.BigEndian.PutUint16(seg[csum:csum+2], c)
		}
	}
	packet.ICMP(ip[ip.HeaderLen():ip.TotalLen()]).SetChecksum()
}

// unsnatError translates an ICMP error from the Internet about a packet of
// one of the gateway's SNAT sessions; false when there is none.
func (g *NATGateway) unsnatError(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) bool {
	in := quoted(ip)
	if in == nil {
		return false
	}
	sp, dp, ok := quotedPorts(in)
	if !ok {
		return false
	}
	proto := in.Protocol()
	public, remote := netip.AddrPortFrom(in.Src(), sp), netip.AddrPortFrom(in.Dst(), dp)
	s := g.in[natKey{proto, remote, public}]
	if s == nil || env.Now() >= s.expires {
		return false
	}
	rewriteQuoted(ip, in, s.inside, false, true)
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "natgw " + g.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("ICMP error about %s → %s", endText(proto, public), endText(proto, remote)), Match: s.entry.String(),
			Change: fmt.Sprintf("dst %s → %s, quoted src %s → %s", public.Addr(), s.inside.Addr(), endText(proto, public), endText(proto, s.inside))})
	}
	return true
}

// snatError translates an ICMP error from inside the VPC about a packet
// that arrived through one of the gateway's SNAT sessions (TCP or UDP);
// false when there is none.
func (g *NATGateway) snatError(env *link.Env, pkt *packet.Buffer, ip packet.IPv4) bool {
	in := quoted(ip)
	if in == nil || (in.Protocol() != packet.ProtoTCP && in.Protocol() != packet.ProtoUDP) {
		return false
	}
	sp, dp, _ := quotedPorts(in)
	proto := in.Protocol()
	remote, inside := netip.AddrPortFrom(in.Src(), sp), netip.AddrPortFrom(in.Dst(), dp)
	s := g.out[natKey{proto, inside, remote}]
	if s == nil || env.Now() >= s.expires {
		return false
	}
	rewriteQuoted(ip, in, s.public, false, false)
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: "vpc", Device: "natgw " + g.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("ICMP error about %s → %s", remote, inside), Match: s.entry.String(),
			Change: fmt.Sprintf("src %s → %s, quoted dst %s → %s", inside.Addr(), s.public.Addr(), inside, s.public)})
	}
	return true
}
