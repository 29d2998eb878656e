package link

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// ipvlan design notes (what Linux's ipvlan driver does in L2 mode, the
// mode Terway's legacy "eniipVirtualType: ipvlan" datapath creates, and
// what netsim copies; drivers/net/ipvlan/ipvlan_core.c, ipvlan_main.c):
//
//   - The first slave created on a device turns it into an ipvlan port
//     (ipvlan_port_create): the port registers an rx handler on the
//     parent, so every frame the parent receives is looked at before the
//     parent's own stack sees it. A parent must be an Ethernet device that
//     is not loopback and has no other rx handler (a bridge port is busy:
//     EBUSY). The mode is per port.
//   - Every slave has the parent's MAC (eth_hw_addr_set(dev,
//     phy_dev->dev_addr)) and, unless one is given, its MTU. Slaves tell
//     each other apart by IP address only: each slave's addresses (learned
//     from the inet address notifier) are in the port's hash table while
//     the slave is up (ipvlan_open adds them, ipvlan_stop removes them);
//     an address already held by a slave of the port cannot be added to
//     another (ipvlan_addr_busy: "Address already assigned to an ipvlan
//     device", EADDRINUSE).
//   - Transmit (ipvlan_xmit_mode_l2): a frame whose destination MAC equals
//     its source MAC (the shared MAC: the sender resolved a neighbour on
//     the same port) is looked up by L3 address — the IPv4 destination, or
//     an ARP packet's target IP (ipvlan_addr_lookup with use_dest). A hit
//     is delivered to that slave locally (ipvlan_rcv_frame, local: the
//     slave must be up; dev_forward_skb scrubs the packet), never touching
//     the wire or the parent's stack; a miss goes up the parent's stack
//     (dev_forward_skb(phy_dev)). A multicast or broadcast destination is
//     queued (ipvlan_multicast_enqueue, tx_pkt): every other slave that is
//     up gets a copy and the frame goes out of the parent. Anything else
//     leaves by the parent (dev_queue_xmit on phy_dev, so the parent's tc
//     egress filters see it), unscrubbed.
//   - Receive on the parent (ipvlan_handle_mode_l2): a multicast or
//     broadcast frame is copied to every slave that is up (unless it is
//     the port's own transmission looped back: source MAC the parent's and
//     source address a slave's) and also passed to the parent's stack;
//     a unicast frame is looked up by destination IPv4 address or ARP
//     target IP and handed to the owning slave (RX_HANDLER_ANOTHER), or
//     passed to the parent's stack when no slave owns it.
//   - Slaves accept a multicast frame only when its address is in their
//     filter: the broadcast address always is (ipvlan_set_multicast_mac_filter),
//     and netsim counts the IPv4 all-hosts group 01:00:5e:00:00:01, which
//     every IPv4 interface joins, as joined; other groups are not
//     modelled (no IGMP joins), so they reach no slave.
//   - Not modelled: L3/L3S modes, the private and VEPA flags, IPv6 and
//     neighbour solicitation lookups, the multicast backlog limit
//     (IPVLAN_QBACKLOG_LIMIT), slaves following a later MTU or MAC change
//     of the parent, and carrier (a slave of a down parent stays up; its
//     frames for the wire are dropped at the parent).

// IPVlanMode is an ipvlan port's mode (IFLA_IPVLAN_MODE).
type IPVlanMode uint16

// ipvlan modes, numbered as the kernel numbers them.
const (
	IPVlanL2  IPVlanMode = 0 // IPVLAN_MODE_L2
	IPVlanL3  IPVlanMode = 1 // IPVLAN_MODE_L3 (not modelled)
	IPVlanL3S IPVlanMode = 2 // IPVLAN_MODE_L3S (not modelled)
)

// String is the mode as `ip -d link show` prints it ("l2").
func (m IPVlanMode) String() string {
	switch m {
	case IPVlanL2:
		return "l2"
	case IPVlanL3:
		return "l3"
	case IPVlanL3S:
		return "l3s"
	}
	return fmt.Sprintf("mode-%d", uint16(m))
}

// IPVlanHostName is the name Terway gives the host-namespace slave of the
// ENI with ifindex parentIndex: "ipvl_3" (IPvlanDriver.initSlaveName).
func IPVlanHostName(parentIndex int32) string { return fmt.Sprintf("ipvl_%d", parentIndex) }

// IPVlanPort is the ipvlan state on a parent device (struct ipvl_port):
// its slaves and the table of their addresses.
type IPVlanPort struct {
	// Parent is the device the slaves are stacked on (a secondary ENI).
	Parent *Device
	// Mode is the port's mode; only IPVlanL2 is modelled.
	Mode IPVlanMode

	slaves []*IPVlan
	addrs  map[[4]byte]*IPVlan
	// pass is the parent's own receiver (its namespace's stack): what
	// RX_HANDLER_PASS hands a frame to.
	pass Receiver
	// policy judges the slaves' unicast IPv4 frames (nil: none).
	policy IPVlanPolicy
}

// IPVlanPolicy judges the frames of an ipvlan port's slaves where a
// per-endpoint enforcer sits on the ipvlan path (Cilium's eBPF programs on
// ACK's Terway ipvlan datapath): Egress every unicast IPv4 frame a slave
// transmits, before ipvlan looks it up; Ingress every unicast IPv4 frame
// handed to a slave, from a slave of the port or from the wire. frame is
// the IPv4 packet (the Ethernet header pulled). A false verdict drops the
// packet with reason and detail; the judge must not keep pkt.
type IPVlanPolicy interface {
	Egress(from *IPVlan, pkt *packet.Buffer) (ok bool, reason trace.Reason, detail string)
	Ingress(to *IPVlan, pkt *packet.Buffer) (ok bool, reason trace.Reason, detail string)
}

// SetPolicy installs the port's per-endpoint policy (nil removes it).
func (p *IPVlanPort) SetPolicy(pol IPVlanPolicy) { p.policy = pol }

// Policy returns the port's per-endpoint policy, or nil.
func (p *IPVlanPort) Policy() IPVlanPolicy { return p.policy }

// AsIPVlan returns the ipvlan slave behind d, or nil when d is not one.
func AsIPVlan(d *Device) *IPVlan {
	s, _ := d.xmit.(*IPVlan)
	return s
}

// judge runs the port's policy on a unicast IPv4 frame at slave s (egress
// or ingress); false means the frame was dropped.
func (p *IPVlanPort) judge(s *IPVlan, pkt *packet.Buffer, egress bool) bool {
	b := pkt.Bytes()
	if len(b) < packet.EthHeaderLen+packet.IPv4HeaderLen || packet.Ethernet(b).Type() != packet.EtherTypeIPv4 || packet.Ethernet(b).Dst().IsMulticast() {
		return true
	}
	pkt.Pull(packet.EthHeaderLen)
	var (
		ok     bool
		reason trace.Reason
		detail string
	)
	if egress {
		ok, reason, detail = p.policy.Egress(s, pkt)
	} else {
		ok, reason, detail = p.policy.Ingress(s, pkt)
	}
	pkt.Prepend(packet.EthHeaderLen)
	if !ok {
		s.Dev.env.Drop(pkt, s.Dev.NS, s.Dev.Name, reason, detail)
	}
	return ok
}

// IPVlan is one ipvlan slave device.
type IPVlan struct {
	// Dev is the slave device (kind "ipvlan", the parent's MAC).
	Dev *Device
	// Port is the port the slave belongs to.
	Port *IPVlanPort

	addrs []netip.Addr
}

// NewIPVlanPort makes parent an ipvlan port in mode (what creating the
// first `ip link add NAME link PARENT type ipvlan mode l2` does) and
// returns it; on a device that already is a port it returns that port.
// The parent must already be attached to its namespace (its frames that
// no slave owns go to the receiver it has now).
func NewIPVlanPort(parent *Device, mode IPVlanMode) (*IPVlanPort, error) {
	if parent == nil {
		return nil, fmt.Errorf("ipvlan: no parent device")
	}
	if p, ok := parent.rx.(*IPVlanPort); ok {
		if p.Mode != mode {
			return nil, fmt.Errorf("ipvlan on %s: the port is in mode %s, not %s (the mode is per port)", parent, p.Mode, mode)
		}
		return p, nil
	}
	switch {
	case mode != IPVlanL2:
		return nil, fmt.Errorf("ipvlan on %s: mode %s is not modelled (only l2)", parent, mode)
	case parent.Type != Ether || parent.Kind == "loopback":
		return nil, fmt.Errorf("ipvlan on %s: the parent is loopback or not an Ethernet device (EINVAL)", parent)
	case parent.Kind == "ipvlan":
		return nil, fmt.Errorf("ipvlan on %s: the parent is itself an ipvlan slave; create the slave on its port's parent", parent)
	case parent.Master != nil:
		return nil, fmt.Errorf("ipvlan on %s: the device is already in use as a port of bridge %s (EBUSY)", parent, parent.Master.Dev.Name)
	case parent.rx == nil:
		return nil, fmt.Errorf("ipvlan on %s: the parent is not attached to a namespace yet", parent)
	}
	p := &IPVlanPort{Parent: parent, Mode: mode, addrs: make(map[[4]byte]*IPVlan), pass: parent.rx}
	parent.rx = p
	parent.cfg++
	return p, nil
}

// AddSlave creates a slave named name in namespace ns (`ip link add NAME
// link PARENT type ipvlan mode l2`, then moved into ns; attach it with the
// namespace's AddIface). mtu 0 means the parent's MTU. The slave starts
// up and has no addresses: give it those of its namespace with AddAddr.
func (p *IPVlanPort) AddSlave(ns, name string, mtu int) (*IPVlan, error) {
	if name == "" {
		return nil, fmt.Errorf("ipvlan on %s: empty slave name", p.Parent)
	}
	if p.Parent.rx != Receiver(p) {
		// The parent was re-attached (AddIface after the port was made):
		// keep its new receiver as the pass target and take the rx
		// handler back.
		p.pass, p.Parent.rx = p.Parent.rx, p
		p.Parent.cfg++
	}
	if mtu == 0 {
		mtu = p.Parent.MTU
	}
	if mtu < 68 {
		return nil, fmt.Errorf("ipvlan on %s: slave %s: MTU %d below the IPv4 minimum 68", p.Parent, name, mtu)
	}
	s := &IPVlan{Port: p}
	s.Dev = NewDevice(p.Parent.env, ns, name, "ipvlan", Ether, mtu, p.Parent.MAC, s)
	p.slaves = append(p.slaves, s)
	return s, nil
}

// Slaves returns the port's slaves in creation order.
func (p *IPVlanPort) Slaves() []*IPVlan { return p.slaves }

// Owner returns the slave that holds a, or nil.
func (p *IPVlanPort) Owner(a netip.Addr) *IPVlan {
	if !a.Is4() {
		return nil
	}
	return p.addrs[a.As4()]
}

// AddAddr records that the slave's namespace assigned a to it (the inet
// address notifier: ipvlan_add_addr4). An address another slave of the
// port holds is refused, as the kernel refuses it.
func (s *IPVlan) AddAddr(a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("ipvlan %s: address %s: only IPv4 is modelled", s.Dev, a)
	}
	if o := s.Port.addrs[a.As4()]; o != nil {
		return fmt.Errorf("ipvlan %s: address %s is already assigned to ipvlan device %s (EADDRINUSE)", s.Dev, a, o.Dev)
	}
	s.Port.addrs[a.As4()] = s
	s.addrs = append(s.addrs, a)
	return nil
}

// DelAddr forgets a (ipvlan_del_addr4); it is a no-op for an address the
// slave does not hold.
func (s *IPVlan) DelAddr(a netip.Addr) {
	for i, x := range s.addrs {
		if x == a {
			s.addrs = append(s.addrs[:i:i], s.addrs[i+1:]...)
			delete(s.Port.addrs, a.As4())
			return
		}
	}
}

// Addrs returns the slave's addresses.
func (s *IPVlan) Addrs() []netip.Addr { return s.addrs }

// String describes the slave as `ip -d link show` does: "eth0@if3 ...
// ipvlan mode l2 bridge".
func (s *IPVlan) String() string {
	return fmt.Sprintf("%s@if%d: ipvlan mode %s bridge, link %s", s.Dev.Name, s.Port.Parent.Index, s.Port.Mode, s.Port.Parent)
}

// lookup is ipvlan_addr_lookup on a frame: the slave (up) that owns the
// IPv4 destination, or an ARP packet's target (useDest) or sender
// address. ok is false when the frame has no L3 header ipvlan reads
// (ipvlan_get_L3_hdr returns NULL).
func (p *IPVlanPort) lookup(frame []byte, useDest bool) (s *IPVlan, addr [4]byte, ok bool) {
	if len(frame) < packet.EthHeaderLen {
		return nil, addr, false
	}
	l3 := frame[packet.EthHeaderLen:]
	switch packet.Ethernet(frame).Type() {
	case packet.EtherTypeARP:
		if len(l3) < packet.ARPLen {
			return nil, addr, false
		}
		if useDest {
			addr = [4]byte(l3[24:28])
		} else {
			addr = [4]byte(l3[14:18])
		}
	case packet.EtherTypeIPv4:
		if len(l3) < packet.IPv4HeaderLen || l3[0]>>4 != 4 || l3[0]&0x0f < 5 {
			return nil, addr, false
		}
		if tl := int(binary.BigEndian.Uint16(l3[2:4])); tl > len(l3) || tl < int(l3[0]&0x0f)*4 {
			return nil, addr, false
		}
		if useDest {
			addr = [4]byte(l3[16:20])
		} else {
			addr = [4]byte(l3[12:16])
		}
	default:
		return nil, addr, false
	}
	s = p.addrs[addr]
	if s != nil && !s.Dev.up {
		// ipvlan_stop took the slave's addresses out of the hash table.
		s = nil
	}
	return s, addr, true
}

// acceptsMulticast is the slave's multicast MAC filter (see the notes).
func acceptsMulticast(dst packet.MAC) bool {
	return dst == packet.Broadcast || dst == packet.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
}

// Xmit is a slave transmitting a frame (ipvlan_xmit_mode_l2).
func (s *IPVlan) Xmit(dev *Device, pkt *packet.Buffer) {
	p := s.Port
	env := dev.env
	b := pkt.Bytes()
	if len(b) < packet.EthHeaderLen {
		env.Drop(pkt, dev.NS, dev.Name, trace.ReasonMalformed, "runt frame on an ipvlan slave")
		return
	}
	if p.policy != nil && !p.judge(s, pkt, true) {
		return
	}
	eth := packet.Ethernet(b)
	dst := eth.Dst()
	switch {
	case dst == eth.Src():
		to, addr, _ := p.lookup(b, true)
		if to != nil {
			if env.Tracing() {
				env.Hop(pkt, trace.Hop{Node: dev.NS, Device: dev.Name, Kind: trace.KindNote,
					Lookup: fmt.Sprintf("ipvlan l2 %s: %s", p.Parent.Name, netip.AddrFrom4(addr)),
					Match:  fmt.Sprintf("on %s (slave of %s): delivered to it directly, not out of %s", to.Dev, p.Parent.Name, p.Parent.Name)})
			}
			if p.policy != nil && !p.judge(to, pkt, false) {
				return
			}
			pkt.Scrub()
			env.Sched.Deliver(0, to.Dev, dev, pkt)
			return
		}
		// The destination is local (the shared MAC) but no slave owns
		// it: up the parent's stack (dev_forward_skb(phy_dev)).
		if env.Tracing() {
			env.Hop(pkt, trace.Hop{Node: dev.NS, Device: dev.Name, Kind: trace.KindNote,
				Lookup: fmt.Sprintf("ipvlan l2 %s: %s", p.Parent.Name, netip.AddrFrom4(addr)),
				Match:  fmt.Sprintf("no slave of %s owns it: up the stack of %s", p.Parent.Name, p.Parent)})
		}
		pkt.Scrub()
		env.Sched.Deliver(0, p.Parent, dev, pkt)
	case dst.IsMulticast():
		// ipvlan_skb_crossing_ns(skb, NULL) scrubs the frame before it
		// is queued: the copies and the frame that leaves alike.
		pkt.Scrub()
		if acceptsMulticast(dst) {
			for _, o := range p.slaves {
				if o != s && o.Dev.up {
					env.Sched.Deliver(0, o.Dev, dev, env.Pool.Clone(pkt))
				}
			}
		}
		p.Parent.Transmit(pkt)
	default:
		p.Parent.Transmit(pkt)
	}
}

// Receive is the port's rx handler on the parent (ipvlan_handle_mode_l2).
func (p *IPVlanPort) Receive(dev *Device, pkt *packet.Buffer) {
	env := dev.env
	b := pkt.Bytes()
	if len(b) < packet.EthHeaderLen {
		p.pass.Receive(dev, pkt)
		return
	}
	eth := packet.Ethernet(b)
	if dst := eth.Dst(); dst.IsMulticast() {
		if acceptsMulticast(dst) && p.external(b) {
			for _, o := range p.slaves {
				if o.Dev.up {
					env.Sched.Deliver(0, o.Dev, dev, env.Pool.Clone(pkt))
				}
			}
		}
		p.pass.Receive(dev, pkt)
		return
	}
	to, addr, _ := p.lookup(b, true)
	if to == nil {
		p.pass.Receive(dev, pkt)
		return
	}
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: dev.NS, Device: dev.Name, Kind: trace.KindNote,
			Lookup: fmt.Sprintf("ipvlan l2 %s: %s", dev.Name, netip.AddrFrom4(addr)),
			Match:  fmt.Sprintf("on %s: handed to the slave, not to the stack of %s", to.Dev, dev.NS)})
	}
	if p.policy != nil && !p.judge(to, pkt, false) {
		return
	}
	to.Dev.Input(pkt)
}

// external is ipvlan_external_frame: false for the port's own multicast
// coming back (source MAC the parent's and source address a slave's).
func (p *IPVlanPort) external(frame []byte) bool {
	if packet.Ethernet(frame).Src() != p.Parent.MAC {
		return true
	}
	s, _, ok := p.lookup(frame, false)
	return !ok || s == nil
}

var (
	_ Xmitter  = (*IPVlan)(nil)
	_ Receiver = (*IPVlanPort)(nil)
)
