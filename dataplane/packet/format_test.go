package packet

import (
	"fmt"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	podMAC = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05}
	gwMAC  = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01}
	vtepA  = net.HardwareAddr{0x5e, 0x12, 0x34, 0x56, 0x78, 0x9a}
	vtepB  = net.HardwareAddr{0x5e, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	podA   = net.IP{10, 244, 1, 5}
	podB   = net.IP{10, 244, 2, 7}
	nodeA  = net.IP{192, 168, 0, 10}
	nodeB  = net.IP{192, 168, 0, 11}
)

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var ip *layers.IPv4
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			ip = v
		case *layers.TCP:
			_ = v.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			_ = v.SetNetworkLayerForChecksum(ip)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

func ip4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: src, DstIP: dst}
}

// frames used by the table and as fuzz seeds.
func summaryFrames(t testing.TB) map[string][]byte {
	arpReq := ser(t, eth(podMAC, layers.EthernetBroadcast, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: podMAC, SourceProtAddress: podA,
		DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: net.IP{10, 244, 1, 1}})
	arpRep := ser(t, eth(gwMAC, podMAC, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: gwMAC, SourceProtAddress: net.IP{10, 244, 1, 1},
		DstHwAddress: podMAC, DstProtAddress: podA})
	ping := ser(t, eth(podMAC, gwMAC, layers.EthernetTypeIPv4), ip4(podA, podB, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
		gopacket.Payload(make([]byte, 56)))
	pong := ser(t, ip4(podB, podA, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 1, Seq: 2},
		gopacket.Payload(make([]byte, 56)))
	dns := ser(t, ip4(podA, net.IP{172, 21, 0, 10}, layers.IPProtocolUDP), &layers.UDP{SrcPort: 53000, DstPort: 53},
		gopacket.Payload(make([]byte, 30)))
	syn := ser(t, ip4(podA, net.IP{172, 21, 0, 10}, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 64240})
	synAck := ser(t, ip4(net.IP{172, 21, 0, 10}, podA, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 80, DstPort: 40000, Seq: 5000, Ack: 1001, SYN: true, ACK: true, Window: 64240})
	data := ser(t, ip4(podA, podB, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 8080, Seq: 1001, Ack: 5001, ACK: true, PSH: true, FIN: true, Window: 502},
		gopacket.Payload("hello"))
	rst := ser(t, ip4(podB, podA, layers.IPProtocolTCP), &layers.TCP{SrcPort: 8080, DstPort: 40000, Seq: 1, RST: true})

	inner := ser(t, eth(podMAC, gwMAC, layers.EthernetTypeIPv4), ip4(podA, podB, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 4},
		gopacket.Payload(make([]byte, 56)))
	vxlan := ser(t, eth(vtepA, vtepB, layers.EthernetTypeIPv4), ip4(nodeA, nodeB, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 54321, DstPort: 8472}, &layers.VXLAN{ValidIDFlag: true, VNI: 1}, gopacket.Payload(inner))

	quoted := ser(t, ip4(nodeA, net.IP{8, 8, 8, 8}, layers.IPProtocolTCP), &layers.TCP{SrcPort: 2000, DstPort: 443, Seq: 1, ACK: true},
		gopacket.Payload(make([]byte, 1400)))
	fragNeeded := ser(t, ip4(net.IP{192, 168, 0, 1}, nodeA, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded), Seq: 1400},
		gopacket.Payload(quoted[:28]))
	portUnreach := ser(t, ip4(podB, podA, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
		gopacket.Payload(dns[:28]))
	ttlExceeded := ser(t, ip4(net.IP{10, 244, 1, 1}, podA, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, 0)},
		gopacket.Payload(syn[:28]))
	// Redirect host: the new gateway 10.244.1.9 is in the Id/Seq words.
	redirect := ser(t, ip4(net.IP{10, 244, 1, 1}, podA, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeRedirect, layers.ICMPv4CodeHost), Id: 10<<8 | 244, Seq: 1<<8 | 9},
		gopacket.Payload(syn[:28]))

	frag1 := ip4(podA, podB, layers.IPProtocolUDP)
	frag1.Flags, frag1.Id = layers.IPv4MoreFragments, 77
	first := ser(t, frag1, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload(make([]byte, 100)))
	// The UDP length of a first fragment covers the whole datagram.
	UDP(first[20:]).SetLength(8 + 1000)
	frag2 := ip4(podA, podB, layers.IPProtocolUDP)
	frag2.Flags, frag2.Id, frag2.FragOffset = 0, 77, 185
	second := ser(t, frag2, gopacket.Payload(make([]byte, 50)))

	return map[string][]byte{
		"arp request": arpReq, "arp reply": arpRep, "ping": ping, "pong": pong, "dns": dns,
		"ipip": ser(t, ip4(nodeA, nodeB, layers.IPProtocolIPv4), gopacket.Payload(pong)),
		"syn":  syn, "synack": synAck, "data": data, "rst": rst, "vxlan": vxlan,
		"frag needed": fragNeeded, "port unreachable": portUnreach, "ttl exceeded": ttlExceeded, "redirect": redirect,
		"first fragment": first, "second fragment": second,
	}
}

func TestSummary(t *testing.T) {
	f := summaryFrames(t)
	tests := []struct {
		frame string
		ether bool
		ports []uint16
		want  string
	}{
		{"arp request", true, nil, "0a:58:0a:f4:01:05 > ff:ff:ff:ff:ff:ff, ARP who-has 10.244.1.1 tell 10.244.1.5"},
		{"arp reply", true, nil, "0a:58:0a:f4:01:01 > 0a:58:0a:f4:01:05, ARP reply 10.244.1.1 is-at 0a:58:0a:f4:01:01"},
		{"ping", true, nil, "0a:58:0a:f4:01:05 > 0a:58:0a:f4:01:01, 10.244.1.5 > 10.244.2.7: ICMP echo request id 1 seq 1, ttl 64, DF, len 84"},
		{"pong", false, nil, "10.244.2.7 > 10.244.1.5: ICMP echo reply id 1 seq 2, ttl 64, DF, len 84"},
		{"dns", false, nil, "10.244.1.5:53000 > 172.21.0.10:53: UDP length 30, ttl 64, DF, len 58"},
		{"dns", false, []uint16{4789, 8472}, "10.244.1.5:53000 > 172.21.0.10:53: UDP length 30, ttl 64, DF, len 58"},
		{"syn", false, nil, "10.244.1.5:40000 > 172.21.0.10:80: TCP [S] seq 1000 length 0, ttl 64, DF, len 40"},
		{"synack", false, nil, "172.21.0.10:80 > 10.244.1.5:40000: TCP [S.] seq 5000 ack 1001 length 0, ttl 64, DF, len 40"},
		{"data", false, nil, "10.244.1.5:40000 > 10.244.2.7:8080: TCP [FP.] seq 1001 ack 5001 length 5, ttl 64, DF, len 45"},
		{"rst", false, nil, "10.244.2.7:8080 > 10.244.1.5:40000: TCP [R] seq 1 length 0, ttl 64, DF, len 40"},
		{"vxlan", true, []uint16{8472}, "5e:12:34:56:78:9a > 5e:aa:bb:cc:dd:ee, 192.168.0.10:54321 > 192.168.0.11:8472: VXLAN vni 1 [" +
			"0a:58:0a:f4:01:05 > 0a:58:0a:f4:01:01, 10.244.1.5 > 10.244.2.7: ICMP echo request id 9 seq 4, ttl 64, DF, len 84" +
			"], ttl 64, DF, len 134"},
		{"vxlan", true, nil, "5e:12:34:56:78:9a > 5e:aa:bb:cc:dd:ee, 192.168.0.10:54321 > 192.168.0.11:8472: UDP length 106, ttl 64, DF, len 134"},
		{"vxlan", true, []uint16{4789}, "5e:12:34:56:78:9a > 5e:aa:bb:cc:dd:ee, 192.168.0.10:54321 > 192.168.0.11:8472: UDP length 106, ttl 64, DF, len 134"},
		{"ipip", false, nil, "192.168.0.10 > 192.168.0.11: IPIP [10.244.2.7 > 10.244.1.5: ICMP echo reply id 1 seq 2, ttl 64, DF, len 84], ttl 64, DF, len 104"},
		{"frag needed", false, nil, "192.168.0.1 > 192.168.0.10: ICMP unreachable - need to frag (mtu 1400) (about 192.168.0.10 > 8.8.8.8), ttl 64, DF, len 56"},
		{"port unreachable", false, nil, "10.244.2.7 > 10.244.1.5: ICMP port unreachable (about 10.244.1.5 > 172.21.0.10), ttl 64, DF, len 56"},
		{"ttl exceeded", false, nil, "10.244.1.1 > 10.244.1.5: ICMP time exceeded in-transit (about 10.244.1.5 > 172.21.0.10), ttl 64, DF, len 56"},
		{"redirect", false, nil, "10.244.1.1 > 10.244.1.5: ICMP redirect 172.21.0.10 to host 10.244.1.9, ttl 64, DF, len 56"},
		{"first fragment", false, nil, "10.244.1.5:1 > 10.244.2.7:2: UDP length 1000, ttl 64, frag id 77 off 0+, len 128"},
		{"second fragment", false, nil, "10.244.1.5 > 10.244.2.7: fragment of proto 17, ttl 64, frag id 77 off 1480, len 70"},
	}
	for _, tc := range tests {
		t.Run(tc.frame, func(t *testing.T) {
			b, ok := f[tc.frame]
			require.True(t, ok)
			assert.Equal(t, tc.want, Summary(b, tc.ether, tc.ports...))
		})
	}
}

func TestSummaryMalformed(t *testing.T) {
	f := summaryFrames(t)
	ping := f["ping"]
	tests := []struct {
		name  string
		b     []byte
		ether bool
		want  string
	}{
		{"runt", ping[:13], true, "runt frame (13 bytes)"},
		{"empty", nil, true, "runt frame (0 bytes)"},
		{"truncated IP", ping[:30], true, "0a:58:0a:f4:01:05 > 0a:58:0a:f4:01:01, malformed IPv4 (16 bytes)"},
		{"short ARP", f["arp request"][:30], true, "0a:58:0a:f4:01:05 > ff:ff:ff:ff:ff:ff, ARP (malformed)"},
		{"ipv6 ethertype", append(append([]byte(nil), ping[:12]...), 0x86, 0xdd), true,
			"0a:58:0a:f4:01:05 > 0a:58:0a:f4:01:01, ethertype 0x86dd, length 14"},
		{"bare garbage", []byte{0x60, 0, 0, 0}, false, "malformed IPv4 (4 bytes)"},
		{"TCP header cut", f["syn"][:30], false, "malformed IPv4 (30 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Summary(tc.b, tc.ether))
		})
	}

	// A total length that cuts the TCP header short: the IP header is
	// fine, the transport is not decoded.
	syn := append([]byte(nil), f["syn"]...)
	ip := IPv4(syn)
	syn[3] = 30
	ip.SetChecksum()
	assert.Equal(t, "10.244.1.5 > 172.21.0.10: proto 6, ttl 64, DF, len 30", Summary(syn, false))

	// A UDP length field shorter than the header or longer than the
	// datagram is reported, not turned into a negative payload length.
	for _, l := range []int{0, 7, 39} {
		dns := append([]byte(nil), f["dns"]...)
		UDP(IPv4(dns).Payload()).SetLength(l)
		assert.Equal(t, fmt.Sprintf("10.244.1.5:53000 > 172.21.0.10:53: UDP bad length %d, ttl 64, DF, len 58", l), Summary(dns, false))
	}
}

func FuzzSummary(f *testing.F) {
	for name, b := range summaryFrames(f) {
		ether := name == "arp request" || name == "arp reply" || name == "ping" || name == "vxlan"
		f.Add(b, ether, uint16(8472))
	}
	f.Add([]byte{}, true, uint16(0))
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, false, uint16(4789))
	f.Fuzz(func(t *testing.T, b []byte, ether bool, port uint16) {
		s := Summary(b, ether, port, 4789)
		if s == "" {
			t.Fatalf("empty summary for % x", b)
		}
	})
}
