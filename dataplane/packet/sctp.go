package packet

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// SCTP (RFC 9260): the 12-byte common header, chunk views and builders for
// the chunks an association's setup, one small message each way and the
// graceful close need.

// SCTP sizes and numbers.
const (
	ProtoSCTP = 132

	SCTPHeaderLen      = 12 // source port, destination port, verification tag, checksum
	SCTPChunkHeaderLen = 4  // type, flags, length
	SCTPInitLen        = 20 // INIT / INIT ACK fixed part, chunk header included
	SCTPDataHeaderLen  = 16 // DATA chunk header: TSN, stream id, SSN, PPID
	SCTPSackLen        = 16 // SACK without gap blocks or duplicate TSNs
)

// SCTP chunk types (RFC 9260 §3.2).
const (
	SCTPChunkData             = 0
	SCTPChunkInit             = 1
	SCTPChunkInitAck          = 2
	SCTPChunkSack             = 3
	SCTPChunkHeartbeat        = 4
	SCTPChunkHeartbeatAck     = 5
	SCTPChunkAbort            = 6
	SCTPChunkShutdown         = 7
	SCTPChunkShutdownAck      = 8
	SCTPChunkError            = 9
	SCTPChunkCookieEcho       = 10
	SCTPChunkCookieAck        = 11
	SCTPChunkShutdownComplete = 14
)

// SCTP chunk flags.
const (
	// SCTPFlagT is the T bit of ABORT and SHUTDOWN COMPLETE: the
	// verification tag is the receiver's own (reflected), not the peer's.
	SCTPFlagT = 0x01
	// SCTPDataE and SCTPDataB mark the last and first fragment of a user
	// message; an unfragmented message has both.
	SCTPDataE = 0x01
	SCTPDataB = 0x02
)

// SCTP INIT / INIT ACK parameter types (RFC 9260 §3.3.2, RFC 3758, RFC 5061).
const (
	SCTPParamIPv4          = 5
	SCTPParamStateCookie   = 7
	SCTPParamSupportedAddr = 12
	SCTPParamECN           = 0x8000
	SCTPParamSupportedExt  = 0x8008
	SCTPParamFwdTSN        = 0xc000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SCTPChunkName is the chunk type as RFC 9260 and tcpdump name it.
func SCTPChunkName(t uint8) string {
	switch t {
	case SCTPChunkData:
		return "DATA"
	case SCTPChunkInit:
		return "INIT"
	case SCTPChunkInitAck:
		return "INIT ACK"
	case SCTPChunkSack:
		return "SACK"
	case SCTPChunkHeartbeat:
		return "HEARTBEAT"
	case SCTPChunkHeartbeatAck:
		return "HEARTBEAT ACK"
	case SCTPChunkAbort:
		return "ABORT"
	case SCTPChunkShutdown:
		return "SHUTDOWN"
	case SCTPChunkShutdownAck:
		return "SHUTDOWN ACK"
	case SCTPChunkError:
		return "ERROR"
	case SCTPChunkCookieEcho:
		return "COOKIE ECHO"
	case SCTPChunkCookieAck:
		return "COOKIE ACK"
	case SCTPChunkShutdownComplete:
		return "SHUTDOWN COMPLETE"
	}
	return fmt.Sprintf("chunk type %d", t)
}

// SCTP is a view of an SCTP packet: the common header and its chunks.
type SCTP []byte

// SrcPort is the source port.
func (s SCTP) SrcPort() uint16 { return binary.BigEndian.Uint16(s[0:2]) }

// DstPort is the destination port.
func (s SCTP) DstPort() uint16 { return binary.BigEndian.Uint16(s[2:4]) }

// SetPorts writes both ports.
func (s SCTP) SetPorts(src, dst uint16) {
	binary.BigEndian.PutUint16(s[0:2], src)
	binary.BigEndian.PutUint16(s[2:4], dst)
}

// VTag is the verification tag.
func (s SCTP) VTag() uint32 { return binary.BigEndian.Uint32(s[4:8]) }

// SetVTag writes the verification tag.
func (s SCTP) SetVTag(v uint32) { binary.BigEndian.PutUint32(s[4:8], v) }

// Checksum is the CRC32c field as it is on the wire.
func (s SCTP) Checksum() uint32 { return binary.LittleEndian.Uint32(s[8:12]) }

// CRC32c computes the packet's CRC32c (Castagnoli) with the checksum field
// taken as zero, as RFC 9260 §6.8 and Appendix B define it.
func (s SCTP) CRC32c() uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, s[0:8])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, s[12:])
}

// SetChecksum writes the CRC32c. The CRC is stored least significant byte
// first (Appendix B: the reflected CRC's bytes in transmission order), as
// Linux's sctp_compute_cksum does with cpu_to_le32 of the inverted value.
// SCTP has no pseudo-header: NAT of ports or addresses must recompute it.
func (s SCTP) SetChecksum() { binary.LittleEndian.PutUint32(s[8:12], s.CRC32c()) }

// ChecksumOK reports whether the CRC32c is right.
func (s SCTP) ChecksumOK() bool { return len(s) >= SCTPHeaderLen && s.Checksum() == s.CRC32c() }

// Chunks calls fn for every chunk (padding excluded from each chunk's
// bytes) and reports whether the packet is well formed: a header, and
// chunks whose lengths are at least 4 and fit.
func (s SCTP) Chunks(fn func(c SCTPChunk) bool) bool {
	if len(s) < SCTPHeaderLen {
		return false
	}
	b := s[SCTPHeaderLen:]
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		if len(b) < SCTPChunkHeaderLen {
			return false
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < SCTPChunkHeaderLen || n > len(b) {
			return false
		}
		if fn != nil && !fn(SCTPChunk(b[:n])) {
			return true
		}
		n = pad4(n)
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return true
}

// FirstChunk is the first chunk, or nil when the packet has none.
func (s SCTP) FirstChunk() SCTPChunk {
	var first SCTPChunk
	s.Chunks(func(c SCTPChunk) bool { first = c; return false })
	return first
}

// Summary lists the chunk types, "INIT ACK, COOKIE ECHO", for traces.
func (s SCTP) Summary() string {
	out := ""
	s.Chunks(func(c SCTPChunk) bool {
		if out != "" {
			out += ", "
		}
		out += SCTPChunkName(c.Type())
		return true
	})
	return out
}

func pad4(n int) int { return (n + 3) &^ 3 }

// SCTPChunk is a view of one chunk, without its padding.
type SCTPChunk []byte

// Type is the chunk type.
func (c SCTPChunk) Type() uint8 { return c[0] }

// Flags is the chunk flags byte.
func (c SCTPChunk) Flags() uint8 { return c[1] }

// Len is the chunk length field.
func (c SCTPChunk) Len() int { return int(binary.BigEndian.Uint16(c[2:4])) }

// Value is what follows the chunk header.
func (c SCTPChunk) Value() []byte { return c[SCTPChunkHeaderLen:] }

// InitTag is an INIT or INIT ACK's Initiate Tag.
func (c SCTPChunk) InitTag() uint32 { return binary.BigEndian.Uint32(c[4:8]) }

// ARwnd is the advertised receiver window credit of INIT, INIT ACK or SACK.
func (c SCTPChunk) ARwnd() uint32 { return binary.BigEndian.Uint32(c[8:12]) }

// OutStreams is an INIT or INIT ACK's number of outbound streams.
func (c SCTPChunk) OutStreams() uint16 { return binary.BigEndian.Uint16(c[12:14]) }

// InStreams is an INIT or INIT ACK's number of inbound streams.
func (c SCTPChunk) InStreams() uint16 { return binary.BigEndian.Uint16(c[14:16]) }

// InitTSN is an INIT or INIT ACK's initial TSN.
func (c SCTPChunk) InitTSN() uint32 { return binary.BigEndian.Uint32(c[16:20]) }

// Param returns the value of the first INIT / INIT ACK parameter of type
// typ, nil when there is none.
func (c SCTPChunk) Param(typ uint16) []byte {
	if len(c) < SCTPInitLen {
		return nil
	}
	b := c[SCTPInitLen:]
	for len(b) >= 4 {
		t, n := binary.BigEndian.Uint16(b[0:2]), int(binary.BigEndian.Uint16(b[2:4]))
		if n < 4 || n > len(b) {
			return nil
		}
		if t == typ {
			return b[4:n]
		}
		n = pad4(n)
		if n > len(b) {
			return nil
		}
		b = b[n:]
	}
	return nil
}

// TSN is a DATA chunk's TSN.
func (c SCTPChunk) TSN() uint32 { return binary.BigEndian.Uint32(c[4:8]) }

// UserData is a DATA chunk's payload.
func (c SCTPChunk) UserData() []byte { return c[SCTPDataHeaderLen:] }

// CumTSN is the cumulative TSN ack of a SACK or SHUTDOWN.
func (c SCTPChunk) CumTSN() uint32 { return binary.BigEndian.Uint32(c[4:8]) }

// SCTPInit is what an INIT or INIT ACK says.
type SCTPInit struct {
	Tag         uint32
	ARwnd       uint32
	Out, In     uint16
	TSN         uint32
	Addr        [4]byte // an IPv4 Address parameter (zero: none)
	Cookie      []byte  // INIT ACK: the State Cookie parameter
	SupportAddr bool    // INIT: the Supported Address Types parameter (IPv4)
}

// chunkLen is the unpadded length of the INIT or INIT ACK chunk PutInit
// writes for in.
func (in *SCTPInit) chunkLen() int {
	n := SCTPInitLen
	if in.Addr != [4]byte{} {
		n += 8
	}
	if in.Cookie != nil {
		n += pad4(4 + len(in.Cookie))
	}
	if in.SupportAddr {
		n += 8 // 4 + one 2-byte type, padded
	}
	n += 4     // ECN capable
	n += 4 + 4 // Supported Extensions: FORWARD TSN, padded
	n += 4     // Forward-TSN supported
	return n
}

// SCTPInitChunkLen is the padded length PutInit writes for in.
func SCTPInitChunkLen(in *SCTPInit) int { return pad4(in.chunkLen()) }

// PutInit writes an INIT (typ SCTPChunkInit) or INIT ACK chunk at b and
// returns its padded length. Parameters in the order Linux's
// sctp_make_init / sctp_make_init_ack put them: State Cookie (INIT ACK),
// IPv4 address, Supported Address Types (INIT), ECN capable, Supported
// Extensions (FORWARD TSN), Forward-TSN supported.
func PutInit(b []byte, typ uint8, in *SCTPInit) int {
	n := in.chunkLen()
	clear(b[:pad4(n)])
	b[0], b[1] = typ, 0
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	binary.BigEndian.PutUint32(b[4:8], in.Tag)
	binary.BigEndian.PutUint32(b[8:12], in.ARwnd)
	binary.BigEndian.PutUint16(b[12:14], in.Out)
	binary.BigEndian.PutUint16(b[14:16], in.In)
	binary.BigEndian.PutUint32(b[16:20], in.TSN)
	p := b[SCTPInitLen:]
	param := func(t uint16, v []byte) {
		binary.BigEndian.PutUint16(p[0:2], t)
		binary.BigEndian.PutUint16(p[2:4], uint16(4+len(v)))
		copy(p[4:], v)
		p = p[pad4(4+len(v)):]
	}
	if in.Cookie != nil {
		param(SCTPParamStateCookie, in.Cookie)
	}
	if in.Addr != [4]byte{} {
		param(SCTPParamIPv4, in.Addr[:])
	}
	if in.SupportAddr {
		param(SCTPParamSupportedAddr, []byte{0, SCTPParamIPv4})
	}
	param(SCTPParamECN, nil)
	param(SCTPParamSupportedExt, []byte{0xc0}) // FORWARD TSN (chunk type 192)
	param(SCTPParamFwdTSN, nil)
	return pad4(n)
}

// PutChunk writes a chunk of type typ with flags and value at b and returns
// its padded length (the padding is zero).
func PutChunk(b []byte, typ, flags uint8, value []byte) int {
	n := SCTPChunkHeaderLen + len(value)
	clear(b[:pad4(n)])
	b[0], b[1] = typ, flags
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	copy(b[4:], value)
	return pad4(n)
}

// SCTPChunkLen is the padded length of a chunk with n value bytes.
func SCTPChunkLen(n int) int { return pad4(SCTPChunkHeaderLen + n) }

// PutData writes an unfragmented DATA chunk (B and E set, stream 0,
// SSN ssn, PPID 0) carrying data and returns its padded length.
func PutData(b []byte, tsn uint32, ssn uint16, data []byte) int {
	return PutDataFrag(b, SCTPDataB|SCTPDataE, tsn, ssn, data)
}

// PutDataFrag writes a DATA chunk with the B/E flags given: one fragment
// of a message (B first, E last, neither in between).
func PutDataFrag(b []byte, flags uint8, tsn uint32, ssn uint16, data []byte) int {
	n := SCTPDataHeaderLen + len(data)
	clear(b[:pad4(n)])
	b[0], b[1] = SCTPChunkData, flags
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	binary.BigEndian.PutUint32(b[4:8], tsn)
	binary.BigEndian.PutUint16(b[8:10], 0)
	binary.BigEndian.PutUint16(b[10:12], ssn)
	binary.BigEndian.PutUint32(b[12:16], 0)
	copy(b[16:], data)
	return pad4(n)
}

// PutSack writes a SACK without gap blocks or duplicates.
func PutSack(b []byte, cumTSN, arwnd uint32) int {
	b[0], b[1] = SCTPChunkSack, 0
	binary.BigEndian.PutUint16(b[2:4], SCTPSackLen)
	binary.BigEndian.PutUint32(b[4:8], cumTSN)
	binary.BigEndian.PutUint32(b[8:12], arwnd)
	binary.BigEndian.PutUint32(b[12:16], 0)
	return SCTPSackLen
}

// PutShutdown writes a SHUTDOWN with its cumulative TSN ack.
func PutShutdown(b []byte, cumTSN uint32) int {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], cumTSN)
	return PutChunk(b, SCTPChunkShutdown, 0, v[:])
}
