package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChecksumKnownVectors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint16
	}{
		{
			// RFC 1071 section 3 example: the sum of these words is
			// 2ddf0, folded ddf2, so the checksum is ~ddf2.
			name: "RFC 1071 example",
			data: []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7},
			want: ^uint16(0xddf2),
		},
		{
			// A captured IPv4 header (UDP 192.168.0.1 > 192.168.0.199)
			// with its checksum field zeroed; the header carried b861.
			name: "IPv4 header",
			data: []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
				0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7},
			want: 0xb861,
		},
		{
			name: "odd length pads with zero",
			data: []byte{0x01, 0x02, 0x03},
			want: ^uint16(0x0102 + 0x0300),
		},
		{name: "empty", data: nil, want: 0xffff},
		{name: "all ones", data: []byte{0xff, 0xff, 0xff, 0xff}, want: 0x0000},
		{
			// Long enough to take the 8-byte loop and carry past 32 bits
			// of partial sums many times.
			name: "long run of ff",
			data: func() []byte {
				b := make([]byte, 4096+6)
				for i := range b {
					b[i] = 0xff
				}
				return b
			}(),
			want: 0x0000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Checksum(tc.data, 0))
		})
	}
}

func TestChecksumOverValidHeaderIsZero(t *testing.T) {
	hdr := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	assert.Equal(t, uint16(0), Checksum(hdr, 0))
	ip := IPv4(hdr)
	assert.True(t, ip.ChecksumOK())
	ip.SetChecksum()
	assert.Equal(t, uint16(0xb861), ip.Checksum(), "SetChecksum recomputes the captured value")
	hdr[8] = 0x3f // TTL changed behind the checksum's back
	assert.False(t, ip.ChecksumOK())
}

// refSum is a deliberately naive one's-complement sum used as an oracle.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumMatchesNaiveOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		require.Equal(t, refChecksum(b), Checksum(b, 0), "len %d: % x", len(b), b)
	}
}

// randomHeader returns a random but well-formed 20-byte IPv4 header with a
// valid checksum.
func randomHeader(rng *rand.Rand) IPv4 {
	ip := IPv4(make([]byte, IPv4HeaderLen))
	var s, d [4]byte
	binary.BigEndian.PutUint32(s[:], rng.Uint32())
	binary.BigEndian.PutUint32(d[:], rng.Uint32())
	ip.SetHeader(IPv4Fields{
		TOS: uint8(rng.Uint32()), TotalLen: 20 + rng.IntN(1480), ID: uint16(rng.Uint32()),
		Flags: uint16(rng.Uint32()) & 0x5fff, TTL: uint8(rng.Uint32()), Protocol: uint8(rng.Uint32()),
		Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d),
	})
	return ip
}

func TestChecksumUpdate16MatchesRecomputation(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1624))
	for i := 0; i < 20000; i++ {
		ip := randomHeader(rng)
		// Any 16-bit word but version/IHL and the checksum itself.
		w := []int{2, 4, 6, 8, 12, 14, 16, 18}[rng.IntN(8)]
		old := binary.BigEndian.Uint16(ip[w:])
		nw := uint16(rng.Uint32())
		if i%10 == 0 {
			nw = ^old // worst case for carries
		}
		binary.BigEndian.PutUint16(ip[w:], nw)
		inc := ChecksumUpdate16(ip.Checksum(), old, nw)
		ip.SetChecksum()
		require.Equal(t, ip.Checksum(), inc, "word %d %#04x -> %#04x in % x", w, old, nw, []byte(ip))
	}
}

func TestChecksumUpdate32MatchesRecomputation(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 1624))
	for i := 0; i < 20000; i++ {
		ip := randomHeader(rng)
		off := 12
		if rng.IntN(2) == 1 {
			off = 16
		}
		old := [4]byte(ip[off : off+4])
		var nw [4]byte
		binary.BigEndian.PutUint32(nw[:], rng.Uint32())
		copy(ip[off:], nw[:])
		inc := ChecksumUpdate32(ip.Checksum(), old, nw)
		ip.SetChecksum()
		require.Equal(t, ip.Checksum(), inc, "addr at %d %v -> %v", off, old, nw)
		require.True(t, ip.ChecksumOK())
	}
}

func TestChecksumUpdateOnTransportSegments(t *testing.T) {
	// NAT rewrites an address (pseudo-header) and a port; the incremental
	// update must equal a fresh computation over the rewritten segment.
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 5000; i++ {
		proto := uint8(ProtoTCP)
		hl := TCPHeaderLen
		if i%2 == 1 {
			proto, hl = ProtoUDP, UDPHeaderLen
		}
		seg := make([]byte, hl+rng.IntN(64))
		for j := range seg {
			seg[j] = byte(rng.Uint32())
		}
		if proto == ProtoUDP {
			UDP(seg).SetLength(len(seg))
		} else {
			seg[12] = 5 << 4
		}
		var s4, d4 [4]byte
		binary.BigEndian.PutUint32(s4[:], rng.Uint32())
		binary.BigEndian.PutUint32(d4[:], rng.Uint32())
		src, dst := netip.AddrFrom4(s4), netip.AddrFrom4(d4)
		SetTransportChecksum(seg, src, dst, proto)
		require.True(t, TransportChecksumOK(seg, src, dst, proto))

		co := 16
		if proto == ProtoUDP {
			co = 6
		}
		var n4 [4]byte
		binary.BigEndian.PutUint32(n4[:], rng.Uint32())
		c := binary.BigEndian.Uint16(seg[co:])
		c = ChecksumUpdate32(c, s4, n4)
		oldPort := binary.BigEndian.Uint16(seg[0:2])
		newPort := uint16(rng.Uint32())
		binary.BigEndian.PutUint16(seg[0:2], newPort)
		c = ChecksumUpdate16(c, oldPort, newPort)
		if proto == ProtoUDP && c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(seg[co:], c)
		nsrc := netip.AddrFrom4(n4)
		require.True(t, TransportChecksumOK(seg, nsrc, dst, proto), "proto %d iteration %d", proto, i)

		fresh := append([]byte(nil), seg...)
		SetTransportChecksum(fresh, nsrc, dst, proto)
		require.Equal(t, fresh, seg, "incremental update equals recomputation")
	}
}

var (
	gpSrc = netip.MustParseAddr("10.244.1.5")
	gpDst = netip.MustParseAddr("172.21.0.10")
)

// gopacketSegment serializes IPv4 + l4 + payload with gopacket computing
// checksums and returns the transport segment bytes.
func gopacketSegment(t *testing.T, l4 gopacket.SerializableLayer, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: net.IP(gpSrc.AsSlice()), DstIP: net.IP(gpDst.AsSlice())}
	switch l := l4.(type) {
	case *layers.TCP:
		ip.Protocol = layers.IPProtocolTCP
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
	case *layers.UDP:
		ip.Protocol = layers.IPProtocolUDP
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		ip, l4, gopacket.Payload(payload)))
	b := buf.Bytes()
	require.True(t, IPv4(b).ChecksumOK(), "gopacket IPv4 header checksum agrees with ours")
	return append([]byte(nil), b[IPv4HeaderLen:]...)
}

func TestSetTransportChecksumMatchesGopacket(t *testing.T) {
	tests := []struct {
		name    string
		l4      gopacket.SerializableLayer
		proto   uint8
		payload []byte
	}{
		{"TCP SYN", &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 64240}, ProtoTCP, nil},
		{"TCP data odd length", &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 7, ACK: true, PSH: true, Window: 502},
			ProtoTCP, []byte("GET / HTTP/1.1\r\nHost: web\r\n\r\n!")},
		{"TCP with options", &layers.TCP{SrcPort: 1, DstPort: 65535, SYN: true, Window: 1,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}},
			ProtoTCP, nil},
		{"UDP DNS", &layers.UDP{SrcPort: 53000, DstPort: 53}, ProtoUDP, []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"UDP empty", &layers.UDP{SrcPort: 9, DstPort: 9}, ProtoUDP, nil},
		{"UDP odd", &layers.UDP{SrcPort: 8472, DstPort: 8472}, ProtoUDP, []byte{1, 2, 3, 4, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := gopacketSegment(t, tc.l4, tc.payload)
			require.True(t, TransportChecksumOK(want, gpSrc, gpDst, tc.proto), "gopacket's checksum verifies")

			got := append([]byte(nil), want...)
			co := 16
			if tc.proto == ProtoUDP {
				co = 6
			}
			got[co], got[co+1] = 0xde, 0xad // garbage that must be overwritten
			SetTransportChecksum(got, gpSrc, gpDst, tc.proto)
			assert.Equal(t, want, got)

			// Any flipped bit in the segment or pseudo-header is caught.
			got[len(got)-1] ^= 0x01
			assert.False(t, TransportChecksumOK(got, gpSrc, gpDst, tc.proto))
			got[len(got)-1] ^= 0x01
			assert.False(t, TransportChecksumOK(got, gpSrc, netip.MustParseAddr("172.21.0.11"), tc.proto))
		})
	}
}

func TestUDPChecksumZeroRules(t *testing.T) {
	seg := make([]byte, UDPHeaderLen+2)
	u := UDP(seg)
	u.SetPorts(1234, 5678)
	u.SetLength(len(seg))
	// Choose the last payload word so that the computed checksum is 0:
	// RFC 768 says it must be transmitted as ffff.
	SetTransportChecksum(seg, gpSrc, gpDst, ProtoUDP)
	c := u.Checksum()
	binary.BigEndian.PutUint16(seg[8:], c)
	SetTransportChecksum(seg, gpSrc, gpDst, ProtoUDP)
	assert.Equal(t, uint16(0xffff), u.Checksum(), "computed 0 is sent as ffff")
	assert.True(t, TransportChecksumOK(seg, gpSrc, gpDst, ProtoUDP))

	want := gopacketSegment(t, &layers.UDP{SrcPort: 1234, DstPort: 5678}, seg[8:])
	assert.Equal(t, want, seg, "gopacket agrees on ffff")

	// A zero UDP checksum means "none" and is accepted whatever the data.
	u.SetChecksumField(0)
	seg[9] ^= 0xff
	assert.True(t, TransportChecksumOK(seg, gpSrc, gpDst, ProtoUDP))
	// TCP has no such escape.
	tcp := make([]byte, TCPHeaderLen)
	tcp[12] = 5 << 4
	tcp[0] = 1
	assert.False(t, TransportChecksumOK(tcp, gpSrc, gpDst, ProtoTCP))
}

func TestPseudoHeaderSum(t *testing.T) {
	// 10.244.1.5 -> 172.21.0.10, UDP, 20 bytes: the address words, the
	// protocol and the length, not yet folded.
	want := uint32(0x0af4 + 0x0105 + 0xac15 + 0x000a + 17 + 20)
	assert.Equal(t, want, PseudoHeaderSum(gpSrc, gpDst, ProtoUDP, 20))
}

func TestDecTTLKeepsChecksumValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(64, 0))
	for i := 0; i < 5000; i++ {
		ip := randomHeader(rng)
		if i < 256 {
			ip[8] = byte(i) // every TTL, including 0 and 1
			ip.SetChecksum()
		}
		ttl := ip.TTL()
		ip.DecTTL()
		require.Equal(t, ttl-1, ip.TTL())
		require.True(t, ip.ChecksumOK(), "TTL %d: % x", ttl, []byte(ip))
		before := ip.Checksum()
		ip.SetChecksum()
		require.Equal(t, ip.Checksum(), before, "incremental equals full recomputation")
	}
}

// sum16 is RFC 1071's reference: 16-bit big-endian words, folded.
func sum16(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for ; len(b) >= 2; b = b[2:] {
		s += uint64(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// TestSumMatchesReference checks the 64-bit word sum against 16-bit
// words on every length up to 200 bytes, random and all-ones data, and
// initial sums up to the largest.
func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 200; n++ {
		for _, fill := range []string{"random", "ones"} {
			b := make([]byte, n)
			for i := range b {
				if fill == "ones" {
					b[i] = 0xff
				} else {
					b[i] = byte(r.Uint32())
				}
			}
			for _, init := range []uint32{0, 1, 0xffff, 0x1fffe, r.Uint32(), 0xffffffff} {
				want := sum16(b, init)
				got := Sum(b, init)
				require.Equal(t, want, ^Fold(got), "len %d %s initial %#x", n, fill, init)
				// A running sum goes on: even-length prefixes chain.
				if n >= 2 {
					k := (n / 2) &^ 1
					require.Equal(t, want, ^Fold(Sum(b[k:], Sum(b[:k], init))), "len %d chained at %d", n, k)
				}
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	buf := make([]byte, 114)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Sum(buf, 0)
	}
}
