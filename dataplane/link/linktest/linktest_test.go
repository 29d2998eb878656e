package linktest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
)

func TestSchedOrder(t *testing.T) {
	s := linktest.New()
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+s.Now().String()) }
	}
	s.AfterFunc(2*time.Second, at("late"))
	s.AfterFunc(time.Second, at("t1a"))
	s.AfterFunc(0, func() {
		got = append(got, "zero@"+s.Now().String())
		s.AfterFunc(0, at("nested-zero"))
	})
	s.AfterFunc(time.Second, func() {
		got = append(got, "t1b@"+s.Now().String())
		s.AfterFunc(0, at("after-t1b"))
	})
	s.AfterFunc(time.Second, at("t1c"))
	assert.Equal(t, 5, s.Pending())
	n := s.Run()
	assert.Equal(t, 7, n)
	assert.Equal(t, []string{
		"zero@0s", "nested-zero@0s",
		"t1a@1s", "t1b@1s", "t1c@1s", "after-t1b@1s",
		"late@2s",
	}, got)
	assert.True(t, s.Idle())
	assert.Equal(t, 2*time.Second, s.Now())
	assert.Equal(t, uint64(7), s.Events)
}

func TestSchedRunFor(t *testing.T) {
	s := linktest.New()
	var fired []time.Duration
	for _, d := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		s.AfterFunc(d, func() { fired = append(fired, s.Now()) })
	}
	assert.Equal(t, 2, s.RunFor(3*time.Second), "events due at or before now+d run")
	assert.Equal(t, 3*time.Second, s.Now())
	assert.Equal(t, 0, s.RunFor(time.Second))
	assert.Equal(t, 4*time.Second, s.Now(), "the clock moves even when nothing is due")
	at, ok := s.Next()
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, at)
	s.Run()
	assert.Equal(t, []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}, fired)
	_, ok = s.Next()
	assert.False(t, ok)
}

func TestSchedDeliverZeroAlloc(t *testing.T) {
	env, s := linktest.NewEnv()
	env.Trace = nil
	// Warm up the queues.
	for range 200 {
		s.Deliver(0, nopRx{}, nil, env.Pool.Get(64))
		s.Deliver(time.Millisecond, nopRx{}, nil, env.Pool.Get(64))
	}
	s.Run()
	allocs := testing.AllocsPerRun(100, func() {
		s.Deliver(0, nopRx{}, nil, env.Pool.Get(64))
		s.Deliver(time.Millisecond, nopRx{}, nil, env.Pool.Get(64))
		s.Run()
	})
	assert.Zero(t, allocs)
	assert.Zero(t, env.Pool.Out)
}

type nopRx struct{}

func (nopRx) Receive(_ *link.Device, p *packet.Buffer) { p.Free() }

func TestCaptureAndSink(t *testing.T) {
	env, s := linktest.NewEnv()
	c := linktest.NewCapture(env, s)
	a, b := link.NewVethPair(env, "ns1", "veth0", linktest.MAC(1), "ns2", "eth0", linktest.MAC(2), 1500)
	link.Connect(a, b, 3*time.Millisecond)
	sink := &linktest.Sink{Clock: s.Now}
	b.SetReceiver(sink)
	frame := make([]byte, 60)
	a.Transmit(env.Pool.From(frame))
	s.Run()
	require.Len(t, c.All(), 2)
	out := c.On(a, link.Out)
	in := c.On(b, link.In)
	require.Len(t, out, 1)
	require.Len(t, in, 1)
	assert.Equal(t, "ns1/veth0", out[0].Device)
	assert.Equal(t, time.Duration(0), out[0].Time)
	assert.Equal(t, 3*time.Millisecond, in[0].Time)
	assert.Equal(t, [][]byte{frame}, c.Bytes(b, link.In))
	require.Len(t, sink.Frames, 1)
	assert.Equal(t, "ns2/eth0", sink.Frames[0].Device)
	assert.Equal(t, 3*time.Millisecond, sink.Frames[0].Time)
	c.Reset()
	assert.Empty(t, c.All())
	c.Only = []*link.Device{b}
	a.Transmit(env.Pool.From(frame))
	s.Run()
	assert.Len(t, c.All(), 1, "Only limits capture to the listed devices")
	assert.Zero(t, env.Pool.Out, "every buffer went back to the pool")
}
