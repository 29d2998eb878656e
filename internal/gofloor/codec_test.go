package gofloor

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var sizes = []int{64, 1400}
var sinkI int
var sinkU uint64

// (i) gopacket.NewPacket full decode: Eth/IPv4/UDP/VXLAN/Eth/IPv4/TCP/Payload
func BenchmarkDecodeNewPacket(b *testing.B) {
	for _, sz := range sizes {
		frame := vxlanFrame(sz)
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if n := len(p.Layers()); n != 8 || p.ErrorLayer() != nil {
			b.Fatalf("decoded %d layers: %v", n, p)
		}
		for _, v := range []struct {
			name string
			opt  gopacket.DecodeOptions
		}{{"Default", gopacket.Default}, {"NoCopy", gopacket.NoCopy}} {
			b.Run(fmt.Sprintf("inner%d/%s", sz, v.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(frame)))
				for i := 0; i < b.N; i++ {
					p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, v.opt)
					sinkI += len(p.Layers())
				}
			})
		}
	}
}

// stop the outer parser at VXLAN so the inner Ethernet doesn't overwrite the outer one
type vxlanStop struct{ layers.VXLAN }

func (v *vxlanStop) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

type dlp struct {
	oeth  layers.Ethernet
	oip   layers.IPv4
	oudp  layers.UDP
	vx    vxlanStop
	ieth  layers.Ethernet
	iip   layers.IPv4
	itcp  layers.TCP
	ipl   gopacket.Payload
	outer *gopacket.DecodingLayerParser
	inner *gopacket.DecodingLayerParser
	dec   []gopacket.LayerType
}

func newDLP() *dlp {
	d := &dlp{dec: make([]gopacket.LayerType, 0, 8)}
	d.outer = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.oeth, &d.oip, &d.oudp, &d.vx)
	d.outer.IgnoreUnsupported = true
	d.inner = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.ieth, &d.iip, &d.itcp, &d.ipl)
	d.inner.IgnoreUnsupported = true
	return d
}

func (d *dlp) decode(frame []byte) (n int, err error) {
	if err = d.outer.DecodeLayers(frame, &d.dec); err != nil {
		return
	}
	n = len(d.dec)
	if err = d.inner.DecodeLayers(d.vx.LayerPayload(), &d.dec); err != nil {
		return
	}
	return n + len(d.dec), nil
}

// (ii) DecodingLayerParser (two preallocated parsers: outer up to VXLAN, inner from VXLAN payload)
func BenchmarkDecodingLayerParser(b *testing.B) {
	for _, sz := range sizes {
		frame := vxlanFrame(sz)
		d := newDLP()
		if n, err := d.decode(frame); n != 8 || err != nil || d.vx.VNI != 1 || !d.iip.DstIP.Equal(ipPod2) || d.itcp.DstPort != 5201 {
			b.Fatalf("n=%d err=%v vni=%d dst=%v", n, err, d.vx.VNI, d.iip.DstIP)
		}
		b.Run(fmt.Sprintf("inner%d", sz), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				n, _ := d.decode(frame)
				sinkI += n
			}
		})
	}
}

// (iii) hand-written fixed offset parsing
type tuple struct {
	vni          uint32
	oSrc, oDst   uint32
	iSrc, iDst   uint32
	sport, dport uint16
	iproto       uint8
	innerDstMAC0 uint16
}

//go:noinline
func dstIPAtOffset(f []byte) uint32 { return binary.BigEndian.Uint32(f[30:34]) }

//go:noinline
func handParse(f []byte, t *tuple) bool {
	if len(f) < outerLen+14+20+4 {
		return false
	}
	if binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 || f[23] != 17 {
		return false
	}
	if binary.BigEndian.Uint16(f[36:]) != vxlanPort || f[42]&0x08 == 0 {
		return false
	}
	t.oSrc = binary.BigEndian.Uint32(f[26:])
	t.oDst = binary.BigEndian.Uint32(f[30:])
	t.vni = binary.BigEndian.Uint32(f[46:]) >> 8
	in := f[outerLen:]
	t.innerDstMAC0 = binary.BigEndian.Uint16(in[0:])
	if binary.BigEndian.Uint16(in[12:]) != 0x0800 {
		return false
	}
	ihl := int(in[14]&0x0f) * 4
	t.iproto = in[23]
	t.iSrc = binary.BigEndian.Uint32(in[26:])
	t.iDst = binary.BigEndian.Uint32(in[30:])
	l4 := in[14+ihl:]
	t.sport = binary.BigEndian.Uint16(l4[0:])
	t.dport = binary.BigEndian.Uint16(l4[2:])
	return true
}

func BenchmarkHandParse(b *testing.B) {
	frame := vxlanFrame(64)
	var t tuple
	if !handParse(frame, &t) || t.vni != 1 || t.dport != 5201 || t.iDst != 0x0af40202 {
		b.Fatalf("bad parse %+v", t)
	}
	b.Run("outerDstIP", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkU += uint64(dstIPAtOffset(frame))
		}
	})
	b.Run("fullOuterInner5tuple", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			handParse(frame, &t)
			sinkU += uint64(t.iDst)
		}
	})
}

// (iv) gopacket.SerializeLayers: outer Eth+IPv4+UDP+VXLAN around an inner frame (gopacket.Payload)
func BenchmarkSerializeVXLAN(b *testing.B) {
	for _, sz := range sizes {
		inner := innerFrame(sz)
		o := newOuter()
		for _, v := range []struct {
			name  string
			opts  gopacket.SerializeOptions
			fresh bool
		}{
			{"fixlen+csum/reuseBuf", gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, false},
			{"fixlen-nocsum/reuseBuf", gopacket.SerializeOptions{FixLengths: true}, false},
			{"fixlen+csum/newBufPerPkt", gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, true},
		} {
			b.Run(fmt.Sprintf("inner%d/%s", sz, v.name), func(b *testing.B) {
				buf := gopacket.NewSerializeBuffer()
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if v.fresh {
						buf = gopacket.NewSerializeBuffer()
					}
					o.ip.Id = uint16(i)
					if err := gopacket.SerializeLayers(buf, v.opts, &o.eth, &o.ip, &o.udp, &o.vx, gopacket.Payload(inner)); err != nil {
						b.Fatal(err)
					}
					sinkI += len(buf.Bytes())
				}
			})
		}
	}
}

// (v) hand prepend of the 50-byte outer header into preallocated headroom
const headroom = 128

type pktBuf struct {
	data []byte // backing store, cap = headroom + max frame
	off  int    // start of current frame
	n    int    // current frame length
}

func (p *pktBuf) frame() []byte { return p.data[p.off : p.off+p.n] }

// flow-hash source port, like the kernel's udp_flow_src_port (range 32768-61000-ish)
func srcPortHash(inner []byte) uint16 {
	h := binary.BigEndian.Uint32(inner[26:]) ^ binary.BigEndian.Uint32(inner[30:]) ^ binary.BigEndian.Uint32(inner[34:])
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	return uint16(32768 + (h % 28232))
}

func encapHand(p *pktBuf, tmpl *[outerLen]byte, id uint16, udpCsum bool) {
	p.off -= outerLen
	p.n += outerLen
	h := p.data[p.off : p.off+p.n]
	copy(h[:outerLen], tmpl[:])
	inner := h[outerLen:]
	binary.BigEndian.PutUint16(h[16:], uint16(p.n-14))
	binary.BigEndian.PutUint16(h[18:], id)
	binary.BigEndian.PutUint16(h[24:], ipv4HdrCsum(h[14:34]))
	binary.BigEndian.PutUint16(h[34:], srcPortHash(inner))
	ulen := p.n - 34
	binary.BigEndian.PutUint16(h[38:], uint16(ulen))
	if udpCsum {
		// pseudo header: src, dst, proto, udp len
		s := uint64(binary.BigEndian.Uint32(h[26:])) + uint64(binary.BigEndian.Uint32(h[30:])) + 17 + uint64(ulen)
		s = sum32(h[34:], s)
		c := csumFold(s)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(h[40:], c)
	}
}

func decapHand(p *pktBuf) { p.off += outerLen; p.n -= outerLen }

func BenchmarkHandPrepend(b *testing.B) {
	tmpl := outerTemplate()
	for _, sz := range sizes {
		inner := innerFrame(sz)
		// cross-check against gopacket's encoding
		ref := vxlanFrame(sz)
		p := &pktBuf{data: make([]byte, headroom+sz), off: headroom, n: sz}
		copy(p.data[headroom:], inner)
		encapHand(p, &tmpl, 0, true)
		var refT, myT tuple
		handParse(ref, &refT)
		handParse(p.frame(), &myT)
		myT.oSrc, refT.oSrc = 0, 0
		if len(p.frame()) != len(ref) || myT != refT {
			b.Fatalf("mismatch len %d vs %d", len(p.frame()), len(ref))
		}
		// verify checksums via gopacket decoding
		pk := gopacket.NewPacket(p.frame(), layers.LayerTypeEthernet, gopacket.Default)
		if pk.ErrorLayer() != nil || len(pk.Layers()) != 8 {
			b.Fatalf("hand frame not decodable: %v", pk)
		}
		ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ipv4HdrCsum(p.frame()[14:34]) != 0 {
			b.Fatalf("bad ip csum %x", ip.Checksum)
		}
		fr := p.frame()
		ps := uint64(binary.BigEndian.Uint32(fr[26:])) + uint64(binary.BigEndian.Uint32(fr[30:])) + 17 + uint64(len(fr)-34)
		if csumFold(sum32(fr[34:], ps)) != 0 {
			b.Fatalf("bad udp csum")
		}
		// and gopacket's own UDP checksum of the reference frame agrees with ours
		refS := uint64(binary.BigEndian.Uint32(ref[26:])) + uint64(binary.BigEndian.Uint32(ref[30:])) + 17 + uint64(len(ref)-34)
		if csumFold(sum32(ref[34:], refS)) != 0 {
			b.Fatalf("ref udp csum mismatch")
		}
		decapHand(p)
		for _, udp := range []bool{false, true} {
			name := "ipcsum-only(udp csum 0)"
			if udp {
				name = "ipcsum+udpcsum"
			}
			b.Run(fmt.Sprintf("inner%d/%s", sz, name), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					encapHand(p, &tmpl, uint16(i), udp)
					sinkI += p.n
					decapHand(p) // restore headroom (2 int adds)
				}
			})
		}
	}
}
