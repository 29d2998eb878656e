// Package trace records what happens to packets: one Hop per thing a hop did
// (a lookup and what matched, a rewrite, a transmission), and one Drop per
// packet lost, with a Reason from the project's single drop taxonomy.
//
// A nil *Recorder costs one pointer check per hop: the dataplane asks
// Recorder.On before formatting anything, so tracing off allocates nothing.
// Drops are recorded whenever a recorder exists, even with hops off, because
// the runner needs them for verdicts.
package trace

import (
	"fmt"
	"time"
)

// Kind says what a hop did.
type Kind string

// Hop kinds. They appear in the text and JSON output.
const (
	KindRx      Kind = "rx"      // a frame arrived at a device
	KindTx      Kind = "tx"      // a frame left through a device
	KindRoute   Kind = "route"   // a route lookup
	KindNeigh   Kind = "neigh"   // a neighbour (ARP) lookup
	KindARP     Kind = "arp"     // an ARP request or reply handled
	KindFDB     Kind = "fdb"     // a bridge or VXLAN FDB lookup
	KindEncap   Kind = "encap"   // a tunnel header added
	KindDecap   Kind = "decap"   // a tunnel header removed
	KindTTL     Kind = "ttl"     // TTL decremented
	KindRule    Kind = "rule"    // a netfilter rule matched
	KindCT      Kind = "ct"      // a conntrack lookup or entry
	KindNAT     Kind = "nat"     // an address rewrite
	KindFrag    Kind = "frag"    // fragmentation or reassembly
	KindICMP    Kind = "icmp"    // an ICMP message generated
	KindLocal   Kind = "local"   // delivered to a local socket or handled by the stack
	KindVPC     Kind = "vpc"     // a VPC vRouter / vSwitch decision
	KindSwitch  Kind = "switch"  // an L2 underlay switch decision
	KindDeliver Kind = "deliver" // an application received the data
	KindDrop    Kind = "drop"    // the packet was dropped
	KindDNS     Kind = "dns"     // a cluster DNS lookup
	KindNote    Kind = "note"    // anything else worth saying
	KindApp     Kind = "app"     // a userspace program (flanneld) read, looked up or wrote the packet
)

// Hop is one recorded step. Fields are strings formatted the way the Linux
// tools print them (`ip route`, `ip neigh`, `bridge fdb`, `iptables-save`).
type Hop struct {
	Seq    int           `json:"seq"`
	Time   time.Duration `json:"time_ns"`
	Packet uint64        `json:"packet"`
	Parent uint64        `json:"parent,omitempty"`
	Flow   int32         `json:"-"`
	Node   string        `json:"node"`
	Device string        `json:"device,omitempty"`
	Kind   Kind          `json:"kind"`
	Lookup string        `json:"lookup,omitempty"`
	Match  string        `json:"match,omitempty"`
	Change string        `json:"change,omitempty"`
	After  string        `json:"packet_after,omitempty"`
	Reason string        `json:"reason,omitempty"`
}

// Drop is one dropped packet.
type Drop struct {
	Time   time.Duration
	Packet uint64
	Flow   int32
	Node   string
	Device string
	Reason Reason
	Detail string
}

// Error formats the drop for people: "node-1 eth0: vpc-no-route: detail".
func (d Drop) String() string {
	where := d.Node
	if d.Device != "" {
		where += " " + d.Device
	}
	return fmt.Sprintf("%s: %s: %s", where, d.Reason.Code(), d.Detail)
}

// Recorder collects hops and drops for one run.
type Recorder struct {
	// Hops turns hop recording on. Drops are always recorded.
	Hops bool
	// Clock supplies timestamps.
	Clock func() time.Duration
	// OnDrop, if set, is called for every drop as it happens.
	OnDrop func(Drop)

	hops  []Hop
	drops []Drop
	seq   int
}

// On reports whether hops should be recorded. Safe on a nil recorder.
func (r *Recorder) On() bool { return r != nil && r.Hops }

// Add records a hop (when hops are on); Seq and Time are filled in.
func (r *Recorder) Add(h Hop) {
	if !r.On() {
		return
	}
	r.seq++
	h.Seq = r.seq
	if r.Clock != nil {
		h.Time = r.Clock()
	}
	r.hops = append(r.hops, h)
}

// AddDrop records a drop, and a drop hop when hops are on. Safe on nil.
func (r *Recorder) AddDrop(d Drop) {
	if r == nil {
		return
	}
	if r.Clock != nil {
		d.Time = r.Clock()
	}
	r.drops = append(r.drops, d)
	if r.OnDrop != nil {
		r.OnDrop(d)
	}
	if r.Hops {
		r.Add(Hop{Packet: d.Packet, Flow: d.Flow, Node: d.Node, Device: d.Device, Kind: KindDrop,
			Reason: d.Reason.Code(), Change: d.Detail})
	}
}

// HopList returns the recorded hops.
func (r *Recorder) HopList() []Hop { return r.hops }

// DropList returns the recorded drops.
func (r *Recorder) DropList() []Drop { return r.drops }

// Reset forgets everything recorded so far.
func (r *Recorder) Reset() {
	r.hops = r.hops[:0]
	r.drops = r.drops[:0]
	r.seq = 0
}
