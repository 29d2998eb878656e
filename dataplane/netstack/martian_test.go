package netstack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// spoofUDP sends a 4-byte UDP datagram to dst:9 from A with any source
// address (A's routing does not check it, as a raw socket's would not).
// A's neighbour for R and R's for B are permanent: with arp_announce=0 an
// ARP request tells the packet's source when it is local (127.0.0.1 is),
// and arp_process ignores a request whose sender is one of the receiver's
// own addresses, so resolution would fail before the datagram is sent.
func (w *world) spoofUDP(src, dst netip.Addr) {
	if err := w.A.AddNeigh("eth0", w.rIP0, w.rEth0.MAC, true); err != nil {
		panic(err)
	}
	if err := w.R.AddNeigh("eth1", w.bIP, w.bEth.MAC, true); err != nil {
		panic(err)
	}
	pkt, pl := w.A.NewIPPacket(src, dst, packet.ProtoUDP, packet.UDPHeaderLen+4, false, 0)
	u := packet.UDP(pl)
	u.SetPorts(40000, 9)
	u.SetLength(len(pl))
	copy(pl[packet.UDPHeaderLen:], "ping")
	packet.SetTransportChecksum(pl, src, dst, packet.ProtoUDP)
	w.A.LocalOut(pkt)
}

// TestMartiansAndRPFilter sends datagrams into R's eth0 with crafted
// sources and checks fib_validate_source's verdict. R has an asymmetric
// route: 10.9.0.0/16 is reached via B on eth1, so a packet from 10.9.0.7
// arriving on eth0 fails strict reverse path filtering and passes loose.
func TestMartiansAndRPFilter(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world)
		src     string
		dst     string // default B
		want    trace.Reason
		detail  string
		toLocal bool // the datagram is for R itself
	}{
		{name: "ordinary source forwarded", src: "10.0.1.2"},
		{name: "own address of another device is martian", src: "10.0.2.1", want: trace.ReasonMartianSource,
			detail: "martian source 10.0.2.2 from 10.0.2.1, on dev eth0: the source is R's own address (on eth1) and accept_local=0 (fib_validate_source)"},
		{name: "own address of the incoming device is martian", src: "10.0.1.1", want: trace.ReasonMartianSource},
		{name: "own address is martian also for local delivery", src: "10.0.2.1", dst: "10.0.1.1", toLocal: true, want: trace.ReasonMartianSource},
		{name: "own address with rp_filter=2 is still martian", src: "10.0.2.1", want: trace.ReasonMartianSource,
			setup: func(w *world) { w.R.ConfAll.RPFilter = 2 }},
		{name: "accept_local=1 (all) lets an own address in", src: "10.0.2.1",
			setup: func(w *world) { w.R.ConfAll.AcceptLocal = true }},
		{name: "accept_local=1 on the device lets an own address in", src: "10.0.2.1",
			setup: func(w *world) { w.R.Iface("eth0").Conf.AcceptLocal = true }},
		{name: "accept_local=1 strict: address of the incoming device passes", src: "10.0.1.1",
			setup: func(w *world) { w.R.ConfAll.AcceptLocal, w.R.ConfAll.RPFilter = true, 1 }},
		{name: "accept_local=1 strict: address of another device fails", src: "10.0.2.1", want: trace.ReasonRPFilter,
			setup: func(w *world) { w.R.ConfAll.AcceptLocal, w.R.ConfAll.RPFilter = true, 1 }},
		{name: "accept_local=1 loose: address of another device passes", src: "10.0.2.1",
			setup: func(w *world) { w.R.ConfAll.AcceptLocal, w.R.ConfAll.RPFilter = true, 2 }},
		{name: "multicast source", src: "224.0.0.5", want: trace.ReasonMartianSource},
		{name: "zero-net source", src: "0.0.0.7", want: trace.ReasonMartianSource},
		{name: "loopback source on eth0", src: "127.0.0.1", want: trace.ReasonMartianSource,
			detail: "martian source 10.0.2.2 from 127.0.0.1, on dev eth0: the source is in 127.0.0.0/8 on a non-loopback device and route_localnet=0 (ip_route_input_slow)"},
		{name: "127.0.0.1 with route_localnet=1 is lo's own address", src: "127.0.0.1", want: trace.ReasonMartianSource,
			setup: func(w *world) { w.R.ConfAll.RouteLocalnet = true }},
		{name: "loopback source with route_localnet=1", src: "127.0.0.2",
			setup: func(w *world) { w.R.ConfAll.RouteLocalnet, w.B.ConfAll.RouteLocalnet = true, true }},
		{name: "a subnet's broadcast source passes with rp_filter=0", src: "10.0.1.255"},
		{name: "a subnet's broadcast source is martian with rp_filter=2", src: "10.0.1.255", want: trace.ReasonMartianSource,
			setup: func(w *world) { w.R.ConfAll.RPFilter = 2 }},
		{name: "a subnet's broadcast source back out the same device: full check, martian", src: "10.0.1.255", dst: "10.7.0.1",
			want: trace.ReasonMartianSource,
			setup: func(w *world) {
				require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.7.0.0/16"), Gw: ip("10.0.1.50"), Dev: w.R.Iface("eth0")}))
			}},
		{name: "zero-net destination", src: "10.0.1.2", dst: "0.1.2.3", want: trace.ReasonMartianDest},
		{name: "asymmetric: rp_filter=0 forwards", src: "10.9.0.7"},
		{name: "asymmetric: rp_filter=1 (all) drops", src: "10.9.0.7", want: trace.ReasonRPFilter,
			setup:  func(w *world) { w.R.ConfAll.RPFilter = 1 },
			detail: `martian source 10.0.2.2 from 10.9.0.7, on dev eth0: rp_filter=1 (strict; max of conf.all=1 and conf.eth0=0): the route back to 10.9.0.7 is "10.9.0.0/16 via 10.0.2.2 dev eth1", not via eth0 (fib_validate_source)`},
		{name: "asymmetric: rp_filter=1 on the device drops", src: "10.9.0.7", want: trace.ReasonRPFilter,
			setup: func(w *world) { w.R.Iface("eth0").Conf.RPFilter = 1 }},
		{name: "asymmetric: rp_filter=1 on the other device does not apply", src: "10.9.0.7",
			setup: func(w *world) { w.R.Iface("eth1").Conf.RPFilter = 1 }},
		{name: "asymmetric: rp_filter=1 drops local delivery too", src: "10.9.0.7", dst: "10.0.1.1", toLocal: true, want: trace.ReasonRPFilter,
			setup: func(w *world) { w.R.ConfAll.RPFilter = 1 }},
		{name: "asymmetric: rp_filter=2 forwards", src: "10.9.0.7",
			setup: func(w *world) { w.R.ConfAll.RPFilter = 2 }},
		{name: "max(all=2, dev=1) is loose", src: "10.9.0.7",
			setup: func(w *world) { w.R.ConfAll.RPFilter = 2; w.R.Iface("eth0").Conf.RPFilter = 1 }},
		{name: "max(all=1, dev=2) is loose", src: "10.9.0.7",
			setup: func(w *world) { w.R.ConfAll.RPFilter = 1; w.R.Iface("eth0").Conf.RPFilter = 2 }},
		{name: "symmetric source passes strict", src: "10.0.1.2",
			setup: func(w *world) { w.R.ConfAll.RPFilter = 1 }},
		{name: "no route back: rp_filter=0 forwards", src: "10.7.7.7"},
		{name: "no route back: rp_filter=2 drops", src: "10.7.7.7", want: trace.ReasonRPFilter,
			setup: func(w *world) { w.R.ConfAll.RPFilter = 2 }},
		{name: "blackhole route back: rp_filter=2 drops", src: "10.8.0.1", want: trace.ReasonRPFilter,
			setup: func(w *world) {
				w.R.ConfAll.RPFilter = 2
				require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.8.0.0/16"), Type: netstack.RouteBlackhole}))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.9.0.0/16"), Gw: w.bIP, Dev: w.R.Iface("eth1")}))
			w.B.ListenUDP(9, false)
			w.R.ListenUDP(9, false)
			if tt.setup != nil {
				tt.setup(w)
			}
			dst := w.bIP
			if tt.dst != "" {
				dst = ip(tt.dst)
			}
			w.spoofUDP(ip(tt.src), dst)
			w.run()
			recv := ofKind(w.evB, netstack.EvUDPRecv)
			if tt.toLocal {
				recv = ofKind(w.evR, netstack.EvUDPRecv)
			}
			var drops []trace.Reason
			for _, d := range w.env.Trace.DropList() {
				if d.Node == "R" {
					drops = append(drops, d.Reason)
				}
			}
			if tt.want == trace.ReasonNone {
				assert.Empty(t, drops)
				assert.Len(t, recv, 1, "delivered")
				return
			}
			assert.Equal(t, []trace.Reason{tt.want}, drops)
			assert.Empty(t, recv, "not delivered")
			d := w.env.Trace.DropList()[0]
			assert.Equal(t, "eth0", d.Device)
			if tt.detail != "" {
				assert.Equal(t, tt.detail, d.Detail)
			}
			assert.Empty(t, w.icmpErrors(w.aEth, link.In), "martians are dropped without an ICMP error")
		})
	}
}

func TestEffectiveConfAndSysctls(t *testing.T) {
	w := newWorld(t)
	eth0 := w.R.Iface("eth0")
	w.R.ConfAll = netstack.Conf{RPFilter: 1}
	eth0.Conf = netstack.Conf{RPFilter: 2, AcceptLocal: true}
	assert.Equal(t, netstack.Conf{RPFilter: 2, AcceptLocal: true}, w.R.EffectiveConf(eth0))
	assert.Equal(t, netstack.Conf{RPFilter: 1}, w.R.EffectiveConf(w.R.Iface("eth1")))
	got := map[string]int{}
	for _, s := range w.R.Sysctls() {
		got[s.Key] = s.Value
	}
	assert.Equal(t, 1, got["net.ipv4.ip_forward"])
	assert.Equal(t, 1, got["net.ipv4.conf.all.rp_filter"])
	assert.Equal(t, 2, got["net.ipv4.conf.eth0.rp_filter"])
	assert.Equal(t, 1, got["net.ipv4.conf.eth0.accept_local"])
	assert.Equal(t, 0, got["net.ipv4.conf.eth1.rp_filter"])
	assert.Contains(t, got, "net.ipv4.conf.lo.rp_filter")

	// A device added later starts from conf.default.
	w.R.ConfDefault = netstack.Conf{RPFilter: 2, RouteLocalnet: true}
	i := w.R.AddIface(link.NewDevice(w.env, "R", "eth9", "veth", link.Ether, 1500, mac(0x19), nil))
	assert.Equal(t, netstack.Conf{RPFilter: 2, RouteLocalnet: true}, i.Conf)
}

// TestICMPRedirect: R forwards a packet back out the device it came in on
// (10.7.0.0/16 via 10.0.1.50 dev eth0), so it tells the directly connected
// source "ICMP redirect host, new nexthop 10.0.1.50", rate-limited per
// source; a source behind a gateway, or a packet leaving through another
// device, gets none.
func TestICMPRedirect(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		dst   string
		count int
		want  int // redirects A receives
	}{
		{name: "one packet, one redirect", src: "10.0.1.2", dst: "10.7.0.1", count: 1, want: 1},
		{name: "a burst gets one (20 ms << n between redirects)", src: "10.0.1.2", dst: "10.7.0.1", count: 5, want: 1},
		{name: "source not directly connected: none", src: "10.9.0.7", dst: "10.7.0.1", count: 1},
		{name: "out another device: none", src: "10.0.1.2", dst: "10.0.2.2", count: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.7.0.0/16"), Gw: ip("10.0.1.50"), Dev: w.R.Iface("eth0")}))
			require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.9.0.0/16"), Gw: ip("10.0.1.60"), Dev: w.R.Iface("eth0")}))
			w.B.ListenUDP(9, false)
			for range tt.count {
				w.spoofUDP(ip(tt.src), ip(tt.dst))
			}
			w.run()
			var got [][]byte
			for _, f := range w.ipv4Frames(w.rEth0, link.Out, packet.ProtoICMP) {
				if f[14+20] == 5 {
					got = append(got, f)
				}
			}
			require.Len(t, got, tt.want)
			if tt.want == 0 {
				return
			}
			ipb := got[0][14:]
			assert.Equal(t, w.rIP0.AsSlice(), ipb[12:16], "from R's address on the link")
			assert.Equal(t, ip(tt.src).AsSlice(), ipb[16:20], "to the source")
			assert.Equal(t, byte(0xc0), ipb[1], "TOS internetwork control")
			ic := ipb[20:]
			assert.Equal(t, []byte{5, 1}, ic[:2], "redirect host")
			assert.Equal(t, []byte{10, 0, 1, 50}, ic[4:8], "new nexthop")
			assert.Zero(t, csum(ic[:int(u16(ipb, 2))-20], 0), "ICMP checksum")
			quote := packet.IPv4(ic[8:])
			assert.Equal(t, uint8(63), quote.TTL(), "quoted after the TTL decrement")
			assert.Equal(t, ip(tt.dst), quote.Dst())
		})
	}
}

// TestICMPRedirectRateLimit: after the first redirect to a source the next
// one needs 20 ms << n to have passed (ip_rt_send_redirect).
func TestICMPRedirectRateLimit(t *testing.T) {
	w := newWorld(t)
	require.NoError(t, w.R.AddRoute(&netstack.Route{Dst: pfx("10.7.0.0/16"), Gw: ip("10.0.1.50"), Dev: w.R.Iface("eth0")}))
	for _, at := range []time.Duration{0, 30 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 140 * time.Millisecond} {
		w.s.AfterFunc(at, func() { w.spoofUDP(w.aIP, ip("10.7.0.1")) })
	}
	w.run()
	var at []time.Duration
	for _, f := range w.capt.On(w.rEth0, link.Out) {
		if packet.Ethernet(f.Data).Type() == packet.EtherTypeIPv4 && f.Data[14+9] == packet.ProtoICMP && f.Data[14+20] == 5 {
			at = append(at, f.Time)
		}
	}
	// 0: sent (n=1); 30 ms < 0+40 ms: no; 50 ms: sent (n=2); 100 ms < 50+80 ms: no; 140 ms: sent.
	require.Len(t, at, 3)
}

// TestBroadcastEchoOnAddresslessDevice: a broadcast echo request arriving
// on a device without an address (a Calico cali* veth on the node side)
// is answered from another address of the namespace, as inet_select_addr
// picks one; a namespace with no address at all drops it with a reason.
// Found by FuzzRun (sim/testdata/fuzz/FuzzRun/broadcast-echo-on-cali): the
// reply was built with no source address and panicked.
func TestBroadcastEchoOnAddresslessDevice(t *testing.T) {
	tests := []struct {
		name      string
		otherAddr bool // R has an address on eth1
		answer    bool // icmp_echo_ignore_broadcasts = 0
		wantFrom  string
		wantDrop  trace.Reason
	}{
		{name: "ignored by default", otherAddr: true, wantDrop: trace.ReasonEchoBroadcastIgnored},
		{name: "answered from the namespace's other address", otherAddr: true, answer: true, wantFrom: "10.0.2.1"},
		{name: "no address in the namespace: dropped", answer: true, wantDrop: trace.ReasonNoRoute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, sched := linktest.NewEnv()
			a := netstack.New(env, "A", 1)
			r := netstack.New(env, "R", 2)
			r.AnswerBroadcastEcho = tc.answer
			var evA []netstack.Event
			a.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { evA = append(evA, ev) }
			aEth, rEth0 := link.NewVethPair(env, "A", "eth0", mac(0xa1), "R", "eth0", mac(0x10), 1500)
			rEth1, _ := link.NewVethPair(env, "R", "eth1", mac(0x11), "B", "eth0", mac(0xb1), 1500)
			a.AddIface(aEth)
			r.AddIface(rEth0)
			r.AddIface(rEth1)
			require.NoError(t, a.AddAddr("eth0", pfx("10.0.1.2/24")))
			require.NoError(t, a.AddRoute(&netstack.Route{Dst: defaultRoute(), Dev: a.Iface("eth0")}))
			if tc.otherAddr {
				require.NoError(t, r.AddAddr("eth1", pfx("10.0.2.1/24")))
				require.NoError(t, r.AddRoute(&netstack.Route{Dst: pfx("10.0.1.0/24"), Dev: r.Iface("eth0")}))
			}
			require.True(t, a.Ping(ip("255.255.255.255"), 7, 1, 8, netstack.DFWant, 1))
			sched.Run()
			replies := ofKind(evA, netstack.EvEchoReply)
			if tc.wantFrom != "" {
				require.Len(t, replies, 1)
				assert.Equal(t, tc.wantFrom, replies[0].Src.Addr().String())
				return
			}
			assert.Empty(t, replies)
			assert.Contains(t, linktest.Drops(env), tc.wantDrop)
		})
	}
}
