package link

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"netsim/dataplane/packet"
)

// The segment cache: the fast path's whole-path part.
//
// A segment is what one packet does between two waits: from the moment a
// frame is delivered to a device (the loop runs a delivery whose queue was
// otherwise idle) through every zero-delay hop that follows — bridge,
// stack, netfilter, tunnel, the next veth — until the packet is handed to
// a wire with a delay or consumed by a socket. The event loop records a
// segment, the second time it sees its headers, while the dataplane runs
// it the slow way: every stage that acts
// on the packet appends an Op describing what it did (a device's counters,
// a conntrack update, a replayed rule trail, a TTL decrement, an
// encapsulation), and every stage whose work it cannot describe marks the
// recording unusable. A recording is kept only when its run was steady:
// it changed no table (no FDB entry learned or moved, no neighbour or
// connection changing state, no rule walk that could not be replayed).
//
// The next frame with the same headers (all of them, up to the innermost
// UDP header, except the IP IDs and the checksums, which are verified
// instead) delivered to the same device from the same peer, with the same
// packet metadata, replays the segment when every op is still valid: each
// op checks what it consulted (the tables' generations, the entries'
// states and ages, the devices' states) before any op acts. Replaying
// applies the ops in order, leaves the packet with the metadata the slow
// run left, and posts the segment's exit delivery, so that what the world
// holds afterwards — every counter, conntrack entry and timeout, FDB and
// neighbour entry, IP ID generator, socket — is what the slow path would
// have left, and the loop's later events run at the same times in the same
// order. Tests run every bundled scenario both ways and compare.
//
// This is the design of Open vSwitch's megaflow cache and of the kernel's
// nf_flowtable (an established flow skips the stack's lookups), except
// that nothing a packet meets is skipped: only the lookups and decisions
// are, because their outcome is known.

// Op is one recorded step of a segment.
type Op interface {
	// Valid reports whether the step would do what it did when it was
	// recorded, for a packet with the segment's headers arriving at now.
	Valid(now time.Duration) bool
	// Apply does the step's effects.
	Apply(pkt *packet.Buffer, now time.Duration)
}

// keyLen is the longest header chain a segment key holds: Ethernet, IPv4,
// UDP, VXLAN, and again Ethernet, IPv4, UDP (IPIP's Ethernet, IPv4, IPv4,
// UDP is shorter).
const keyLen = 2*(packet.EthHeaderLen+packet.IPv4HeaderLen+packet.UDPHeaderLen) + packet.VXLANHeaderLen

// keyWords is keyLen in 64-bit words, rounded up.
const keyWords = (keyLen + 7) / 8

// flowKey is a frame's header chain with its per-packet fields (IP IDs and
// checksums) zeroed, and the offsets of the IPv4 headers in it.
type flowKey struct {
	b    [keyLen]byte
	n    int
	size int // the frame's length
	ip   [2]int8
	nip  int8
}

// meta is the packet metadata a segment starts with or leaves.
type meta struct {
	mark           uint32
	ct             any
	ctReply, ctRel bool
	hairpin        bool
	ipvs           any
	inIf, physIn   int32
	fragMax        uint16
	nextHop        netip.Addr
}

func metaOf(p *packet.Buffer) meta {
	return meta{mark: p.Mark, ct: p.CT, ctReply: p.CTReply, ctRel: p.CTRelated, hairpin: p.Hairpin, ipvs: p.IPVS,
		inIf: p.InIf, physIn: p.PhysIn, fragMax: p.FragMax, nextHop: p.NextHop}
}

// entryMatches reports whether p's metadata on entry is what a segment was
// recorded with (what the stages may read).
func (m *meta) entryMatches(p *packet.Buffer) bool {
	return p.Mark == m.mark && p.CT == nil && p.IPVS == nil && !p.CTReply && !p.CTRelated &&
		p.Hairpin == m.hairpin && p.PhysIn == m.physIn && p.FragMax == m.fragMax && p.NextHop == m.nextHop
}

func (m *meta) set(p *packet.Buffer) {
	p.Mark, p.CT, p.CTReply, p.CTRelated, p.Hairpin, p.IPVS = m.mark, m.ct, m.ctReply, m.ctRel, m.hairpin, m.ipvs
	p.InIf, p.PhysIn, p.FragMax, p.NextHop = m.inIf, m.physIn, m.fragMax, m.nextHop
}

// Segment is one recorded segment.
type Segment struct {
	rx   Receiver
	from *Device
	key  flowKey
	// words and mask are the key as 64-bit words and the mask that
	// zeroes a frame's per-packet fields (IP IDs, checksums): the exact
	// match test of a frame against the segment its sender last used.
	words, mask [keyWords]uint64
	nw          int
	slot        int
	in          meta // metadata on entry
	out         meta // metadata on exit
	ops         []Op
	// exit is the delivery the segment ends with (exitRx nil: the packet
	// was consumed).
	exitDelay time.Duration
	exitRx    Receiver
	exitFrom  *Device
	// exitValid: the recorded run's exit packet had valid checksums on
	// every key header (a replay then marks its packet CsumKnown).
	exitValid bool
	// events is the number of loop events the slow run took (the first
	// and every zero-delay delivery after it).
	events uint64
	// Replays counts the segment's replays.
	Replays uint64
	// failed marks a key whose recording failed; skip is how many more
	// of its deliveries are not recorded, backoff the last such wait.
	failed        bool
	skip, backoff uint32
}

// FlowCache holds a world's recorded segments, a fixed number of them in
// a direct-mapped table: a flow whose slot another took is recorded again.
type FlowCache struct {
	slots []*Segment
	// seen holds the hash of the last key seen in each slot that was not
	// recorded (Begin records a key's second delivery, not its first).
	seen []uint64
	rec  *Recorder
	// Recorded, Replayed and Missed count segments kept, replays, and
	// deliveries that took the slow path.
	Recorded, Replayed, Missed uint64
	env                        *Env
	// noRecord tells Begin that Replay found a key still waiting after a
	// failed recording.
	noRecord bool
	// recs counts recordings begun (Recorder.ID).
	recs uint64
}

// flowSlots is the size of the segment table (a power of two).
const flowSlots = 1024

// NewFlowCache returns an empty cache for env's world (env.VXLANPorts are
// the UDP ports whose payload the key parses as VXLAN).
func NewFlowCache(env *Env) *FlowCache {
	return &FlowCache{slots: make([]*Segment, flowSlots), seen: make([]uint64, flowSlots), env: env}
}

// off reports whether segments are neither replayed nor recorded now: the
// fast path is off, or hops are traced or frames captured (a replay emits
// neither).
func (fc *FlowCache) off() bool {
	e := fc.env
	return e.SlowPath || e.Tracing() || e.Capture != nil
}

// Recorder collects the ops of a segment being recorded.
type Recorder struct {
	// ID numbers the recordings of a world from 1: stages that add ops
	// use it to tell whether an earlier op of theirs is in this segment.
	ID  uint64
	seg *Segment
	pkt *packet.Buffer
	bad bool
	// pending counts zero-delay deliveries posted and not yet run.
	pending  int
	exited   bool
	consumed bool
}

// Consumed tells the recorder that the packet reached its end (a socket
// took it): the segment has no exit, and what happens after — an answer
// the socket sends is another packet — is not part of it.
func (r *Recorder) Consumed() { r.consumed = true }

// Add appends an op.
func (r *Recorder) Add(op Op) {
	if !r.bad && !r.consumed {
		r.seg.ops = append(r.seg.ops, op)
	}
}

// Abort makes the recording unusable: a stage did something no op
// describes, or the run was not steady.
func (r *Recorder) Abort() {
	if !r.consumed {
		r.fail()
	}
}

func (r *Recorder) fail() { r.bad = true }

// Packet is the packet the segment is recorded for.
func (r *Recorder) Packet() *packet.Buffer { return r.pkt }

// Rec returns the recorder of the segment being recorded, nil when none is.
func (e *Env) Rec() *Recorder {
	if e.Flows == nil {
		return nil
	}
	return e.Flows.rec
}

// Record adds op to the segment being recorded, if any.
func (e *Env) Record(op Op) {
	if r := e.Rec(); r != nil {
		r.Add(op)
	}
}

// Unrecordable marks the segment being recorded, if any, unusable.
func (e *Env) Unrecordable() {
	if r := e.Rec(); r != nil {
		r.Abort()
	}
}

// Recording reports whether a segment is being recorded.
func (fc *FlowCache) Recording() bool { return fc.rec != nil }

func (fc *FlowCache) index(from *Device, k *flowKey) int {
	return int(keyHash(from, k) & (flowSlots - 1))
}

// keyHash mixes a key and the device it came from.
func keyHash(from *Device, k *flowKey) uint64 {
	h := uint64(k.n)
	b := k.b[:k.n]
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0x9e3779b97f4a7c15
		b = b[8:]
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	if from != nil {
		h ^= uint64(from.Index) * 0xbf58476d1ce4e5b9
	}
	return h ^ h>>31
}

// Replay replays the segment recorded for a delivery of pkt to rx from
// from, if there is one and it is valid now, and returns it: the caller
// accounts for its Events and posts its Exit delivery, if any.
func (fc *FlowCache) Replay(rx Receiver, from *Device, pkt *packet.Buffer, now time.Duration) (ok bool, s *Segment) {
	if fc.off() {
		return false, nil
	}
	// A packet a replay handed on has checksums it verified or wrote.
	known := pkt.CsumKnown
	pkt.CsumKnown = false
	// The exact-match cache first (as Open vSwitch's EMC before its
	// megaflow lookup): the segment the sender's last replayed frame
	// used, if this frame has its headers.
	if s = from.lastSeg(); s == nil || !sameReceiver(s.rx, rx) || fc.slots[s.slot] != s || !s.matches(pkt.Bytes()) {
		var k flowKey
		if !makeKey(pkt.Bytes(), fc.env.VXLANPorts, &k) {
			fc.Missed++
			return false, nil
		}
		s = fc.slots[fc.index(from, &k)]
		if s == nil || !sameReceiver(s.rx, rx) || s.from != from || s.key != k {
			fc.Missed++
			return false, nil
		}
	}
	if s.failed {
		// The last recordings of this key failed: wait before the next.
		fc.Missed++
		if s.skip > 0 {
			s.skip--
			fc.noRecord = true
		}
		return false, nil
	}
	if !s.in.entryMatches(pkt) || !known && !checksumsOK(pkt.Bytes(), &s.key) {
		fc.Missed++
		return false, nil
	}
	for _, op := range s.ops {
		if !op.Valid(now) {
			fc.Missed++
			return false, nil
		}
	}
	for _, op := range s.ops {
		op.Apply(pkt, now)
	}
	if s.exitRx != nil {
		s.out.set(pkt)
		pkt.CsumKnown = s.exitValid
	}
	s.Replays++
	fc.Replayed++
	if from != nil {
		from.flowSeg = s
	}
	return true, s
}

// lastSeg is the segment d's last replayed frame used (nil d: none).
func (d *Device) lastSeg() *Segment {
	if d == nil {
		return nil
	}
	return d.flowSeg
}

// matches reports whether frame b has the segment's key: its length and
// every header byte but the per-packet ones.
func (s *Segment) matches(b []byte) bool {
	if len(b) != s.key.size || len(b) < 8*s.nw {
		return false
	}
	for i := 0; i < s.nw; i++ {
		if binary.LittleEndian.Uint64(b[8*i:])&s.mask[i] != s.words[i] {
			return false
		}
	}
	return true
}

// setWords fills the segment's exact-match words and mask from its key.
func (s *Segment) setWords() {
	k := &s.key
	var m [keyWords * 8]byte
	for i := 0; i < k.n; i++ {
		m[i] = 0xff
	}
	// The per-packet fields makeKey zeroes: at each IPv4 header of the
	// key, the ID and the checksum, and the UDP checksum after it. The
	// key's bytes are the frame's from its start, so offsets agree.
	for i := int8(0); i < k.nip; i++ {
		o := int(k.ip[i])
		m[o+4], m[o+5], m[o+10], m[o+11] = 0, 0, 0, 0
		if packet.IPv4(k.b[o:]).Protocol() == packet.ProtoUDP {
			m[o+packet.IPv4HeaderLen+6], m[o+packet.IPv4HeaderLen+7] = 0, 0
		}
	}
	var kb [keyWords * 8]byte
	copy(kb[:], k.b[:k.n])
	s.nw = (k.n + 7) / 8
	for i := 0; i < s.nw; i++ {
		s.mask[i] = binary.LittleEndian.Uint64(m[8*i:])
		s.words[i] = binary.LittleEndian.Uint64(kb[8*i:]) & s.mask[i]
	}
}

// sameReceiver reports whether a and b are the same receiver by comparing
// their type and data words, without the runtime call an interface
// comparison makes. Equal words mean equal interfaces; the receivers are
// pointers, so unequal words mean different receivers (and for a value
// type, at worst a missed replay).
func sameReceiver(a, b Receiver) bool {
	return *(*[2]uintptr)(unsafe.Pointer(&a)) == *(*[2]uintptr)(unsafe.Pointer(&b))
}

// Exit is where a replayed segment hands its packet on.
func (s *Segment) Exit() (time.Duration, Receiver, *Device) { return s.exitDelay, s.exitRx, s.exitFrom }

// Events is the number of loop events the segment's slow run took.
func (s *Segment) Events() uint64 { return s.events }

// Begin starts recording the segment of a delivery of pkt to rx from from;
// it reports false (nothing recorded) when the frame has no key.
func (fc *FlowCache) Begin(rx Receiver, from *Device, pkt *packet.Buffer) bool {
	if fc.off() {
		return false
	}
	if fc.noRecord {
		fc.noRecord = false
		return false
	}
	var k flowKey
	if pkt.CT != nil || pkt.IPVS != nil || pkt.CTReply || pkt.CTRelated || !makeKey(pkt.Bytes(), fc.env.VXLANPorts, &k) {
		return false
	}
	// A key's first delivery is only noted: most flows of one packet (a
	// probe, a connection's first packet) are never seen again, and a
	// recording costs allocations.
	h := keyHash(from, &k)
	if i := h & (flowSlots - 1); fc.seen[i] != h {
		fc.seen[i] = h
		return false
	}
	s := &Segment{rx: rx, from: from, key: k, in: metaOf(pkt), events: 1}
	fc.recs++
	fc.rec = &Recorder{ID: fc.recs, seg: s, pkt: pkt}
	return true
}

// Posted tells the recorder that the stage running posted a delivery.
// A zero-delay one continues the segment (the loop runs it next); one with
// a delay ends it. Anything else — a second delivery, another packet, a
// timer — makes the recording unusable.
func (fc *FlowCache) Posted(delay time.Duration, rx Receiver, from *Device, pkt *packet.Buffer) {
	r := fc.rec
	if r == nil || r.consumed {
		return
	}
	if pkt != r.pkt || r.exited || r.pending > 0 {
		r.fail()
		return
	}
	if delay <= 0 {
		r.pending++
		r.seg.events++
		return
	}
	r.exited = true
	r.seg.exitDelay, r.seg.exitRx, r.seg.exitFrom = delay, rx, from
	r.seg.out = metaOf(pkt)
	var k flowKey
	r.seg.exitValid = makeKey(pkt.Bytes(), fc.env.VXLANPorts, &k) && checksumsOK(pkt.Bytes(), &k)
}

// Timer tells the recorder that a stage set a timer: the run is not one
// a replay can stand for.
func (fc *FlowCache) Timer() {
	if fc.rec != nil && !fc.rec.consumed {
		fc.rec.fail()
	}
}

// Ran tells the recorder that a zero-delay delivery it was waiting for ran.
func (fc *FlowCache) Ran() {
	if fc.rec != nil && fc.rec.pending > 0 {
		fc.rec.pending--
	}
}

// Pending reports whether the segment being recorded waits for a
// zero-delay delivery.
func (fc *FlowCache) Pending() bool { return fc.rec != nil && fc.rec.pending > 0 }

// End finishes the recording; a steady, complete one is kept.
func (fc *FlowCache) End() {
	r := fc.rec
	fc.rec = nil
	if r == nil {
		return
	}
	i := fc.index(r.seg.from, &r.seg.key)
	if r.bad || r.pending > 0 || r.exited == r.consumed {
		// Remember the failure, so that a flow whose segment cannot be
		// recorded does not pay for a recording on every packet: the next
		// try comes after 1, 2, 4, … up to 65,536 deliveries of its key.
		if o := fc.slots[i]; o != nil && o.failed && o.rx == r.seg.rx && o.from == r.seg.from && o.key == r.seg.key {
			o.backoff = min(max(2*o.backoff, 1), 1<<16)
			o.skip = o.backoff
			return
		}
		f := r.seg
		f.failed, f.ops, f.backoff, f.skip = true, nil, 1, 1
		fc.slots[i] = f
		return
	}
	r.seg.slot = i
	r.seg.setWords()
	fc.slots[i] = r.seg
	fc.Recorded++
}

// makeKey fills k from frame b: Ethernet, then IPv4 without options
// carrying UDP — for a VXLAN port followed by the VXLAN header and an inner
// Ethernet, IPv4 and UDP — or carrying IPIP, followed by an inner IPv4 and
// UDP. Other frames have no key.
func makeKey(b []byte, vxlanPorts []uint16, k *flowKey) bool {
	k.n, k.nip, k.size = 0, 0, len(b)
	off := 0
	ether := true
	for depth := 0; depth < 2; depth++ {
		ipOff := off
		if ether {
			if len(b) < off+packet.EthHeaderLen || packet.Ethernet(b[off:]).Type() != packet.EtherTypeIPv4 {
				return false
			}
			ipOff += packet.EthHeaderLen
		}
		if len(b) < ipOff+packet.IPv4HeaderLen {
			return false
		}
		ip := packet.IPv4(b[ipOff:])
		if ip[0] != 0x45 || ip.IsFragment() {
			return false
		}
		end := ipOff + packet.IPv4HeaderLen
		proto := ip.Protocol()
		switch {
		case proto == packet.ProtoUDP:
			end += packet.UDPHeaderLen
		case proto == packet.ProtoIPIP && depth == 0:
		default:
			return false
		}
		if len(b) < end || k.n+end-off > keyLen {
			return false
		}
		k.n += copy(k.b[k.n:], b[off:end])
		base := k.n - (end - ipOff)
		// IP ID and header checksum, UDP checksum.
		k.b[base+4], k.b[base+5], k.b[base+10], k.b[base+11] = 0, 0, 0, 0
		if proto == packet.ProtoUDP {
			k.b[base+packet.IPv4HeaderLen+6], k.b[base+packet.IPv4HeaderLen+7] = 0, 0
		}
		k.ip[k.nip] = int8(ipOff)
		k.nip++
		if proto == packet.ProtoIPIP {
			off, ether = end, false
			continue
		}
		u := packet.UDP(b[ipOff+packet.IPv4HeaderLen:])
		vx := false
		for _, p := range vxlanPorts {
			if u.DstPort() == p {
				vx = true
			}
		}
		if !vx || depth == 1 {
			return true
		}
		if len(b) < end+packet.VXLANHeaderLen || k.n+packet.VXLANHeaderLen > keyLen {
			return false
		}
		k.n += copy(k.b[k.n:], b[end:end+packet.VXLANHeaderLen])
		off, ether = end+packet.VXLANHeaderLen, true
	}
	return true
}

// checksumsOK verifies every IPv4 header checksum and UDP checksum of the
// key's headers in frame b: a replay stands only for packets the slow
// path would not drop as corrupt.
func checksumsOK(b []byte, k *flowKey) bool {
	for i := int8(0); i < k.nip; i++ {
		ip := packet.IPv4(b[k.ip[i]:])
		if !ip.ChecksumOK() {
			return false
		}
		tl := ip.TotalLen()
		if tl > len(ip) || tl < packet.IPv4HeaderLen {
			return false
		}
		if ip.Protocol() != packet.ProtoUDP {
			continue // IPIP: the inner header is checked next
		}
		if tl < packet.IPv4HeaderLen+packet.UDPHeaderLen ||
			!packet.TransportChecksumOK(ip[packet.IPv4HeaderLen:tl], ip.Src(), ip.Dst(), packet.ProtoUDP) {
			return false
		}
	}
	return true
}

// FlowAware is implemented by the transmitters, receivers and tunnel
// endpoints whose work on a packet is recorded as ops. A segment through
// anything else is not recorded: its effects would be missing from the
// replay.
type FlowAware interface {
	// RecordsFlows is a marker.
	RecordsFlows()
}

func (veth) RecordsFlows()    {}
func (*Bridge) RecordsFlows() {}
func (*VXLAN) RecordsFlows()  {}

// devTxOp is a frame transmitted on a device: its counters.
type devTxOp struct {
	d   *Device
	n   uint64
	mtu int    // the MTU the stack's forwarding and output checks saw
	cfg uint64 // the device's cfg (its xmit; no egress hook)
}

func (o *devTxOp) Valid(time.Duration) bool {
	return o.d.cfg == o.cfg && o.d.up && o.d.MTU == o.mtu
}

func (o *devTxOp) Apply(*packet.Buffer, time.Duration) {
	o.d.Stats.TxPackets++
	o.d.Stats.TxBytes += o.n
}

// devRxOp is a frame received on a device: its counters.
type devRxOp struct {
	d   *Device
	n   uint64
	mtu int
	cfg uint64 // the device's cfg (its rx)
}

func (o *devRxOp) Valid(time.Duration) bool {
	return o.d.cfg == o.cfg && o.d.up && o.d.MTU == o.mtu
}

func (o *devRxOp) Apply(*packet.Buffer, time.Duration) {
	o.d.Stats.RxPackets++
	o.d.Stats.RxBytes += o.n
}

// ScrubOp is the op of a wire clearing the packet's metadata (a veth, an
// ENI's attachment to the VPC).
var ScrubOp Op = scrubOp{}

// scrubOp is a wire clearing the packet's metadata.
type scrubOp struct{}

func (scrubOp) Valid(time.Duration) bool { return true }

func (scrubOp) Apply(pkt *packet.Buffer, _ time.Duration) { pkt.Scrub() }
