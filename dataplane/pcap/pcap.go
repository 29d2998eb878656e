// Package pcap captures the frames crossing devices into one pcapng file:
// one interface block per captured device, named "namespace/device" (e.g.
// "node-1/flannel.1"), with the Ethernet or raw-IP link type of the device,
// each packet on every device it crossed, its direction in the EPB flags,
// and the hop that sent it there in the packet's comment.
//
// Timestamps are the loop's virtual time added to a fixed epoch, so the
// same scenario always writes the same bytes.
package pcap

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Epoch is the wall-clock time of virtual time zero in captures.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Sink is a link.Capturer that keeps the frames in memory until Write.
type Sink struct {
	// Clock is the loop's clock.
	Clock func() time.Duration
	// Trace, if set, supplies the hop text for packet comments.
	Trace *trace.Recorder
	// Filter, if set, chooses the devices to capture.
	Filter func(dev *link.Device) bool

	ifaces []iface
	index  map[*link.Device]int
	recs   []record
}

type iface struct {
	name string
	typ  layers.LinkType
	mtu  int
}

type record struct {
	iface   int
	at      time.Duration
	data    []byte
	dir     link.Dir
	comment string
}

// NewSink returns an empty sink.
func NewSink(clock func() time.Duration, rec *trace.Recorder) *Sink {
	return &Sink{Clock: clock, Trace: rec, index: map[*link.Device]int{}}
}

// Capture implements link.Capturer.
func (s *Sink) Capture(dev *link.Device, dir link.Dir, pkt *packet.Buffer) {
	if s.Filter != nil && !s.Filter(dev) {
		return
	}
	id, ok := s.index[dev]
	if !ok {
		typ := layers.LinkTypeEthernet
		if dev.Type == link.RawIP {
			typ = layers.LinkTypeRaw
		}
		id = len(s.ifaces)
		s.ifaces = append(s.ifaces, iface{name: dev.NS + "/" + dev.Name, typ: typ, mtu: dev.MTU})
		s.index[dev] = id
	}
	data := append([]byte(nil), pkt.Bytes()...)
	s.recs = append(s.recs, record{iface: id, at: s.Clock(), data: data, dir: dir, comment: s.comment(dev, dir, pkt)})
}

// comment names the hop: where the frame is, which packet, and the last
// thing the trace recorded for that packet.
func (s *Sink) comment(dev *link.Device, dir link.Dir, pkt *packet.Buffer) string {
	c := fmt.Sprintf("%s/%s %s, packet %d", dev.NS, dev.Name, dir, pkt.ID)
	if pkt.Parent != 0 {
		c += fmt.Sprintf(" (caused by packet %d)", pkt.Parent)
	}
	if s.Trace != nil && s.Trace.On() {
		hops := s.Trace.HopList()
		for i := len(hops) - 1; i >= 0 && i >= len(hops)-64; i-- {
			h := hops[i]
			if h.Packet != pkt.ID || h.Kind == trace.KindTx {
				continue
			}
			c += "; after " + trace.HopText(h)
			break
		}
	}
	return c
}

// Len is the number of captured frames.
func (s *Sink) Len() int { return len(s.recs) }

// Interfaces returns the captured device names in interface-ID order.
func (s *Sink) Interfaces() []string {
	out := make([]string, len(s.ifaces))
	for i, f := range s.ifaces {
		out[i] = f.name
	}
	return out
}

// Write writes the pcapng file.
func (s *Sink) Write(w io.Writer) error {
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "netsim", OS: "netsim virtual time", Comment: "netsim capture: timestamps are virtual time from " + Epoch.Format(time.RFC3339)}}
	first := iface{name: "netsim", typ: layers.LinkTypeEthernet, mtu: 1500}
	if len(s.ifaces) > 0 {
		first = s.ifaces[0]
	}
	nw, err := pcapgo.NewNgWriterInterface(w, ngIface(first), opts)
	if err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	for _, f := range s.ifaces[min(1, len(s.ifaces)):] {
		if _, err := nw.AddInterface(ngIface(f)); err != nil {
			return fmt.Errorf("pcapng: interface %s: %w", f.name, err)
		}
	}
	for _, r := range s.recs {
		ci := gopacket.CaptureInfo{Timestamp: Epoch.Add(r.at), CaptureLength: len(r.data), Length: len(r.data), InterfaceIndex: r.iface}
		dir := pcapgo.NgEpbFlagDirectionInbound
		if r.dir == link.Out {
			dir = pcapgo.NgEpbFlagDirectionOutbound
		}
		if err := nw.WritePacketWithOptions(ci, r.data, pcapgo.NgPacketOptions{Comments: []string{r.comment}, Flags: &pcapgo.NgEpbFlags{Direction: dir}}); err != nil {
			return fmt.Errorf("pcapng: %w", err)
		}
	}
	return nw.Flush()
}

func ngIface(f iface) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: f.name, LinkType: f.typ, TimestampResolution: 9, Description: fmt.Sprintf("netsim device %s (mtu %d)", f.name, f.mtu)}
}

// Frames returns copies of the frames captured on the device named
// "namespace/device", in capture order, with their directions.
func (s *Sink) Frames(name string) (frames [][]byte, dirs []link.Dir) {
	for _, r := range s.recs {
		if s.ifaces[r.iface].name == name {
			frames = append(frames, append([]byte(nil), r.data...))
			dirs = append(dirs, r.dir)
		}
	}
	return frames, dirs
}
