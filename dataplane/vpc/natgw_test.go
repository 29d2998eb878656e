package vpc_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/dataplane/vpc"
)

// natFabric is the fabric of vpc_test.go plus Internet egress:
//
//	b2 192.168.1.12 in vsw-b (no EIP, no SNAT entry for vsw-b)
//	the Internet client "inet" at 203.0.113.10
//	NAT gateway ngw in vsw-a at 192.168.0.200, EIPs 192.0.2.10 and .11;
//	  SNAT: vSwitch vsw-a → .10, instance a2 → .11, CIDR 172.20.0.0/16 → .11
//	EIP 192.0.2.50 associated with b1
type natFabric struct {
	*fabric
	ngw *vpc.NATGateway
}

const (
	eipA   = "192.0.2.10"
	eipB   = "192.0.2.11"
	eipB1  = "192.0.2.50"
	inetIP = "203.0.113.10"
)

func newNATFabric(t *testing.T, seed uint64) *natFabric {
	t.Helper()
	f := newFabric(t)
	for i, h := range []struct{ name, sw, addr string }{{"b2", "b", "192.168.1.12"}} {
		d := nic(f.env, h.name, byte(10+i))
		sink := &linktest.Sink{Clock: f.s.Now}
		d.SetReceiver(sink)
		e, err := f.v.Attach(h.name, f.b, d, ip(h.addr))
		require.NoError(t, err)
		f.devs[h.name], f.sinks[h.name], f.enis[h.name] = d, sink, e
	}
	d := nic(f.env, "inet", 99)
	sink := &linktest.Sink{Clock: f.s.Now}
	d.SetReceiver(sink)
	e, err := f.v.AttachInternet("inet", d, ip(inetIP))
	require.NoError(t, err)
	f.devs["inet"], f.sinks["inet"], f.enis["inet"] = d, sink, e

	g, err := f.v.AddNATGateway("ngw", f.a, ip("192.168.0.200"), []netip.Addr{ip(eipA), ip(eipB)}, seed)
	require.NoError(t, err)
	_, err = g.AddSNATEntry(vpc.SNATVSwitch, "vsw-a", f.a.CIDR, ip(eipA))
	require.NoError(t, err)
	_, err = g.AddSNATEntry(vpc.SNATInstance, "a2", pfx("192.168.0.11/32"), ip(eipB))
	require.NoError(t, err)
	_, err = g.AddSNATEntry(vpc.SNATCIDR, "", pfx("172.20.0.0/16"), ip(eipB))
	require.NoError(t, err)
	_, err = f.v.AssociateEIP(ip(eipB1), "b1")
	require.NoError(t, err)
	return &natFabric{fabric: f, ngw: g}
}

// udpFrame is a UDP datagram from src to dst with a valid checksum.
func udpFrame(mac packet.MAC, src, dst netip.AddrPort) []byte {
	b := ipFrame(mac, src.Addr(), dst.Addr(), 64)
	ipb := packet.IPv4(b[packet.EthHeaderLen:])
	u := packet.UDP(ipb[packet.IPv4HeaderLen:])
	u.SetPorts(src.Port(), dst.Port())
	packet.SetTransportChecksum(u, src.Addr(), dst.Addr(), packet.ProtoUDP)
	return b
}

// echoFrame is an ICMP echo request (or reply) with identifier id.
func echoFrame(mac packet.MAC, src, dst netip.Addr, typ uint8, id uint16) []byte {
	b := make([]byte, packet.EthHeaderLen+packet.IPv4HeaderLen+8+16)
	packet.Ethernet(b).Set(vpc.GatewayMAC, mac, packet.EtherTypeIPv4)
	ipb := packet.IPv4(b[packet.EthHeaderLen:])
	ipb.SetHeader(packet.IPv4Fields{TotalLen: len(ipb), TTL: 64, Protocol: packet.ProtoICMP, Src: src, Dst: dst})
	c := packet.ICMP(ipb[packet.IPv4HeaderLen:])
	c[0], c[1] = typ, 0
	binary.BigEndian.PutUint16(c[4:6], id)
	binary.BigEndian.PutUint16(c[6:8], 1)
	for i := range 16 {
		c[8+i] = byte(i)
	}
	c.SetChecksum()
	return b
}

// send transmits frame from the named device and runs the loop.
func (f *natFabric) send(from string, frame []byte) {
	pkt := f.env.Pool.From(frame)
	pkt.ID, pkt.Flow = f.env.NewID(), 1
	f.devs[from].Transmit(pkt)
	f.s.Run()
}

// only returns the one frame that reached name, after checking that
// nothing else arrived anywhere and no buffer leaked.
func (f *natFabric) only(t *testing.T, name string) packet.IPv4 {
	t.Helper()
	assert.Zero(t, f.env.Pool.Out, "no buffer leaks")
	for n, s := range f.sinks {
		if n != name {
			assert.Empty(t, s.Frames, "nothing reaches %s", n)
		}
	}
	require.Len(t, f.sinks[name].Frames, 1, "one frame reaches %s (drops: %v)", name, f.env.Trace.DropList())
	ipb := packet.IPv4(f.sinks[name].Frames[0].Data[packet.EthHeaderLen:])
	assert.True(t, ipb.ChecksumOK(), "IPv4 header checksum")
	seg := ipb[ipb.HeaderLen():ipb.TotalLen()]
	if ipb.IsFragment() {
		// A fragment's transport checksum covers the whole datagram.
		f.sinks[name].Reset()
		return ipb
	}
	switch ipb.Protocol() {
	case packet.ProtoUDP, packet.ProtoTCP:
		assert.True(t, packet.TransportChecksumOK(seg, ipb.Src(), ipb.Dst(), ipb.Protocol()), "transport checksum")
	case packet.ProtoICMP:
		assert.Zero(t, packet.Checksum(seg, 0), "ICMP checksum")
	}
	f.sinks[name].Reset()
	return ipb
}

func (f *natFabric) dropped(t *testing.T) trace.Drop {
	t.Helper()
	assert.Zero(t, f.env.Pool.Out, "no buffer leaks")
	for n, s := range f.sinks {
		assert.Empty(t, s.Frames, "nothing reaches %s", n)
	}
	drops := f.env.Trace.DropList()
	require.Len(t, drops, 1)
	return drops[0]
}

func udpPorts(ipb packet.IPv4) (uint16, uint16) {
	u := packet.UDP(ipb[ipb.HeaderLen():])
	return u.SrcPort(), u.DstPort()
}

func TestEgressSourceSelection(t *testing.T) {
	tests := []struct {
		name string
		from string
		src  string // source address sent (default: the ENI's primary)
		// seen is the source the Internet client sees; "" for a drop.
		seen     string
		match    string // in the trace hop that chose it
		reason   trace.Reason
		detail   []string
		keepPort bool
	}{
		{name: "vSwitch entry", from: "a1", seen: eipA, match: "vSwitch vsw-a (192.168.0.0/24) → " + eipA},
		{name: "an instance entry beats its vSwitch's (longest prefix)", from: "a2", seen: eipB, match: "ECS instance a2 (192.168.0.11/32) → " + eipB},
		{name: "CIDR entry for an address that is no ENI's", from: "b1", src: "172.20.1.5", seen: eipB, match: "source 172.20.0.0/16 → " + eipB},
		{name: "the instance's EIP before SNAT", from: "b1", seen: eipB1, match: "EIP " + eipB1, keepPort: true},
		{name: "no SNAT entry for the vSwitch", from: "b2", reason: trace.ReasonVPCNoInternet,
			detail: []string{"SNAT table " + vpc.ID("stb", "ngw") + " has no entry for source 192.168.1.12", "add an SNAT entry for vSwitch vsw-b or associate an EIP with b2"}},
		{name: "a source no entry covers", from: "a1", src: "10.9.9.9", reason: trace.ReasonVPCNoInternet,
			detail: []string{"10.9.9.9 is not a VPC address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newNATFabric(t, 1)
			f.env.Trace.Hops = true
			src := f.enis[tt.from].Primary
			if tt.src != "" {
				src = ip(tt.src)
			}
			f.send(tt.from, udpFrame(f.devs[tt.from].MAC, netip.AddrPortFrom(src, 40000), netip.AddrPortFrom(ip(inetIP), 7)))
			if tt.seen == "" {
				d := f.dropped(t)
				assert.Equal(t, tt.reason, d.Reason)
				for _, s := range tt.detail {
					assert.Contains(t, d.Detail, s)
				}
				return
			}
			got := f.only(t, "inet")
			assert.Equal(t, ip(tt.seen), got.Src())
			assert.Equal(t, ip(inetIP), got.Dst())
			sport, dport := udpPorts(got)
			assert.Equal(t, uint16(7), dport)
			if tt.keepPort {
				assert.Equal(t, uint16(40000), sport, "an EIP is a 1:1 NAT: ports are kept")
			} else {
				assert.GreaterOrEqual(t, sport, uint16(1024))
			}
			var texts []string
			for _, h := range f.env.Trace.HopList() {
				if h.Kind == trace.KindVPC {
					texts = append(texts, trace.HopText(h))
				}
			}
			assert.Contains(t, strings.Join(texts, "\n"), tt.match)
		})
	}
}

func TestSNATReplyTranslation(t *testing.T) {
	tests := []struct {
		name  string
		proto uint8
	}{{"UDP", packet.ProtoUDP}, {"ICMP echo", packet.ProtoICMP}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newNATFabric(t, 1)
			a1 := f.devs["a1"]
			inside := netip.AddrPortFrom(ip("192.168.0.10"), 40000)
			if tt.proto == packet.ProtoUDP {
				f.send("a1", udpFrame(a1.MAC, inside, netip.AddrPortFrom(ip(inetIP), 7)))
			} else {
				f.send("a1", echoFrame(a1.MAC, inside.Addr(), ip(inetIP), packet.ICMPEchoRequest, 40000))
			}
			out := f.only(t, "inet")
			require.Equal(t, ip(eipA), out.Src())
			pub := binary.BigEndian.Uint16(out[out.HeaderLen():][0:2])
			if tt.proto == packet.ProtoICMP {
				pub = packet.ICMP(out[out.HeaderLen():]).ID()
			}
			assert.NotEqual(t, uint16(40000), pub, "the seeded generator chose another port")
			assert.Equal(t, 1, f.ngw.Sessions(f.s.Now()))

			if tt.proto == packet.ProtoUDP {
				f.send("inet", udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 7), netip.AddrPortFrom(ip(eipA), pub)))
			} else {
				f.send("inet", echoFrame(f.devs["inet"].MAC, ip(inetIP), ip(eipA), packet.ICMPEchoReply, pub))
			}
			back := f.only(t, "a1")
			assert.Equal(t, ip(inetIP), back.Src())
			assert.Equal(t, inside.Addr(), back.Dst())
			if tt.proto == packet.ProtoUDP {
				_, dport := udpPorts(back)
				assert.Equal(t, uint16(40000), dport)
			} else {
				assert.Equal(t, uint16(40000), packet.ICMP(back[back.HeaderLen():]).ID())
			}
		})
	}
}

func TestSNATPortAllocation(t *testing.T) {
	public := func(f *natFabric, sport uint16) uint16 {
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), sport), netip.AddrPortFrom(ip(inetIP), 7)))
		p, _ := udpPorts(f.only(t, "inet"))
		return p
	}
	f1, f2, f3 := newNATFabric(t, 1), newNATFabric(t, 1), newNATFabric(t, 2)
	p1 := public(f1, 40000)
	assert.Equal(t, p1, public(f2, 40000), "the same seed chooses the same port")
	assert.NotEqual(t, p1, public(f3, 40000), "another seed another port")
	assert.Equal(t, p1, public(f1, 40000), "the session's port is reused")
	q := public(f1, 40001)
	assert.NotEqual(t, p1, q, "another inside port gets another public port")
	assert.Equal(t, 2, f1.ngw.Sessions(f1.s.Now()))
}

func TestSNATSessionTimeout(t *testing.T) {
	tests := []struct {
		name    string
		idle    time.Duration
		replied bool
	}{
		{"within the UDP timeout", vpc.SNATTimeoutUDP - time.Second, true},
		{"after the UDP timeout", vpc.SNATTimeoutUDP + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newNATFabric(t, 1)
			f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip(inetIP), 7)))
			pub, _ := udpPorts(f.only(t, "inet"))
			f.s.RunFor(tt.idle)
			f.send("inet", udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 7), netip.AddrPortFrom(ip(eipA), pub)))
			if tt.replied {
				f.only(t, "a1")
				return
			}
			d := f.dropped(t)
			assert.Equal(t, trace.ReasonNATNoSession, d.Reason)
			assert.Contains(t, d.Detail, "has no SNAT session")
			assert.Zero(t, f.ngw.Sessions(f.s.Now()))
		})
	}
	assert.Equal(t, 900*time.Second, vpc.SNATTimeout(packet.ProtoTCP))
	assert.Equal(t, 60*time.Second, vpc.SNATTimeout(packet.ProtoUDP))
}

func TestInternetEdge(t *testing.T) {
	t.Run("unsolicited to a NAT gateway EIP", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("inet", udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 5000), netip.AddrPortFrom(ip(eipA), 80)))
		assert.Equal(t, trace.ReasonNATNoSession, f.dropped(t).Reason)
	})
	t.Run("EIP inbound and the reply", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("inet", echoFrame(f.devs["inet"].MAC, ip(inetIP), ip(eipB1), packet.ICMPEchoRequest, 321))
		in := f.only(t, "b1")
		assert.Equal(t, ip("192.168.1.11"), in.Dst(), "the EIP is translated to b1's primary address")
		assert.Equal(t, ip(inetIP), in.Src())
		assert.Equal(t, uint16(321), packet.ICMP(in[in.HeaderLen():]).ID(), "1:1 NAT keeps the identifier")
		f.send("b1", echoFrame(f.devs["b1"].MAC, ip("192.168.1.11"), ip(inetIP), packet.ICMPEchoReply, 321))
		out := f.only(t, "inet")
		assert.Equal(t, ip(eipB1), out.Src())
	})
	t.Run("hairpin: SNAT to another instance's EIP", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip(eipB1), 53)))
		in := f.only(t, "b1")
		assert.Equal(t, ip(eipA), in.Src(), "b1 sees the NAT gateway's EIP")
		_, dport := udpPorts(in)
		assert.Equal(t, uint16(53), dport)
	})
	t.Run("an Internet address outside the model", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip("8.8.8.8"), 53)))
		d := f.dropped(t)
		assert.Equal(t, trace.ReasonInternetNoHost, d.Reason)
		assert.Contains(t, d.Detail, "8.8.8.8 is on the Internet, outside the model")
	})
	t.Run("a private destination only 0.0.0.0/0 matches", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip("172.20.3.7"), 53)))
		d := f.dropped(t)
		assert.Equal(t, trace.ReasonVPCNoRoute, d.Reason)
		assert.Contains(t, d.Detail, "was deleted", "the deleted entry is still named")
		assert.Contains(t, d.Detail, "only 0.0.0.0/0 → NAT gateway ngw matches")
	})
	t.Run("the NAT gateway's entry deleted", func(t *testing.T) {
		f := newNATFabric(t, 1)
		_, err := f.v.DeleteRoute(pfx("0.0.0.0/0"))
		require.NoError(t, err)
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip(inetIP), 7)))
		d := f.dropped(t)
		assert.Equal(t, trace.ReasonVPCNoInternet, d.Reason)
		assert.Contains(t, d.Detail, "the entry 0.0.0.0/0 → NAT gateway ngw ("+vpc.ID("rte", "0.0.0.0/0")+") was deleted")
	})
	t.Run("an unknown public address from the Internet", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("inet", udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 5000), netip.AddrPortFrom(ip("192.0.2.99"), 80)))
		d := f.dropped(t)
		assert.Equal(t, trace.ReasonVPCNoRoute, d.Reason)
		assert.Contains(t, d.Detail, "internet-facing SLB listeners and EIPs are reachable")
	})
}

func TestNATGatewayRoute(t *testing.T) {
	f := newNATFabric(t, 1)
	rs := f.v.Routes()
	require.NotEmpty(t, rs)
	assert.Equal(t, pfx("0.0.0.0/0"), rs[0].Destination)
	assert.Equal(t, "0.0.0.0/0 → NAT gateway ngw "+f.ngw.ID+" ("+vpc.ID("rte", "0.0.0.0/0")+", custom) [added with NAT gateway ngw]", rs[0].String())
	assert.Equal(t, 2, f.v.CustomRoutes(), "172.20.1.0/24 and 0.0.0.0/0")
	s := f.ngw.String()
	assert.Contains(t, s, "in vSwitch vsw-a at 192.168.0.200, EIPs 192.0.2.10, 192.0.2.11")
	assert.Less(t, strings.Index(s, "a2 (192.168.0.11/32)"), strings.Index(s, "172.20.0.0/16"), "longest prefix first")
	assert.Len(t, f.v.EIPs(), 3)
}

func TestNATGatewayErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(f *natFabric) error
		want string
	}{
		{"a second 0.0.0.0/0", func(f *natFabric) error {
			_, err := f.v.AddNATGateway("ngw2", f.a, ip("192.168.0.201"), nil, 1)
			return err
		}, "already has the entry 0.0.0.0/0 → NAT gateway ngw"},
		{"an EIP used twice", func(f *natFabric) error {
			_, err := f.v.AssociateEIP(ip(eipA), "b2")
			return err
		}, "already EIP 192.0.2.10"},
		{"a private EIP", func(f *natFabric) error {
			_, err := f.v.AssociateEIP(ip("10.1.1.1"), "b2")
			return err
		}, "is not a public address"},
		{"an instance with two EIPs", func(f *natFabric) error {
			_, err := f.v.AssociateEIP(ip("192.0.2.60"), "b1")
			return err
		}, "instance b1 already has EIP 192.0.2.50"},
		{"an unknown instance", func(f *natFabric) error {
			_, err := f.v.AssociateEIP(ip("192.0.2.60"), "nope")
			return err
		}, `"nope" is not an ECS instance`},
		{"an EIP of no gateway", func(f *natFabric) error {
			_, err := f.ngw.AddSNATEntry(vpc.SNATVSwitch, "vsw-b", f.b.CIDR, ip(eipB1))
			return err
		}, "192.0.2.50 is not an EIP of the gateway (192.0.2.10, 192.0.2.11)"},
		{"a vSwitch in two entries", func(f *natFabric) error {
			_, err := f.ngw.AddSNATEntry(vpc.SNATVSwitch, "vsw-a", f.a.CIDR, ip(eipB))
			return err
		}, "already has snat-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorContains(t, tt.do(newNATFabric(t, 1)), tt.want)
		})
	}
	env, _ := linktest.NewEnv()
	v := vpc.New(env, "v", pfx("192.168.0.0/16"), 0, 0)
	sw, err := v.AddVSwitch("a", "z", pfx("192.168.0.0/24"))
	require.NoError(t, err)
	_, err = v.AddNATGateway("g", sw, ip("192.168.5.1"), nil, 1)
	assert.ErrorContains(t, err, "192.168.5.1 is outside vSwitch a")
}

func TestIsPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"192.0.2.10", true}, {"203.0.113.10", true},
		{"10.0.0.1", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"100.64.0.1", false}, {"100.128.0.1", true}, {"127.0.0.1", false},
		{"169.254.1.1", false}, {"224.0.0.1", false}, {"0.1.2.3", false}, {"255.255.255.255", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, vpc.IsPublic(ip(tt.addr)), tt.addr)
	}
}

// fragFrame is an IPv4 fragment of a UDP datagram with identification id:
// the first (with the UDP header and MF) or a later one at offset 8*off8.
func fragFrame(mac packet.MAC, src, dst netip.AddrPort, id uint16, off8 uint16, more bool) []byte {
	if off8 == 0 {
		b := udpFrame(mac, src, dst)
		ipb := packet.IPv4(b[packet.EthHeaderLen:])
		ipb.SetHeader(packet.IPv4Fields{TotalLen: len(ipb), ID: id, Flags: packet.FlagMF, TTL: 64, Protocol: packet.ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
		return b
	}
	b := make([]byte, packet.EthHeaderLen+packet.IPv4HeaderLen+24)
	packet.Ethernet(b).Set(vpc.GatewayMAC, mac, packet.EtherTypeIPv4)
	flags := off8
	if more {
		flags |= packet.FlagMF
	}
	packet.IPv4(b[packet.EthHeaderLen:]).SetHeader(packet.IPv4Fields{TotalLen: len(b) - packet.EthHeaderLen, ID: id, Flags: flags, TTL: 64, Protocol: packet.ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
	return b
}

func TestSNATFragments(t *testing.T) {
	inside := netip.AddrPortFrom(ip("192.168.0.10"), 40000)
	remote := netip.AddrPortFrom(ip(inetIP), 7)
	t.Run("later fragments follow the first", func(t *testing.T) {
		f := newNATFabric(t, 1)
		mac := f.devs["a1"].MAC
		f.send("a1", fragFrame(mac, inside, remote, 77, 0, true))
		first := f.only(t, "inet")
		assert.Equal(t, ip(eipA), first.Src())
		for _, more := range []bool{true, false} {
			f.send("a1", fragFrame(mac, inside, remote, 77, 5, more))
			later := f.only(t, "inet")
			assert.Equal(t, ip(eipA), later.Src())
			assert.Equal(t, 40, later.FragOffset(), "the fragment is not touched beyond its addresses")
		}
		f.send("a1", fragFrame(mac, inside, remote, 77, 6, false))
		d := f.dropped(t)
		assert.Equal(t, trace.ReasonVPCNoInternet, d.Reason, "the last fragment ended the datagram")
		assert.Contains(t, d.Detail, "arrived before a translated first fragment")
	})
	t.Run("a fragment after ipfrag_time", func(t *testing.T) {
		f := newNATFabric(t, 1)
		mac := f.devs["a1"].MAC
		f.send("a1", fragFrame(mac, inside, remote, 78, 0, true))
		f.only(t, "inet")
		f.s.RunFor(31 * time.Second)
		f.send("a1", fragFrame(mac, inside, remote, 78, 5, false))
		assert.Contains(t, f.dropped(t).Detail, "arrived before a translated first fragment")
	})
	t.Run("reply fragments", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("a1", udpFrame(f.devs["a1"].MAC, inside, remote))
		pub, _ := udpPorts(f.only(t, "inet"))
		public := netip.AddrPortFrom(ip(eipA), pub)
		f.send("inet", fragFrame(f.devs["inet"].MAC, remote, public, 9, 0, true))
		assert.Equal(t, inside.Addr(), f.only(t, "a1").Dst())
		f.send("inet", fragFrame(f.devs["inet"].MAC, remote, public, 9, 5, false))
		assert.Equal(t, inside.Addr(), f.only(t, "a1").Dst())
	})
}

// icmpError is an ICMP destination unreachable (port) from src to dst
// quoting the IPv4 header and 8 bytes of the packet orig.
func icmpError(mac packet.MAC, src, dst netip.Addr, orig packet.IPv4) []byte {
	q := orig[:orig.HeaderLen()+8]
	b := make([]byte, packet.EthHeaderLen+packet.IPv4HeaderLen+8+len(q))
	packet.Ethernet(b).Set(vpc.GatewayMAC, mac, packet.EtherTypeIPv4)
	ipb := packet.IPv4(b[packet.EthHeaderLen:])
	ipb.SetHeader(packet.IPv4Fields{TotalLen: len(ipb), TTL: 64, Protocol: packet.ProtoICMP, Src: src, Dst: dst})
	c := packet.ICMP(ipb[packet.IPv4HeaderLen:])
	c[0], c[1] = packet.ICMPDestUnreach, packet.ICMPCodePortUnreach
	copy(c[8:], q)
	c.SetChecksum()
	return b
}

func TestICMPErrorsTranslated(t *testing.T) {
	t.Run("to a SNAT session", func(t *testing.T) {
		f := newNATFabric(t, 1)
		sent := udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip(inetIP), 7))
		origCsum := packet.UDP(sent[packet.EthHeaderLen+packet.IPv4HeaderLen:]).Checksum()
		f.send("a1", sent)
		out := append(packet.IPv4(nil), f.only(t, "inet")...)
		f.send("inet", icmpError(f.devs["inet"].MAC, ip(inetIP), ip(eipA), out))
		got := f.only(t, "a1")
		assert.Equal(t, ip("192.168.0.10"), got.Dst())
		in := packet.IPv4(got[got.HeaderLen()+8:])
		assert.Equal(t, ip("192.168.0.10"), in.Src(), "the quoted packet is the one a1 sent")
		assert.True(t, in.ChecksumOK(), "quoted header checksum")
		u := packet.UDP(in[in.HeaderLen():])
		assert.Equal(t, uint16(40000), u.SrcPort())
		assert.Equal(t, origCsum, u.Checksum(), "the quoted UDP checksum is a1's again")
	})
	t.Run("from an instance behind its EIP", func(t *testing.T) {
		f := newNATFabric(t, 1)
		sent := udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 5000), netip.AddrPortFrom(ip(eipB1), 9))
		origCsum := packet.UDP(sent[packet.EthHeaderLen+packet.IPv4HeaderLen:]).Checksum()
		f.send("inet", sent)
		at := append(packet.IPv4(nil), f.only(t, "b1")...)
		f.send("b1", icmpError(f.devs["b1"].MAC, ip("192.168.1.11"), ip(inetIP), at))
		got := f.only(t, "inet")
		assert.Equal(t, ip(eipB1), got.Src())
		in := packet.IPv4(got[got.HeaderLen()+8:])
		assert.Equal(t, ip(eipB1), in.Dst(), "the quoted packet is the one the client sent")
		assert.True(t, in.ChecksumOK())
		assert.Equal(t, uint16(9), packet.UDP(in[in.HeaderLen():]).DstPort())
		assert.Equal(t, origCsum, packet.UDP(in[in.HeaderLen():]).Checksum())
	})
	t.Run("from inside about a SNAT session's reply", func(t *testing.T) {
		f := newNATFabric(t, 1)
		f.send("a1", udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip("192.168.0.10"), 40000), netip.AddrPortFrom(ip(inetIP), 7)))
		pub, _ := udpPorts(f.only(t, "inet"))
		f.send("inet", udpFrame(f.devs["inet"].MAC, netip.AddrPortFrom(ip(inetIP), 7), netip.AddrPortFrom(ip(eipA), pub)))
		at := append(packet.IPv4(nil), f.only(t, "a1")...)
		f.send("a1", icmpError(f.devs["a1"].MAC, ip("192.168.0.10"), ip(inetIP), at))
		got := f.only(t, "inet")
		assert.Equal(t, ip(eipA), got.Src())
		in := packet.IPv4(got[got.HeaderLen()+8:])
		assert.Equal(t, ip(eipA), in.Dst())
		assert.Equal(t, pub, packet.UDP(in[in.HeaderLen():]).DstPort())
	})
	t.Run("about no session", func(t *testing.T) {
		f := newNATFabric(t, 1)
		orig := packet.IPv4(udpFrame(f.devs["a1"].MAC, netip.AddrPortFrom(ip(eipA), 3333), netip.AddrPortFrom(ip(inetIP), 7))[packet.EthHeaderLen:])
		f.send("inet", icmpError(f.devs["inet"].MAC, ip(inetIP), ip(eipA), orig))
		assert.Equal(t, trace.ReasonNATNoSession, f.dropped(t).Reason)
	})
}
