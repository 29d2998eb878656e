package link_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Addresses of the ipvlan fixture: a secondary ENI eth1 (ifindex 3) with
// two pod slaves and Terway's host slave ipvl_3, the VPC behind it.
var (
	eniMAC  = packet.MAC{0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c}
	gwMAC   = packet.MAC{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}
	podAIP  = netip.MustParseAddr("10.0.1.10")
	podBIP  = netip.MustParseAddr("10.0.1.11")
	nodeIP  = netip.MustParseAddr("10.0.0.5")
	svcCIDR = netip.MustParsePrefix("192.168.0.0/16")
	nlDNS   = netip.MustParsePrefix("169.254.20.10/32")
)

type ipvlanFixture struct {
	env    *link.Env
	s      *linktest.Sched
	eth1   *link.Device
	vpc    *link.Device
	port   *link.IPVlanPort
	a, b   *link.IPVlan
	hostSl *link.IPVlan
	tc     *link.Clsact
	sinks  map[string]*linktest.Sink
}

func newIPVlanFixture(t *testing.T) *ipvlanFixture {
	t.Helper()
	env, s := linktest.NewEnv()
	f := &ipvlanFixture{env: env, s: s, sinks: map[string]*linktest.Sink{}}
	sink := func(name string, d *link.Device) {
		k := &linktest.Sink{}
		f.sinks[name] = k
		d.SetReceiver(k)
	}
	f.eth1 = link.NewDevice(env, "node", "eth1", "device", link.Ether, 1500, eniMAC, nil)
	f.eth1.Index = 3
	f.vpc = link.NewDevice(env, "vpc", "vsw", "device", link.Ether, 1500, gwMAC, nil)
	link.Connect(f.eth1, f.vpc, 0)
	sink("wire", f.vpc)
	sink("host", f.eth1) // the node's stack behind eth1

	var err error
	f.port, err = link.NewIPVlanPort(f.eth1, link.IPVlanL2)
	require.NoError(t, err)
	slave := func(ns, name string, addr netip.Addr, key string) *link.IPVlan {
		sl, err := f.port.AddSlave(ns, name, 0)
		require.NoError(t, err)
		require.NoError(t, sl.AddAddr(addr))
		sink(key, sl.Dev)
		return sl
	}
	f.a = slave("default/a", "eth0", podAIP, "a")
	f.b = slave("default/b", "eth0", podBIP, "b")
	f.hostSl = slave("node", link.IPVlanHostName(f.eth1.Index), nodeIP, "ipvl")

	f.tc = link.NewClsact(f.eth1)
	for _, c := range []netip.Prefix{nlDNS, svcCIDR} {
		_, err := f.tc.AddRedirect(link.TerwayRedirectPrio, c, f.hostSl.Dev)
		require.NoError(t, err)
	}
	return f
}

// got returns who received frames since the last call, sorted, and
// forgets them.
func (f *ipvlanFixture) got() []string {
	var out []string
	for name, k := range f.sinks {
		for range k.Frames {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (f *ipvlanFixture) reset() {
	for _, k := range f.sinks {
		k.Reset()
	}
}

// ipFrame is an Ethernet/IPv4/UDP frame with a valid IPv4 header.
func ipFrame(dst, src packet.MAC, from, to netip.Addr) []byte {
	const n = packet.EthHeaderLen + packet.IPv4HeaderLen + packet.UDPHeaderLen + 12
	b := make([]byte, n)
	packet.Ethernet(b).Set(dst, src, packet.EtherTypeIPv4)
	ip := packet.IPv4(b[packet.EthHeaderLen:])
	ip.SetHeader(packet.IPv4Fields{TotalLen: n - packet.EthHeaderLen, TTL: 64, Protocol: packet.ProtoUDP, Src: from, Dst: to})
	packet.UDP(ip[packet.IPv4HeaderLen:]).SetPorts(40000, 53)
	packet.UDP(ip[packet.IPv4HeaderLen:]).SetLength(packet.UDPHeaderLen + 12)
	return b
}

// arpFrame is an Ethernet/ARP frame.
func arpFrame(dst, src packet.MAC, op uint16, spa, tpa netip.Addr) []byte {
	b := make([]byte, packet.EthHeaderLen+packet.ARPLen)
	packet.Ethernet(b).Set(dst, src, packet.EtherTypeARP)
	var tha packet.MAC
	if op == packet.ARPReply {
		tha = dst
	}
	packet.ARP(b[packet.EthHeaderLen:]).Set(op, src, spa, tha, tpa)
	return b
}

func TestIPVlanSlaveXmit(t *testing.T) {
	mcast := packet.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	allHosts := packet.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	tests := []struct {
		name  string
		frame []byte
		want  []string
		// redirected is how many packets the tc filters took.
		redirected uint64
	}{
		{"pod to pod on the same ENI: delivered locally, not on the wire",
			ipFrame(eniMAC, eniMAC, podAIP, podBIP), []string{"b"}, 0},
		{"pod to the node IP held by ipvl_3: delivered to the host slave",
			ipFrame(eniMAC, eniMAC, podAIP, nodeIP), []string{"ipvl"}, 0},
		{"shared MAC but no slave owns the address: up the parent's stack",
			ipFrame(eniMAC, eniMAC, podAIP, netip.MustParseAddr("10.0.1.99")), []string{"host"}, 0},
		{"pod to a VPC address: out of the parent with the shared MAC",
			ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("10.0.2.20")), []string{"wire"}, 0},
		{"ARP who-has the gateway: the other slaves and the wire",
			arpFrame(packet.Broadcast, eniMAC, packet.ARPRequest, podAIP, netip.MustParseAddr("10.0.1.253")), []string{"b", "ipvl", "wire"}, 0},
		{"ARP reply to another slave: by target IP, locally",
			arpFrame(eniMAC, eniMAC, packet.ARPReply, podAIP, podBIP), []string{"b"}, 0},
		{"all-hosts multicast: the other slaves and the wire",
			ipFrame(allHosts, eniMAC, podAIP, netip.MustParseAddr("224.0.0.1")), []string{"b", "ipvl", "wire"}, 0},
		{"a group no slave joined: the wire only",
			ipFrame(mcast, eniMAC, podAIP, netip.MustParseAddr("224.0.0.251")), []string{"wire"}, 0},
		{"pod to a Service: redirected into ipvl_3 by the tc filter",
			ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("192.168.5.5")), []string{"ipvl"}, 1},
		{"pod to node-local DNS (host_stack_cidrs): redirected",
			ipFrame(gwMAC, eniMAC, podAIP, nlDNS.Addr()), []string{"ipvl"}, 1},
		{"next to node-local DNS: not matched, leaves the ENI",
			ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("169.254.20.11")), []string{"wire"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIPVlanFixture(t)
			f.a.Dev.Transmit(f.env.Pool.From(tt.frame))
			f.s.Run()
			assert.Equal(t, tt.want, f.got())
			var redirected uint64
			for _, fl := range f.tc.Filters() {
				redirected += fl.Packets
			}
			assert.Equal(t, tt.redirected, redirected)
			if slices.Contains(tt.want, "wire") {
				require.Len(t, f.sinks["wire"].Frames, 1)
				got := f.sinks["wire"].Frames[0].Data
				assert.Equal(t, tt.frame, got, "the frame leaves unchanged")
				assert.Equal(t, eniMAC, packet.Ethernet(got).Src(), "with the parent's MAC, which every slave shares")
				assert.Equal(t, uint64(1), f.eth1.Stats.TxPackets)
			} else {
				assert.Zero(t, f.eth1.Stats.TxPackets, "nothing left the ENI")
			}
			for _, fr := range f.sinks["b"].Frames {
				assert.Equal(t, tt.frame, fr.Data, "the other slave gets the frame unchanged")
				assert.Equal(t, "default/b/eth0", fr.Device)
			}
			assert.Empty(t, f.env.Trace.DropList())
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

func TestIPVlanRedirectIntoHostStack(t *testing.T) {
	f := newIPVlanFixture(t)
	c := linktest.NewCapture(f.env, f.s)
	frame := ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("192.168.5.5"))
	pkt := f.env.Pool.From(frame)
	pkt.Mark = 0x10
	f.a.Dev.Transmit(pkt)
	f.s.Run()

	require.Len(t, f.sinks["ipvl"].Frames, 1)
	got := f.sinks["ipvl"].Frames[0]
	assert.Equal(t, "node/ipvl_3", got.Device, "the host stack receives it on ipvl_3")
	assert.Equal(t, eniMAC, packet.Ethernet(got.Data).Dst(), "skbedit ptype host: the stack takes it as its own")
	assert.Equal(t, frame[packet.EthHeaderLen:], got.Data[packet.EthHeaderLen:], "the IP packet is unchanged")
	assert.Equal(t, uint32(0x10), got.Mark, "the mark survives (ipvlan L2 does not scrub unicast)")

	assert.Empty(t, c.On(f.eth1, link.Out), "tcpdump on eth1 does not see a stolen packet")
	onIpvl := c.Bytes(f.hostSl.Dev, link.In)
	require.Len(t, onIpvl, 1)
	assert.Equal(t, frame, onIpvl[0], "tcpdump on ipvl_3 sees the frame as the pod addressed it")
	assert.Equal(t, link.Stats{RxPackets: 1, RxBytes: uint64(len(frame))}, f.hostSl.Dev.Stats)
	assert.Zero(t, f.eth1.Stats.TxPackets)
	assert.Equal(t, []uint64{0, 1}, []uint64{f.tc.Filters()[0].Packets, f.tc.Filters()[1].Packets})
}

func TestIPVlanParentReceive(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  []string
	}{
		{"unicast for a pod IP: to that slave",
			ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), podAIP), []string{"a"}},
		{"unicast for the node IP on ipvl_3: to the host slave",
			ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), nodeIP), []string{"ipvl"}},
		{"unicast nobody's: the parent's own stack",
			ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), netip.MustParseAddr("10.0.1.99")), []string{"host"}},
		{"ARP reply: by target IP",
			arpFrame(eniMAC, gwMAC, packet.ARPReply, netip.MustParseAddr("10.0.1.253"), podBIP), []string{"b"}},
		{"ARP request (broadcast): every slave and the parent's stack",
			arpFrame(packet.Broadcast, gwMAC, packet.ARPRequest, netip.MustParseAddr("10.0.1.253"), podAIP), []string{"a", "b", "host", "ipvl"}},
		{"the port's own broadcast looped back: the parent's stack only",
			arpFrame(packet.Broadcast, eniMAC, packet.ARPRequest, podAIP, netip.MustParseAddr("10.0.1.253")), []string{"host"}},
		{"a broadcast with the shared MAC from an address no slave has is external",
			arpFrame(packet.Broadcast, eniMAC, packet.ARPRequest, netip.MustParseAddr("10.0.1.98"), podAIP), []string{"a", "b", "host", "ipvl"}},
		{"a bad IPv4 header (ihl 4) has no L3 address: the parent's stack",
			func() []byte {
				b := ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), podAIP)
				b[packet.EthHeaderLen] = 0x44
				return b
			}(), []string{"host"}},
		{"a total length beyond the frame: the parent's stack",
			func() []byte {
				b := ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), podAIP)
				b[packet.EthHeaderLen+2] = 0x05
				return b
			}(), []string{"host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIPVlanFixture(t)
			f.vpc.Transmit(f.env.Pool.From(tt.frame))
			f.s.Run()
			assert.Equal(t, tt.want, f.got())
			for name, k := range f.sinks {
				for _, fr := range k.Frames {
					assert.Equal(t, tt.frame, fr.Data, "%s gets the frame unchanged", name)
				}
			}
			assert.Equal(t, uint64(1), f.eth1.Stats.RxPackets, "counted once on the parent")
			assert.Empty(t, f.env.Trace.DropList())
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

func TestIPVlanLinkDown(t *testing.T) {
	outside := netip.MustParseAddr("10.0.2.20")
	tests := []struct {
		name     string
		down     func(f *ipvlanFixture) *link.Device
		send     func(f *ipvlanFixture)
		want     []string
		drop     string // "NODE DEV" of the link-down drop, "" for none
		dropText string
	}{
		{name: "a down slave's address leaves the table: pod to it goes up the parent's stack",
			down: func(f *ipvlanFixture) *link.Device { return f.b.Dev },
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			want: []string{"host"}},
		{name: "a down slave gets nothing from the wire either",
			down: func(f *ipvlanFixture) *link.Device { return f.b.Dev },
			send: func(f *ipvlanFixture) { f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, outside, podBIP))) },
			want: []string{"host"}},
		{name: "nor a broadcast copy",
			down: func(f *ipvlanFixture) *link.Device { return f.b.Dev },
			send: func(f *ipvlanFixture) {
				f.vpc.Transmit(f.env.Pool.From(arpFrame(packet.Broadcast, gwMAC, packet.ARPRequest, outside, podAIP)))
			},
			want: []string{"a", "host", "ipvl"}},
		{name: "a down slave cannot send",
			down: func(f *ipvlanFixture) *link.Device { return f.a.Dev },
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			drop: "default/a eth0", dropText: "eth0 is down"},
		{name: "a down parent drops what a slave sends to the VPC",
			down: func(f *ipvlanFixture) *link.Device { return f.eth1 },
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(gwMAC, eniMAC, podAIP, outside))) },
			drop: "node eth1", dropText: "eth1 is down"},
		{name: "slave to slave does not need the parent",
			down: func(f *ipvlanFixture) *link.Device { return f.eth1 },
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			want: []string{"b"}},
		{name: "a down parent receives nothing",
			down: func(f *ipvlanFixture) *link.Device { return f.eth1 },
			send: func(f *ipvlanFixture) { f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, outside, podAIP))) },
			drop: "node eth1", dropText: "eth1 is down"},
		{name: "mirred to a down ipvl_3 drops the Service packet",
			down: func(f *ipvlanFixture) *link.Device { return f.hostSl.Dev },
			send: func(f *ipvlanFixture) {
				f.a.Dev.Transmit(f.env.Pool.From(ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("192.168.0.10"))))
			},
			drop: "node eth1", dropText: "tc mirred to Houston: device ipvl_3 is down (tc filter egress prio 40000 u32 dst 192.168.0.0/16: mirred ingress redirect dev ipvl_3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIPVlanFixture(t)
			tt.down(f).SetUp(false)
			tt.send(f)
			f.s.Run()
			assert.Equal(t, tt.want, f.got())
			drops := f.env.Trace.DropList()
			if tt.drop == "" {
				assert.Empty(t, drops)
			} else {
				require.Len(t, drops, 1)
				assert.Equal(t, trace.ReasonLinkDown, drops[0].Reason)
				assert.Equal(t, tt.drop, drops[0].Node+" "+drops[0].Device)
				assert.Contains(t, drops[0].Detail, tt.dropText)
			}
			assert.Zero(t, f.env.Pool.Out)

			// Back up, the same traffic flows again.
			tt.down(f).SetUp(true)
			f.reset()
			f.env.Trace.Reset()
			tt.send(f)
			f.s.Run()
			assert.NotEmpty(t, f.got())
			assert.Empty(t, f.env.Trace.DropList())
		})
	}
}

func TestIPVlanCreate(t *testing.T) {
	t.Run("slaves share the parent's MAC and MTU", func(t *testing.T) {
		f := newIPVlanFixture(t)
		for _, sl := range f.port.Slaves() {
			assert.Equal(t, eniMAC, sl.Dev.MAC)
			assert.Equal(t, 1500, sl.Dev.MTU)
			assert.Equal(t, "ipvlan", sl.Dev.Kind)
		}
		assert.Equal(t, "ipvl_3", f.hostSl.Dev.Name)
		assert.Equal(t, "eth0@if3: ipvlan mode l2 bridge, link node/eth1", f.a.String())
		sl, err := f.port.AddSlave("default/c", "eth0", 1400)
		require.NoError(t, err)
		assert.Equal(t, 1400, sl.Dev.MTU)
		assert.Same(t, f.a, f.port.Owner(podAIP))
		assert.Same(t, f.hostSl, f.port.Owner(nodeIP))
		assert.Nil(t, f.port.Owner(netip.MustParseAddr("10.0.1.99")))
	})
	t.Run("a second slave reuses the port", func(t *testing.T) {
		f := newIPVlanFixture(t)
		p, err := link.NewIPVlanPort(f.eth1, link.IPVlanL2)
		require.NoError(t, err)
		assert.Same(t, f.port, p)
		_, err = link.NewIPVlanPort(f.eth1, link.IPVlanL3)
		assert.ErrorContains(t, err, "the port is in mode l2, not l3")
	})
	t.Run("addresses are unique on the port", func(t *testing.T) {
		f := newIPVlanFixture(t)
		err := f.b.AddAddr(podAIP)
		assert.EqualError(t, err, "ipvlan default/b/eth0: address 10.0.1.10 is already assigned to ipvlan device default/a/eth0 (EADDRINUSE)")
		assert.ErrorContains(t, f.b.AddAddr(netip.MustParseAddr("fd00::1")), "only IPv4")
		f.a.DelAddr(podAIP)
		assert.Empty(t, f.a.Addrs())
		require.NoError(t, f.b.AddAddr(podAIP))
		assert.Equal(t, []netip.Addr{podBIP, podAIP}, f.b.Addrs())
		f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podBIP, podAIP)))
		f.s.Run()
		assert.Equal(t, []string{"b"}, f.got(), "the address moved with it")
	})
	t.Run("re-attaching the parent keeps the rx handler", func(t *testing.T) {
		f := newIPVlanFixture(t)
		stack := &linktest.Sink{}
		f.eth1.SetReceiver(stack) // AddIface after the port was made
		_, err := f.port.AddSlave("default/c", "eth0", 0)
		require.NoError(t, err)
		f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), podAIP)))
		f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), netip.MustParseAddr("10.0.1.99"))))
		f.s.Run()
		assert.Len(t, f.sinks["a"].Frames, 1)
		assert.Len(t, stack.Frames, 1, "the new receiver gets what no slave owns")
	})

	env, _ := linktest.NewEnv()
	attached := func(d *link.Device) *link.Device { d.SetReceiver(&linktest.Sink{}); return d }
	br := link.NewBridge(env, "node", "br0", 1500, linktest.MAC(9))
	port := attached(link.NewDevice(env, "node", "veth1", "veth", link.Ether, 1500, linktest.MAC(1), nil))
	br.AddPort(port)
	okParent := attached(link.NewDevice(env, "node", "eth2", "device", link.Ether, 1500, linktest.MAC(2), nil))
	okPort, err := link.NewIPVlanPort(okParent, link.IPVlanL2)
	require.NoError(t, err)
	slave, err := okPort.AddSlave("p", "eth0", 0)
	require.NoError(t, err)
	errs := []struct {
		name   string
		parent *link.Device
		mode   link.IPVlanMode
		want   string
	}{
		{"raw IP parent", attached(link.NewDevice(env, "node", "tun0", "tun", link.RawIP, 1500, packet.MAC{}, nil)), link.IPVlanL2, "ipvlan on node/tun0: the parent is loopback or not an Ethernet device (EINVAL)"},
		{"loopback parent", attached(link.NewDevice(env, "node", "lo", "loopback", link.Ether, 65536, packet.MAC{}, nil)), link.IPVlanL2, "loopback or not an Ethernet device"},
		{"bridge port", port, link.IPVlanL2, "ipvlan on node/veth1: the device is already in use as a port of bridge br0 (EBUSY)"},
		{"not in a namespace", link.NewDevice(env, "node", "eth3", "device", link.Ether, 1500, linktest.MAC(3), nil), link.IPVlanL2, "not attached to a namespace"},
		{"L3 mode", attached(link.NewDevice(env, "node", "eth4", "device", link.Ether, 1500, linktest.MAC(4), nil)), link.IPVlanL3, "mode l3 is not modelled (only l2)"},
		{"slave as parent", slave.Dev, link.IPVlanL2, "the parent is itself an ipvlan slave"},
		{"no parent", nil, link.IPVlanL2, "ipvlan: no parent device"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if tt.parent == slave.Dev {
				slave.Dev.SetReceiver(&linktest.Sink{})
			}
			_, err := link.NewIPVlanPort(tt.parent, tt.mode)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err = okPort.AddSlave("p", "", 0)
	assert.ErrorContains(t, err, "empty slave name")
	_, err = okPort.AddSlave("p", "eth1", 60)
	assert.ErrorContains(t, err, "MTU 60 below the IPv4 minimum 68")
	assert.Equal(t, "l3s", link.IPVlanL3S.String())
}

func TestClsactFilters(t *testing.T) {
	env, s := linktest.NewEnv()
	eth1 := link.NewDevice(env, "node", "eth1", "device", link.Ether, 1500, eniMAC, nil)
	wire := link.NewDevice(env, "vpc", "vsw", "device", link.Ether, 1500, gwMAC, nil)
	link.Connect(eth1, wire, 0)
	out := &linktest.Sink{}
	wire.SetReceiver(out)
	ipvl := link.NewDevice(env, "node", "ipvl_3", "ipvlan", link.Ether, 1500, eniMAC, nil)
	host := &linktest.Sink{}
	ipvl.SetReceiver(host)
	other := link.NewDevice(env, "node", "ipvl_4", "ipvlan", link.Ether, 1500, eniMAC, nil)
	otherSink := &linktest.Sink{}
	other.SetReceiver(otherSink)

	c := link.NewClsact(eth1)
	assert.Same(t, c, link.NewClsact(eth1), "EnsureClsActQdsic: one qdisc")
	f1, err := c.AddRedirect(40000, netip.MustParsePrefix("192.168.7.7/16"), ipvl)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("192.168.0.0/16"), f1.Dst, "the key is value and mask: the prefix is masked")
	again, err := c.AddRedirect(40000, svcCIDR, ipvl)
	require.NoError(t, err)
	assert.Same(t, f1, again, "an existing filter is kept")
	f0, err := c.AddRedirect(100, netip.MustParsePrefix("192.168.1.0/24"), other)
	require.NoError(t, err)
	assert.Equal(t, []*link.U32Redirect{f0, f1}, c.Filters(), "by priority")
	assert.Equal(t, "tc filter add dev eth1 egress prio 40000 protocol ip u32 match ip dst 192.168.0.0/16 action tunnel_key unset pipe action skbedit ptype host pipe action mirred ingress redirect dev ipvl_3", f1.String())
	assert.Equal(t, "tc filter egress prio 40000 u32 dst 192.168.0.0/16: mirred ingress redirect dev ipvl_3", f1.Hop())

	for _, bad := range []struct {
		dst    string
		target *link.Device
		want   string
	}{
		{"fd00::/64", ipvl, "only IPv4 prefixes"},
		{"10.0.0.0/8", nil, "no redirect target device"},
		{"10.0.0.0/8", link.NewDevice(env, "node", "tun0", "tun", link.RawIP, 1500, packet.MAC{}, nil), "not an Ethernet device"},
	} {
		_, err := c.AddRedirect(40000, netip.MustParsePrefix(bad.dst), bad.target)
		assert.ErrorContains(t, err, bad.want)
	}

	send := func(frame []byte) {
		eth1.Transmit(env.Pool.From(frame))
		s.Run()
	}
	hostSrc := netip.MustParseAddr("10.0.0.5")
	send(ipFrame(gwMAC, eniMAC, hostSrc, netip.MustParseAddr("192.168.1.9")))
	assert.Len(t, otherSink.Frames, 1, "the lower priority number is tried first")
	send(ipFrame(gwMAC, eniMAC, hostSrc, netip.MustParseAddr("192.168.2.9")))
	assert.Len(t, host.Frames, 1, "any frame sent on the device is filtered, the host's too")
	send(arpFrame(packet.Broadcast, eniMAC, packet.ARPRequest, hostSrc, netip.MustParseAddr("192.168.2.9")))
	assert.Len(t, out.Frames, 1, "protocol ip: ARP is not matched")
	send(ipFrame(gwMAC, eniMAC, hostSrc, netip.MustParseAddr("10.9.9.9")))
	assert.Len(t, out.Frames, 2)
	send(ipFrame(gwMAC, eniMAC, hostSrc, netip.MustParseAddr("192.168.2.9"))[:packet.EthHeaderLen+19])
	assert.Len(t, out.Frames, 3, "too short for the key: not matched")
	assert.Equal(t, uint64(1), f0.Packets)
	assert.Equal(t, uint64(1), f1.Packets)

	assert.False(t, c.DelRedirect(40000, netip.MustParsePrefix("10.0.0.0/8")))
	assert.True(t, c.DelRedirect(40000, netip.MustParsePrefix("192.168.3.3/16")))
	send(ipFrame(gwMAC, eniMAC, hostSrc, netip.MustParseAddr("192.168.2.9")))
	assert.Len(t, out.Frames, 4, "deleted: leaves the device")
	assert.Empty(t, env.Trace.DropList())
	assert.Zero(t, env.Pool.Out)
}

func TestIPVlanTraceHops(t *testing.T) {
	tests := []struct {
		name  string
		send  func(f *ipvlanFixture)
		where string
		text  string
	}{
		{"the redirect names the filter and the action",
			func(f *ipvlanFixture) {
				f.a.Dev.Transmit(f.env.Pool.From(ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("192.168.5.5"))))
			},
			"node eth1",
			"note tc filter egress prio 40000 u32 dst 192.168.0.0/16: mirred ingress redirect dev ipvl_3; tunnel_key unset, skbedit ptype host: stolen, it enters the stack of node through ipvl_3 instead of leaving eth1"},
		{"pod to pod says it bypasses the node",
			func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			"default/a eth0",
			"note ipvlan l2 eth1: 10.0.1.11 ⇒ on default/b/eth0 (slave of eth1): delivered to it directly, not out of eth1"},
		{"shared MAC, no owner",
			func(f *ipvlanFixture) {
				f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, netip.MustParseAddr("10.0.1.99"))))
			},
			"default/a eth0",
			"note ipvlan l2 eth1: 10.0.1.99 ⇒ no slave of eth1 owns it: up the stack of node/eth1"},
		{"demux from the wire",
			func(f *ipvlanFixture) {
				f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, netip.MustParseAddr("10.0.2.20"), podBIP)))
			},
			"node eth1",
			"note ipvlan l2 eth1: 10.0.1.11 ⇒ on default/b/eth0: handed to the slave, not to the stack of node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIPVlanFixture(t)
			f.env.Trace.Hops = true
			tt.send(f)
			f.s.Run()
			var notes []string
			for _, h := range f.env.Trace.HopList() {
				if h.Kind == trace.KindNote {
					notes = append(notes, h.Node+" "+h.Device+": "+trace.HopText(h))
				}
			}
			require.Len(t, notes, 1, strings.Join(notes, "\n"))
			assert.Equal(t, tt.where+": "+tt.text, notes[0])
		})
	}
}

// freeing is a receiver that frees what it gets, for allocation tests.
type freeing struct{ n int }

func (r *freeing) Receive(_ *link.Device, pkt *packet.Buffer) { r.n++; pkt.Free() }

func TestIPVlanForwardingAllocatesNothing(t *testing.T) {
	f := newIPVlanFixture(t)
	rx := map[string]*freeing{}
	for _, d := range []struct {
		name string
		dev  *link.Device
	}{{"a", f.a.Dev}, {"b", f.b.Dev}, {"ipvl", f.hostSl.Dev}, {"wire", f.vpc}, {"host", f.eth1}} {
		rx[d.name] = &freeing{}
		if d.dev == f.eth1 {
			// The parent's stack is behind the port: re-attaching makes
			// the next AddSlave take it as the pass target.
			d.dev.SetReceiver(rx[d.name])
			_, err := f.port.AddSlave("default/z", "eth0", 0)
			require.NoError(t, err)
			continue
		}
		d.dev.SetReceiver(rx[d.name])
	}
	outside := netip.MustParseAddr("10.0.2.20")
	paths := []struct {
		name  string
		from  *link.Device
		frame []byte
		to    string
	}{
		{"slave to slave", f.a.Dev, ipFrame(eniMAC, eniMAC, podAIP, podBIP), "b"},
		{"slave to the VPC", f.a.Dev, ipFrame(gwMAC, eniMAC, podAIP, outside), "wire"},
		{"slave to a Service (tc redirect)", f.a.Dev, ipFrame(gwMAC, eniMAC, podAIP, netip.MustParseAddr("192.168.5.5")), "ipvl"},
		{"VPC to a slave", f.vpc, ipFrame(eniMAC, gwMAC, outside, podBIP), "b"},
		{"VPC to nobody's address", f.vpc, ipFrame(eniMAC, gwMAC, outside, netip.MustParseAddr("10.0.1.99")), "host"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			send := func() {
				pkt := f.env.Pool.Get(len(p.frame))
				copy(pkt.Append(len(p.frame)), p.frame)
				p.from.Transmit(pkt)
				f.s.Run()
			}
			for range 8 {
				send() // warm the pool and the scheduler's queues
			}
			before := rx[p.to].n
			allocs := testing.AllocsPerRun(200, send)
			assert.Zero(t, allocs)
			assert.Equal(t, before+201, rx[p.to].n, "every packet arrived where it should")
			assert.Empty(t, f.env.Trace.DropList())
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}
