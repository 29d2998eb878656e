package gofloor

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPath8HopForwards runs the floor's path as BenchmarkPath8Hop does, a
// few packets at each size, so that `go test ./...` notices a broken floor
// before `make bench` measures it: each packet reaches pod 2 once, as long
// as it was sent, with pod 2's MAC, TTL 62 after two routed hops and a
// valid IPv4 header checksum; the outer header is gone.
func TestPath8HopForwards(t *testing.T) {
	for _, sz := range sizes {
		entry, sink := buildPath()
		orig := innerFrame(sz)
		copy(orig[0:6], macCni1)
		copy(orig[6:12], macPod1)
		orig[22] = 64
		binary.BigEndian.PutUint16(orig[24:], 0)
		binary.BigEndian.PutUint16(orig[24:], ipv4HdrCsum(orig[14:34]))
		p := &pktBuf{data: make([]byte, headroom+sz), off: headroom, n: sz}
		for i := 1; i <= 3; i++ {
			copy(p.data[headroom:], orig)
			p.off, p.n = headroom, sz
			entry.recv(p)
			f := p.frame()
			require.Equal(t, uint64(i), sink.pkts, "size %d packet %d", sz, i)
			assert.Equal(t, sz, p.n)
			assert.Equal(t, headroom, p.off, "the VXLAN header was removed")
			assert.Equal(t, m(macPod2), m(f[0:6]))
			assert.Equal(t, byte(62), f[22])
			assert.Zero(t, ipv4HdrCsum(f[14:34]))
		}
	}
}
