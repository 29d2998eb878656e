// Package link holds network devices and what connects them: the Env every
// dataplane object shares (scheduler, packet pool, tracer, capture), the
// Device type with its two directions, veth pairs and the Linux bridge.
// Tunnel devices (VXLAN) live in their own files here too.
//
// A Device is written to going out (Transmit: what the stack or a bridge
// does) and delivers to whatever is attached to it coming in (Input: the
// wire or driver hands it a frame, it passes it to its Receiver — a
// namespace's stack, or the bridge it is enslaved to). A capture sees both
// directions at the device, as tcpdump -i does.
package link

import (
	"fmt"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Scheduler is the event loop as the dataplane sees it. The loop owns all
// state; the dataplane takes time from it and posts work to it.
type Scheduler interface {
	// Now is the loop's clock (virtual or real).
	Now() time.Duration
	// Deliver makes rx.Receive(from, pkt) happen after delay.
	Deliver(delay time.Duration, rx Receiver, from *Device, pkt *packet.Buffer)
	// AfterFunc runs f after delay (timers: ARP retries, reassembly timeouts).
	AfterFunc(delay time.Duration, f func())
}

// Receiver takes frames that arrive on a device.
type Receiver interface {
	Receive(dev *Device, pkt *packet.Buffer)
}

// Dir is the direction of a frame at a device.
type Dir uint8

// Directions.
const (
	In Dir = iota
	Out
)

func (d Dir) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Capturer records frames crossing devices (a pcap sink).
type Capturer interface {
	Capture(dev *Device, dir Dir, pkt *packet.Buffer)
}

// Env is what every dataplane object of one world shares.
type Env struct {
	Sched   Scheduler
	Pool    *packet.Pool
	Trace   *trace.Recorder // nil: no hops, no drop records
	Capture Capturer        // nil: no capture
	// VXLANPorts are decoded as VXLAN in trace summaries.
	VXLANPorts []uint16
	// SlowPath turns the fast path's caches off (netfilter's rule
	// trails, the segment cache): every packet takes the full walk.
	// Both ways give the same packets, counters and traces; tests run the
	// bundled scenarios both ways and compare.
	SlowPath bool
	// Flows is the segment cache (flow.go); nil: none.
	Flows  *FlowCache
	nextID uint64
}

// NewEnv returns an Env with a fresh pool.
func NewEnv(s Scheduler) *Env { return &Env{Sched: s, Pool: packet.NewPool()} }

// Now is the loop's clock.
func (e *Env) Now() time.Duration { return e.Sched.Now() }

// NewID returns a fresh packet ID for traces.
func (e *Env) NewID() uint64 { e.nextID++; return e.nextID }

// Tracing reports whether hops are recorded.
func (e *Env) Tracing() bool { return e.Trace.On() }

// Drop records the drop of pkt and frees it.
func (e *Env) Drop(pkt *packet.Buffer, ns, dev string, r trace.Reason, detail string) {
	e.Unrecordable()
	if e.Trace != nil {
		e.Trace.AddDrop(trace.Drop{Packet: pkt.ID, Flow: pkt.Flow, Node: ns, Device: dev, Reason: r, Detail: detail})
	}
	pkt.Free()
}

// Hop records a hop for pkt; callers check Tracing first when formatting
// the hop costs anything.
func (e *Env) Hop(pkt *packet.Buffer, h trace.Hop) {
	h.Packet, h.Parent, h.Flow = pkt.ID, pkt.Parent, pkt.Flow
	e.Trace.Add(h)
}

// LinkType is what a device carries.
type LinkType uint8

// Link types.
const (
	Ether LinkType = iota // Ethernet frames
	RawIP                 // bare IP packets (TUN, IPIP)
)

// Xmitter is what transmitting on a device does: put the frame on a veth
// wire, forward it through a bridge, encapsulate it, hand it to the VPC.
type Xmitter interface {
	Xmit(dev *Device, pkt *packet.Buffer)
}

// Stats are a device's counters, as `ip -s link` shows them.
type Stats struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

// Device is one network interface in one namespace.
type Device struct {
	// Name is the interface name, e.g. "eth0", "cni0", "flannel.1".
	Name string
	// NS names the namespace (a node name, or NS/NAME of a pod).
	NS string
	// Index is the ifindex inside the namespace.
	Index int32
	// Type is Ether or RawIP.
	Type LinkType
	// MTU is the L3 MTU.
	MTU int
	// MAC is the hardware address (Ether only).
	MAC packet.MAC
	// Kind is the driver: "veth", "bridge", "vxlan", "device", "tun", "loopback".
	Kind string
	// Master is the bridge this device is enslaved to, if any.
	Master *Bridge
	// Peer is the other end of a veth pair.
	Peer *Device
	// Hairpin lets a bridge send frames back out of this port.
	Hairpin bool
	// Delay is the modelled time a frame spends on this device's wire.
	Delay time.Duration
	// Stats are the counters.
	Stats Stats

	env    *Env
	up     bool
	xmit   Xmitter
	rx     Receiver
	egress EgressHook
	// cfg counts changes of up, xmit, rx and egress: a segment's device
	// ops check it instead of comparing interface values.
	cfg uint64
	// flowSeg is the segment the last frame from this device replayed
	// (FlowCache's exact-match cache).
	flowSeg *Segment
}

// EgressHook sees the frames transmitted on a device before they are
// counted, captured or handed to its Xmitter, as tc's clsact egress hook
// does (sch_handle_egress runs in __dev_queue_xmit before the qdisc, and
// the packet taps that tcpdump reads come after it). Egress returns true
// when it took the frame (redirected or dropped it).
type EgressHook interface {
	Egress(dev *Device, pkt *packet.Buffer) bool
}

// SetEgress installs the device's egress hook (nil: none).
func (d *Device) SetEgress(h EgressHook) { d.egress = h; d.cfg++ }

// NewDevice makes a device; it starts up.
func NewDevice(env *Env, ns, name, kind string, typ LinkType, mtu int, mac packet.MAC, x Xmitter) *Device {
	return &Device{Name: name, NS: ns, Kind: kind, Type: typ, MTU: mtu, MAC: mac, env: env, up: true, xmit: x}
}

// Env returns the device's environment.
func (d *Device) Env() *Env { return d.env }

// SetXmitter sets what Transmit does.
func (d *Device) SetXmitter(x Xmitter) { d.xmit = x; d.cfg++ }

// SetReceiver attaches what receives the device's incoming frames.
func (d *Device) SetReceiver(r Receiver) { d.rx = r; d.cfg++ }

// Up reports whether the device is administratively up.
func (d *Device) Up() bool { return d.up }

// SetUp sets the administrative state (ip link set DEV up|down).
func (d *Device) SetUp(up bool) { d.up = up; d.cfg++ }

// String is "NS/NAME".
func (d *Device) String() string { return d.NS + "/" + d.Name }

// hardHeader is the link header length counted on top of the MTU.
func (d *Device) hardHeader() int {
	if d.Type == Ether {
		return packet.EthHeaderLen
	}
	return 0
}

// Transmit sends pkt out of the device (dev_queue_xmit).
func (d *Device) Transmit(pkt *packet.Buffer) {
	env := d.env
	if !d.up {
		d.Stats.TxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonLinkDown, fmt.Sprintf("%s is down (ip link set %s down)", d.Name, d.Name))
		return
	}
	if d.egress != nil {
		env.Unrecordable()
		if d.egress.Egress(d, pkt) {
			return
		}
	}
	d.Stats.TxPackets++
	d.Stats.TxBytes += uint64(pkt.Len())
	if r := env.Rec(); r != nil {
		if _, ok := d.xmit.(FlowAware); ok {
			r.Add(&devTxOp{d: d, n: uint64(pkt.Len()), mtu: d.MTU, cfg: d.cfg})
		} else {
			r.Abort()
		}
	}
	if env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: d.NS, Device: d.Name, Kind: trace.KindTx, After: d.Summary(pkt)})
	}
	if env.Capture != nil {
		env.Capture.Capture(d, Out, pkt)
	}
	d.xmit.Xmit(d, pkt)
}

// Receive is Input, so that a Device can be the target of a scheduled
// delivery (the far end of a wire).
func (d *Device) Receive(_ *Device, pkt *packet.Buffer) { d.Input(pkt) }

// SetMTU changes the device's MTU (`ip link set DEV mtu M`); a bridge it
// is a port of follows (NETDEV_CHANGEMTU → br_mtu_auto_adjust).
func (d *Device) SetMTU(mtu int) {
	d.MTU = mtu
	if d.Master != nil {
		d.Master.AutoAdjustMTU()
	}
}

// maxFrame is the longest frame the device accepts: MTU plus the link
// header, plus room for a VLAN tag on Ethernet (is_skb_forwardable allows
// mtu + hard_header_len + VLAN_HLEN, and NIC receive buffers are sized
// the same way).
func (d *Device) maxFrame() int {
	if d.Type == Ether {
		return d.MTU + d.hardHeader() + vlanHeaderLen
	}
	return d.MTU
}

const vlanHeaderLen = 4

// Input is a frame arriving at the device from its wire (netif_receive).
// Frames longer than the device accepts (see maxFrame) are dropped, as
// veth and most drivers do.
func (d *Device) Input(pkt *packet.Buffer) {
	env := d.env
	if !d.up {
		d.Stats.RxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonLinkDown, fmt.Sprintf("%s is down (ip link set %s down)", d.Name, d.Name))
		return
	}
	if pkt.Len() > d.maxFrame() {
		d.Stats.RxDropped++
		env.Drop(pkt, d.NS, d.Name, trace.ReasonRxOversize,
			fmt.Sprintf("%d-byte frame on %s with MTU %d (max frame %d): dropped by the driver, no ICMP", pkt.Len(), d.Name, d.MTU, d.maxFrame()))
		return
	}
	d.Stats.RxPackets++
	d.Stats.RxBytes += uint64(pkt.Len())
	if r := env.Rec(); r != nil {
		if _, ok := d.rx.(FlowAware); ok {
			r.Add(&devRxOp{d: d, n: uint64(pkt.Len()), mtu: d.MTU, cfg: d.cfg})
		} else {
			r.Abort()
		}
	}
	if env.Capture != nil {
		env.Capture.Capture(d, In, pkt)
	}
	if d.rx == nil {
		env.Drop(pkt, d.NS, d.Name, trace.ReasonLinkDown, d.Name+" is not attached to anything")
		return
	}
	d.rx.Receive(d, pkt)
}

// Summary describes pkt as a frame of this device's link type.
func (d *Device) Summary(pkt *packet.Buffer) string {
	return packet.Summary(pkt.Bytes(), d.Type == Ether, d.env.VXLANPorts...)
}

// veth is the wire of a veth pair: transmitting on one end arrives at the other.
type veth struct{}

func (veth) Xmit(d *Device, pkt *packet.Buffer) {
	pkt.Scrub()
	d.env.Record(scrubOp{})
	d.env.Sched.Deliver(d.Delay, d.Peer, d, pkt)
}

// Connect joins two devices with a wire: what one transmits arrives at the
// other after delay (a veth pair, or a cable to a switch port).
func Connect(a, b *Device, delay time.Duration) {
	a.Peer, b.Peer = b, a
	a.xmit, b.xmit = veth{}, veth{}
	a.cfg++
	b.cfg++
	a.Delay, b.Delay = delay, delay
}

// NewVethPair creates a veth pair: a in namespace nsA, b in nsB.
func NewVethPair(env *Env, nsA, nameA string, macA packet.MAC, nsB, nameB string, macB packet.MAC, mtu int) (a, b *Device) {
	a = NewDevice(env, nsA, nameA, "veth", Ether, mtu, macA, veth{})
	b = NewDevice(env, nsB, nameB, "veth", Ether, mtu, macB, veth{})
	a.Peer, b.Peer = b, a
	return a, b
}
