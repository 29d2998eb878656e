package packet

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crc32cBitwise is RFC 9260 Appendix B's CRC32c computed bit by bit (the
// reflected polynomial 0x82F63B78), independent of hash/crc32.
func crc32cBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func TestCRC32cVector(t *testing.T) {
	// The CRC-32C check value (RFC 3720 B.4, the "123456789" test).
	assert.Equal(t, uint32(0xe3069283), crc32cBitwise([]byte("123456789")))
	s := SCTP(make([]byte, SCTPHeaderLen+4))
	copy(s[12:], []byte{11, 0, 0, 4})
	s.SetPorts(80, 34000)
	s.SetVTag(0xdeadbeef)
	s.SetChecksum()
	zeroed := append([]byte(nil), s...)
	clear(zeroed[8:12])
	// Appendix B: the CRC's bytes go on the wire least significant first.
	assert.Equal(t, crc32cBitwise(zeroed), binary.LittleEndian.Uint32(s[8:12]))
	assert.True(t, s.ChecksumOK())
	s[13] ^= 1
	assert.False(t, s.ChecksumOK(), "a flipped bit must fail the CRC")
}

// build writes one SCTP packet with the chunk put writes.
func build(vtag uint32, put func(b []byte) int) SCTP {
	b := make([]byte, 1500)
	n := SCTPHeaderLen + put(b[SCTPHeaderLen:])
	s := SCTP(b[:n])
	s.SetPorts(40000, 80)
	s.SetVTag(vtag)
	s.SetChecksum()
	return s
}

func TestSCTPChunksDecodeWithGopacket(t *testing.T) {
	init := &SCTPInit{Tag: 0x11223344, ARwnd: 106496, Out: 10, In: 65535, TSN: 0x55667788, Addr: [4]byte{10, 0, 0, 5}, SupportAddr: true}
	cookie := make([]byte, 37)
	for i := range cookie {
		cookie[i] = byte(i)
	}
	ack := &SCTPInit{Tag: 0x99, ARwnd: 106496, Out: 10, In: 10, TSN: 7, Addr: [4]byte{10, 0, 0, 6}, Cookie: cookie}
	tests := []struct {
		name  string
		pkt   SCTP
		layer gopacket.LayerType
		check func(t *testing.T, l gopacket.Layer)
	}{
		{"INIT", build(0, func(b []byte) int { return PutInit(b, SCTPChunkInit, init) }), layers.LayerTypeSCTPInit, func(t *testing.T, l gopacket.Layer) {
			i := l.(*layers.SCTPInit)
			assert.Equal(t, uint32(0x11223344), i.InitiateTag)
			assert.Equal(t, uint32(106496), i.AdvertisedReceiverWindowCredit)
			assert.Equal(t, uint16(10), i.OutboundStreams)
			assert.Equal(t, uint16(65535), i.InboundStreams)
			assert.Equal(t, uint32(0x55667788), i.InitialTSN)
			var types []uint16
			for _, p := range i.Parameters {
				types = append(types, p.Type)
			}
			assert.Equal(t, []uint16{SCTPParamIPv4, SCTPParamSupportedAddr, SCTPParamECN, SCTPParamSupportedExt, SCTPParamFwdTSN}, types)
		}},
		{"INIT ACK", build(0x11223344, func(b []byte) int { return PutInit(b, SCTPChunkInitAck, ack) }), layers.LayerTypeSCTPInitAck, func(t *testing.T, l gopacket.Layer) {
			i := l.(*layers.SCTPInit)
			require.NotEmpty(t, i.Parameters)
			assert.Equal(t, uint16(SCTPParamStateCookie), i.Parameters[0].Type)
			assert.Equal(t, cookie, i.Parameters[0].Value)
		}},
		{"COOKIE ECHO", build(0x99, func(b []byte) int { return PutChunk(b, SCTPChunkCookieEcho, 0, cookie) }), layers.LayerTypeSCTPCookieEcho, func(t *testing.T, l gopacket.Layer) {
			assert.Equal(t, cookie, l.(*layers.SCTPCookieEcho).Cookie)
		}},
		{"COOKIE ACK", build(0x11223344, func(b []byte) int { return PutChunk(b, SCTPChunkCookieAck, 0, nil) }), layers.LayerTypeSCTPCookieAck, nil},
		{"DATA", build(0x99, func(b []byte) int { return PutData(b, 7, 0, []byte("hello")) }), layers.LayerTypeSCTPData, func(t *testing.T, l gopacket.Layer) {
			d := l.(*layers.SCTPData)
			assert.True(t, d.BeginFragment && d.EndFragment)
			assert.Equal(t, uint32(7), d.TSN)
			assert.Equal(t, []byte("hello"), d.Payload)
		}},
		{"SACK", build(0x99, func(b []byte) int { return PutSack(b, 7, 106491) }), layers.LayerTypeSCTPSack, func(t *testing.T, l gopacket.Layer) {
			s := l.(*layers.SCTPSack)
			assert.Equal(t, uint32(7), s.CumulativeTSNAck)
			assert.Equal(t, uint32(106491), s.AdvertisedReceiverWindowCredit)
		}},
		{"SHUTDOWN", build(0x99, func(b []byte) int { return PutShutdown(b, 0x55667788) }), layers.LayerTypeSCTPShutdown, func(t *testing.T, l gopacket.Layer) {
			assert.Equal(t, uint32(0x55667788), l.(*layers.SCTPShutdown).CumulativeTSNAck)
		}},
		{"SHUTDOWN ACK", build(0x11223344, func(b []byte) int { return PutChunk(b, SCTPChunkShutdownAck, 0, nil) }), layers.LayerTypeSCTPShutdownAck, nil},
		{"SHUTDOWN COMPLETE", build(0x99, func(b []byte) int { return PutChunk(b, SCTPChunkShutdownComplete, 0, nil) }), layers.LayerTypeSCTPShutdownComplete, func(t *testing.T, l gopacket.Layer) {
			assert.Equal(t, uint8(0), l.(*layers.SCTPEmptyLayer).Flags)
		}},
		{"ABORT", build(0x11223344, func(b []byte) int { return PutChunk(b, SCTPChunkAbort, SCTPFlagT, nil) }), layers.LayerTypeSCTPAbort, func(t *testing.T, l gopacket.Layer) {
			assert.Equal(t, uint8(SCTPFlagT), l.(*layers.SCTPError).Flags)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, tc.pkt.ChecksumOK())
			assert.Equal(t, crc32cBitwise(append(append(append([]byte(nil), tc.pkt[:8]...), 0, 0, 0, 0), tc.pkt[12:]...)), binary.LittleEndian.Uint32(tc.pkt[8:12]))
			assert.True(t, tc.pkt.Chunks(nil), "well formed")
			assert.Equal(t, tc.name, tc.pkt.Summary())
			p := gopacket.NewPacket(tc.pkt, layers.LayerTypeSCTP, gopacket.Default)
			require.Nil(t, p.ErrorLayer(), "gopacket: %v", p.ErrorLayer())
			h := p.Layer(layers.LayerTypeSCTP).(*layers.SCTP)
			assert.Equal(t, layers.SCTPPort(40000), h.SrcPort)
			assert.Equal(t, layers.SCTPPort(80), h.DstPort)
			assert.Equal(t, tc.pkt.VTag(), h.VerificationTag)
			l := p.Layer(tc.layer)
			require.NotNil(t, l, "no %s layer in %v", tc.layer, p.Layers())
			if tc.check != nil {
				tc.check(t, l)
			}
		})
	}
}

func TestSCTPMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"short header", make([]byte, 8)},
		{"no chunk", make([]byte, 12)},
		{"chunk length below 4", append(make([]byte, 12), 1, 0, 0, 2)},
		{"chunk longer than the packet", append(make([]byte, 12), 1, 0, 0, 40, 0, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.False(t, SCTP(tc.b).Chunks(nil))
		})
	}
}
