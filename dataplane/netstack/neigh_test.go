package netstack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

func neighLines(s *netstack.Stack, now time.Duration) []string {
	var out []string
	for _, n := range s.Neighbours() {
		out = append(out, n.Format(now))
	}
	return out
}

func TestARPResolutionThenDelivery(t *testing.T) {
	w := newWorld(t)
	// Three pings before anything runs: one ARP request, all three queued.
	for seq := uint16(1); seq <= 3; seq++ {
		require.True(t, w.A.Ping(w.bIP, 77, seq, 56, netstack.DFWant, 1))
	}
	w.run()

	arpOut := w.arpFrames(w.aEth, link.Out)
	require.Len(t, arpOut, 1, "one ARP request for the gateway")
	p := decode(t, arpOut[0].Data)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	assert.Equal(t, packet.Broadcast[:], []byte(eth.DstMAC))
	assert.Equal(t, w.aEth.MAC[:], []byte(eth.SrcMAC))
	assert.Equal(t, uint16(layers.ARPRequest), arp.Operation)
	assert.Equal(t, w.aEth.MAC[:], arp.SourceHwAddress)
	assert.Equal(t, w.aIP.AsSlice(), arp.SourceProtAddress)
	assert.Equal(t, make([]byte, 6), arp.DstHwAddress)
	assert.Equal(t, w.rIP0.AsSlice(), arp.DstProtAddress)

	arpIn := w.arpFrames(w.aEth, link.In)
	require.Len(t, arpIn, 1, "R's ARP reply")
	p = decode(t, arpIn[0].Data)
	eth = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp = p.Layer(layers.LayerTypeARP).(*layers.ARP)
	assert.Equal(t, w.aEth.MAC[:], []byte(eth.DstMAC), "the reply is unicast")
	assert.Equal(t, uint16(layers.ARPReply), arp.Operation)
	assert.Equal(t, w.rEth0.MAC[:], arp.SourceHwAddress)
	assert.Equal(t, w.rIP0.AsSlice(), arp.SourceProtAddress)
	assert.Equal(t, w.aEth.MAC[:], arp.DstHwAddress)
	assert.Equal(t, w.aIP.AsSlice(), arp.DstProtAddress)

	// The queued requests left in order once resolved, to R's MAC.
	echoes := w.ipv4Frames(w.aEth, link.Out, packet.ProtoICMP)
	require.Len(t, echoes, 3)
	for i, f := range echoes {
		p := decode(t, f)
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		assert.Equal(t, w.rEth0.MAC[:], []byte(eth.DstMAC))
		assert.Equal(t, layers.CreateICMPv4TypeCode(8, 0), ic.TypeCode)
		assert.Equal(t, uint16(i+1), ic.Seq)
		assert.Equal(t, uint16(77), ic.Id)
		assert.Equal(t, uint8(64), ip4.TTL)
		assert.NotZero(t, ip4.Flags&layers.IPv4DontFragment, "ping sets DF when the packet fits (PMTUDISC_WANT)")
		assert.Zero(t, csum(f[14:34], 0))
		assert.Zero(t, csum(f[34:], 0), "ICMP checksum")
	}

	assert.Equal(t, []netstack.EventKind{netstack.EvEchoRequest, netstack.EvEchoRequest, netstack.EvEchoRequest}, kinds(w.evB))
	replies := ofKind(w.evA, netstack.EvEchoReply)
	require.Len(t, replies, 3)
	assert.Equal(t, w.bIP, replies[0].Src.Addr())
	assert.Equal(t, 56, replies[0].Len)
	assert.Empty(t, w.env.Trace.DropList())

	// Echo replies from the kernel carry no DF (icmp socket PMTUDISC_DONT)
	// and TTL 64 less one hop.
	back := w.ipv4Frames(w.aEth, link.In, packet.ProtoICMP)
	require.Len(t, back, 3)
	assert.Zero(t, u16(back[0], 14+6)&packet.FlagDF)
	assert.Equal(t, uint8(63), back[0][14+8])

	now := w.s.Now()
	assert.Equal(t, []string{"10.0.1.1 dev eth0 lladdr 02:00:00:00:00:10 REACHABLE"}, neighLines(w.A, now))
	assert.Equal(t, []string{
		"10.0.1.2 dev eth0 lladdr 02:00:00:00:00:a1 STALE", // learned from A's request
		"10.0.2.2 dev eth1 lladdr 02:00:00:00:00:b1 REACHABLE",
	}, neighLines(w.R, now))

	// A second round uses the cache: no more ARP.
	require.True(t, w.A.Ping(w.bIP, 77, 4, 56, netstack.DFWant, 1))
	w.run()
	assert.Len(t, w.arpFrames(w.aEth, link.Out), 1)
	assert.Len(t, ofKind(w.evA, netstack.EvEchoReply), 4)
	assert.Zero(t, w.env.Pool.Out, "no buffer leaked")
}

func TestNeighFormat(t *testing.T) {
	w := newWorld(t)
	require.NoError(t, w.A.AddNeigh("eth0", ip("10.0.1.50"), mac(0x50), false))
	require.NoError(t, w.A.AddNeigh("eth0", ip("10.0.1.51"), packet.MAC{0x5e, 0x1b, 0x3c, 0x9a, 0x07, 0x21}, true))
	assert.Error(t, w.A.AddNeigh("eth9", ip("10.0.1.52"), mac(0x52), true))
	// An unresolvable neighbour of R: INCOMPLETE, then FAILED.
	require.True(t, w.A.Ping(ip("10.0.2.99"), 1, 1, 56, netstack.DFWant, 1))
	w.s.RunFor(500 * time.Millisecond)

	tests := []struct {
		name string
		s    *netstack.Stack
		at   time.Duration
		want []string
	}{
		{"fresh entries", w.A, w.s.Now(), []string{
			"10.0.1.1 dev eth0 lladdr 02:00:00:00:00:10 REACHABLE",
			"10.0.1.50 dev eth0 lladdr 02:00:00:00:00:50 REACHABLE",
			"10.0.1.51 dev eth0 lladdr 5e:1b:3c:9a:07:21 PERMANENT",
		}},
		{"reachable for base_reachable_time", w.A, 30 * time.Second, []string{
			"10.0.1.1 dev eth0 lladdr 02:00:00:00:00:10 REACHABLE",
			"10.0.1.50 dev eth0 lladdr 02:00:00:00:00:50 REACHABLE",
			"10.0.1.51 dev eth0 lladdr 5e:1b:3c:9a:07:21 PERMANENT",
		}},
		{"then stale; permanent stays", w.A, 31 * time.Second, []string{
			"10.0.1.1 dev eth0 lladdr 02:00:00:00:00:10 STALE",
			"10.0.1.50 dev eth0 lladdr 02:00:00:00:00:50 STALE",
			"10.0.1.51 dev eth0 lladdr 5e:1b:3c:9a:07:21 PERMANENT",
		}},
		{"incomplete has no lladdr", w.R, w.s.Now(), []string{
			"10.0.1.2 dev eth0 lladdr 02:00:00:00:00:a1 STALE",
			"10.0.2.99 dev eth1 INCOMPLETE",
		}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, neighLines(tt.s, tt.at), tt.name)
	}
	w.run()
	assert.Equal(t, []string{
		"10.0.1.2 dev eth0 lladdr 02:00:00:00:00:a1 STALE",
		"10.0.2.99 dev eth1 FAILED",
	}, neighLines(w.R, w.s.Now()))
	w.A.DelNeigh("eth0", ip("10.0.1.50"))
	assert.Len(t, w.A.Neighbours(), 2)
	assert.Equal(t, "FAILED", netstack.NudFailed.String())
}

func TestARPFailureForwarded(t *testing.T) {
	w := newWorld(t)
	dead := ip("10.0.2.99")
	require.True(t, w.A.Ping(dead, 5, 1, 56, netstack.DFWant, 1))
	w.s.RunFor(500 * time.Millisecond)
	require.True(t, w.A.Ping(dead, 5, 2, 56, netstack.DFWant, 1)) // queued behind INCOMPLETE
	w.run()

	// Three broadcast probes, 1 s apart (mcast_solicit 3, retrans_time 1 s).
	probes := w.arpFrames(w.rEth1, link.Out)
	require.Len(t, probes, 3)
	for i, f := range probes {
		assert.Equal(t, time.Duration(i)*time.Second, f.Time, "probe %d", i+1)
		p := decode(t, f.Data)
		arp := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		assert.Equal(t, dead.AsSlice(), arp.DstProtAddress)
		assert.Equal(t, w.rIP1.AsSlice(), arp.SourceProtAddress, "R asks from its eth1 address")
		assert.Equal(t, packet.Broadcast, packet.Ethernet(f.Data).Dst())
	}

	// FAILED after the third probe's timer: both queued packets dropped.
	drops := w.env.Trace.DropList()
	require.Len(t, drops, 2)
	for _, d := range drops {
		assert.Equal(t, trace.ReasonNeighUnresolved, d.Reason)
		assert.Equal(t, 3*time.Second, d.Time)
		assert.Equal(t, "R", d.Node)
		assert.Equal(t, "eth1", d.Device)
	}

	// Each one answered with ICMP host unreachable from R's address toward A.
	errs := w.icmpErrors(w.aEth, link.In)
	require.Len(t, errs, 2)
	for i, f := range errs {
		_, _, quote := checkICMPError(t, f, 3, 1, w.rIP0, w.aIP, 64)
		q := packet.IPv4(quote)
		assert.Equal(t, dead, q.Dst())
		assert.Equal(t, w.aIP, q.Src())
		assert.Equal(t, uint8(63), q.TTL(), "the quoted packet was already forwarded (TTL decremented)")
		assert.Equal(t, uint16(i+1), u16(quote, 20+6), "quotes echo seq %d", i+1)
		assert.Equal(t, 84, len(quote), "the whole 84-byte original is quoted")
	}
	errEv := ofKind(w.evA, netstack.EvError)
	require.Len(t, errEv, 2)
	assert.Equal(t, uint8(3), errEv[0].ICMPType)
	assert.Equal(t, uint8(1), errEv[0].ICMPCode)
	assert.Equal(t, w.rIP0, errEv[0].From)
	assert.Equal(t, dead, errEv[0].Dst.Addr())
	assert.Zero(t, w.env.Pool.Out)
}

func TestARPFailureLocal(t *testing.T) {
	w := newWorld(t)
	dead := ip("10.0.1.77")
	require.True(t, w.A.Ping(dead, 5, 1, 56, netstack.DFWant, 1))
	w.run()
	assert.Len(t, w.arpFrames(w.aEth, link.Out), 3)
	assert.Equal(t, []trace.Reason{trace.ReasonNeighUnresolved}, w.reasons())
	// ping: "From 10.0.1.2 icmp_seq=1 Destination Host Unreachable".
	errEv := ofKind(w.evA, netstack.EvError)
	require.Len(t, errEv, 1)
	assert.Equal(t, w.aIP, errEv[0].From)
	assert.Equal(t, uint8(1), errEv[0].ICMPCode)
	assert.Empty(t, w.icmpErrors(w.aEth, link.Out), "the error never leaves the namespace")
	assert.Zero(t, w.env.Pool.Out)
}

func TestARPQueueLimit(t *testing.T) {
	w := newWorld(t)
	for i := range netstack.UnresQueueLen + 2 {
		w.A.Ping(ip("10.0.1.77"), 1, uint16(i), 8, netstack.DFWant, 1)
	}
	w.run()
	var full, unres int
	for _, r := range w.reasons() {
		switch r {
		case trace.ReasonNeighQueueFull:
			full++
		case trace.ReasonNeighUnresolved:
			unres++
		}
	}
	assert.Equal(t, 2, full)
	assert.Equal(t, netstack.UnresQueueLen, unres)
	assert.Zero(t, w.env.Pool.Out)
}

func TestARPNotAnsweredForOtherAddress(t *testing.T) {
	w := newWorld(t)
	// An ARP request from A for an address R does not own on eth0 gets no
	// reply (no proxy_arp).
	req := make([]byte, 14+28)
	packet.Ethernet(req).Set(packet.Broadcast, w.aEth.MAC, packet.EtherTypeARP)
	packet.ARP(req[14:]).Set(packet.ARPRequest, w.aEth.MAC, w.aIP, packet.MAC{}, ip("10.0.2.2"))
	w.aEth.Transmit(w.env.Pool.From(req))
	w.run()
	assert.Empty(t, w.arpFrames(w.aEth, link.In))
	assert.Empty(t, neighOf(w.R, w.aIP), "an unanswered request makes no neighbour entry")
	// With proxy_arp on eth0, R answers for 10.0.2.2 (routed via eth1).
	w.R.Iface("eth0").ProxyARP = true
	w.aEth.Transmit(w.env.Pool.From(req))
	w.run()
	in := w.arpFrames(w.aEth, link.In)
	require.Len(t, in, 1)
	a := packet.ARP(in[0].Data[14:])
	assert.Equal(t, uint16(packet.ARPReply), a.Op())
	assert.Equal(t, ip("10.0.2.2"), a.SenderIP())
	assert.Equal(t, w.rEth0.MAC, a.SenderMAC())
	// arp_process → neigh_event_ns: the proxied request leaves a STALE
	// entry for its sender, so R does not ARP for A when it answers.
	assert.Equal(t, []string{"10.0.1.2 dev eth0 lladdr " + w.aEth.MAC.String() + " STALE"}, neighOf(w.R, w.aIP))
	// A request for an address routed back out of eth0 is not proxied.
	req2 := make([]byte, 14+28)
	packet.Ethernet(req2).Set(packet.Broadcast, w.aEth.MAC, packet.EtherTypeARP)
	packet.ARP(req2[14:]).Set(packet.ARPRequest, w.aEth.MAC, w.aIP, packet.MAC{}, ip("10.0.1.77"))
	w.aEth.Transmit(w.env.Pool.From(req2))
	w.run()
	assert.Len(t, w.arpFrames(w.aEth, link.In), 1)
	assert.Zero(t, w.env.Pool.Out)
}

// neighOf lists st's neighbour entries for a, as ip neigh prints them.
func neighOf(st *netstack.Stack, a netip.Addr) []string {
	var out []string
	for _, n := range st.Neighbours() {
		if n.IP == a {
			out = append(out, n.Format(0))
		}
	}
	return out
}

// TestARPFromOwnAddressIgnored: an ARP packet whose sender IP is one of the
// namespace's addresses (its own request come back through a hairpin
// bridge port, or an address conflict) gets no reply and creates no
// neighbour entry (arp_process: the route check of a local sender fails),
// and it is not a drop.
func TestARPFromOwnAddressIgnored(t *testing.T) {
	tests := []struct {
		name     string
		op       uint16
		sha      func(w *world) packet.MAC
		sip, tip func(w *world) netip.Addr
	}{
		{"own request back: who-has gateway tell me", packet.ARPRequest,
			func(w *world) packet.MAC { return w.aEth.MAC }, func(w *world) netip.Addr { return w.aIP }, func(w *world) netip.Addr { return w.rIP0 }},
		{"gratuitous request for my own address", packet.ARPRequest,
			func(w *world) packet.MAC { return w.aEth.MAC }, func(w *world) netip.Addr { return w.aIP }, func(w *world) netip.Addr { return w.aIP }},
		{"another host claims my address", packet.ARPRequest,
			func(*world) packet.MAC { return mac(0x77) }, func(w *world) netip.Addr { return w.aIP }, func(w *world) netip.Addr { return w.aIP }},
		{"reply from my own address", packet.ARPReply,
			func(*world) packet.MAC { return mac(0x77) }, func(w *world) netip.Addr { return w.aIP }, func(w *world) netip.Addr { return w.aIP }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.env.Trace.Hops = true
			// A sends nothing itself: the frame arrives on A's eth0 from R's side.
			f := make([]byte, 14+28)
			packet.Ethernet(f).Set(packet.Broadcast, tt.sha(w), packet.EtherTypeARP)
			packet.ARP(f[14:]).Set(tt.op, tt.sha(w), tt.sip(w), packet.MAC{}, tt.tip(w))
			w.rEth0.Transmit(w.env.Pool.From(f))
			w.run()
			assert.Empty(t, w.arpFrames(w.aEth, link.Out), "no reply")
			assert.Empty(t, neighLines(w.A, w.env.Now()), "no neighbour entry")
			assert.Empty(t, w.reasons(), "not a drop")
			var matched []string
			for _, h := range w.env.Trace.HopList() {
				if h.Node == "A" && h.Kind == trace.KindARP {
					matched = append(matched, h.Match)
				}
			}
			assert.Equal(t, []string{"ignored: sender 10.0.1.2 is one of our addresses (no reply, no neighbour entry)"}, matched)
			assert.Zero(t, w.env.Pool.Out)
		})
	}
}
