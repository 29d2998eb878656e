// Package linktest holds test doubles for the link layer: a deterministic
// link.Scheduler with a virtual clock (Sched), a link.Capturer that keeps
// copies of the frames crossing devices (Capture), and a link.Receiver
// that records what reaches it (Sink).
//
// Nothing here touches real time or real interfaces: a test builds an Env
// with NewEnv, wires devices, injects frames, and drains the scheduler
// with Run or RunFor. Once its queues have grown, Sched allocates nothing
// per event, so it can drive allocation tests (testing.AllocsPerRun).
package linktest

import (
	"fmt"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// MaxEvents bounds Run and RunFor: a run with more events than this is a
// livelock (two devices bouncing a frame forever) and panics.
const MaxEvents = 10_000_000

// Sched is a deterministic link.Scheduler. Zero-delay events go to a FIFO
// and run in the order they were posted; delayed events wait in a heap
// ordered by (due time, post order) and, when their instant comes, all of
// those due then join the FIFO together, ahead of anything they post.
// The clock is virtual: it jumps to the next event and never moves on its
// own (except RunFor). A Sched is not safe for concurrent use.
type Sched struct {
	now  time.Duration
	seq  uint64
	fifo []event // ring of events due now
	head int
	n    int
	heap []event // delayed events, a binary min-heap on (at, seq)

	// Events counts the events run so far.
	Events uint64
}

type event struct {
	at   time.Duration
	seq  uint64
	rx   link.Receiver
	from *link.Device
	pkt  *packet.Buffer
	fn   func()
}

// New returns an idle scheduler at virtual time zero.
func New() *Sched { return &Sched{fifo: make([]event, 64)} }

// NewEnv returns a fresh Sched and an Env that uses it, with a trace
// recorder (hops off, drops on) whose clock is the scheduler's.
func NewEnv() (*link.Env, *Sched) {
	s := New()
	env := link.NewEnv(s)
	env.Trace = &trace.Recorder{Clock: s.Now}
	return env, s
}

// Now is the virtual clock (link.Scheduler).
func (s *Sched) Now() time.Duration { return s.now }

// Deliver makes rx.Receive(from, pkt) happen after delay (link.Scheduler).
func (s *Sched) Deliver(delay time.Duration, rx link.Receiver, from *link.Device, pkt *packet.Buffer) {
	s.post(event{rx: rx, from: from, pkt: pkt}, delay)
}

// AfterFunc runs f after delay (link.Scheduler).
func (s *Sched) AfterFunc(delay time.Duration, f func()) {
	s.post(event{fn: f}, delay)
}

func (s *Sched) post(e event, delay time.Duration) {
	s.seq++
	e.seq = s.seq
	if delay <= 0 {
		e.at = s.now
		s.push(e)
		return
	}
	e.at = s.now + delay
	s.heap = append(s.heap, e)
	s.up(len(s.heap) - 1)
}

func (s *Sched) push(e event) {
	if s.n == len(s.fifo) {
		grown := make([]event, 2*len(s.fifo))
		for i := 0; i < s.n; i++ {
			grown[i] = s.fifo[(s.head+i)%len(s.fifo)]
		}
		s.fifo, s.head = grown, 0
	}
	s.fifo[(s.head+s.n)%len(s.fifo)] = e
	s.n++
}

func (s *Sched) pop() event {
	e := s.fifo[s.head]
	s.fifo[s.head] = event{}
	s.head = (s.head + 1) % len(s.fifo)
	s.n--
	return e
}

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (s *Sched) up(i int) {
	h := s.heap
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *Sched) down(i int) {
	h := s.heap
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && less(&h[c+1], &h[c]) {
			c++
		}
		if !less(&h[c], &h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (s *Sched) popHeap() event {
	h := s.heap
	e := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{}
	s.heap = h[:last]
	if last > 0 {
		s.down(0)
	}
	return e
}

// Pending is the number of events not yet run.
func (s *Sched) Pending() int { return s.n + len(s.heap) }

// Idle reports whether no event is pending.
func (s *Sched) Idle() bool { return s.Pending() == 0 }

// Next returns the time of the next event; ok is false when idle.
func (s *Sched) Next() (at time.Duration, ok bool) {
	if s.n > 0 {
		return s.now, true
	}
	if len(s.heap) > 0 {
		return s.heap[0].at, true
	}
	return 0, false
}

// Step runs the next event, moving the clock to its time. It reports
// false when there was none.
func (s *Sched) Step() bool {
	if s.n == 0 {
		if len(s.heap) == 0 {
			return false
		}
		e := s.popHeap()
		s.now = e.at
		s.push(e)
		// Everything else due at this instant joins the FIFO in order.
		for len(s.heap) > 0 && s.heap[0].at == s.now {
			s.push(s.popHeap())
		}
	}
	e := s.pop()
	s.Events++
	if e.fn != nil {
		e.fn()
	} else {
		e.rx.Receive(e.from, e.pkt)
	}
	return true
}

// Run runs events until none is left (timers included: ARP retries end in
// FAILED, reassembly queues time out) and returns how many it ran.
func (s *Sched) Run() int {
	n := 0
	for s.Step() {
		n++
		if n > MaxEvents {
			panic(fmt.Sprintf("linktest: more than %d events: livelock?", MaxEvents))
		}
	}
	return n
}

// RunFor runs the events due within d of now (inclusive), then sets the
// clock to now+d even if nothing was due then. It returns how many events
// it ran.
func (s *Sched) RunFor(d time.Duration) int {
	end := s.now + d
	n := 0
	for {
		at, ok := s.Next()
		if !ok || at > end {
			break
		}
		s.Step()
		n++
		if n > MaxEvents {
			panic(fmt.Sprintf("linktest: more than %d events: livelock?", MaxEvents))
		}
	}
	if end > s.now {
		s.now = end
	}
	return n
}

// Frame is one captured frame: a copy of its bytes, where and when it was
// seen, and the packet metadata at that moment.
type Frame struct {
	// Dev is the device, Device its "NS/NAME" at capture time.
	Dev    *link.Device
	Device string
	// Dir is link.Out for a frame being transmitted, link.In for one
	// received.
	Dir link.Dir
	// Time is the virtual time of the capture.
	Time time.Duration
	// Data is a copy of the frame (link header included on Ether devices).
	Data []byte
	// ID and Flow are the packet's trace identity; Mark and HasCT its
	// netfilter mark and whether a conntrack entry was attached.
	ID    uint64
	Flow  int32
	Mark  uint32
	HasCT bool
}

// Capture is a link.Capturer that keeps a copy of every frame crossing
// any device, in order. Set it as Env.Capture. It allocates per frame;
// leave it off in allocation tests.
type Capture struct {
	// Clock timestamps frames (nil: zero).
	Clock func() time.Duration
	// Only, if non-empty, limits capture to these devices.
	Only []*link.Device

	frames []Frame
}

// NewCapture returns a capture timestamped by s and installs it in env.
func NewCapture(env *link.Env, s link.Scheduler) *Capture {
	c := &Capture{Clock: s.Now}
	env.Capture = c
	return c
}

// Capture records a copy of pkt (link.Capturer).
func (c *Capture) Capture(dev *link.Device, dir link.Dir, pkt *packet.Buffer) {
	if len(c.Only) > 0 {
		keep := false
		for _, d := range c.Only {
			keep = keep || d == dev
		}
		if !keep {
			return
		}
	}
	f := Frame{Dev: dev, Device: dev.String(), Dir: dir, Data: append([]byte(nil), pkt.Bytes()...),
		ID: pkt.ID, Flow: pkt.Flow, Mark: pkt.Mark, HasCT: pkt.CT != nil}
	if c.Clock != nil {
		f.Time = c.Clock()
	}
	c.frames = append(c.frames, f)
}

// All returns every captured frame in capture order.
func (c *Capture) All() []Frame { return c.frames }

// On returns the frames captured at dev in direction dir, in order.
func (c *Capture) On(dev *link.Device, dir link.Dir) []Frame {
	var out []Frame
	for _, f := range c.frames {
		if f.Dev == dev && f.Dir == dir {
			out = append(out, f)
		}
	}
	return out
}

// Bytes returns the data of the frames captured at dev in direction dir.
func (c *Capture) Bytes(dev *link.Device, dir link.Dir) [][]byte {
	var out [][]byte
	for _, f := range c.On(dev, dir) {
		out = append(out, f.Data)
	}
	return out
}

// Reset forgets the frames captured so far.
func (c *Capture) Reset() { c.frames = c.frames[:0] }

// Sink is a link.Receiver that keeps a copy of every frame it receives
// and frees the buffer, standing in for a namespace's stack or a bridge.
type Sink struct {
	// Frames are the received frames, in order (Dir is always In).
	Frames []Frame
	// Clock timestamps frames (nil: zero).
	Clock func() time.Duration
	// Keep, if set, receives the buffer instead of Sink freeing it;
	// Frames still gets a copy.
	Keep func(dev *link.Device, pkt *packet.Buffer)
}

// Receive records and frees pkt (link.Receiver).
func (s *Sink) Receive(dev *link.Device, pkt *packet.Buffer) {
	f := Frame{Dev: dev, Dir: link.In, Data: append([]byte(nil), pkt.Bytes()...),
		ID: pkt.ID, Flow: pkt.Flow, Mark: pkt.Mark, HasCT: pkt.CT != nil}
	if dev != nil {
		f.Device = dev.String()
	}
	if s.Clock != nil {
		f.Time = s.Clock()
	}
	s.Frames = append(s.Frames, f)
	if s.Keep != nil {
		s.Keep(dev, pkt)
		return
	}
	pkt.Free()
}

// Reset forgets the frames received so far.
func (s *Sink) Reset() { s.Frames = s.Frames[:0] }

// MAC returns the locally administered address 02:00:00:00:00:n, handy
// for test devices.
func MAC(n byte) packet.MAC { return packet.MAC{0x02, 0, 0, 0, 0, n} }

// Drops returns the reasons of the drops env.Trace recorded, in order
// (nil when env has no recorder).
func Drops(env *link.Env) []trace.Reason {
	if env.Trace == nil {
		return nil
	}
	var out []trace.Reason
	for _, d := range env.Trace.DropList() {
		out = append(out, d.Reason)
	}
	return out
}

var (
	_ link.Scheduler = (*Sched)(nil)
	_ link.Capturer  = (*Capture)(nil)
	_ link.Receiver  = (*Sink)(nil)
)
