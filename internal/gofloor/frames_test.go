package gofloor

import (
	"encoding/binary"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// flannel uses 8472, which gopacket does not map to VXLAN by default.
func init() { layers.RegisterUDPPortLayerType(8472, layers.LayerTypeVXLAN) }

var (
	macPod1  = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x02}
	macCni1  = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01}
	macVtep1 = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x00}
	macVtep2 = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x02, 0x00}
	macCni2  = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x02, 0x01}
	macPod2  = net.HardwareAddr{0x0a, 0x58, 0x0a, 0xf4, 0x02, 0x02}
	macEth1  = net.HardwareAddr{0x00, 0x16, 0x3e, 0x00, 0x00, 0x11}
	macEth2  = net.HardwareAddr{0x00, 0x16, 0x3e, 0x00, 0x00, 0x12}
	ipPod1   = net.IP{10, 244, 1, 2}
	ipPod2   = net.IP{10, 244, 2, 2}
	ipNode1  = net.IP{172, 16, 0, 11}
	ipNode2  = net.IP{172, 16, 0, 12}
)

const (
	vxlanPort = 8472
	outerLen  = 14 + 20 + 8 + 8 // 50
)

// innerFrame: Ethernet/IPv4/TCP + payload, total `size` bytes, as it leaves flannel.1
// (src = local VTEP MAC, dst = remote VTEP MAC).
func innerFrame(size int) []byte {
	eth := &layers.Ethernet{SrcMAC: macVtep1, DstMAC: macVtep2, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 63, Id: 1, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP, SrcIP: ipPod1, DstIP: ipPod2}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(ip)
	pl := make([]byte, size-54)
	for i := range pl {
		pl[i] = byte(i)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(pl)); err != nil {
		panic(err)
	}
	if len(buf.Bytes()) != size {
		panic("inner size")
	}
	return append([]byte(nil), buf.Bytes()...)
}

type outer struct {
	eth layers.Ethernet
	ip  layers.IPv4
	udp layers.UDP
	vx  layers.VXLAN
}

func newOuter() *outer {
	o := &outer{}
	o.eth = layers.Ethernet{SrcMAC: macEth1, DstMAC: macEth2, EthernetType: layers.EthernetTypeIPv4}
	o.ip = layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ipNode1, DstIP: ipNode2}
	o.udp = layers.UDP{SrcPort: 51234, DstPort: vxlanPort}
	o.udp.SetNetworkLayerForChecksum(&o.ip)
	o.vx = layers.VXLAN{ValidIDFlag: true, VNI: 1}
	return o
}

// vxlanFrame: full outer+inner frame (50 + size bytes)
func vxlanFrame(size int) []byte {
	o := newOuter()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&o.eth, &o.ip, &o.udp, &o.vx, gopacket.Payload(innerFrame(size))); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// outerTemplate: the 50 static bytes a flannel-like VTEP would precompute per peer.
func outerTemplate() [outerLen]byte {
	var t [outerLen]byte
	copy(t[0:6], macEth2)
	copy(t[6:12], macEth1)
	binary.BigEndian.PutUint16(t[12:], 0x0800)
	t[14] = 0x45
	t[22] = 64 // TTL
	t[23] = 17 // UDP
	copy(t[26:30], ipNode1.To4())
	copy(t[30:34], ipNode2.To4())
	binary.BigEndian.PutUint16(t[36:], vxlanPort)
	t[42] = 0x08                  // I flag
	t[46], t[47], t[48] = 0, 0, 1 // VNI 1
	return t
}

// ---- checksums --------------------------------------------------------------

func csumFold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

func ipv4HdrCsum(h []byte) uint16 {
	_ = h[19]
	var s uint64
	for i := 0; i < 20; i += 2 {
		s += uint64(binary.BigEndian.Uint16(h[i:]))
	}
	return csumFold(s)
}

// sum32 adds the buffer as big-endian 32-bit words into a 64-bit accumulator
// (one's complement sum is endian-agnostic after folding in BE order).
func sum32(b []byte, s uint64) uint64 {
	for len(b) >= 32 {
		s += uint64(binary.BigEndian.Uint32(b[0:])) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:])) + uint64(binary.BigEndian.Uint32(b[20:])) +
			uint64(binary.BigEndian.Uint32(b[24:])) + uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}
