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
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
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

// Sink is a link.Capturer. A sink made by NewSink keeps the frames in
// memory until Write (tests read them back with Frames); one made by
// NewStreamSink writes each frame to its writer as it is captured, so a
// run's memory does not grow with its traffic. Both write the same bytes
// for the same frames: the section header, then, in capture order, an
// interface block the first time a device is seen (pcapng allows one
// anywhere before its first use) and a packet block for every frame.
type Sink struct {
	// Clock is the loop's clock.
	Clock func() time.Duration
	// Trace, if set, supplies the hop text for packet comments.
	Trace *trace.Recorder
	// Filter, if set, chooses the devices to capture.
	Filter func(dev *link.Device) bool

	ifaces []iface
	index  map[*link.Device]int
	recs   []record // memory sink only
	n      int      // frames captured

	out *stream // stream sink only
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

// NewSink returns an empty sink that keeps its frames in memory.
func NewSink(clock func() time.Duration, rec *trace.Recorder) *Sink {
	return &Sink{Clock: clock, Trace: rec, index: map[*link.Device]int{}}
}

// NewStreamSink returns a sink that writes the pcapng file to w as frames
// are captured, through a buffer. It writes the section header and
// flushes it at once, so an unwritable w (no space left, a closed pipe)
// fails here, before the run. The first error while capturing stops the
// writing; Err reports it and Flush returns it.
func NewStreamSink(w io.Writer, clock func() time.Duration, rec *trace.Recorder) (*Sink, error) {
	st, err := newStream(w)
	if err != nil {
		return nil, err
	}
	s := NewSink(clock, rec)
	s.out = st
	return s, nil
}

// Capture implements link.Capturer.
func (s *Sink) Capture(dev *link.Device, dir link.Dir, pkt *packet.Buffer) {
	if s.Filter != nil && !s.Filter(dev) {
		return
	}
	if s.out != nil && s.out.err != nil {
		return // the file is broken: the run reports the first error
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
	s.n++
	r := record{iface: id, at: s.Clock(), dir: dir, comment: s.comment(dev, dir, pkt)}
	if s.out != nil {
		r.data = pkt.Bytes()
		s.out.write(s.ifaces, r)
		return
	}
	r.data = append([]byte(nil), pkt.Bytes()...)
	s.recs = append(s.recs, r)
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
func (s *Sink) Len() int { return s.n }

// Interfaces returns the captured device names in interface-ID order.
func (s *Sink) Interfaces() []string {
	out := make([]string, len(s.ifaces))
	for i, f := range s.ifaces {
		out[i] = f.name
	}
	return out
}

// Err is the first error writing a stream sink's file (nil for a memory
// sink, a nil sink, or when every write succeeded).
func (s *Sink) Err() error {
	if s == nil || s.out == nil {
		return nil
	}
	return s.out.err
}

// Flush writes out what a stream sink still buffers and returns the first
// error of the whole capture. It does nothing on a memory sink.
func (s *Sink) Flush() error {
	if s.out == nil {
		return nil
	}
	return s.out.flush()
}

// Write writes the pcapng file of a memory sink: the same bytes a stream
// sink would have written for the same frames.
func (s *Sink) Write(w io.Writer) error {
	if s.out != nil {
		return errors.New("pcapng: a stream sink has already written its frames")
	}
	st, err := newStream(w)
	if err != nil {
		return err
	}
	for _, r := range s.recs {
		if st.write(s.ifaces, r); st.err != nil {
			return st.err
		}
	}
	return st.flush()
}

// stream writes a pcapng file block by block: the section header at once,
// then interface and packet blocks in capture order.
type stream struct {
	w      *bufio.Writer
	nw     *pcapgo.NgWriter // made at the first frame (it wants a first interface)
	skip   int              // bytes of the section header nw writes again
	ifaces int              // interface blocks written
	err    error
}

func sectionOptions() pcapgo.NgWriterOptions {
	return pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "netsim", OS: "netsim virtual time", Comment: "netsim capture: timestamps are virtual time from " + Epoch.Format(time.RFC3339)}}
}

// sectionHeader returns the bytes of the section header block pcapgo
// writes, so that it can go out before the first interface is known.
func sectionHeader() ([]byte, error) {
	var b bytes.Buffer
	nw, err := pcapgo.NewNgWriterInterface(&b, ngIface(iface{name: "netsim", typ: layers.LinkTypeEthernet, mtu: 1500}), sectionOptions())
	if err == nil {
		err = nw.Flush()
	}
	if err != nil || b.Len() < 8 {
		return nil, fmt.Errorf("pcapng: section header: %v", err)
	}
	n := int(binary.LittleEndian.Uint32(b.Bytes()[4:8]))
	return b.Bytes()[:n], nil
}

func newStream(w io.Writer) (*stream, error) {
	shb, err := sectionHeader()
	if err != nil {
		return nil, err
	}
	st := &stream{w: bufio.NewWriterSize(w, 64<<10), skip: len(shb)}
	if _, err := st.w.Write(shb); err != nil {
		return nil, fmt.Errorf("writing the pcapng header: %w", err)
	}
	if err := st.w.Flush(); err != nil {
		return nil, fmt.Errorf("writing the pcapng header: %w", err)
	}
	return st, nil
}

// Write implements io.Writer for the NgWriter: it drops the section header
// the NgWriter writes first (already written by newStream).
func (st *stream) Write(p []byte) (int, error) {
	n := len(p)
	if st.skip > 0 {
		k := min(st.skip, len(p))
		st.skip -= k
		p = p[k:]
	}
	if _, err := st.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

func (st *stream) fail(err error) {
	if st.err == nil {
		st.err = fmt.Errorf("pcapng: %w", err)
	}
}

// write writes r, after the interface blocks it needs.
func (st *stream) write(ifaces []iface, r record) {
	if st.err != nil {
		return
	}
	for st.ifaces <= r.iface {
		f := ngIface(ifaces[st.ifaces])
		var err error
		if st.nw == nil {
			// NgWriter's own buffer is flushed after every block (below),
			// so its bytes reach st.w in order.
			st.nw, err = pcapgo.NewNgWriterInterface(st, f, sectionOptions())
		} else {
			_, err = st.nw.AddInterface(f)
		}
		if err == nil {
			err = st.nw.Flush()
		}
		if err != nil {
			st.fail(fmt.Errorf("interface %s: %w", f.Name, err))
			return
		}
		st.ifaces++
	}
	ci := gopacket.CaptureInfo{Timestamp: Epoch.Add(r.at), CaptureLength: len(r.data), Length: len(r.data), InterfaceIndex: r.iface}
	dir := pcapgo.NgEpbFlagDirectionInbound
	if r.dir == link.Out {
		dir = pcapgo.NgEpbFlagDirectionOutbound
	}
	if err := st.nw.WritePacketWithOptions(ci, r.data, pcapgo.NgPacketOptions{Comments: []string{r.comment}, Flags: &pcapgo.NgEpbFlags{Direction: dir}}); err != nil {
		st.fail(err)
		return
	}
	if err := st.nw.Flush(); err != nil {
		st.fail(err)
	}
}

func (st *stream) flush() error {
	if st.err != nil {
		return st.err
	}
	if err := st.w.Flush(); err != nil {
		st.fail(err)
	}
	return st.err
}

func ngIface(f iface) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: f.name, LinkType: f.typ, TimestampResolution: 9, Description: fmt.Sprintf("netsim device %s (mtu %d)", f.name, f.mtu)}
}

// Frames returns copies of the frames a memory sink captured on the
// device named "namespace/device", in capture order, with their
// directions (none for a stream sink).
func (s *Sink) Frames(name string) (frames [][]byte, dirs []link.Dir) {
	for _, r := range s.recs {
		if s.ifaces[r.iface].name == name {
			frames = append(frames, append([]byte(nil), r.data...))
			dirs = append(dirs, r.dir)
		}
	}
	return frames, dirs
}
