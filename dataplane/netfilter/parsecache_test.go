package netfilter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
)

// TestParseCacheCopiesAreIndependent: two namespaces given the same rule
// text get rules of their own — each bound to its own ipset, with its own
// counters and drop reason — and the verdicts follow each namespace's set.
func TestParseCacheCopiesAreIndependent(t *testing.T) {
	const rule = "-A FORWARD -m set --match-set S dst -m comment --comment shared -j DROP"
	a, b := newRig(t, 1), newRig(t, 2)
	for i, r := range []*rig{a, b} {
		require.NoError(t, r.nf.CreateSet("S", SetHashIP))
		if i == 0 {
			require.NoError(t, r.nf.AddToSet("S", "172.21.0.10"))
		}
		require.NoError(t, r.nf.Append("filter", rule))
	}
	ra, rb := a.nf.Table("filter").Chains["FORWARD"].Rules[0], b.nf.Table("filter").Chains["FORWARD"].Rules[0]
	require.NotSame(t, ra, rb)
	require.NotSame(t, ra.ext, rb.ext)
	assert.Same(t, a.nf.Set("S"), ra.ext.sets[0].set)
	assert.Same(t, b.nf.Set("S"), rb.ext.sets[0].set)
	pa := tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", "")
	pb := tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", "")
	assert.Equal(t, netstack.Drop, a.run(pa, a.cni0, a.eth0, netstack.Forward).v.Kind, "a's set holds the address")
	assert.NotEqual(t, netstack.Drop, b.run(pb, b.cni0, b.eth0, netstack.Forward).v.Kind, "b's set is empty")
	assert.Equal(t, uint64(1), ra.Packets)
	assert.Zero(t, rb.Packets)
	assert.Equal(t, ra.String(), rb.String())
}
