package netstack_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

func ip(s string) netip.Addr       { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix    { return netip.MustParsePrefix(s) }
func ap(s string) netip.AddrPort   { return netip.MustParseAddrPort(s) }
func mac(n byte) packet.MAC        { return linktest.MAC(n) }
func defaultRoute() netip.Prefix   { return pfx("0.0.0.0/0") }
func u16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }

// csum is RFC 1071, written independently of package packet: over data
// holding a correct checksum it returns 0.
func csum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// l4csum verifies a TCP or UDP checksum over the IPv4 pseudo-header.
func l4csum(ipPkt []byte) uint16 {
	hl := int(ipPkt[0]&0x0f) * 4
	tl := int(u16(ipPkt, 2))
	seg := ipPkt[hl:tl]
	ph := uint32(u16(ipPkt, 12)) + uint32(u16(ipPkt, 14)) + uint32(u16(ipPkt, 16)) + uint32(u16(ipPkt, 18)) +
		uint32(ipPkt[9]) + uint32(len(seg))
	return csum(seg, ph)
}

// world is three namespaces in a row:
//
//	A eth0 10.0.1.2/24 ── R eth0 10.0.1.1/24 | R eth1 10.0.2.1/24 ── B eth0 10.0.2.2/24
//
// A and B have default routes via R; R forwards.
type world struct {
	env  *link.Env
	s    *linktest.Sched
	capt *linktest.Capture

	A, R, B         *netstack.Stack
	aEth, rEth0     *link.Device
	rEth1, bEth     *link.Device
	evA, evR, evB   []netstack.Event
	aIP, rIP0, rIP1 netip.Addr
	bIP             netip.Addr
}

func newWorld(t testing.TB) *world {
	t.Helper()
	env, s := linktest.NewEnv()
	w := &world{env: env, s: s, capt: linktest.NewCapture(env, s),
		aIP: ip("10.0.1.2"), rIP0: ip("10.0.1.1"), rIP1: ip("10.0.2.1"), bIP: ip("10.0.2.2")}
	w.A = netstack.New(env, "A", 1)
	w.R = netstack.New(env, "R", 2)
	w.B = netstack.New(env, "B", 3)
	w.A.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { w.evA = append(w.evA, ev) }
	w.R.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { w.evR = append(w.evR, ev) }
	w.B.OnEvent = func(_ *netstack.Stack, ev netstack.Event) { w.evB = append(w.evB, ev) }
	w.aEth, w.rEth0 = link.NewVethPair(env, "A", "eth0", mac(0xa1), "R", "eth0", mac(0x10), 1500)
	w.rEth1, w.bEth = link.NewVethPair(env, "R", "eth1", mac(0x11), "B", "eth0", mac(0xb1), 1500)
	w.A.AddIface(w.aEth)
	w.R.AddIface(w.rEth0)
	w.R.AddIface(w.rEth1)
	w.B.AddIface(w.bEth)
	require.NoError(t, w.A.AddAddr("eth0", pfx("10.0.1.2/24")))
	require.NoError(t, w.R.AddAddr("eth0", pfx("10.0.1.1/24")))
	require.NoError(t, w.R.AddAddr("eth1", pfx("10.0.2.1/24")))
	require.NoError(t, w.B.AddAddr("eth0", pfx("10.0.2.2/24")))
	require.NoError(t, w.A.AddRoute(&netstack.Route{Dst: defaultRoute(), Gw: w.rIP0, Dev: w.A.Iface("eth0")}))
	require.NoError(t, w.B.AddRoute(&netstack.Route{Dst: defaultRoute(), Gw: w.rIP1, Dev: w.B.Iface("eth0")}))
	w.R.Forwarding = true
	return w
}

// setMTU sets the MTU of the R eth1 — B eth0 link.
func (w *world) setMTU(mtu int) {
	w.rEth1.MTU = mtu
	w.bEth.MTU = mtu
}

func (w *world) run() { w.s.Run() }

// reasons lists the drop reasons recorded so far.
func (w *world) reasons() []trace.Reason { return linktest.Drops(w.env) }

func kinds(evs []netstack.Event) []netstack.EventKind {
	var out []netstack.EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func ofKind(evs []netstack.Event, k netstack.EventKind) []netstack.Event {
	var out []netstack.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// ipv4Frames returns the IPv4 frames at dev in dir with protocol proto
// (0: any).
func (w *world) ipv4Frames(dev *link.Device, dir link.Dir, proto uint8) [][]byte {
	var out [][]byte
	for _, f := range w.capt.Bytes(dev, dir) {
		if packet.Ethernet(f).Type() != packet.EtherTypeIPv4 {
			continue
		}
		if proto != 0 && f[14+9] != proto {
			continue
		}
		out = append(out, f)
	}
	return out
}

// arpFrames returns the ARP frames at dev in dir.
func (w *world) arpFrames(dev *link.Device, dir link.Dir) []linktest.Frame {
	var out []linktest.Frame
	for _, f := range w.capt.On(dev, dir) {
		if packet.Ethernet(f.Data).Type() == packet.EtherTypeARP {
			out = append(out, f)
		}
	}
	return out
}

// icmpErrors returns the ICMP error messages (not echo) at dev in dir.
func (w *world) icmpErrors(dev *link.Device, dir link.Dir) [][]byte {
	var out [][]byte
	for _, f := range w.ipv4Frames(dev, dir, packet.ProtoICMP) {
		t := f[14+int(f[14]&0x0f)*4]
		if t == packet.ICMPDestUnreach || t == packet.ICMPTimeExceeded {
			out = append(out, f)
		}
	}
	return out
}

func decode(t *testing.T, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, p.ErrorLayer(), "frame decodes: %v", p.ErrorLayer())
	return p
}

// checkICMPError decodes an ICMP error frame and checks what icmp_send
// writes: TOS 0xc0, DF clear, TTL 64 (ttl once it arrives), valid checksums, a quote of at most
// 548 bytes that starts with the original IP header. It returns the IP
// layer, the ICMP bytes and the quote.
func checkICMPError(t *testing.T, frame []byte, typ, code uint8, src, dst netip.Addr, ttl uint8) (*layers.IPv4, []byte, []byte) {
	t.Helper()
	p := decode(t, frame)
	ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	require.Equal(t, layers.CreateICMPv4TypeCode(typ, code), ic.TypeCode)
	require.Equal(t, src.AsSlice(), []byte(ip4.SrcIP.To4()), "ICMP source")
	require.Equal(t, dst.AsSlice(), []byte(ip4.DstIP.To4()), "ICMP destination")
	raw := frame[14:]
	require.Zero(t, csum(raw[:20], 0), "ICMP error IP header checksum")
	require.Equal(t, uint8(0xc0), ip4.TOS, "IPTOS_PREC_INTERNETCONTROL")
	require.Zero(t, ip4.Flags&layers.IPv4DontFragment, "icmp socket: IP_PMTUDISC_DONT")
	require.Equal(t, ttl, ip4.TTL, "sent with TTL 64, minus the hops it crossed")
	msg := raw[20:ip4.Length]
	require.Zero(t, csum(msg, 0), "ICMP checksum")
	quote := msg[8:]
	require.LessOrEqual(t, len(quote), 548, "quote fits in 576 bytes")
	require.LessOrEqual(t, int(ip4.Length), 576)
	require.GreaterOrEqual(t, len(quote), 28, "quote holds the IP header and 8 bytes")
	require.Equal(t, byte(0x45), quote[0])
	return ip4, msg, quote
}
