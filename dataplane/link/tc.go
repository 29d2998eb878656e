package link

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// tc egress redirect design notes (Terway's legacy ipvlan datapath,
// plugin/datapath/ipvlan_linux.go setupInitNamespace/setupFilters, and
// the kernel's sch_handle_egress, act_tunnel_key, act_skbedit, act_mirred):
//
//   - On each ENI that has ipvlan pods Terway ensures a clsact qdisc and,
//     for every CIDR of HostStackCIDRs plus the Service CIDR, one egress
//     u32 filter: priority 40000, protocol ip, one key matching the IPv4
//     destination (offset 16 of the network header, value and mask of the
//     CIDR), terminal, with three actions: tunnel_key unset (pipe),
//     skbedit ptype host (pipe), mirred ingress redirect to ipvl_<ENI
//     ifindex> (stolen).
//   - A frame a pod slave sends toward the wire is dev_queue_xmit'ed on
//     the ENI, so the clsact egress hook sees it before the qdisc, the
//     driver and the packet taps: a match is taken away (not counted on the
//     ENI, not seen by tcpdump there) and enters the host namespace's
//     stack as if received on ipvl_X (netif_rx on ipvl_X, pkt_type
//     PACKET_HOST), where kube-proxy's IPVS or iptables rules see it.
//     Everything else leaves the ENI for the VPC and never crosses the
//     node's netfilter.
//   - mirred to a device that is down drops the packet ("tc mirred to
//     Houston: device ipvl_3 is down").
//   - netsim has no skb->pkt_type: "ptype host" is modelled by rewriting
//     the destination MAC to the target's own address after the capture
//     on the target (so tcpdump on ipvl_X still shows the gateway MAC the
//     pod addressed), which makes the stack take the frame as its own as
//     PACKET_HOST does. The redirect clears the packet's conntrack
//     reference, which belongs to the pod's namespace (the kernel keeps
//     it; pods run no conntrack there); the mark is kept.
//   - tunnel_key unset removes tunnel metadata netsim never attaches: a
//     no-op here. Other tc filters, classifiers and actions are not
//     modelled.

// TerwayRedirectPrio is the priority of Terway's egress redirect filters.
const TerwayRedirectPrio = 40000

// Clsact is the egress side of a clsact qdisc on a device (`tc qdisc add
// dev DEV clsact`) with its u32 redirect filters.
type Clsact struct {
	// Dev is the device the qdisc is on.
	Dev *Device

	filters []*U32Redirect
}

// U32Redirect is one egress filter of the form Terway installs: `tc
// filter add dev DEV egress prio PRIO protocol ip u32 match ip dst CIDR
// action tunnel_key unset pipe action skbedit ptype host pipe action
// mirred ingress redirect dev TARGET`.
type U32Redirect struct {
	// Prio is the filter's priority (Terway: 40000).
	Prio uint16
	// Dst is the matched IPv4 destination prefix.
	Dst netip.Prefix
	// Target is the device whose ingress gets the matched packets.
	Target *Device
	// Packets counts the packets the filter redirected (tc -s).
	Packets uint64

	on *Device
}

// NewClsact adds a clsact qdisc to dev and returns it; on a device that
// already has one it returns that one (EnsureClsActQdsic).
func NewClsact(dev *Device) *Clsact {
	if c, ok := dev.egress.(*Clsact); ok {
		return c
	}
	c := &Clsact{Dev: dev}
	dev.egress = c
	dev.cfg++
	return c
}

// AddRedirect adds the filter redirecting IPv4 packets to dst into
// target's ingress; adding a filter that is already there (same priority,
// prefix and target) returns the existing one, as Terway's setupFilters
// keeps a matching filter. Filters are tried by priority, then in the
// order they were added.
func (c *Clsact) AddRedirect(prio uint16, dst netip.Prefix, target *Device) (*U32Redirect, error) {
	if !dst.IsValid() || !dst.Addr().Is4() {
		return nil, fmt.Errorf("tc filter on %s: %s: only IPv4 prefixes are supported", c.Dev, dst)
	}
	if target == nil {
		return nil, fmt.Errorf("tc filter on %s: %s: no redirect target device", c.Dev, dst)
	}
	if target.Type != Ether {
		return nil, fmt.Errorf("tc filter on %s: %s: redirect target %s is not an Ethernet device", c.Dev, dst, target)
	}
	dst = dst.Masked()
	for _, f := range c.filters {
		if f.Prio == prio && f.Dst == dst && f.Target == target {
			return f, nil
		}
	}
	f := &U32Redirect{Prio: prio, Dst: dst, Target: target, on: c.Dev}
	i := len(c.filters)
	for i > 0 && c.filters[i-1].Prio > prio {
		i--
	}
	c.filters = append(c.filters, nil)
	copy(c.filters[i+1:], c.filters[i:])
	c.filters[i] = f
	return f, nil
}

// DelRedirect removes the filter for dst at prio (Teardown's DelFilter);
// it reports whether there was one.
func (c *Clsact) DelRedirect(prio uint16, dst netip.Prefix) bool {
	dst = dst.Masked()
	for i, f := range c.filters {
		if f.Prio == prio && f.Dst == dst {
			c.filters = append(c.filters[:i:i], c.filters[i+1:]...)
			return true
		}
	}
	return false
}

// Filters returns the filters in the order they are tried.
func (c *Clsact) Filters() []*U32Redirect { return c.filters }

// String is the filter as the tc command that creates it.
func (f *U32Redirect) String() string {
	return fmt.Sprintf("tc filter add dev %s egress prio %d protocol ip u32 match ip dst %s action tunnel_key unset pipe action skbedit ptype host pipe action mirred ingress redirect dev %s",
		f.on.Name, f.Prio, f.Dst, f.Target.Name)
}

// Hop is how the trace names the filter and its action.
func (f *U32Redirect) Hop() string {
	return fmt.Sprintf("tc filter egress prio %d u32 dst %s: mirred ingress redirect dev %s", f.Prio, f.Dst, f.Target.Name)
}

// Egress runs the filters on a frame transmitted on the device
// (sch_handle_egress): the first whose prefix holds the IPv4 destination
// steals the frame.
func (c *Clsact) Egress(dev *Device, pkt *packet.Buffer) bool {
	b := pkt.Bytes()
	if len(c.filters) == 0 || len(b) < packet.EthHeaderLen+packet.IPv4HeaderLen || packet.Ethernet(b).Type() != packet.EtherTypeIPv4 {
		return false
	}
	dst := netip.AddrFrom4([4]byte(b[packet.EthHeaderLen+16 : packet.EthHeaderLen+20]))
	for _, f := range c.filters {
		if f.Dst.Contains(dst) {
			f.redirect(dev, pkt)
			return true
		}
	}
	return false
}

// redirect runs the filter's actions on a matched frame.
func (f *U32Redirect) redirect(dev *Device, pkt *packet.Buffer) {
	env := dev.env
	f.Packets++
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: dev.NS, Device: dev.Name, Kind: trace.KindNote,
			Match:  f.Hop(),
			Change: fmt.Sprintf("tunnel_key unset, skbedit ptype host: stolen, it enters the stack of %s through %s instead of leaving %s", f.Target.NS, f.Target.Name, dev.Name)})
	}
	t := f.Target
	if !t.up {
		env.Drop(pkt, dev.NS, dev.Name, trace.ReasonLinkDown,
			fmt.Sprintf("tc mirred to Houston: device %s is down (%s)", t.Name, f.Hop()))
		return
	}
	// The conntrack reference is the pod namespace's (see the notes).
	pkt.CT, pkt.CTReply, pkt.CTRelated, pkt.IPVS = nil, false, false, nil
	env.Sched.Deliver(0, f, dev, pkt)
}

// Receive is the redirected frame arriving at the target's ingress
// (netif_rx on the target with pkt_type PACKET_HOST).
func (f *U32Redirect) Receive(_ *Device, pkt *packet.Buffer) {
	t := f.Target
	env := t.env
	if !t.up {
		t.Stats.RxDropped++
		env.Drop(pkt, t.NS, t.Name, trace.ReasonLinkDown, fmt.Sprintf("%s is down (ip link set %s down)", t.Name, t.Name))
		return
	}
	t.Stats.RxPackets++
	t.Stats.RxBytes += uint64(pkt.Len())
	if env.Capture != nil {
		env.Capture.Capture(t, In, pkt)
	}
	if t.rx == nil {
		env.Drop(pkt, t.NS, t.Name, trace.ReasonLinkDown, t.Name+" is not attached to anything")
		return
	}
	packet.Ethernet(pkt.Bytes()).SetDst(t.MAC) // skbedit ptype host
	t.rx.Receive(t, pkt)
}

var (
	_ EgressHook = (*Clsact)(nil)
	_ Receiver   = (*U32Redirect)(nil)
)
