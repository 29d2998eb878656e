// Package vpc models the Alibaba Cloud VPC under a cluster: vSwitches, ENIs
// and the vRouter with its route table; and, for on-premises comparisons, a
// plain L2 segment.
//
// Model (see the README's model section):
//   - The VPC is an L3 network. Every ARP request an ECS sends for an
//     address in its vSwitch (the gateway, x.x.x.253, or another ENI's
//     address) is answered by the vSwitch with the gateway MAC
//     ee:ff:ff:ff:ff:ff, so all traffic leaves an ECS toward that MAC.
//     ARP for an address no ENI owns gets no answer.
//   - The vRouter forwards by destination IP with one longest-prefix match
//     over the route table: system entries for each vSwitch CIDR (delivered
//     to the ENI that owns the address, or dropped when none does) and
//     custom entries (next hop an ECS instance). No match is a drop.
//   - Delivery rewrites the Ethernet header (source ee:ff:ff:ff:ff:ff,
//     destination the ENI's MAC); TTL is not decremented; there is no
//     source/destination check, so an ECS may send pod-addressed packets.
//   - One underlay crossing takes Latency (virtual time, modelled).
//   - Internet egress goes through an EIP of the instance or a NAT
//     gateway's SNAT table (natgw.go); without either it is dropped as
//     vpc-no-internet.
package vpc

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// GatewayMAC is the MAC address the vSwitch answers every ARP with.
var GatewayMAC = packet.MAC{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}

// DefaultRouteQuota is the default number of custom entries per route table.
const DefaultRouteQuota = 200

// VSwitch is a subnet of the VPC in one zone.
type VSwitch struct {
	Name    string
	ID      string
	Zone    string
	CIDR    netip.Prefix
	Gateway netip.Addr
}

// GatewayOf returns the vSwitch gateway of a CIDR: the third-last address
// (x.x.x.253 in a /24).
func GatewayOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	v -= 2
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ENI is an elastic network interface of an ECS instance.
type ENI struct {
	ID       string
	Instance string
	VSwitch  *VSwitch
	MAC      packet.MAC
	Primary  netip.Addr
	// Secondary are extra private addresses (Terway ENI multi-IP).
	Secondary []netip.Addr
	// Dev is the NIC inside the instance.
	Dev *link.Device
	// Internet marks the attachment of a host outside the VPC.
	Internet bool
}

// EntryType says where a route entry came from.
type EntryType string

// Entry types.
const (
	System EntryType = "System"
	Custom EntryType = "Custom"
)

// RouteEntry is one entry of the VPC route table.
type RouteEntry struct {
	ID          string
	Destination netip.Prefix
	Type        EntryType
	// VSwitch is set for the system entry of a vSwitch CIDR.
	VSwitch *VSwitch
	// NextHop is the instance of a custom entry.
	NextHop string
	// NATGateway is the next hop of the 0.0.0.0/0 entry a NAT gateway adds
	// (NextHop is then the gateway's ID).
	NATGateway *NATGateway
	// Description says who created a custom entry (e.g. "flannel ali-vpc node-2").
	Description string
}

// String prints the entry the way the console lists it.
func (e *RouteEntry) String() string {
	if e.VSwitch != nil {
		return fmt.Sprintf("%s → local (system route of vSwitch %s)", e.Destination, e.VSwitch.Name)
	}
	s := fmt.Sprintf("%s → ECS instance %s (%s, %s)", e.Destination, e.NextHop, e.ID, strings.ToLower(string(e.Type)))
	if g := e.NATGateway; g != nil {
		s = fmt.Sprintf("%s → NAT gateway %s %s (%s, %s)", e.Destination, g.Name, g.ID, e.ID, strings.ToLower(string(e.Type)))
	}
	if e.Description != "" {
		s += " [" + e.Description + "]"
	}
	return s
}

// VPC is the network and its vRouter.
type VPC struct {
	Name string
	ID   string
	CIDR netip.Prefix
	// Latency is the modelled one-way delay of one crossing.
	Latency time.Duration
	// Quota is the custom route entry quota of the route table.
	Quota int
	// RouteTableID names the (system) route table.
	RouteTableID string

	env       *link.Env
	vswitches []*VSwitch
	enis      []*ENI
	byAddr    map[netip.Addr]*ENI
	byDev     map[*link.Device]*ENI
	primary   map[string]*ENI // instance → primary ENI
	routes    bart.Table[*RouteEntry]
	entries   []*RouteEntry
	custom    int
	deleted   []*RouteEntry
	created   map[netip.Prefix]int // custom entries created per destination
	slbs      map[netip.Addr]*SLB
	slbList   []*SLB
	inet      map[netip.Addr]*ENI
	natgws    []*NATGateway
	eips      map[netip.Addr]*EIP // every EIP by its address
	eipList   []*EIP
	eipOf     map[netip.Addr]*EIP // EIPs of instances by their private address
	// gen advances with every change to the route table, the ENIs, the
	// SLBs, NAT gateways and EIPs (what a recorded segment's route
	// decision depends on).
	gen uint64
}

// New creates a VPC.
func New(env *link.Env, name string, cidr netip.Prefix, latency time.Duration, quota int) *VPC {
	if quota <= 0 {
		quota = DefaultRouteQuota
	}
	return &VPC{Name: name, ID: ID("vpc", name), CIDR: cidr, Latency: latency, Quota: quota,
		RouteTableID: ID("vtb", name), env: env,
		byAddr: make(map[netip.Addr]*ENI), byDev: make(map[*link.Device]*ENI), primary: make(map[string]*ENI),
		slbs: map[netip.Addr]*SLB{}, inet: map[netip.Addr]*ENI{}, created: map[netip.Prefix]int{},
		eips: map[netip.Addr]*EIP{}, eipOf: map[netip.Addr]*EIP{}}
}

// ID makes a stable Alibaba-Cloud-looking resource ID: prefix-<hash>.
func ID(prefix, name string) string {
	h := fnv.New64a()
	h.Write([]byte(prefix + "/" + name))
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	v := h.Sum64()
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[v%36]
		v /= 36
		if v == 0 {
			v = h.Sum64() >> uint(i%7)
		}
	}
	return prefix + "-" + string(b)
}

// AddVSwitch creates a vSwitch and its system route entry.
func (v *VPC) AddVSwitch(name, zone string, cidr netip.Prefix) (*VSwitch, error) {
	v.gen++
	if !v.CIDR.Contains(cidr.Addr()) || cidr.Bits() < v.CIDR.Bits() {
		return nil, fmt.Errorf("vpc %q: vSwitch %q: %s is not inside the VPC CIDR %s", v.Name, name, cidr, v.CIDR)
	}
	sw := &VSwitch{Name: name, ID: ID("vsw", name), Zone: zone, CIDR: cidr, Gateway: GatewayOf(cidr)}
	v.vswitches = append(v.vswitches, sw)
	e := &RouteEntry{ID: ID("rte", cidr.String()), Destination: cidr, Type: System, VSwitch: sw}
	v.routes.Insert(cidr, e)
	v.entries = append(v.entries, e)
	return sw, nil
}

// VSwitches returns the vSwitches.
func (v *VPC) VSwitches() []*VSwitch { return v.vswitches }

// VSwitchOf returns the vSwitch whose CIDR holds a, or nil.
func (v *VPC) VSwitchOf(a netip.Addr) *VSwitch {
	for _, sw := range v.vswitches {
		if sw.CIDR.Contains(a) {
			return sw
		}
	}
	return nil
}

// Attach plugs an instance's NIC into the VPC as its primary ENI.
func (v *VPC) Attach(instance string, sw *VSwitch, dev *link.Device, ip netip.Addr) (*ENI, error) {
	v.gen++
	if !sw.CIDR.Contains(ip) {
		return nil, fmt.Errorf("vpc %q: ENI of %s: %s is outside vSwitch %s (%s)", v.Name, instance, ip, sw.Name, sw.CIDR)
	}
	if o, ok := v.byAddr[ip]; ok {
		return nil, fmt.Errorf("vpc %q: ENI of %s: %s is already used by %s", v.Name, instance, ip, o.Instance)
	}
	e := &ENI{ID: ID("eni", instance+"/"+dev.Name), Instance: instance, VSwitch: sw, MAC: dev.MAC, Primary: ip, Dev: dev}
	v.enis = append(v.enis, e)
	v.byAddr[ip] = e
	v.byDev[dev] = e
	if _, ok := v.primary[instance]; !ok {
		v.primary[instance] = e
	}
	dev.SetXmitter(attachment{v})
	return e, nil
}

// AddSecondaryIP assigns a secondary private address to an ENI.
func (v *VPC) AddSecondaryIP(e *ENI, ip netip.Addr) error {
	v.gen++
	if !e.VSwitch.CIDR.Contains(ip) {
		return fmt.Errorf("vpc %q: %s: %s is outside vSwitch %s", v.Name, e.ID, ip, e.VSwitch.CIDR)
	}
	if o, ok := v.byAddr[ip]; ok {
		return fmt.Errorf("vpc %q: %s: %s is already used by %s", v.Name, e.ID, ip, o.Instance)
	}
	e.Secondary = append(e.Secondary, ip)
	v.byAddr[ip] = e
	return nil
}

// ENIs returns all ENIs.
func (v *VPC) ENIs() []*ENI { return v.enis }

// AddRoute adds a custom route entry toward an instance. Exceeding the
// quota is an error naming it, as the CreateRouteEntry API refuses.
func (v *VPC) AddRoute(dst netip.Prefix, instance, desc string) (*RouteEntry, error) {
	v.gen++
	if _, ok := v.primary[instance]; !ok {
		return nil, fmt.Errorf("vpc %q: route entry %s: next hop %q is not an ECS instance in this VPC", v.Name, dst, instance)
	}
	if old, ok := v.routes.Get(dst); ok {
		// CreateRouteEntry refuses a destination already in the table.
		return nil, fmt.Errorf("vpc %q: route entry %s: InvalidCIDRBlock.Duplicate: the route entry already exists in %s: conflicts with existing entry %s", v.Name, dst, v.RouteTableID, old)
	}
	if v.custom >= v.Quota {
		return nil, fmt.Errorf("vpc %q: route entry %s → %s: route table %s already has %d custom route entries, the quota (QuotaExceeded.RouteEntry; raise vpc.routeQuota if your account's quota is higher)",
			v.Name, dst, instance, v.RouteTableID, v.Quota)
	}
	// An entry created again for the same destination is a new entry
	// with a new ID.
	id := ID("rte", dst.String())
	if n := v.created[dst]; n > 0 {
		id = ID("rte", fmt.Sprintf("%s#%d", dst, n))
	}
	v.created[dst]++
	e := &RouteEntry{ID: id, Destination: dst, Type: Custom, NextHop: instance, Description: desc}
	v.routes.Insert(dst, e)
	v.entries = append(v.entries, e)
	v.custom++
	// An entry created again is no longer "deleted".
	v.deleted = slices.DeleteFunc(v.deleted, func(d *RouteEntry) bool { return d.Destination == dst })
	return e, nil
}

// DeleteRoute removes the custom entry for dst.
func (v *VPC) DeleteRoute(dst netip.Prefix) (*RouteEntry, error) {
	v.gen++
	e, ok := v.routes.Get(dst)
	if !ok {
		msg := fmt.Sprintf("vpc %q: no route entry for %s in %s", v.Name, dst, v.RouteTableID)
		for _, d := range v.deleted {
			if d.Destination == dst {
				msg += fmt.Sprintf(" (the entry %s → %s (%s) was already deleted)", d.Destination, d.NextHop, d.ID)
			}
		}
		return nil, fmt.Errorf("%s", msg)
	}
	if e.Type != Custom {
		return nil, fmt.Errorf("vpc %q: %s is a system route entry and cannot be deleted", v.Name, dst)
	}
	v.routes.Delete(dst)
	for i, x := range v.entries {
		if x == e {
			v.entries = append(v.entries[:i], v.entries[i+1:]...)
			break
		}
	}
	v.custom--
	v.deleted = append(v.deleted, e)
	return e, nil
}

// Deleted returns the custom entries deleted and not created again, in
// the order they were deleted.
func (v *VPC) Deleted() []*RouteEntry { return slices.Clone(v.deleted) }

// InstanceID is the modelled ECS instance ID of an instance (i-…), as a
// route entry's NextHopId names it.
func InstanceID(instance string) string { return ID("i", instance) }

// Routes returns the route table entries sorted by destination.
func (v *VPC) Routes() []*RouteEntry {
	out := append([]*RouteEntry(nil), v.entries...)
	sort.Slice(out, func(a, b int) bool {
		if out[a].Destination.Addr() != out[b].Destination.Addr() {
			return out[a].Destination.Addr().Less(out[b].Destination.Addr())
		}
		return out[a].Destination.Bits() < out[b].Destination.Bits()
	})
	return out
}

// CustomRoutes is the number of custom entries.
func (v *VPC) CustomRoutes() int { return v.custom }

// attachment is the ECS side of the VPC: transmitting on the NIC enters the vRouter.
type attachment struct{ v *VPC }

// RecordsFlows marks the attachment as recording its work (link.FlowAware).
func (attachment) RecordsFlows() {}

func (a attachment) Xmit(d *link.Device, pkt *packet.Buffer) {
	pkt.Scrub()
	a.v.env.Record(link.ScrubOp)
	a.v.env.Sched.Deliver(a.v.Latency, a.v, d, pkt)
}

// Receive is the vSwitch/vRouter handling a frame from an ENI.
func (v *VPC) Receive(from *link.Device, pkt *packet.Buffer) {
	env := v.env
	src := v.byDev[from]
	b := pkt.Bytes()
	if src == nil {
		env.Drop(pkt, "vpc", from.Name, trace.ReasonMalformed, "frame from an unknown port")
		return
	}
	if len(b) < packet.EthHeaderLen {
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonMalformed, fmt.Sprintf("%d-byte frame is shorter than an Ethernet header", len(b)))
		return
	}
	eth := packet.Ethernet(b)
	switch eth.Type() {
	case packet.EtherTypeARP:
		v.arp(src, pkt)
		return
	case packet.EtherTypeIPv4:
	default:
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonMalformed, fmt.Sprintf("EtherType %#04x is not forwarded by the VPC", eth.Type()))
		return
	}
	ip := packet.IPv4(b[packet.EthHeaderLen:])
	if !ip.Valid() {
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonMalformed, "bad IPv4 header")
		return
	}
	dst := ip.Dst()
	where := src.VSwitch.Name
	if src.Internet || v.slbSessions() {
		env.Unrecordable() // SLB sessions and the Internet are not recorded
	}
	// An SLB session's reply (backend → client) goes back through the SLB.
	for _, lb := range v.slbList {
		if lb.reply(env, pkt, ip) {
			if ie := v.inet[dst]; ie != nil {
				v.deliver(pkt, eth, ie)
				return
			}
			v.route(src, pkt, eth, ip)
			return
		}
	}
	if lb := v.slbs[dst]; lb != nil {
		if src.Internet && lb.AddressType != "internet" {
			env.Drop(pkt, "vpc", where, trace.ReasonVPCNoRoute, fmt.Sprintf("%s is an intranet SLB address, not reachable from the internet", dst))
			return
		}
		if r, detail := lb.request(env, pkt, ip); r != trace.ReasonNone {
			env.Drop(pkt, "slb "+lb.Name, "", r, detail)
			return
		}
		v.route(src, pkt, eth, ip)
		return
	}
	if src.Internet {
		if v.inbound(src, pkt, eth, ip) {
			return
		}
		env.Drop(pkt, "vpc", where, trace.ReasonVPCNoRoute,
			fmt.Sprintf("%s is not a public address of this VPC: from the internet only internet-facing SLB listeners and EIPs are reachable", dst))
		return
	}
	v.route(src, pkt, eth, ip)
}

// route forwards by the route table (the vRouter).
func (v *VPC) route(src *ENI, pkt *packet.Buffer, eth packet.Ethernet, ip packet.IPv4) {
	env := v.env
	dst := ip.Dst()
	e, ok := v.routes.Lookup(dst)
	if IsPublic(dst) && !v.CIDR.Contains(dst) && (!ok || e.NATGateway != nil) && !src.Internet {
		if env.Tracing() {
			h := trace.Hop{Node: "vpc", Device: src.VSwitch.Name, Kind: trace.KindVPC,
				Lookup: fmt.Sprintf("route table %s: %s (from %s %s)", v.RouteTableID, dst, src.Instance, src.ID), Match: "no entry"}
			if ok {
				h.Match = e.String()
			}
			env.Hop(pkt, h)
		}
		if !ok {
			e = nil
		}
		v.egress(src, pkt, eth, ip, e)
		return
	}
	// An Internet NAT gateway forwards to public addresses only: a private
	// destination that only its 0.0.0.0/0 entry matches has no route.
	natOnly := ok && e.NATGateway != nil
	ok = ok && !natOnly
	var to *ENI
	if ok && e.VSwitch != nil {
		to = v.byAddr[dst]
	} else if ok {
		to = v.primary[e.NextHop]
	}
	if env.Tracing() {
		h := trace.Hop{Node: "vpc", Device: src.VSwitch.Name, Kind: trace.KindVPC,
			Lookup: fmt.Sprintf("route table %s: %s (from %s %s)", v.RouteTableID, dst, src.Instance, src.ID)}
		switch {
		case ok:
			h.Match = e.String()
		case natOnly:
			h.Match = e.String() + ", which forwards only to public addresses"
		default:
			h.Match = "no entry"
		}
		if to != nil && e.VSwitch != nil && (to != v.primary[to.Instance] || dst != to.Primary) {
			// A secondary ENI or a secondary private IP (Terway pods).
			dev := to.Dev.Name
			if to.Dev.NS != to.Instance {
				dev += " in " + to.Dev.NS // an ENI moved into a pod
			}
			h.Change = fmt.Sprintf("to %s %s (%s): %s is a private IP of that ENI, so the vSwitch delivers it with no route entry; eth %s > %s",
				to.Instance, to.ID, dev, dst, GatewayMAC, to.MAC)
		} else if to != nil {
			h.Change = fmt.Sprintf("to %s %s (%s) in vSwitch %s; eth %s > %s", to.Instance, to.ID, to.Primary, to.VSwitch.Name, GatewayMAC, to.MAC)
		}
		env.Hop(pkt, h)
	}
	if !ok {
		detail := v.noRouteDetail(dst)
		if natOnly {
			detail += fmt.Sprintf("; only 0.0.0.0/0 → NAT gateway %s matches, and an Internet NAT gateway forwards only to public addresses", e.NATGateway.Name)
		}
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonVPCNoRoute, detail)
		return
	}
	if to == nil {
		env.Drop(pkt, "vpc", src.VSwitch.Name, trace.ReasonVPCNoENI,
			fmt.Sprintf("%s is in vSwitch %s (%s) but no ENI owns it", dst, e.VSwitch.Name, e.VSwitch.CIDR))
		return
	}
	v.deliver(pkt, eth, to)
}

func (v *VPC) deliver(pkt *packet.Buffer, eth packet.Ethernet, to *ENI) {
	eth.Set(to.MAC, GatewayMAC, packet.EtherTypeIPv4)
	if r := v.env.Rec(); r != nil {
		r.Add(&deliverOp{v: v, gen: v.gen, to: to, dev: to.Dev, mac: to.MAC})
	}
	v.env.Sched.Deliver(0, to.Dev, nil, pkt)
}

// AddSLB places a load balancer in the VPC; its address must be unused.
func (v *VPC) AddSLB(lb *SLB) error {
	v.gen++
	if o, ok := v.byAddr[lb.Address]; ok {
		return fmt.Errorf("vpc %q: SLB %s: address %s is already used by %s", v.Name, lb.Name, lb.Address, o.Instance)
	}
	if _, ok := v.slbs[lb.Address]; ok {
		return fmt.Errorf("vpc %q: SLB %s: address %s is already used by another SLB", v.Name, lb.Name, lb.Address)
	}
	v.slbs[lb.Address] = lb
	v.slbList = append(v.slbList, lb)
	return nil
}

// SLBs returns the load balancers in creation order.
func (v *VPC) SLBs() []*SLB { return v.slbList }

// AttachInternet connects a host outside the VPC (a client on the
// internet) at address ip/24 with its gateway at the first address.
func (v *VPC) AttachInternet(name string, dev *link.Device, ip netip.Addr) (*ENI, error) {
	v.gen++
	if ip.IsPrivate() || v.CIDR.Contains(ip) {
		return nil, fmt.Errorf("vpc %q: internet host %s: %s is not a public address", v.Name, name, ip)
	}
	p := netip.PrefixFrom(ip, 24).Masked()
	sw := &VSwitch{Name: "internet", ID: "internet", Zone: "-", CIDR: p, Gateway: p.Addr().Next()}
	e := &ENI{ID: "internet-" + name, Instance: name, VSwitch: sw, MAC: dev.MAC, Primary: ip, Dev: dev, Internet: true}
	v.byDev[dev] = e
	v.inet[ip] = e
	dev.SetXmitter(attachment{v})
	return e, nil
}

func (v *VPC) noRouteDetail(dst netip.Addr) string {
	s := fmt.Sprintf("route table %s of %s has no entry for %s (system entries: vSwitch CIDRs", v.RouteTableID, v.Name, dst)
	for _, sw := range v.vswitches {
		s += " " + sw.CIDR.String()
	}
	s += fmt.Sprintf("; %d custom entries", v.custom)
	for _, d := range v.deleted {
		if d.Destination.Contains(dst) {
			s += fmt.Sprintf("; the entry %s → %s (%s) was deleted", d.Destination, d.NextHop, d.ID)
		}
	}
	return s + ")"
}

// arp answers ARP requests from ENIs for addresses in their vSwitch.
func (v *VPC) arp(src *ENI, pkt *packet.Buffer) {
	env := v.env
	b := pkt.Bytes()
	a := packet.ARP(b[packet.EthHeaderLen:])
	if !a.Valid() || a.Op() != packet.ARPRequest {
		pkt.Free()
		return
	}
	tip := a.TargetIP()
	sw := src.VSwitch
	owner, known := v.byAddr[tip]
	// An intranet SLB's address in this vSwitch is answered like an ENI's.
	_, slb := v.slbs[tip]
	answer := sw.CIDR.Contains(tip) && (tip == sw.Gateway || (known && owner.VSwitch == sw) || slb)
	if env.Tracing() {
		h := trace.Hop{Node: "vpc", Device: sw.Name, Kind: trace.KindARP, Lookup: fmt.Sprintf("ARP who-has %s tell %s", tip, a.SenderIP())}
		if answer {
			h.Change = fmt.Sprintf("vSwitch answers %s is-at %s", tip, GatewayMAC)
		} else {
			h.Change = fmt.Sprintf("no ENI in vSwitch %s owns %s: no answer", sw.Name, tip)
		}
		env.Hop(pkt, h)
	}
	if !answer {
		pkt.Free()
		return
	}
	sha, sip := a.SenderMAC(), a.SenderIP()
	packet.Ethernet(b).Set(sha, GatewayMAC, packet.EtherTypeARP)
	a.Set(packet.ARPReply, GatewayMAC, tip, sha, sip)
	pkt.Parent, pkt.ID = pkt.ID, env.NewID()
	env.Sched.Deliver(v.Latency, src.Dev, nil, pkt)
}

// deliverOp is the vRouter's decision for a frame: the ENI it goes to,
// with the gateway's MAC as its source.
type deliverOp struct {
	v   *VPC
	gen uint64
	to  *ENI
	dev *link.Device
	mac packet.MAC
}

func (o *deliverOp) Valid(time.Duration) bool {
	return o.v.gen == o.gen && o.to.Dev == o.dev && o.to.MAC == o.mac && !o.v.slbSessions()
}

// slbSessions reports whether an SLB holds sessions (whose replies it
// would take).
func (v *VPC) slbSessions() bool {
	for _, lb := range v.slbList {
		if len(lb.back) > 0 {
			return true
		}
	}
	return false
}

func (o *deliverOp) Apply(pkt *packet.Buffer, _ time.Duration) {
	packet.Ethernet(pkt.Bytes()).Set(o.mac, GatewayMAC, packet.EtherTypeIPv4)
}
