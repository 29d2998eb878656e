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
		s.hop(pkt, trace.Hop{Device: out.Dev.Name, Kind: trace.KindFrag,
			Change: fmt.Sprintf("%d-byte packet over %s MTU %d, DF clear: %d fragments of up to %d data bytes", ip.TotalLen(), out.Dev.Name, mtu, n, chunk)})
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

type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
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
}

// reassemble collects fragments (ip_defrag); it returns the whole
// datagram once complete, nil while waiting.
func (s *Stack) reassemble(ifc *Iface, pkt *packet.Buffer) *packet.Buffer {
	ip := packet.IPv4(pkt.Bytes())
	k := fragKey{src: ip.Src().As4(), dst: ip.Dst().As4(), id: ip.ID(), proto: ip.Protocol()}
	r, ok := s.frags[k]
	if !ok {
		r = &reasm{total: -1}
		r.meta.CopyMeta(pkt)
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
	if s.tracing() {
		s.hop(pkt, trace.Hop{Device: ifc.Dev.Name, Kind: trace.KindFrag,
			Change: fmt.Sprintf("fragment id %d offset %d, %d bytes queued for reassembly", ip.ID(), off, len(data))})
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
	if r.hdr != nil && len(r.pieces) > 0 {
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
