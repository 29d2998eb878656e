package packet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzViews feeds arbitrary bytes to the header views behind the checks
// the data plane makes before it reads a header (IPv4.Valid, ARP.Valid,
// SCTP.Chunks, SCTPChunk.Param) and to the checksum: once a check passes,
// every accessor must stay inside the bytes, and what the views report
// must agree with the bytes (chunk lengths fit, the payload is
// total length − header length, the checksum equals a naive one's
// complement sum).
func FuzzViews(f *testing.F) {
	for _, b := range summaryFrames(f) {
		f.Add(b, uint16(0))
		if len(b) > EthHeaderLen {
			f.Add(b[EthHeaderLen:], uint16(1))
		}
	}
	f.Add([]byte{}, uint16(0))
	f.Add(make([]byte, SCTPHeaderLen+4), uint16(7))
	f.Fuzz(func(t *testing.T, b []byte, typ uint16) {
		require.Equal(t, refChecksum(b), Checksum(b, 0), "checksum of % x", b)

		if ip := IPv4(b); ip.Valid() {
			require.Equal(t, ip.TotalLen()-ip.HeaderLen(), len(ip.Payload()))
			_, _, _, _ = ip.Src(), ip.Dst(), ip.FragOffset(), ip.ChecksumOK()
			pl := ip.Payload()
			switch {
			case ip.Protocol() == ProtoUDP && len(pl) >= UDPHeaderLen:
				_, _ = TransportChecksumOK(pl, ip.Src(), ip.Dst(), ProtoUDP), UDP(pl).Length()
			case ip.Protocol() == ProtoTCP && len(pl) >= TCPHeaderLen:
				_, _ = TransportChecksumOK(pl, ip.Src(), ip.Dst(), ProtoTCP), TCP(pl).DataOffset()
			case ip.Protocol() == ProtoICMP && len(pl) >= ICMPHeaderLen:
				_, _ = ICMP(pl).IsError(), ICMP(pl).NextHopMTU()
			}
		}
		if a := ARP(b); a.Valid() {
			_, _, _, _, _ = a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
		}
		if len(b) >= VXLANHeaderLen {
			_, _ = VXLAN(b).VNI(), VXLAN(b).ValidFlags()
		}

		s := SCTP(b)
		_ = s.ChecksumOK()
		total := SCTPHeaderLen
		ok := s.Chunks(func(c SCTPChunk) bool {
			require.GreaterOrEqual(t, len(c), SCTPChunkHeaderLen)
			require.Equal(t, c.Len(), len(c), "a chunk's bytes are its length without padding")
			total += len(c)
			_ = c.Param(typ)
			if len(c) >= SCTPInitLen {
				_, _, _, _, _ = c.InitTag(), c.ARwnd(), c.OutStreams(), c.InStreams(), c.InitTSN()
			}
			return true
		})
		if ok {
			require.LessOrEqual(t, total, len(b))
			require.NotEmpty(t, s.Summary())
			require.NotNil(t, s.FirstChunk())
		}
	})
}
