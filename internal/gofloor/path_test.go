package gofloor

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// A minimal run-to-completion in-memory forwarder for the cross-node VXLAN pod->pod path:
// veth -> bridge(cni0) -> L3 route -> vxlan encap -> VPC route -> decap -> L3 route -> bridge(cni0) -> veth
// Each hop does the real per-packet work (parse, table lookups, TTL/csum, MAC rewrite, encap/decap),
// dispatched through an interface like a simulator's device graph would.

type mac [6]byte

func m(h []byte) (r mac)  { copy(r[:], h); return }
func ip4(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

type route struct {
	gw  uint32
	dev int
}
type lpm struct {
	byLen [33]map[uint32]route
	lens  []int // descending
}

func (t *lpm) add(pfx uint32, l int, r route) {
	if t.byLen[l] == nil {
		t.byLen[l] = map[uint32]route{}
		t.lens = append(t.lens, l)
		for i := len(t.lens) - 1; i > 0 && t.lens[i] > t.lens[i-1]; i-- {
			t.lens[i], t.lens[i-1] = t.lens[i-1], t.lens[i]
		}
	}
	t.byLen[l][pfx&(^uint32(0)<<(32-l))] = r
}
func (t *lpm) lookup(a uint32) (route, bool) {
	for _, l := range t.lens {
		if r, ok := t.byLen[l][a&(^uint32(0)<<(32-l))]; ok {
			return r, true
		}
	}
	return route{}, false
}

type dev interface{ recv(p *pktBuf) }

type stats struct{ pkts, bytes uint64 }

// veth: hand the frame to the peer
type veth struct {
	stats
	peer dev
}

func (v *veth) recv(p *pktBuf) { v.pkts++; v.bytes += uint64(p.n); v.peer.recv(p) }

// bridge with MAC learning; port -1 = the bridge's own L3 interface
type bridge struct {
	stats
	self   mac
	fdb    map[mac]int
	ports  []dev
	up     dev
	inPort int
}

func (b *bridge) recv(p *pktBuf) {
	f := p.frame()
	b.pkts++
	src := m(f[6:12])
	if port, ok := b.fdb[src]; !ok || port != b.inPort {
		b.fdb[src] = b.inPort
	}
	dst := m(f[0:6])
	if dst == b.self {
		b.up.recv(p)
		return
	}
	if port, ok := b.fdb[dst]; ok && port >= 0 {
		b.ports[port].recv(p)
		return
	}
	panic("flood not modeled")
}

// incremental checksum update for TTL decrement (RFC 1624)
func decTTL(ip []byte) bool {
	if ip[8] <= 1 {
		return false
	}
	ip[8]--
	s := uint32(^binary.BigEndian.Uint16(ip[10:])) + 0xfeff // ~old + ~(m - m') ; ttl is high byte
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	return true
}

// L3 node: local delivery (vxlan UDP socket) or forward via route + neighbor table
type node struct {
	stats
	local  map[uint32]bool
	rt     lpm
	neigh  map[uint32]mac
	devMAC []mac
	devs   []dev
	vxPort map[uint16]dev // UDP sockets: 8472 -> vxlan decap
}

func (n *node) recv(p *pktBuf) {
	f := p.frame()
	n.pkts++
	if binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 {
		panic("not ipv4")
	}
	ip := f[14:]
	dst := ip4(ip[16:])
	if n.local[dst] {
		if ip[9] == 17 {
			if s, ok := n.vxPort[binary.BigEndian.Uint16(ip[22:])]; ok {
				s.recv(p)
				return
			}
		}
		panic("local not modeled")
	}
	r, ok := n.rt.lookup(dst)
	if !ok || !decTTL(ip) {
		panic("no route / ttl")
	}
	nh := r.gw
	if nh == 0 {
		nh = dst
	}
	hw, ok := n.neigh[nh]
	if !ok {
		panic("no neigh")
	}
	copy(f[0:6], hw[:])
	copy(f[6:12], n.devMAC[r.dev][:])
	n.devs[r.dev].recv(p)
}

// vxlan device: encap on xmit (fdb: inner dst MAC -> remote VTEP; per-VTEP precomputed 50-byte template),
// decap on receive from the UDP socket.
type vxlanDev struct {
	stats
	fdb   map[mac]*[outerLen]byte // remote VTEP -> template with underlay MACs/IPs resolved
	vni   uint32
	id    uint16
	lower dev // underlay (node eth0 veth)
	up    dev // node L3 (after decap)
	self  mac
}

func (v *vxlanDev) recv(p *pktBuf) { // xmit from L3
	v.pkts++
	t, ok := v.fdb[m(p.frame()[0:6])]
	if !ok {
		panic("no fdb")
	}
	v.id++
	encapHand(p, t, v.id, false)
	v.lower.recv(p)
}

type vxlanRx struct{ v *vxlanDev }

func (r vxlanRx) recv(p *pktBuf) {
	f := p.frame()
	if f[42]&0x08 == 0 || binary.BigEndian.Uint32(f[46:])>>8 != r.v.vni {
		panic("bad vni")
	}
	decapHand(p)
	if m(p.frame()[0:6]) != r.v.self {
		panic("inner dst mac")
	}
	r.v.up.recv(p)
}

// VPC vRouter: LPM on outer dst, TTL, MAC rewrite
type vpc struct {
	stats
	rt    lpm
	neigh map[uint32]mac
	self  mac
	ports []dev
}

func (v *vpc) recv(p *pktBuf) {
	f := p.frame()
	v.pkts++
	ip := f[14:]
	r, ok := v.rt.lookup(ip4(ip[16:]))
	if !ok || !decTTL(ip) {
		panic("vpc route")
	}
	hw := v.neigh[ip4(ip[16:])]
	copy(f[0:6], hw[:])
	copy(f[6:12], v.self[:])
	v.ports[r.dev].recv(p)
}

type podSink struct {
	stats
	acc uint64
}

func (s *podSink) recv(p *pktBuf) {
	s.pkts++
	s.bytes += uint64(p.n)
	s.acc += uint64(p.frame()[p.n-1])
}

func a4(a, b, c, d byte) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

func buildPath() (entry dev, sink *podSink) {
	vpcMAC := mac{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}
	sink = &podSink{}
	// node2 side
	vethPod2 := &veth{peer: sink}
	br2 := &bridge{self: m(macCni2), fdb: map[mac]int{m(macPod2): 0}, ports: []dev{vethPod2}, inPort: -1}
	n2 := &node{local: map[uint32]bool{a4(172, 16, 0, 12): true, a4(10, 244, 2, 0): true, a4(10, 244, 2, 1): true},
		neigh:  map[uint32]mac{a4(10, 244, 2, 2): m(macPod2), a4(172, 16, 0, 1): vpcMAC},
		devMAC: []mac{m(macCni2), m(macEth2), m(macVtep2)}, vxPort: map[uint16]dev{}}
	br2.up = n2
	vx2 := &vxlanDev{vni: 1, self: m(macVtep2), up: n2, fdb: map[mac]*[outerLen]byte{}}
	n2.vxPort[vxlanPort] = vxlanRx{vx2}
	n2.rt.add(a4(10, 244, 2, 0), 24, route{dev: 0})
	n2.rt.add(a4(10, 244, 1, 0), 24, route{gw: a4(10, 244, 1, 0), dev: 2})
	n2.rt.add(a4(172, 16, 0, 0), 24, route{dev: 1})
	n2.rt.add(0, 0, route{gw: a4(172, 16, 0, 1), dev: 1})
	n2.devs = []dev{br2, nil, vx2}
	eth2 := &veth{peer: n2}
	// VPC
	v := &vpc{self: vpcMAC, neigh: map[uint32]mac{a4(172, 16, 0, 12): m(macEth2), a4(172, 16, 0, 11): m(macEth1)}, ports: []dev{eth2}}
	v.rt.add(a4(172, 16, 0, 12), 32, route{dev: 0})
	v.rt.add(a4(10, 244, 2, 0), 24, route{gw: a4(172, 16, 0, 12), dev: 0})
	// node1 side
	eth1 := &veth{peer: v}
	t := outerTemplate()
	copy(t[0:6], vpcMAC[:]) // underlay next hop = VPC router
	vx1 := &vxlanDev{vni: 1, self: m(macVtep1), lower: eth1, fdb: map[mac]*[outerLen]byte{m(macVtep2): &t}}
	n1 := &node{local: map[uint32]bool{a4(172, 16, 0, 11): true, a4(10, 244, 1, 0): true, a4(10, 244, 1, 1): true},
		neigh:  map[uint32]mac{a4(10, 244, 1, 2): m(macPod1), a4(10, 244, 2, 0): m(macVtep2), a4(172, 16, 0, 1): vpcMAC},
		devMAC: []mac{m(macCni1), m(macEth1), m(macVtep1)}}
	n1.rt.add(a4(10, 244, 1, 0), 24, route{dev: 0})
	n1.rt.add(a4(10, 244, 2, 0), 24, route{gw: a4(10, 244, 2, 0), dev: 2})
	n1.rt.add(a4(172, 16, 0, 0), 24, route{dev: 1})
	n1.rt.add(0, 0, route{gw: a4(172, 16, 0, 1), dev: 1})
	br1 := &bridge{self: m(macCni1), fdb: map[mac]int{m(macPod1): 0}, up: n1, inPort: 0}
	n1.devs = []dev{br1, eth1, vx1}
	br1.ports = []dev{nil}
	entry = &veth{peer: br1}
	return
}

// BenchmarkPath8Hop: one packet, pod1 -> pod2 across nodes via VXLAN, all hops on one goroutine.
func BenchmarkPath8Hop(b *testing.B) {
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("inner%d", sz), func(b *testing.B) {
			entry, sink := buildPath()
			orig := innerFrame(sz)
			copy(orig[0:6], macCni1) // as sent by pod1: to its gateway
			copy(orig[6:12], macPod1)
			binary.BigEndian.PutUint16(orig[24:], 0)
			orig[22] = 64
			binary.BigEndian.PutUint16(orig[24:], ipv4HdrCsum(orig[14:34]))
			p := &pktBuf{data: make([]byte, headroom+sz), off: headroom, n: sz}
			copy(p.data[headroom:], orig)
			entry.recv(p)
			f := p.frame()
			if sink.pkts != 1 || p.n != sz || m(f[0:6]) != m(macPod2) || f[22] != 62 || ipv4HdrCsum(f[14:34]) != 0 {
				b.Fatalf("path broken: pkts=%d n=%d dst=%x ttl=%d", sink.pkts, p.n, f[0:6], f[22])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(p.data[headroom:headroom+34], orig[:34]) // pod1 emits a fresh frame header
				p.off, p.n = headroom, sz
				entry.recv(p)
			}
			sinkU += sink.acc
		})
	}
}
