package netstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// IPFragTime is net.ipv4.ipfrag_time: fragments wait 30 s for the rest.
const IPFragTime = 30 * time.Second

// fragment is ip_do_fragment: split pkt (DF clear) into fragments that fit
// mtu, each with a copy of the header, and send them to nh.
func (s *Stack) fragment(pkt *packet.Buffer, out *Iface, nh netip.Addr, mtu int) {
	ip := packet.IPv4(pkt.Bytes())
	hl := ip.HeaderLen()
	payload := ip[hl:ip.TotalLen()]
	chunk := (mtu - hl) &^ 7
	baseOff := ip.FragOffset()
	lastMF := ip.MF()
	n := (len(payload) + chunk - 1) / chunk
	if s.tracing() {
		what := fmt.Sprintf("%d-byte packet over %s MTU %d, DF clear", ip.TotalLen(), out.Dev.Name, mtu)
		if pkt.FragMax != 0 {
			what = fmt.Sprintf("%d-byte datagram reassembled by conntrack, out %s: refragmented to at most %d bytes (the MTU or its largest fragment, %d, whichever is less)",
				ip.TotalLen(), out.Dev.Name, mtu, pkt.FragMax)
		}
		s.hop(pkt, trace.Hop{Device: out.Dev.Name, Kind: trace.KindFrag,
			Change: fmt.Sprintf("%s: %d fragments of up to %d data bytes", what, n, chunk)})
	}
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f := s.env.Pool.Get(hl + end - off)
		b := f.Append(hl + end - off)
		copy(b, ip[:hl])
		copy(b[hl:], payload[off:end])
		fip := packet.IPv4(b)
		flags := uint16((baseOff + off) / 8)
		if end < len(payload) || lastMF {
			flags |= packet.FlagMF
		}
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		binary.BigEndian.PutUint16(b[6:8], flags)
		fip.SetChecksum()
		f.CopyMeta(pkt)
		f.ID, f.Parent = s.env.NewID(), pkt.ID
		s.neighOutput(f, out, nh)
	}
	pkt.Free()
}

// defragUser is the kernel's ip_defrag_users: which part of the stack
// owns a reassembly queue. Queues of different users are separate, so
// conntrack's reassembly and local delivery's never mix fragments.
type defragUser uint8

const (
	defragLocalDeliver defragUser = iota // IP_DEFRAG_LOCAL_DELIVER
	defragConntrackIn                    // IP_DEFRAG_CONNTRACK_IN
)

type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
	user     defragUser
}

type fragPiece struct {
	off  int
	data []byte
}

type reasm struct {
	hdr    []byte
	pieces []fragPiece
	total  int // known once the last fragment arrived; -1 before
	first  *packet.Buffer
	meta   packet.Buffer
	// maxSize is the total length of the largest fragment (q.max_size).
	maxSize int
}

// reassemble collects fragments (ip_defrag) in user's queues; it returns
// the whole datagram once complete, nil while waiting. A datagram
// reassembled for conntrack records its largest fragment's size
// (FragMax) for refragmentation.
func (s *Stack) reassemble(ifc *Iface, pkt *packet.Buffer, user defragUser) *packet.Buffer {
	ip := packet.IPv4(pkt.Bytes())
	k := fragKey{src: ip.Src().As4(), dst: ip.Dst().As4(), id: ip.ID(), proto: ip.Protocol(), user: user}
	r, ok := s.frags[k]
	if !ok {
		r = &reasm{total: -1}
		r.meta.CopyMeta(pkt)
		if s.frags == nil {
			s.frags = make(map[fragKey]*reasm)
		}
		s.frags[k] = r
		s.env.Sched.AfterFunc(IPFragTime, func() { s.fragTimeout(ifc, k, r) })
	}
	off := ip.FragOffset()
	data := append([]byte(nil), ip[ip.HeaderLen():ip.TotalLen()]...)
	if off == 0 {
		r.hdr = append([]byte(nil), ip[:ip.HeaderLen()]...)
	}
	if !ip.MF() {
		r.total = off + len(data)
	}
	r.pieces = append(r.pieces, fragPiece{off: off, data: data})
	r.maxSize = max(r.maxSize, ip.TotalLen())
	if s.tracing() {
		by := ""
		if user == defragConntrackIn {
			by = " (nf_defrag_ipv4, before conntrack)"
		}
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindFrag,
			Change: fmt.Sprintf("fragment id %d offset %d, %d bytes queued for reassembly%s", ip.ID(), off, len(data), by)})
	}
	pkt.Free()
	if r.total < 0 || r.hdr == nil {
		return nil
	}
	sort.Slice(r.pieces, func(a, b int) bool { return r.pieces[a].off < r.pieces[b].off })
	have := 0
	for _, p := range r.pieces {
		if p.off > have {
			return nil
		}
		have = max(have, p.off+len(p.data))
	}
	if have < r.total {
		return nil
	}
	delete(s.frags, k)
	whole := s.env.Pool.Get(len(r.hdr) + r.total)
	b := whole.Append(len(r.hdr) + r.total)
	copy(b, r.hdr)
	for _, p := range r.pieces {
		copy(b[len(r.hdr)+p.off:], p.data)
	}
	wip := packet.IPv4(b)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:8], wip.FlagsFrag()&packet.FlagDF)
	wip.SetChecksum()
	whole.CopyMeta(&r.meta)
	if user == defragConntrackIn {
		whole.FragMax = uint16(r.maxSize)
	}
	if s.tracing() {
		s.hop(whole, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindFrag,
			Change: fmt.Sprintf("reassembled %d fragments into a %d-byte datagram", len(r.pieces), len(b))})
	}
	return whole
}

func (s *Stack) fragTimeout(ifc *Iface, k fragKey, r *reasm) {
	if s.frags[k] != r {
		return
	}
	delete(s.frags, k)
	ghost := s.env.Pool.Get(0)
	ghost.CopyMeta(&r.meta)
	// ip_expire: only an end host sends "time exceeded in reassembly"
	// (RFC 792): conntrack's queues stay silent for a datagram that is
	// not for this host (frag_expire_skip_icmp).
	endHost := k.user == defragLocalDeliver || s.IsLocal(netip.AddrFrom4(k.dst))
	if r.hdr != nil && len(r.pieces) > 0 && endHost {
		// ip_expire: time exceeded (reassembly) quoting the first fragment.
		first := s.env.Pool.Get(len(r.hdr) + 8)
		b := first.Append(len(r.hdr) + 8)
		copy(b, r.hdr)
		for _, p := range r.pieces {
			if p.off == 0 {
				copy(b[len(r.hdr):], p.data)
			}
		}
		first.CopyMeta(&r.meta)
		s.icmpError(first, packet.ICMPTimeExceeded, 1, 0)
		first.Free()
	}
	s.drop(ghost, ifc.Dev.Name, trace.ReasonReasmTimeout, fmt.Sprintf("fragments of IP id %d from %s never completed", k.id, netip.AddrFrom4(k.src)))
}
