package netstack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// TestTCPDialProbe: a half-open probe is the SYN a connect sends, the
// listener's SYN-ACK, reported as established, and the RST a stack sends
// for a segment no socket owns (seq = the SYN-ACK's ack, no ACK flag),
// which ends the listener's SYN-RECV connection; to a closed port it is
// refused as a connect is.
func TestTCPDialProbe(t *testing.T) {
	tests := []struct {
		name    string
		listen  bool
		want    []string
		eventsA []netstack.EventKind
		eventsB []netstack.EventKind
		drops   []trace.Reason
	}{
		{name: "open port", listen: true,
			want:    []string{"A>B S 0", "B>A S. 0", "A>B R 0"},
			eventsA: []netstack.EventKind{netstack.EvTCPEstablished},
			eventsB: []netstack.EventKind{netstack.EvError}},
		{name: "closed port", listen: false,
			eventsA: []netstack.EventKind{netstack.EvError},
			drops:   []trace.Reason{trace.ReasonConnRefused}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.listen {
				w.B.ListenTCP(80, true)
			}
			local, ok := w.A.DialProbe(ap("10.0.2.2:80"), 9)
			require.True(t, ok)
			assert.Zero(t, local.Port()%2, "a connect() port: even")
			w.run()
			if tt.listen {
				segs := tcpSegments(t, w)
				assert.Equal(t, tt.want, summary(segs))
				require.Len(t, segs, 3)
				assert.Equal(t, segs[1].ack, segs[2].seq, "the RST's seq is the SYN-ACK's ack")
				assert.Zero(t, segs[2].ack)
			} else {
				assert.Len(t, w.ipv4Frames(w.aEth, link.Out, packet.ProtoTCP), 1, "the SYN, nothing after the RST")
				assert.Len(t, w.ipv4Frames(w.aEth, link.In, packet.ProtoTCP), 1, "the listener-less port's RST")
			}
			assert.Equal(t, tt.eventsA, kinds(w.evA))
			assert.Equal(t, tt.eventsB, kinds(w.evB))
			for _, e := range append(w.evA, w.evB...) {
				assert.Equal(t, int32(9), e.Flow)
			}
			assert.Equal(t, tt.drops, w.reasons())
			assert.Zero(t, w.env.Pool.Out, "every buffer back in the pool")
		})
	}
}

// TestTCPDialProbeLeavesNoConnection: after a probe neither side holds the
// connection: a connect and close from the same stack to the same
// listener afterwards is the ordinary six segments, and the listener
// accepts it.
func TestTCPDialProbeLeavesNoConnection(t *testing.T) {
	w := newWorld(t)
	w.B.ListenTCP(80, true)
	_, ok := w.A.DialProbe(ap("10.0.2.2:80"), 1)
	require.True(t, ok)
	w.run()
	w.evA, w.evB = nil, nil
	require.True(t, w.A.DialTCP(ap("10.0.2.2:80"), 0, 2))
	w.run()
	assert.Equal(t, []netstack.EventKind{netstack.EvTCPEstablished, netstack.EvTCPClosed}, kinds(w.evA))
	assert.Equal(t, []netstack.EventKind{netstack.EvTCPAccept}, kinds(w.evB))
	assert.Empty(t, w.reasons())
}

// TestTCPAbortConnect: closing a connecting socket whose SYN got no
// answer sends nothing and forgets it (a SYN-ACK arriving later finds no
// socket and gets a RST).
func TestTCPAbortConnect(t *testing.T) {
	w := newWorld(t)
	w.B.ListenTCP(80, true)
	local, ok := w.A.Dial(ap("10.0.2.2:80"), 0, 1)
	require.True(t, ok)
	w.A.AbortConnect(local, ap("10.0.2.2:80"))
	w.run()
	out := w.ipv4Frames(w.aEth, link.Out, packet.ProtoTCP)
	require.Len(t, out, 2, "the SYN, then the RST answering the SYN-ACK: the socket is gone")
	rst := tcpSeg(t, out[1], true)
	assert.Equal(t, "R", rst.flags)
	assert.Empty(t, kinds(w.evA), "no event: nothing was connected")

	w.A.AbortConnect(local, ap("10.0.2.2:80")) // gone already: nothing to do
	assert.Empty(t, kinds(w.evA))
}
