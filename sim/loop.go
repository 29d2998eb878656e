// Package sim runs worlds: the event loop with its virtual clock, the flow
// runner that sends a scenario's traffic and checks expectations, and the
// results it reports.
package sim

import (
	"math"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

// Loop is the event loop. It owns all simulation state: every packet
// transfer and timer is an event, run one at a time in (time, sequence)
// order, so a run is deterministic. Time is virtual: it jumps to the next
// event. Zero-delay events go through a FIFO ring, delayed ones through a
// binary heap of values, so posting and running events allocates nothing
// once the queues have grown.
type Loop struct {
	now  time.Duration
	seq  uint64
	fifo []event
	head int
	n    int
	heap []event
	// Events counts events run.
	Events uint64
	// Flows, if set, is the segment cache (link.FlowCache): a delivery
	// that starts a segment — nothing else is due at that instant — is
	// replayed from a recording when one is valid, and recorded otherwise.
	Flows *link.FlowCache
	// Tap, if set, sees every packet posted with a delay (one crossing a
	// wire that takes time): the fast path's tests compare what crosses
	// the VPC byte for byte with the segment cache on and off.
	Tap func(*packet.Buffer)
	// chain and until: Run and RunUntil let a replayed segment's delayed
	// exit, when it would be the next event and alone at its instant (and
	// not after until), run at once instead of through the heap.
	chain bool
	until time.Duration
}

type event struct {
	at   time.Duration
	seq  uint64
	rx   link.Receiver
	from *link.Device
	pkt  *packet.Buffer
	fn   func()
}

// NewLoop returns an idle loop at time zero. The FIFO ring's length is
// always a power of two.
func NewLoop() *Loop { return &Loop{fifo: make([]event, 64)} }

// Now is the virtual clock.
func (l *Loop) Now() time.Duration { return l.now }

// Deliver schedules rx.Receive(from, pkt) after delay.
func (l *Loop) Deliver(delay time.Duration, rx link.Receiver, from *link.Device, pkt *packet.Buffer) {
	if l.Flows != nil {
		l.Flows.Posted(delay, rx, from, pkt)
	}
	l.post(event{at: l.now + delay, rx: rx, from: from, pkt: pkt}, delay)
}

// AfterFunc runs f after delay.
func (l *Loop) AfterFunc(delay time.Duration, f func()) {
	if l.Flows != nil {
		l.Flows.Timer()
	}
	l.post(event{at: l.now + delay, fn: f}, delay)
}

func (l *Loop) post(e event, delay time.Duration) {
	l.seq++
	e.seq = l.seq
	if delay <= 0 {
		e.at = l.now
		l.push(e)
		return
	}
	if l.Tap != nil && e.pkt != nil {
		l.Tap(e.pkt)
	}
	l.heap = append(l.heap, e)
	l.up(len(l.heap) - 1)
}

func (l *Loop) push(e event) {
	if l.n == len(l.fifo) {
		grown := make([]event, 2*len(l.fifo))
		for i := 0; i < l.n; i++ {
			grown[i] = l.fifo[(l.head+i)&(len(l.fifo)-1)]
		}
		l.fifo, l.head = grown, 0
	}
	l.fifo[(l.head+l.n)&(len(l.fifo)-1)] = e
	l.n++
}

func (l *Loop) pop() event {
	e := l.fifo[l.head]
	l.fifo[l.head] = event{}
	l.head = (l.head + 1) & (len(l.fifo) - 1)
	l.n--
	return e
}

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (l *Loop) up(i int) {
	h := l.heap
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (l *Loop) down(i int) {
	h := l.heap
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && less(&h[c+1], &h[c]) {
			c++
		}
		if !less(&h[c], &h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (l *Loop) popHeap() event {
	h := l.heap
	e := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{}
	l.heap = h[:last]
	if last > 0 {
		l.down(0)
	}
	return e
}

// Idle reports whether no event is pending.
func (l *Loop) Idle() bool { return l.n == 0 && len(l.heap) == 0 }

// Next returns the time of the next event (ok false when idle).
func (l *Loop) Next() (time.Duration, bool) {
	if l.n > 0 {
		return l.now, true
	}
	if len(l.heap) > 0 {
		return l.heap[0].at, true
	}
	return 0, false
}

// Step runs one event; it reports false when there was none.
func (l *Loop) Step() bool {
	if l.n == 0 {
		if len(l.heap) == 0 {
			return false
		}
		e := l.popHeap()
		l.now = e.at
		if len(l.heap) == 0 || l.heap[0].at != l.now {
			// Alone at its instant: run it without the FIFO's round trip.
			l.run(&e)
			return true
		}
		l.push(e)
		// Everything else due at the same instant joins the FIFO in order.
		for len(l.heap) > 0 && l.heap[0].at == l.now {
			l.push(l.popHeap())
		}
	}
	e := l.pop()
	l.run(&e)
	return true
}

// run runs one event.
func (l *Loop) run(e *event) {
	l.Events++
	if fc := l.Flows; fc != nil {
		l.stepFlows(fc, e)
		return
	}
	if e.fn != nil {
		e.fn()
	} else {
		e.rx.Receive(e.from, e.pkt)
	}
}

// stepFlows runs e through the segment cache. A delivery starts a segment
// when nothing else is due now (the FIFO is empty and the heap's first
// event is later): then the slow run would go through the segment's hops
// with nothing in between, and a replay can stand for it.
func (l *Loop) stepFlows(fc *link.FlowCache, e *event) {
	if e.fn != nil {
		fc.Timer()
		e.fn()
		if fc.Recording() && !fc.Pending() {
			fc.End()
		}
		return
	}
	if fc.Recording() {
		fc.Ran()
	} else if l.n == 0 && (len(l.heap) == 0 || l.heap[0].at > l.now) {
		var next event
		for {
			ok, s := fc.Replay(e.rx, e.from, e.pkt, l.now)
			if !ok {
				break
			}
			n := s.Events()
			l.Events += n - 1
			l.seq += n - 1 // the zero-delay posts the slow run made
			delay, rx, from := s.Exit()
			if rx == nil {
				return
			}
			at := l.now + delay
			if !l.chain || at > l.until || delay <= 0 || len(l.heap) > 0 && l.heap[0].at <= at {
				l.post(event{at: at, rx: rx, from: from, pkt: e.pkt}, delay)
				return
			}
			// The exit is the next event and alone at its instant: Step
			// would pop it and run it now (see Step); run it here.
			l.seq++
			if l.Tap != nil {
				l.Tap(e.pkt)
			}
			l.now = at
			l.Events++
			next = event{at: at, seq: l.seq, rx: rx, from: from, pkt: e.pkt}
			e = &next
		}
		fc.Begin(e.rx, e.from, e.pkt)
	}
	e.pkt.CsumKnown = false // the slow path verifies what it verifies
	e.rx.Receive(e.from, e.pkt)
	if fc.Recording() && !fc.Pending() {
		fc.End()
	}
}

// Run runs events until none is left.
func (l *Loop) Run() {
	l.chain, l.until = true, math.MaxInt64
	for l.Step() {
	}
	l.chain = false
}

// RunUntil runs the events due at or before t, then sets the clock to t.
func (l *Loop) RunUntil(t time.Duration) {
	l.chain, l.until = true, t
	defer func() { l.chain = false }()
	for {
		at, ok := l.Next()
		if !ok || at > t {
			break
		}
		l.Step()
	}
	if t > l.now {
		l.now = t
	}
}

// Advance moves an idle clock forward by d (the gap between requests).
func (l *Loop) Advance(d time.Duration) { l.RunUntil(l.now + d) }
