package packet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in      string
		want    MAC
		wantErr bool
	}{
		{in: "0a:58:0a:f4:01:05", want: MAC{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05}},
		{in: "FF:FF:FF:FF:FF:FF", want: Broadcast},
		{in: "Ee:eE:00:11:22:33", want: MAC{0xee, 0xee, 0, 0x11, 0x22, 0x33}},
		{in: "", wantErr: true},
		{in: "0a:58:0a:f4:01", wantErr: true},
		{in: "0a:58:0a:f4:01:05:06", wantErr: true},
		{in: "0a-58-0a-f4-01-05", wantErr: true},
		{in: "0a:58:0a:f4:01:g5", wantErr: true},
		{in: "0a:58:0a:f4:01: 5", wantErr: true},
		{in: "0a5:8:0a:f4:01:05", wantErr: true},
		{in: "0a:58:0a:f4:01:0Z", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseMAC(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "expected 6 colon-separated hex bytes")
				assert.Contains(t, err.Error(), `"`+tc.in+`"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, m)
			hw, err := net.ParseMAC(tc.in)
			require.NoError(t, err)
			assert.Equal(t, hw.String(), m.String(), "formats like the standard library")
		})
	}
}

func TestMACProperties(t *testing.T) {
	assert.True(t, Broadcast.IsMulticast())
	assert.True(t, MAC{0x01, 0x00, 0x5e, 0, 0, 1}.IsMulticast())
	assert.False(t, MAC{0x0a, 0x58, 0, 0, 0, 1}.IsMulticast())
	assert.True(t, MAC{}.IsZero())
	assert.False(t, Broadcast.IsZero())
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", Broadcast.String())
}

func TestHeaderViewsAgainstGopacket(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05},
		DstMAC: net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TOS: 0x10, Id: 0xbeef, Flags: layers.IPv4DontFragment, TTL: 63,
		Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 244, 1, 5}, DstIP: net.IP{10, 244, 2, 7}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 8080, Seq: 0xdeadbeef, Ack: 0x01020304, ACK: true, PSH: true, Window: 502}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, tcp, gopacket.Payload("hello")))
	b := buf.Bytes()

	e := Ethernet(b)
	assert.Equal(t, "0a:58:0a:f4:01:05", e.Src().String())
	assert.Equal(t, "0a:58:0a:f4:01:01", e.Dst().String())
	assert.Equal(t, uint16(EtherTypeIPv4), e.Type())

	v := IPv4(e.Payload())
	require.True(t, v.Valid())
	assert.True(t, v.ChecksumOK())
	assert.Equal(t, 20, v.HeaderLen())
	assert.Equal(t, uint8(0x10), v.TOS())
	assert.Equal(t, 20+20+5, v.TotalLen())
	assert.Equal(t, uint16(0xbeef), v.ID())
	assert.True(t, v.DF())
	assert.False(t, v.MF())
	assert.False(t, v.IsFragment())
	assert.Equal(t, uint8(63), v.TTL())
	assert.Equal(t, uint8(ProtoTCP), v.Protocol())
	assert.Equal(t, netip.MustParseAddr("10.244.1.5"), v.Src())
	assert.Equal(t, netip.MustParseAddr("10.244.2.7"), v.Dst())

	tv := TCP(v.Payload())
	assert.Equal(t, uint16(40000), tv.SrcPort())
	assert.Equal(t, uint16(8080), tv.DstPort())
	assert.Equal(t, uint32(0xdeadbeef), tv.Seq())
	assert.Equal(t, uint32(0x01020304), tv.Ack())
	assert.Equal(t, 20, tv.DataOffset())
	assert.Equal(t, uint8(TCPAck|TCPPsh), tv.Flags())
	assert.Equal(t, uint16(502), tv.Window())
	assert.True(t, TransportChecksumOK(v.Payload(), v.Src(), v.Dst(), ProtoTCP))

	// Rewriting through the views keeps gopacket's decoder happy once
	// checksums are fixed.
	v.SetDst(netip.MustParseAddr("10.244.3.9"))
	tv.SetPorts(40001, 80)
	v.SetChecksum()
	SetTransportChecksum(v.Payload(), v.Src(), v.Dst(), ProtoTCP)
	pk := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, pk.ErrorLayer())
	gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, "10.244.3.9", gip.DstIP.String())
	gtcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	assert.Equal(t, layers.TCPPort(40001), gtcp.SrcPort)
	assert.Equal(t, layers.TCPPort(80), gtcp.DstPort)
}

func TestIPv4Valid(t *testing.T) {
	good := make([]byte, 28)
	IPv4(good).SetHeader(IPv4Fields{TotalLen: 28, TTL: 64, Protocol: ProtoUDP,
		Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8")})
	require.True(t, IPv4(good).Valid())
	require.True(t, IPv4(good).ChecksumOK())

	tests := []struct {
		name string
		mod  func(b []byte) []byte
		want bool
	}{
		{"as built", func(b []byte) []byte { return b }, true},
		{"trailing padding is fine", func(b []byte) []byte { return append(b, 0, 0) }, true},
		{"short slice", func(b []byte) []byte { return b[:19] }, false},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, false},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, false},
		{"total length beyond data", func(b []byte) []byte { b[3] = 29; return b }, false},
		{"total length below header", func(b []byte) []byte { b[3] = 19; return b }, false},
		{"IHL beyond total length", func(b []byte) []byte { b[0] = 0x48; return b }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mod(append([]byte(nil), good...))
			assert.Equal(t, tc.want, IPv4(b).Valid())
		})
	}
}

func TestIPv4Fragments(t *testing.T) {
	ip := IPv4(make([]byte, 20))
	ip.SetHeader(IPv4Fields{TotalLen: 20, Flags: FlagMF | 185, TTL: 1, Protocol: ProtoUDP,
		Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8")})
	assert.True(t, ip.MF())
	assert.False(t, ip.DF())
	assert.Equal(t, 1480, ip.FragOffset())
	assert.True(t, ip.IsFragment())
	assert.True(t, ip.ChecksumOK())
}

func TestARPAndVXLANViews(t *testing.T) {
	a := ARP(make([]byte, ARPLen))
	sha := MAC{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05}
	a.Set(ARPRequest, sha, netip.MustParseAddr("10.244.1.5"), MAC{}, netip.MustParseAddr("10.244.1.1"))
	require.True(t, a.Valid())
	pk := gopacket.NewPacket(a, layers.LayerTypeARP, gopacket.Default)
	ga := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
	assert.Equal(t, uint16(layers.ARPRequest), ga.Operation)
	assert.Equal(t, []byte(sha[:]), ga.SourceHwAddress)
	assert.Equal(t, []byte{10, 244, 1, 5}, ga.SourceProtAddress)
	assert.Equal(t, []byte{10, 244, 1, 1}, ga.DstProtAddress)
	assert.False(t, ARP(a[:27]).Valid())

	v := VXLAN(make([]byte, VXLANHeaderLen))
	v.Set(0xabcdef)
	assert.True(t, v.ValidFlags())
	assert.Equal(t, uint32(0xabcdef), v.VNI())
	assert.Equal(t, []byte{0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0}, []byte(v))
	assert.Equal(t, 50, VXLANOverhead)
}

func TestICMPSetChecksumMatchesGopacket(t *testing.T) {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 3}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ic, gopacket.Payload("abcde")))
	want := buf.Bytes()
	got := append([]byte(nil), want...)
	got[2], got[3] = 0x12, 0x34
	ICMP(got).SetChecksum()
	assert.Equal(t, want, got)
	c := ICMP(got)
	assert.Equal(t, uint16(7), c.ID())
	assert.Equal(t, uint16(3), c.Seq())
	assert.False(t, c.IsError())
	for _, typ := range []uint8{3, 4, 5, 11, 12} {
		assert.True(t, ICMP([]byte{typ, 0, 0, 0, 0, 0, 0, 0}).IsError(), "type %d", typ)
	}
}
