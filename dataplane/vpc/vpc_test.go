package vpc_test

import (
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/dataplane/vpc"
)

func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

const latency = 50 * time.Microsecond

func TestGatewayOf(t *testing.T) {
	tests := []struct {
		cidr, want string
	}{
		{"192.168.0.0/24", "192.168.0.253"},
		{"192.168.16.0/20", "192.168.31.253"},
		{"10.0.0.0/20", "10.0.15.253"},
		{"172.16.4.0/29", "172.16.4.5"},
		{"192.168.0.8/29", "192.168.0.13"},
		{"10.1.0.0/16", "10.1.255.253"},
		// A non-canonical prefix is masked first.
		{"192.168.1.77/24", "192.168.1.253"},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			assert.Equal(t, ip(tt.want), vpc.GatewayOf(pfx(tt.cidr)))
		})
	}
}

func TestIDIsStableAndShaped(t *testing.T) {
	re := regexp.MustCompile(`^vsw-[0-9a-z]{20}$`)
	a := vpc.ID("vsw", "vsw-hangzhou-h")
	assert.Regexp(t, re, a)
	assert.Equal(t, a, vpc.ID("vsw", "vsw-hangzhou-h"), "the same name gives the same ID")
	assert.NotEqual(t, a, vpc.ID("vsw", "vsw-hangzhou-i"))
	assert.NotEqual(t, a[4:], vpc.ID("vtb", "vsw-hangzhou-h")[4:], "the prefix is part of the hash")
}

func newVPC(t *testing.T, quota int) (*link.Env, *linktest.Sched, *vpc.VPC) {
	t.Helper()
	env, s := linktest.NewEnv()
	return env, s, vpc.New(env, "vpc-test", pfx("192.168.0.0/16"), latency, quota)
}

func TestNewDefaults(t *testing.T) {
	_, _, v := newVPC(t, 0)
	assert.Equal(t, vpc.DefaultRouteQuota, v.Quota, "quota 0 means the default 200")
	assert.Equal(t, 200, v.Quota)
	assert.Equal(t, vpc.ID("vpc", "vpc-test"), v.ID)
	assert.Equal(t, vpc.ID("vtb", "vpc-test"), v.RouteTableID)
	assert.Empty(t, v.Routes())
	assert.Zero(t, v.CustomRoutes())
}

func TestAddVSwitch(t *testing.T) {
	tests := []struct {
		name, cidr string
		wantErr    string
	}{
		{name: "inside", cidr: "192.168.3.0/24"},
		{name: "the whole VPC", cidr: "192.168.0.0/16"},
		{name: "outside", cidr: "10.0.0.0/24", wantErr: `vpc "vpc-test": vSwitch "sw": 10.0.0.0/24 is not inside the VPC CIDR 192.168.0.0/16`},
		{name: "larger than the VPC", cidr: "192.168.0.0/15", wantErr: "is not inside the VPC CIDR 192.168.0.0/16"},
		{name: "partly outside", cidr: "192.169.0.0/24", wantErr: "is not inside the VPC CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, v := newVPC(t, 0)
			sw, err := v.AddVSwitch("sw", "cn-hangzhou-h", pfx(tt.cidr))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Nil(t, sw)
				assert.Empty(t, v.VSwitches(), "nothing is added")
				assert.Empty(t, v.Routes(), "no system entry either")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "sw", sw.Name)
			assert.Equal(t, "cn-hangzhou-h", sw.Zone)
			assert.Equal(t, vpc.ID("vsw", "sw"), sw.ID)
			assert.Equal(t, vpc.GatewayOf(pfx(tt.cidr)), sw.Gateway)
			require.Len(t, v.Routes(), 1)
			e := v.Routes()[0]
			assert.Equal(t, vpc.System, e.Type)
			assert.Equal(t, pfx(tt.cidr), e.Destination)
			assert.Same(t, sw, e.VSwitch)
			assert.Equal(t, tt.cidr+" → local (system route of vSwitch sw)", e.String())
			assert.Zero(t, v.CustomRoutes(), "system entries do not count against the quota")
			assert.Same(t, sw, v.VSwitchOf(vpc.GatewayOf(pfx(tt.cidr))))
		})
	}
}

func TestVSwitchOf(t *testing.T) {
	_, _, v := newVPC(t, 0)
	a, err := v.AddVSwitch("a", "z", pfx("192.168.0.0/24"))
	require.NoError(t, err)
	b, err := v.AddVSwitch("b", "z", pfx("192.168.16.0/20"))
	require.NoError(t, err)
	assert.Same(t, a, v.VSwitchOf(ip("192.168.0.1")))
	assert.Same(t, b, v.VSwitchOf(ip("192.168.31.200")))
	assert.Nil(t, v.VSwitchOf(ip("192.168.1.1")))
	assert.Equal(t, []*vpc.VSwitch{a, b}, v.VSwitches())
}

func nic(env *link.Env, name string, n byte) *link.Device {
	return link.NewDevice(env, name, "eth0", "device", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, n}, nil)
}

func TestAttach(t *testing.T) {
	env, _, v := newVPC(t, 0)
	a, err := v.AddVSwitch("a", "z", pfx("192.168.0.0/24"))
	require.NoError(t, err)

	d1 := nic(env, "ecs-1", 1)
	e1, err := v.Attach("ecs-1", a, d1, ip("192.168.0.10"))
	require.NoError(t, err)
	assert.Equal(t, "ecs-1", e1.Instance)
	assert.Equal(t, d1.MAC, e1.MAC)
	assert.Equal(t, ip("192.168.0.10"), e1.Primary)
	assert.Same(t, a, e1.VSwitch)
	assert.Same(t, d1, e1.Dev)
	assert.Equal(t, vpc.ID("eni", "ecs-1/eth0"), e1.ID)

	tests := []struct {
		name, instance, addr string
		wantErr              string
	}{
		{"duplicate IP", "ecs-2", "192.168.0.10", `vpc "vpc-test": ENI of ecs-2: 192.168.0.10 is already used by ecs-1`},
		{"outside the vSwitch", "ecs-2", "192.168.1.10", `vpc "vpc-test": ENI of ecs-2: 192.168.1.10 is outside vSwitch a (192.168.0.0/24)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := v.Attach(tt.instance, a, nic(env, tt.instance, 2), ip(tt.addr))
			require.Error(t, err)
			assert.Equal(t, tt.wantErr, err.Error())
			assert.Nil(t, e)
		})
	}
	assert.Equal(t, []*vpc.ENI{e1}, v.ENIs(), "failed attachments leave nothing behind")

	// Secondary addresses follow the same rules.
	require.NoError(t, v.AddSecondaryIP(e1, ip("192.168.0.20")))
	assert.Equal(t, []netip.Addr{ip("192.168.0.20")}, e1.Secondary)
	err = v.AddSecondaryIP(e1, ip("192.168.0.10"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "192.168.0.10 is already used by ecs-1")
	err = v.AddSecondaryIP(e1, ip("192.168.7.1"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is outside vSwitch 192.168.0.0/24")
	_, err = v.Attach("ecs-3", a, nic(env, "ecs-3", 3), ip("192.168.0.20"))
	require.Error(t, err, "a secondary address is taken too")
}

// routeVPC is a VPC with one vSwitch and two instances, for route table tests.
func routeVPC(t *testing.T, quota int) *vpc.VPC {
	t.Helper()
	env, _, v := newVPC(t, quota)
	a, err := v.AddVSwitch("a", "z", pfx("192.168.0.0/24"))
	require.NoError(t, err)
	_, err = v.Attach("node-1", a, nic(env, "node-1", 1), ip("192.168.0.10"))
	require.NoError(t, err)
	_, err = v.Attach("node-2", a, nic(env, "node-2", 2), ip("192.168.0.11"))
	require.NoError(t, err)
	return v
}

func TestAddRoute(t *testing.T) {
	v := routeVPC(t, 2)
	e, err := v.AddRoute(pfx("172.20.1.0/24"), "node-2", "flannel ali-vpc route for node-2")
	require.NoError(t, err)
	assert.Equal(t, vpc.Custom, e.Type)
	assert.Equal(t, "node-2", e.NextHop)
	assert.Nil(t, e.VSwitch)
	assert.Equal(t, vpc.ID("rte", "172.20.1.0/24"), e.ID)
	assert.Equal(t, "172.20.1.0/24 → ECS instance node-2 ("+e.ID+", custom) [flannel ali-vpc route for node-2]", e.String())
	assert.Equal(t, 1, v.CustomRoutes())

	tests := []struct {
		name, dst, hop string
		want           []string
	}{
		{name: "next hop is not an instance", dst: "172.20.5.0/24", hop: "node-9",
			want: []string{`route entry 172.20.5.0/24: next hop "node-9" is not an ECS instance in this VPC`}},
		{name: "same destination", dst: "172.20.1.0/24", hop: "node-1",
			want: []string{"route entry 172.20.1.0/24: InvalidCIDRBlock.Duplicate: the route entry already exists", "conflicts with existing entry 172.20.1.0/24 → ECS instance node-2"}},
		{name: "a vSwitch CIDR", dst: "192.168.0.0/24", hop: "node-1",
			want: []string{"conflicts with existing entry 192.168.0.0/24 → local (system route of vSwitch a)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.AddRoute(pfx(tt.dst), tt.hop, "")
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, 1, v.CustomRoutes())
		})
	}

	_, err = v.AddRoute(pfx("172.20.0.0/24"), "node-1", "")
	require.NoError(t, err)
	assert.Equal(t, 2, v.CustomRoutes())

	t.Run("quota exceeded", func(t *testing.T) {
		_, err := v.AddRoute(pfx("172.20.2.0/24"), "node-1", "")
		require.Error(t, err)
		msg := err.Error()
		assert.Contains(t, msg, "QuotaExceeded.RouteEntry", "names the quota as the API does")
		assert.Contains(t, msg, "route table "+v.RouteTableID, "names the route table")
		assert.Contains(t, msg, "already has 2 custom route entries, the quota")
		assert.Contains(t, msg, "vpc.routeQuota", "says how to raise it")
		assert.Contains(t, msg, "172.20.2.0/24 → node-1")
		assert.Equal(t, 2, v.CustomRoutes())
	})

	var dsts []string
	for _, e := range v.Routes() {
		dsts = append(dsts, e.Destination.String())
	}
	assert.Equal(t, []string{"172.20.0.0/24", "172.20.1.0/24", "192.168.0.0/24"}, dsts, "sorted by destination")
}

func TestRouteOrderSameAddress(t *testing.T) {
	v := routeVPC(t, 0)
	_, err := v.AddRoute(pfx("172.20.0.0/24"), "node-1", "")
	require.NoError(t, err)
	_, err = v.AddRoute(pfx("172.20.0.0/16"), "node-2", "")
	require.NoError(t, err)
	var dsts []string
	for _, e := range v.Routes() {
		dsts = append(dsts, e.Destination.String())
	}
	assert.Equal(t, []string{"172.20.0.0/16", "172.20.0.0/24", "192.168.0.0/24"}, dsts, "shorter prefix first at the same address")
}

func TestDeleteRoute(t *testing.T) {
	v := routeVPC(t, 1)
	added, err := v.AddRoute(pfx("172.20.1.0/24"), "node-2", "")
	require.NoError(t, err)

	tests := []struct {
		name, dst string
		wantErr   string
	}{
		{"system entry", "192.168.0.0/24", `vpc "vpc-test": 192.168.0.0/24 is a system route entry and cannot be deleted`},
		{"no entry", "172.20.9.0/24", `vpc "vpc-test": no route entry for 172.20.9.0/24 in ` + v.RouteTableID},
		{"a covering prefix is not the entry", "172.20.0.0/16", "no route entry for 172.20.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := v.DeleteRoute(pfx(tt.dst))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Nil(t, e)
			assert.Len(t, v.Routes(), 2)
		})
	}

	e, err := v.DeleteRoute(pfx("172.20.1.0/24"))
	require.NoError(t, err)
	assert.Same(t, added, e)
	assert.Zero(t, v.CustomRoutes())
	assert.Len(t, v.Routes(), 1)
	_, err = v.DeleteRoute(pfx("172.20.1.0/24"))
	assert.Error(t, err, "deleted twice")

	// The quota is freed.
	_, err = v.AddRoute(pfx("172.20.2.0/24"), "node-1", "")
	assert.NoError(t, err)
}

// TestDeleteAndRecreateRoute: an entry deleted can be created again (a
// new entry, with a new ID) and is then no longer listed as deleted;
// creating one that exists is InvalidCIDRBlock.Duplicate.
func TestDeleteAndRecreateRoute(t *testing.T) {
	v := routeVPC(t, 5)
	first, err := v.AddRoute(pfx("172.20.1.0/24"), "node-2", "")
	require.NoError(t, err)
	_, err = v.AddRoute(pfx("172.20.2.0/24"), "node-1", "")
	require.NoError(t, err)

	steps := []struct {
		name    string
		del     bool
		dst     string
		hop     string
		wantErr []string
		deleted []string
	}{
		{name: "delete", del: true, dst: "172.20.1.0/24", deleted: []string{"172.20.1.0/24"}},
		{name: "delete again", del: true, dst: "172.20.1.0/24", wantErr: []string{"no route entry for 172.20.1.0/24", "(the entry 172.20.1.0/24 → node-2 (" + first.ID + ") was already deleted)"},
			deleted: []string{"172.20.1.0/24"}},
		{name: "delete another", del: true, dst: "172.20.2.0/24", deleted: []string{"172.20.1.0/24", "172.20.2.0/24"}},
		{name: "re-create", dst: "172.20.1.0/24", hop: "node-2", deleted: []string{"172.20.2.0/24"}},
		{name: "create a duplicate", dst: "172.20.1.0/24", hop: "node-1",
			wantErr: []string{"InvalidCIDRBlock.Duplicate: the route entry already exists in " + v.RouteTableID, "conflicts with existing entry 172.20.1.0/24 → ECS instance node-2"},
			deleted: []string{"172.20.2.0/24"}},
		{name: "re-create the other one", dst: "172.20.2.0/24", hop: "node-1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var err error
			if st.del {
				_, err = v.DeleteRoute(pfx(st.dst))
			} else {
				_, err = v.AddRoute(pfx(st.dst), st.hop, "")
			}
			if len(st.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range st.wantErr {
					assert.Contains(t, err.Error(), w)
				}
			} else {
				require.NoError(t, err)
			}
			var got []string
			for _, e := range v.Deleted() {
				got = append(got, e.Destination.String())
			}
			assert.Equal(t, st.deleted, got)
		})
	}
	var again *vpc.RouteEntry
	for _, e := range v.Routes() {
		if e.Destination == pfx("172.20.1.0/24") {
			again = e
		}
	}
	require.NotNil(t, again)
	assert.NotEqual(t, first.ID, again.ID, "a re-created entry is a new entry")
	assert.Equal(t, vpc.ID("rte", "172.20.1.0/24#1"), again.ID)
	assert.Equal(t, 2, v.CustomRoutes())
	assert.Equal(t, "i-", vpc.InstanceID("node-2")[:2])
}

// fabric is a VPC with two vSwitches and three ECS NICs whose received
// frames land in sinks:
//
//	vsw-a 192.168.0.0/24: a1 .10, a2 .11
//	vsw-b 192.168.1.0/24: b1 .11 (secondary .20)
//
// plus custom entries 172.20.1.0/24 → b1 and 172.20.3.0/24 → b1 (deleted).
type fabric struct {
	env   *link.Env
	s     *linktest.Sched
	v     *vpc.VPC
	a, b  *vpc.VSwitch
	devs  map[string]*link.Device
	sinks map[string]*linktest.Sink
	enis  map[string]*vpc.ENI
}

func newFabric(t *testing.T) *fabric {
	t.Helper()
	env, s, v := newVPC(t, 0)
	f := &fabric{env: env, s: s, v: v, devs: map[string]*link.Device{}, sinks: map[string]*linktest.Sink{}, enis: map[string]*vpc.ENI{}}
	var err error
	f.a, err = v.AddVSwitch("vsw-a", "cn-hangzhou-h", pfx("192.168.0.0/24"))
	require.NoError(t, err)
	f.b, err = v.AddVSwitch("vsw-b", "cn-hangzhou-i", pfx("192.168.1.0/24"))
	require.NoError(t, err)
	for i, h := range []struct {
		name string
		sw   *vpc.VSwitch
		addr string
	}{{"a1", f.a, "192.168.0.10"}, {"a2", f.a, "192.168.0.11"}, {"b1", f.b, "192.168.1.11"}} {
		d := nic(env, h.name, byte(i+1))
		sink := &linktest.Sink{Clock: s.Now}
		d.SetReceiver(sink)
		e, err := v.Attach(h.name, h.sw, d, ip(h.addr))
		require.NoError(t, err)
		f.devs[h.name], f.sinks[h.name], f.enis[h.name] = d, sink, e
	}
	require.NoError(t, v.AddSecondaryIP(f.enis["b1"], ip("192.168.1.20")))
	_, err = v.AddRoute(pfx("172.20.1.0/24"), "b1", "")
	require.NoError(t, err)
	_, err = v.AddRoute(pfx("172.20.3.0/24"), "b1", "")
	require.NoError(t, err)
	_, err = v.DeleteRoute(pfx("172.20.3.0/24"))
	require.NoError(t, err)
	return f
}

func arpRequest(sha packet.MAC, spa, tpa netip.Addr) []byte {
	b := make([]byte, packet.EthHeaderLen+packet.ARPLen)
	packet.Ethernet(b).Set(packet.Broadcast, sha, packet.EtherTypeARP)
	packet.ARP(b[packet.EthHeaderLen:]).Set(packet.ARPRequest, sha, spa, packet.MAC{}, tpa)
	return b
}

// ipFrame is an Ethernet frame to the gateway MAC carrying a UDP datagram
// with a valid checksum.
func ipFrame(src packet.MAC, from, to netip.Addr, ttl uint8) []byte {
	const payload = 32
	b := make([]byte, packet.EthHeaderLen+packet.IPv4HeaderLen+packet.UDPHeaderLen+payload)
	packet.Ethernet(b).Set(vpc.GatewayMAC, src, packet.EtherTypeIPv4)
	ipb := packet.IPv4(b[packet.EthHeaderLen:])
	ipb.SetHeader(packet.IPv4Fields{TotalLen: len(ipb), ID: 0x1234, Flags: packet.FlagDF, TTL: ttl, Protocol: packet.ProtoUDP, Src: from, Dst: to})
	u := packet.UDP(ipb[packet.IPv4HeaderLen:])
	u.SetPorts(40000, 7)
	u.SetLength(packet.UDPHeaderLen + payload)
	for i := range payload {
		u[packet.UDPHeaderLen+i] = byte(i)
	}
	packet.SetTransportChecksum(u, from, to, packet.ProtoUDP)
	return b
}

func TestReceiveARP(t *testing.T) {
	tests := []struct {
		name   string
		target string
		answer bool
	}{
		{"gateway", "192.168.0.253", true},
		{"ENI in the same vSwitch", "192.168.0.11", true},
		{"own address", "192.168.0.10", true},
		{"unowned address in the vSwitch", "192.168.0.99", false},
		{"ENI in another vSwitch", "192.168.1.11", false},
		{"the other vSwitch's gateway", "192.168.1.253", false},
		{"outside the VPC", "8.8.8.8", false},
		{"pod address", "172.20.1.2", false},
		{"intranet SLB in the same vSwitch", "192.168.0.200", true},
		{"intranet SLB in another vSwitch", "192.168.1.200", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFabric(t)
			for _, a := range []string{"192.168.0.200", "192.168.1.200"} {
				require.NoError(t, f.v.AddSLB(vpc.NewSLB("lb-"+a, ip(a), "intranet")))
			}
			a1 := f.devs["a1"]
			req := arpRequest(a1.MAC, ip("192.168.0.10"), ip(tt.target))
			a1.Transmit(f.env.Pool.From(req))
			f.s.Run()

			for _, other := range []string{"a2", "b1"} {
				assert.Empty(t, f.sinks[other].Frames, "the vSwitch answers itself, it does not flood ARP to %s", other)
			}
			assert.Empty(t, f.env.Trace.DropList())
			assert.Zero(t, f.env.Pool.Out, "no buffer leaks")
			if !tt.answer {
				assert.Empty(t, f.sinks["a1"].Frames, "no answer")
				return
			}
			require.Len(t, f.sinks["a1"].Frames, 1)
			got := f.sinks["a1"].Frames[0]
			assert.Equal(t, 2*latency, got.Time, "one crossing each way")

			pkt := gopacket.NewPacket(got.Data, layers.LayerTypeEthernet, gopacket.Default)
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			assert.Equal(t, a1.MAC[:], []byte(eth.DstMAC))
			assert.Equal(t, "ee:ff:ff:ff:ff:ff", eth.SrcMAC.String())
			arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
			require.True(t, ok, "an ARP reply")
			assert.Equal(t, uint16(layers.ARPReply), arp.Operation)
			assert.Equal(t, "ee:ff:ff:ff:ff:ff", packet.MAC(arp.SourceHwAddress).String())
			assert.Equal(t, ip(tt.target).AsSlice(), arp.SourceProtAddress)
			assert.Equal(t, a1.MAC[:], arp.DstHwAddress)
			assert.Equal(t, ip("192.168.0.10").AsSlice(), arp.DstProtAddress)
		})
	}
}

func TestReceiveARPReplyIgnored(t *testing.T) {
	f := newFabric(t)
	a1 := f.devs["a1"]
	b := arpRequest(a1.MAC, ip("192.168.0.10"), ip("192.168.0.253"))
	packet.ARP(b[packet.EthHeaderLen:]).Set(packet.ARPReply, a1.MAC, ip("192.168.0.10"), vpc.GatewayMAC, ip("192.168.0.253"))
	a1.Transmit(f.env.Pool.From(b))
	f.s.Run()
	for _, s := range f.sinks {
		assert.Empty(t, s.Frames)
	}
	assert.Zero(t, f.env.Pool.Out)
}

func TestReceiveIPv4(t *testing.T) {
	tests := []struct {
		name     string
		from     string // sending instance
		dst      string
		to       string // receiving instance; "" for a drop
		reason   trace.Reason
		detail   []string
		noDetail []string
	}{
		{name: "ENI in another vSwitch", from: "a1", dst: "192.168.1.11", to: "b1"},
		{name: "ENI in the same vSwitch", from: "a1", dst: "192.168.0.11", to: "a2"},
		{name: "secondary address", from: "a1", dst: "192.168.1.20", to: "b1"},
		{name: "the other way", from: "b1", dst: "192.168.0.10", to: "a1"},
		{name: "custom entry", from: "a1", dst: "172.20.1.7", to: "b1"},
		{name: "custom entry back to the sender's vSwitch", from: "a2", dst: "172.20.1.7", to: "b1"},
		{name: "unowned vSwitch address", from: "a1", dst: "192.168.1.99", reason: trace.ReasonVPCNoENI,
			detail: []string{"192.168.1.99 is in vSwitch vsw-b (192.168.1.0/24) but no ENI owns it"}},
		{name: "gateway address is not an ENI", from: "a1", dst: "192.168.0.253", reason: trace.ReasonVPCNoENI},
		{name: "no entry", from: "a1", dst: "172.20.2.7", reason: trace.ReasonVPCNoRoute,
			detail:   []string{"has no entry for 172.20.2.7", "192.168.0.0/24 192.168.1.0/24", "1 custom entries"},
			noDetail: []string{"was deleted"}},
		{name: "deleted entry", from: "a1", dst: "172.20.3.7", reason: trace.ReasonVPCNoRoute,
			detail: []string{"has no entry for 172.20.3.7", "the entry 172.20.3.0/24 → b1 (" + vpc.ID("rte", "172.20.3.0/24") + ") was deleted"}},
		{name: "the Internet without a NAT gateway or EIP", from: "b1", dst: "8.8.8.8", reason: trace.ReasonVPCNoInternet,
			detail:   []string{"no 0.0.0.0/0 entry pointing at a NAT gateway", "b1 (192.168.1.11) has no EIP", "SNAT entry for vSwitch vsw-b, or an EIP associated with b1"},
			noDetail: []string{"deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFabric(t)
			src := f.devs[tt.from]
			frame := ipFrame(src.MAC, f.enis[tt.from].Primary, ip(tt.dst), 61)
			pkt := f.env.Pool.From(frame)
			pkt.ID, pkt.Flow, pkt.Mark = 9, 4, 0x4000
			src.Transmit(pkt)
			f.s.Run()
			assert.Zero(t, f.env.Pool.Out, "no buffer leaks")

			if tt.to == "" {
				for name, s := range f.sinks {
					assert.Empty(t, s.Frames, "nothing reaches %s", name)
				}
				drops := f.env.Trace.DropList()
				require.Len(t, drops, 1)
				d := drops[0]
				assert.Equal(t, tt.reason, d.Reason)
				assert.Equal(t, "vpc", d.Node)
				assert.Equal(t, f.enis[tt.from].VSwitch.Name, d.Device, "the drop is at the sender's vSwitch")
				assert.Equal(t, uint64(9), d.Packet)
				assert.Equal(t, int32(4), d.Flow)
				assert.Equal(t, latency, d.Time)
				for _, w := range tt.detail {
					assert.Contains(t, d.Detail, w)
				}
				for _, w := range tt.noDetail {
					assert.NotContains(t, d.Detail, w)
				}
				if tt.reason == trace.ReasonVPCNoRoute {
					assert.Contains(t, d.Detail, "route table "+f.v.RouteTableID+" of vpc-test")
				}
				return
			}

			assert.Empty(t, f.env.Trace.DropList())
			for name, s := range f.sinks {
				if name != tt.to {
					assert.Empty(t, s.Frames, "nothing reaches %s", name)
				}
			}
			require.Len(t, f.sinks[tt.to].Frames, 1)
			got := f.sinks[tt.to].Frames[0]
			assert.Equal(t, latency, got.Time, "one underlay crossing")
			assert.Equal(t, uint64(9), got.ID, "the trace identity survives")
			assert.Zero(t, got.Mark, "the mark is scrubbed leaving the instance")

			eth := packet.Ethernet(got.Data)
			assert.Equal(t, vpc.GatewayMAC, eth.Src(), "eth src is the gateway MAC")
			assert.Equal(t, f.devs[tt.to].MAC, eth.Dst(), "eth dst is the ENI's MAC")
			assert.Equal(t, uint16(packet.EtherTypeIPv4), eth.Type())
			assert.Equal(t, frame[packet.EthHeaderLen:], got.Data[packet.EthHeaderLen:], "the IP packet is untouched: TTL and checksum unchanged")
			ipb := packet.IPv4(got.Data[packet.EthHeaderLen:])
			assert.Equal(t, uint8(61), ipb.TTL(), "the vRouter does not decrement TTL")
			assert.True(t, ipb.ChecksumOK())

			pk := gopacket.NewPacket(got.Data, layers.LayerTypeEthernet, gopacket.Default)
			require.Nil(t, pk.ErrorLayer())
			udp, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			require.True(t, ok)
			assert.Equal(t, layers.UDPPort(7), udp.DstPort)
		})
	}
}

func TestReceiveTraceHop(t *testing.T) {
	f := newFabric(t)
	f.env.Trace.Hops = true
	a1 := f.devs["a1"]
	a1.Transmit(f.env.Pool.From(ipFrame(a1.MAC, ip("192.168.0.10"), ip("172.20.1.7"), 64)))
	f.s.Run()
	var vh []trace.Hop
	for _, h := range f.env.Trace.HopList() {
		if h.Kind == trace.KindVPC {
			vh = append(vh, h)
		}
	}
	require.Len(t, vh, 1)
	h := vh[0]
	assert.Equal(t, "vpc", h.Node)
	assert.Equal(t, "vsw-a", h.Device)
	assert.Equal(t, "route table "+f.v.RouteTableID+": 172.20.1.7 (from a1 "+f.enis["a1"].ID+")", h.Lookup)
	assert.Equal(t, f.v.Routes()[0].String(), h.Match)
	assert.Equal(t, "to b1 "+f.enis["b1"].ID+" (192.168.1.11) in vSwitch vsw-b; eth ee:ff:ff:ff:ff:ff > "+f.devs["b1"].MAC.String(), h.Change)
}

func TestReceiveMalformed(t *testing.T) {
	tests := []struct {
		name   string
		frame  func(src packet.MAC) []byte
		detail string
	}{
		{"IPv6 EtherType", func(src packet.MAC) []byte {
			b := make([]byte, 60)
			packet.Ethernet(b).Set(vpc.GatewayMAC, src, 0x86dd)
			return b
		}, "EtherType 0x86dd is not forwarded by the VPC"},
		{"truncated IPv4", func(src packet.MAC) []byte {
			b := ipFrame(src, ip("192.168.0.10"), ip("192.168.1.11"), 64)
			return b[:packet.EthHeaderLen+10]
		}, "bad IPv4 header"},
		{"runt frame", func(src packet.MAC) []byte { return make([]byte, 8) }, "8-byte frame is shorter than an Ethernet header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFabric(t)
			a1 := f.devs["a1"]
			a1.Transmit(f.env.Pool.From(tt.frame(a1.MAC)))
			f.s.Run()
			assert.Equal(t, []trace.Reason{trace.ReasonMalformed}, linktest.Drops(f.env))
			assert.Equal(t, tt.detail, f.env.Trace.DropList()[0].Detail)
			assert.Equal(t, "vsw-a", f.env.Trace.DropList()[0].Device)
			for _, s := range f.sinks {
				assert.Empty(t, s.Frames)
			}
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

func TestReceiveFromUnknownPort(t *testing.T) {
	f := newFabric(t)
	stray := nic(f.env, "stray", 9)
	f.v.Receive(stray, f.env.Pool.From(ipFrame(stray.MAC, ip("192.168.0.50"), ip("192.168.1.11"), 64)))
	f.s.Run()
	assert.Equal(t, []trace.Reason{trace.ReasonMalformed}, linktest.Drops(f.env))
	assert.Equal(t, "frame from an unknown port", f.env.Trace.DropList()[0].Detail)
	assert.Empty(t, f.sinks["b1"].Frames)
	assert.Zero(t, f.env.Pool.Out)
}

func TestReceiveTraceSaysASecondaryIPNeedsNoRouteEntry(t *testing.T) {
	f := newFabric(t)
	f.env.Trace.Hops = true
	a1 := f.devs["a1"]
	a1.Transmit(f.env.Pool.From(ipFrame(a1.MAC, ip("192.168.0.10"), ip("192.168.1.20"), 64)))
	f.s.Run()
	var change string
	for _, h := range f.env.Trace.HopList() {
		if h.Kind == trace.KindVPC {
			change = h.Change
		}
	}
	assert.Equal(t, "to b1 "+f.enis["b1"].ID+" ("+f.devs["b1"].Name+"): 192.168.1.20 is a private IP of that ENI, so the vSwitch delivers it with no route entry; eth ee:ff:ff:ff:ff:ff > "+f.devs["b1"].MAC.String(), change)
	require.Len(t, f.sinks["b1"].Frames, 1, "delivered to the ENI owning the secondary IP")
}
