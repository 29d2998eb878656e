package link

import (
	"fmt"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// DefaultAgeing is the Linux bridge's default FDB ageing time (300 s).
const DefaultAgeing = 300 * time.Second

// FDBEntry is one forwarding database entry of a bridge.
type FDBEntry struct {
	MAC packet.MAC
	// Port is where the MAC lives; nil means the bridge device itself.
	Port *Device
	// Local entries are the bridge's and its ports' own addresses.
	Local bool
	// Static entries never age.
	Static  bool
	Updated time.Duration
}

// String prints the entry as `bridge fdb show` does.
func (e *FDBEntry) String(b *Bridge) string {
	dev := b.Dev.Name
	if e.Port != nil {
		dev = e.Port.Name
	}
	s := fmt.Sprintf("%s dev %s master %s", e.MAC, dev, b.Dev.Name)
	if e.Local {
		s += " permanent"
	} else if e.Static {
		s += " static"
	}
	return s
}

// Bridge is a Linux bridge (cni0, docker0): ports learn source MACs,
// frames go to the port their destination was learned on, unknown and
// broadcast destinations are flooded (back out of the ingress port too
// when it has hairpin mode), frames for the bridge's own address go up to
// the namespace's stack through the bridge device.
type Bridge struct {
	// Dev is the bridge device as the namespace sees it.
	Dev *Device
	// Ageing is the FDB ageing time.
	Ageing time.Duration

	ports []*Device
	fdb   map[uint64]*FDBEntry
	// gen advances whenever an FDB entry is added or removed or a port
	// joins or leaves (what a recorded segment's lookups depend on).
	gen uint64
	// mtuByUser is BROPT_MTU_SET_BY_USER: the MTU was set by hand and
	// no longer follows the ports.
	mtuByUser bool

	// NF, when set, runs the namespace's IPv4 netfilter hooks on frames
	// forwarded between ports (br_netfilter with
	// net.bridge.bridge-nf-call-iptables=1, which Kubernetes requires).
	NF BridgeNF
}

// BridgeNF runs netfilter on bridged IPv4 frames (br_netfilter).
type BridgeNF interface {
	// BridgeForward runs PREROUTING, FORWARD and POSTROUTING on a frame
	// going from port in to port out. It returns false when it consumed
	// the frame (dropped it, or handed it to the IP layer after a DNAT
	// changed its destination).
	BridgeForward(b *Bridge, in, out *Device, pkt *packet.Buffer) bool
	// BridgeForwardDNAT runs FORWARD and POSTROUTING only, on a frame
	// whose PREROUTING already ran and DNATed it to a destination behind
	// the bridge (br_nf_forward_ip, br_nf_post_routing after
	// br_nf_pre_routing_finish_bridge). out is nil when the frame is
	// flooded. It returns false when it dropped the frame.
	BridgeForwardDNAT(b *Bridge, in, out *Device, pkt *packet.Buffer) bool
}

// NewBridge creates a bridge device named name in namespace ns. mtu is
// the MTU given at creation (`ip link add NAME mtu M type bridge`, as the
// CNI bridge plugin does); 0 means the kernel's 1500. Either way it is not
// an MTU set by hand: the first port added sets the bridge's MTU to the
// ports' minimum (see AutoAdjustMTU).
func NewBridge(env *Env, ns, name string, mtu int, mac packet.MAC) *Bridge {
	if mtu == 0 {
		mtu = ethDataLen
	}
	b := &Bridge{Ageing: DefaultAgeing, fdb: make(map[uint64]*FDBEntry)}
	b.Dev = NewDevice(env, ns, name, "bridge", Ether, mtu, mac, b)
	b.fdb[macKey(mac)] = &FDBEntry{MAC: mac, Local: true, Static: true}
	return b
}

// ethDataLen is ETH_DATA_LEN, the MTU of a new bridge and of a bridge
// with no ports.
const ethDataLen = 1500

// AddPort enslaves dev (ip link set dev master BRIDGE); the bridge's MTU
// follows its ports (br_add_if → br_mtu_auto_adjust).
func (b *Bridge) AddPort(dev *Device) {
	dev.Master = b
	dev.SetReceiver(b)
	b.ports = append(b.ports, dev)
	b.fdb[macKey(dev.MAC)] = &FDBEntry{MAC: dev.MAC, Port: dev, Local: true, Static: true}
	b.gen++
	b.AutoAdjustMTU()
}

// RemovePort releases dev (ip link set dev nomaster) and forgets the FDB
// entries learned on it; the bridge's MTU follows the remaining ports
// (br_del_if), 1500 when none is left.
func (b *Bridge) RemovePort(dev *Device) {
	for i, p := range b.ports {
		if p == dev {
			b.ports = append(b.ports[:i:i], b.ports[i+1:]...)
			break
		}
	}
	for k, e := range b.fdb {
		if e.Port == dev {
			delete(b.fdb, k)
		}
	}
	b.gen++
	dev.Master = nil
	b.AutoAdjustMTU()
}

// SetMTU sets the bridge's MTU by hand (`ip link set BRIDGE mtu M`,
// br_change_mtu): from then on it no longer follows its ports
// (BROPT_MTU_SET_BY_USER).
func (b *Bridge) SetMTU(mtu int) {
	b.Dev.MTU = mtu
	b.mtuByUser = true
}

// MTUSetByUser reports whether the MTU was set by hand.
func (b *Bridge) MTUSetByUser() bool { return b.mtuByUser }

// AutoAdjustMTU is br_mtu_auto_adjust: unless the MTU was set by hand, the
// bridge takes the smallest MTU of its ports, or 1500 without ports. The
// kernel runs it when a port is added or removed and when a port's MTU
// changes (NETDEV_CHANGEMTU; see Device.SetMTU).
func (b *Bridge) AutoAdjustMTU() {
	if b.mtuByUser {
		return
	}
	mtu := 0
	for _, p := range b.ports {
		if mtu == 0 || p.MTU < mtu {
			mtu = p.MTU
		}
	}
	if mtu == 0 {
		mtu = ethDataLen
	}
	b.Dev.MTU = mtu
}

// Ports returns the enslaved devices.
func (b *Bridge) Ports() []*Device { return b.ports }

// FDB returns a copy of the entries by MAC (for `bridge fdb show`-style
// dumps and tests).
func (b *Bridge) FDB() map[packet.MAC]*FDBEntry {
	out := make(map[packet.MAC]*FDBEntry, len(b.fdb))
	for _, e := range b.fdb {
		out[e.MAC] = e
	}
	return out
}

// macKey is a MAC as a map key the runtime hashes fast.
func macKey(m packet.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// lookup finds the live entry for m. A learned entry has expired once
// Ageing has passed since it was last refreshed (br_fdb has_expired:
// updated + hold_time <= now).
func (b *Bridge) lookup(m packet.MAC, now time.Duration) *FDBEntry {
	e := b.fdb[macKey(m)]
	if e == nil || (!e.Static && now-e.Updated >= b.Ageing) {
		return nil
	}
	return e
}

// Receive handles a frame arriving on an enslaved port (br_handle_frame).
func (b *Bridge) Receive(in *Device, pkt *packet.Buffer) {
	env := b.Dev.env
	eth := packet.Ethernet(pkt.Bytes())
	if len(eth) < packet.EthHeaderLen {
		env.Drop(pkt, b.Dev.NS, in.Name, trace.ReasonNotForHost, "runt frame")
		return
	}
	src, dst := eth.Src(), eth.Dst()
	now := env.Now()
	var learned *FDBEntry
	if !src.IsMulticast() {
		if e := b.fdb[macKey(src)]; e == nil {
			b.gen++
			env.Unrecordable() // a new entry: not a steady run
			b.fdb[macKey(src)] = &FDBEntry{MAC: src, Port: in, Updated: now}
			if env.Tracing() {
				env.Hop(pkt, trace.Hop{Node: b.Dev.NS, Device: b.Dev.Name, Kind: trace.KindFDB,
					Lookup: "learn " + src.String(), Change: "learned " + b.fdb[macKey(src)].String(b)})
			}
		} else if !e.Local {
			if e.Port != in {
				env.Unrecordable() // the MAC moved
			}
			e.Port, e.Updated = in, now
			learned = e
		}
	} else {
		env.Unrecordable()
	}
	if dst.IsMulticast() {
		if env.Tracing() {
			env.Hop(pkt, trace.Hop{Node: b.Dev.NS, Device: b.Dev.Name, Kind: trace.KindFDB,
				Lookup: "fdb " + dst.String(), Match: "broadcast: flood to all ports and up to " + b.Dev.Name})
		}
		b.flood(in, pkt, true)
		return
	}
	e := b.lookupTraced(pkt, dst, now)
	switch {
	case e == nil:
		b.flood(in, pkt, false)
	case e.Local:
		if r := env.Rec(); r != nil {
			r.Add(&bridgeInOp{b: b, gen: b.gen, in: in, learned: learned, dst: e, port: e.Port, local: true, nf: b.NF != nil})
		}
		if b.NF != nil {
			// br_nf_pre_routing: PREROUTING runs on the frame before
			// it goes up, and a DNAT toward a destination behind this
			// bridge keeps it bridged (the stack calls ForwardDNAT
			// with the ingress port recorded here).
			pkt.PhysIn = in.Index
		}
		b.up(pkt)
	case e.Port == in && !in.Hairpin:
		b.dropHairpin(in, dst, pkt)
	default:
		if b.NF != nil {
			env.Unrecordable()
			if !b.NF.BridgeForward(b, in, e.Port, pkt) {
				return
			}
		}
		if r := env.Rec(); r != nil {
			r.Add(&bridgeInOp{b: b, gen: b.gen, in: in, learned: learned, dst: e, port: e.Port, nf: b.NF != nil})
		}
		b.toPort(e.Port, pkt)
	}
}

// ForwardDNAT is br_handle_frame_finish for a frame that br_netfilter
// keeps bridged after PREROUTING DNATed it to a destination behind this
// bridge (br_nf_pre_routing_finish_bridge: the destination MAC is the new
// destination's neighbour, the source MAC and TTL are the sender's): the
// FDB picks the port, which may be the ingress port in when hairpin mode
// is on (a pod reaching itself through its Service), and FORWARD and
// POSTROUTING run as for any bridged frame.
func (b *Bridge) ForwardDNAT(in *Device, pkt *packet.Buffer) {
	env := b.Dev.env
	dst := packet.Ethernet(pkt.Bytes()).Dst()
	e := b.lookupTraced(pkt, dst, env.Now())
	switch {
	case e == nil:
		if b.NF != nil && !b.NF.BridgeForwardDNAT(b, in, nil, pkt) {
			return
		}
		b.flood(in, pkt, false)
	case e.Local:
		b.up(pkt)
	case e.Port == in && !in.Hairpin:
		b.dropHairpin(in, dst, pkt)
	default:
		if b.NF != nil && !b.NF.BridgeForwardDNAT(b, in, e.Port, pkt) {
			return
		}
		b.toPort(e.Port, pkt)
	}
}

// carrier reports whether a port forwards: a veth whose peer is down has
// no carrier, and the bridge disables the port (br_port_carrier_check →
// br_stp_disable_port), so nothing is flooded or forwarded to it.
func carrier(p *Device) bool {
	return p.up && (p.Peer == nil || p.Peer.up)
}

// toPort is br_forward to a known port: a disabled port (no carrier)
// drops the frame (should_deliver is false), an up one transmits it.
func (b *Bridge) toPort(p *Device, pkt *packet.Buffer) {
	if p.up && !carrier(p) {
		p.Stats.TxDropped++
		b.Dev.env.Drop(pkt, b.Dev.NS, p.Name, trace.ReasonLinkDown,
			fmt.Sprintf("port %s of %s is disabled: no carrier, its peer %s is down (ip link set %s down)", p.Name, b.Dev.Name, p.Peer, p.Peer.Name))
		return
	}
	p.Transmit(pkt)
}

// lookupTraced is the FDB lookup for dst, recorded as an fdb hop of pkt.
func (b *Bridge) lookupTraced(pkt *packet.Buffer, dst packet.MAC, now time.Duration) *FDBEntry {
	env := b.Dev.env
	e := b.lookup(dst, now)
	if env.Tracing() {
		h := trace.Hop{Node: b.Dev.NS, Device: b.Dev.Name, Kind: trace.KindFDB, Lookup: "fdb " + dst.String()}
		if e != nil {
			h.Match = e.String(b)
		} else {
			h.Match = "no entry: flood"
		}
		env.Hop(pkt, h)
	}
	return e
}

// dropHairpin drops a frame whose destination was learned on its ingress
// port in, where hairpin mode is off.
func (b *Bridge) dropHairpin(in *Device, dst packet.MAC, pkt *packet.Buffer) {
	b.Dev.env.Drop(pkt, b.Dev.NS, in.Name, trace.ReasonHairpin,
		fmt.Sprintf("%s was learned on %s, the ingress port, and hairpin mode is off on %s", dst, in.Name, in.Name))
}

// up passes a frame to the namespace through the bridge device.
func (b *Bridge) up(pkt *packet.Buffer) {
	d := b.Dev
	if !d.up {
		d.env.Drop(pkt, d.NS, d.Name, trace.ReasonLinkDown, d.Name+" is down")
		return
	}
	d.Stats.RxPackets++
	d.Stats.RxBytes += uint64(pkt.Len())
	if r := d.env.Rec(); r != nil {
		if _, ok := d.rx.(FlowAware); ok {
			r.Add(&devRxOp{d: d, n: uint64(pkt.Len()), mtu: d.MTU, cfg: d.cfg})
		} else {
			r.Abort()
		}
	}
	if d.env.Capture != nil {
		d.env.Capture.Capture(d, In, pkt)
	}
	if d.rx == nil {
		d.env.Unrecordable()
		pkt.Free()
		return
	}
	d.rx.Receive(d, pkt)
}

// flood sends copies to every port (br_flood), and up to the stack when
// local is set. in is the ingress port (nil: from the bridge device
// itself); it gets a copy too when hairpin mode is on for it
// (should_deliver: `(p->flags & BR_HAIRPIN_MODE) || skb->dev != p->dev`),
// so a pod behind a hairpin port receives its own broadcasts.
func (b *Bridge) flood(in *Device, pkt *packet.Buffer, local bool) {
	b.Dev.env.Unrecordable()
	pool := b.Dev.env.Pool
	var last *Device
	for _, p := range b.ports {
		if (p == in && !p.Hairpin) || !carrier(p) {
			continue
		}
		if last != nil {
			last.Transmit(pool.Clone(pkt))
		}
		last = p
	}
	if local && in != nil {
		if last != nil {
			last.Transmit(pool.Clone(pkt))
		}
		b.up(pkt)
		return
	}
	if last != nil {
		last.Transmit(pkt)
		return
	}
	pkt.Free()
}

// Xmit is the bridge device transmitting a frame from the namespace
// (br_dev_xmit): forwarded by FDB, flooded when unknown.
func (b *Bridge) Xmit(_ *Device, pkt *packet.Buffer) {
	env := b.Dev.env
	dst := packet.Ethernet(pkt.Bytes()).Dst()
	if dst.IsMulticast() {
		b.flood(nil, pkt, false)
		return
	}
	e := b.lookupTraced(pkt, dst, env.Now())
	if e == nil || e.Port == nil {
		b.flood(nil, pkt, false)
		return
	}
	if r := env.Rec(); r != nil {
		r.Add(&bridgeInOp{b: b, gen: b.gen, dst: e, port: e.Port, nf: b.NF != nil})
	}
	b.toPort(e.Port, pkt)
}

// bridgeInOp is a bridge's decision for a known unicast frame: the source
// entry refreshed (learned, on a frame from a port), the destination entry
// it found, and so the port or the bridge device the frame goes to.
type bridgeInOp struct {
	b         *Bridge
	gen       uint64
	in        *Device
	learned   *FDBEntry
	dst       *FDBEntry
	port      *Device
	local, nf bool
}

func (o *bridgeInOp) Valid(now time.Duration) bool {
	b, e := o.b, o.dst
	if b.gen != o.gen || e.Local != o.local || e.Port != o.port || (!e.Static && now-e.Updated >= b.Ageing) || (b.NF != nil) != o.nf {
		return false
	}
	if l := o.learned; l != nil && (l.Local || l.Port != o.in) {
		return false
	}
	if o.local {
		return b.Dev.up
	}
	return o.port != nil && o.port != o.in && carrier(o.port)
}

func (o *bridgeInOp) Apply(_ *packet.Buffer, now time.Duration) {
	if l := o.learned; l != nil {
		l.Updated = now
	}
}
