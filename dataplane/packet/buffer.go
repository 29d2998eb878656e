// Package packet holds the packet buffer every hop of the dataplane works on,
// small zero-allocation views over protocol headers, and checksum helpers.
//
// A Buffer is bytes with headroom: encapsulation prepends into the headroom,
// decapsulation consumes from the front, and nothing is copied per hop.
// Buffers come from a Pool and go back to it when the packet is delivered or
// dropped. Header access on the hot path is by offset through view types
// (Ethernet, IPv4, UDP, ...) that are plain byte slices with methods.
package packet

import (
	"fmt"
	"net/netip"
)

// Headroom is the space reserved in front of a fresh packet for outer
// headers (VXLAN needs 50 bytes, IPIP 20).
const Headroom = 128

// Buffer sizes: a small buffer holds one Ethernet frame up to a 9000-byte MTU
// (jumbo frames on the underlay), a large one a whole 64 KiB IP datagram
// before fragmentation.
const (
	smallCap = Headroom + 9216
	largeCap = Headroom + 65536 + 64
)

// Buffer is one packet: data between head and tail of a backing array, plus
// the per-packet metadata the kernel keeps in an sk_buff.
type Buffer struct {
	b    []byte
	head int
	tail int
	pool *Pool

	// ID identifies the packet in traces; forwarding keeps it, a reply or an
	// ICMP error gets a new one. Parent is the ID of the packet that caused
	// this one (0 if none).
	ID     uint64
	Parent uint64
	// Flow is the index of the traffic flow the packet belongs to (0: none).
	Flow int32
	// Mark is the netfilter mark (skb->mark).
	Mark uint32
	// CT is the conntrack entry attached to the packet (skb->_nfct), owned
	// by the netfilter package.
	CT any
	// CTReply is true when the packet travels in the reply direction of CT.
	CTReply bool
	// CTRelated is true for an ICMP error related to CT.
	CTRelated bool
	// IPVS is the IPVS connection that handled the packet
	// (skb->ipvs_property), owned by the ipvs package.
	IPVS any
	// InIf is the ifindex the packet arrived on in the current namespace.
	InIf int32
	// Hairpin is set when the packet may leave by the port it came in on.
	Hairpin bool
	// FragMax is the total length of the largest fragment a datagram was
	// reassembled from before conntrack (IPCB(skb)->frag_max_size); 0 for a
	// packet that arrived whole. Output refragments such a datagram to at
	// most this size. Cleared when the packet enters a namespace's IP layer.
	FragMax uint16
	// PhysIn is nf_bridge->physindev: the ifindex of the bridge port a
	// frame came in on when br_netfilter hands it to the bridge device's
	// IP layer (0: not from a netfilter bridge). The stack uses it for a
	// bridged DNAT (br_nf_pre_routing_finish_bridge) and clears it
	// otherwise.
	PhysIn int32
	// CsumKnown is set by a replayed segment (link.FlowCache) on the
	// packet it hands on: its header checksums are ones the replay
	// verified or wrote, so the next segment's replay need not verify
	// them again. The next delivery clears it.
	CsumKnown bool
	// NextHop is the gateway of the route a packet leaves a raw-IP device
	// by (skb_rtable(skb)->rt_gw4 as rt_nexthop reads it), or its
	// destination on a connected route: an IPIP device without a fixed
	// remote (tunl0) takes the outer destination from it. Set by the
	// stack just before it transmits on a raw-IP device.
	NextHop netip.Addr
}

// Bytes returns the packet data. The slice is valid until the buffer is
// modified or freed.
func (p *Buffer) Bytes() []byte { return p.b[p.head:p.tail] }

// Len is the number of data bytes.
func (p *Buffer) Len() int { return p.tail - p.head }

// Headroom returns how many bytes can still be prepended.
func (p *Buffer) Headroom() int { return p.head }

// Prepend grows the packet by n bytes at the front and returns them. It
// panics if the headroom is too small; callers size headroom at creation.
func (p *Buffer) Prepend(n int) []byte {
	if n > p.head {
		panic(fmt.Sprintf("packet: prepend %d bytes with %d headroom", n, p.head))
	}
	p.head -= n
	return p.b[p.head : p.head+n]
}

// Pull removes n bytes from the front (decapsulation).
func (p *Buffer) Pull(n int) {
	if n > p.tail-p.head {
		panic(fmt.Sprintf("packet: pull %d bytes of %d", n, p.tail-p.head))
	}
	p.head += n
}

// Append grows the packet by n bytes at the end and returns them.
func (p *Buffer) Append(n int) []byte {
	if p.tail+n > len(p.b) {
		panic(fmt.Sprintf("packet: append %d bytes with %d tailroom", n, len(p.b)-p.tail))
	}
	p.tail += n
	return p.b[p.tail-n : p.tail]
}

// Tailroom returns how many bytes can still be appended.
func (p *Buffer) Tailroom() int { return len(p.b) - p.tail }

// Trim shortens the packet to n bytes.
func (p *Buffer) Trim(n int) {
	if n < 0 || n > p.tail-p.head {
		panic(fmt.Sprintf("packet: trim to %d of %d", n, p.tail-p.head))
	}
	p.tail = p.head + n
}

// Free returns the buffer to its pool. The buffer must not be used after.
func (p *Buffer) Free() {
	if p.pool != nil {
		p.pool.put(p)
	}
}

// CopyMeta copies the metadata (not the data) of q into p.
func (p *Buffer) CopyMeta(q *Buffer) {
	p.ID, p.Parent, p.Flow, p.Mark = q.ID, q.Parent, q.Flow, q.Mark
	p.CT, p.CTReply, p.CTRelated, p.InIf, p.Hairpin, p.IPVS = q.CT, q.CTReply, q.CTRelated, q.InIf, q.Hairpin, q.IPVS
}

// Scrub clears what does not survive leaving a namespace (skb_scrub_packet
// with xnet): the netfilter mark and the conntrack reference.
func (p *Buffer) Scrub() {
	p.Mark, p.CT, p.CTReply, p.CTRelated, p.Hairpin, p.IPVS = 0, nil, false, false, false, nil
	p.PhysIn = 0
}

func (p *Buffer) reset() {
	p.head, p.tail = Headroom, Headroom
	p.ID, p.Parent, p.Flow, p.Mark = 0, 0, 0, 0
	p.CT, p.CTReply, p.CTRelated, p.InIf, p.Hairpin, p.IPVS = nil, false, false, 0, false, nil
	p.FragMax, p.PhysIn, p.CsumKnown = 0, 0, false
	p.NextHop = netip.Addr{}
}

// Pool hands out buffers and takes them back. It is not safe for concurrent
// use: one pool belongs to one event loop, which owns all packets.
type Pool struct {
	small []*Buffer
	large []*Buffer
	// Out counts buffers handed out and not yet freed (leak checks in tests).
	Out int
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

// Get returns an empty buffer whose data can grow to size bytes after
// Headroom bytes of headroom.
func (pl *Pool) Get(size int) *Buffer {
	pl.Out++
	var p *Buffer
	if size <= smallCap-Headroom {
		if n := len(pl.small); n > 0 {
			p = pl.small[n-1]
			pl.small = pl.small[:n-1]
		} else {
			p = &Buffer{b: make([]byte, smallCap), pool: pl}
		}
	} else {
		if size > largeCap-Headroom {
			panic(fmt.Sprintf("packet: buffer of %d bytes", size))
		}
		if n := len(pl.large); n > 0 {
			p = pl.large[n-1]
			pl.large = pl.large[:n-1]
		} else {
			p = &Buffer{b: make([]byte, largeCap), pool: pl}
		}
	}
	p.reset()
	return p
}

// From returns a buffer holding a copy of data.
func (pl *Pool) From(data []byte) *Buffer {
	p := pl.Get(len(data))
	copy(p.Append(len(data)), data)
	return p
}

// Clone returns a copy of p (data and metadata) with fresh headroom.
func (pl *Pool) Clone(p *Buffer) *Buffer {
	q := pl.From(p.Bytes())
	q.CopyMeta(p)
	return q
}

func (pl *Pool) put(p *Buffer) {
	pl.Out--
	if len(p.b) == smallCap {
		pl.small = append(pl.small, p)
	} else {
		pl.large = append(pl.large, p)
	}
}
