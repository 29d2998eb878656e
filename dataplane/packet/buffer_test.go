package packet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBufferPrependPullAppendTrim(t *testing.T) {
	pl := NewPool()
	p := pl.From([]byte{1, 2, 3, 4})
	require.Equal(t, []byte{1, 2, 3, 4}, p.Bytes())
	assert.Equal(t, Headroom, p.Headroom())
	assert.Equal(t, smallCap-Headroom-4, p.Tailroom())

	// Encapsulate: 8 bytes in front, written through the returned slice.
	h := p.Prepend(8)
	require.Len(t, h, 8)
	copy(h, []byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11})
	assert.Equal(t, []byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11, 1, 2, 3, 4}, p.Bytes())
	assert.Equal(t, Headroom-8, p.Headroom())
	assert.Equal(t, 12, p.Len())

	// Decapsulate: the same bytes come off, nothing is copied.
	before := &p.Bytes()[8]
	p.Pull(8)
	assert.Equal(t, []byte{1, 2, 3, 4}, p.Bytes())
	assert.Same(t, before, &p.Bytes()[0], "Pull moves the head, it does not copy")

	tail := p.Append(3)
	copy(tail, []byte{5, 6, 7})
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7}, p.Bytes())

	p.Trim(2)
	assert.Equal(t, []byte{1, 2}, p.Bytes())
	p.Trim(0)
	assert.Equal(t, 0, p.Len())
	assert.Empty(t, p.Bytes())
	p.Free()
	assert.Equal(t, 0, pl.Out)
}

func TestBufferBoundsPanic(t *testing.T) {
	tests := []struct {
		name string
		f    func(p *Buffer)
		msg  string
	}{
		{"prepend past headroom", func(p *Buffer) { p.Prepend(Headroom + 1) }, "packet: prepend 129 bytes with 128 headroom"},
		{"pull past data", func(p *Buffer) { p.Pull(5) }, "packet: pull 5 bytes of 4"},
		{"append past tailroom", func(p *Buffer) { p.Append(p.Tailroom() + 1) }, "packet: append 9213 bytes with 9212 tailroom"},
		{"trim longer", func(p *Buffer) { p.Trim(5) }, "packet: trim to 5 of 4"},
		{"trim negative", func(p *Buffer) { p.Trim(-1) }, "packet: trim to -1 of 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPool().From([]byte{1, 2, 3, 4})
			assert.PanicsWithValue(t, tc.msg, func() { tc.f(p) })
		})
	}
	// The whole headroom can be used.
	p := NewPool().From(nil)
	assert.NotPanics(t, func() { p.Prepend(Headroom) })
	assert.Equal(t, 0, p.Headroom())
}

func TestPoolReuse(t *testing.T) {
	pl := NewPool()
	a := pl.Get(100)
	b := pl.Get(1500)
	assert.Equal(t, 2, pl.Out)
	a.Append(10)
	a.Prepend(4)
	a.ID, a.Parent, a.Flow, a.Mark = 7, 3, 2, 0x4000
	a.CT, a.CTReply, a.CTRelated, a.InIf, a.Hairpin = "ct", true, true, 4, true
	a.Free()
	assert.Equal(t, 1, pl.Out)

	c := pl.Get(64)
	assert.Same(t, a, c, "a freed small buffer is handed out again")
	assert.Equal(t, 0, c.Len())
	assert.Equal(t, Headroom, c.Headroom())
	assert.Zero(t, c.ID)
	assert.Zero(t, c.Parent)
	assert.Zero(t, c.Flow)
	assert.Zero(t, c.Mark)
	assert.Nil(t, c.CT)
	assert.False(t, c.CTReply || c.CTRelated || c.Hairpin)
	assert.Zero(t, c.InIf)
	assert.Equal(t, 2, pl.Out)

	// Large buffers live in their own free list.
	big := pl.Get(20000)
	assert.GreaterOrEqual(t, big.Tailroom(), 20000)
	big.Free()
	small := pl.Get(10)
	assert.NotSame(t, big, small, "a small request does not take a large buffer")
	big2 := pl.Get(65535)
	assert.Same(t, big, big2)
	assert.GreaterOrEqual(t, big2.Tailroom(), 65535)

	b.Free()
	c.Free()
	small.Free()
	big2.Free()
	assert.Equal(t, 0, pl.Out, "every buffer came back")

	assert.PanicsWithValue(t, "packet: buffer of 65601 bytes", func() { pl.Get(65601) })
}

func TestPoolCloneAndMeta(t *testing.T) {
	pl := NewPool()
	p := pl.From([]byte{9, 8, 7})
	p.Pull(1)
	p.ID, p.Parent, p.Flow, p.Mark, p.InIf = 11, 10, 3, 1, 2
	p.CT, p.CTReply = 42, true
	q := pl.Clone(p)
	assert.Equal(t, []byte{8, 7}, q.Bytes())
	assert.Equal(t, Headroom, q.Headroom(), "a clone gets fresh headroom")
	assert.Equal(t, uint64(11), q.ID)
	assert.Equal(t, uint64(10), q.Parent)
	assert.Equal(t, int32(3), q.Flow)
	assert.Equal(t, uint32(1), q.Mark)
	assert.Equal(t, 42, q.CT)
	assert.True(t, q.CTReply)
	q.Bytes()[0] = 0
	assert.Equal(t, []byte{8, 7}, p.Bytes(), "data is copied")

	q.Scrub()
	assert.Zero(t, q.Mark)
	assert.Nil(t, q.CT)
	assert.False(t, q.CTReply)
	assert.Equal(t, uint64(11), q.ID, "Scrub keeps the trace identity")
	p.Free()
	q.Free()
	assert.Equal(t, 0, pl.Out)

	// A buffer without a pool can be freed harmlessly.
	(&Buffer{}).Free()
}
