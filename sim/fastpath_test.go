package sim_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netfilter"
	"netsim/sim"
	"netsim/sim/worldstate"
	"netsim/topology"
)

// runPath runs a bundled scenario with the fast path's caches on or off
// (link.Env.SlowPath), tracing every exchange or none, and returns the
// JSON report, a dump of the state the run left in every namespace, and
// how many chain walks the fast path replayed.
func runPath(t *testing.T, file string, slow, traced bool) (js, state string, replayed, segments uint64) {
	t.Helper()
	s, err := topology.Load(file)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	r.World.Env.SlowPath = slow
	res, err := r.Run(sim.Options{Trace: traced, TraceAll: traced})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, sim.WriteJSON(&b, res))
	state, err = worldstate.Dump(r.World, r.Loop.Now(), r.Loop.Events)
	require.NoError(t, err)
	segments = r.World.Env.Flows.Replayed
	for _, stk := range r.World.Stacks() {
		if nf, ok := stk.Filter.(*netfilter.Netfilter); ok {
			replayed += nf.Replayed
		}
	}
	return b.String(), state, replayed, segments
}

// TestFastPathIsInvisible runs every bundled scenario with the fast path
// on and off: traced (every exchange) the JSON reports are byte for byte
// the same, and untraced the state every namespace is left in — device
// counters, neighbours, iptables-save -c of every table, the conntrack
// table with marks and packet counts — is the same. It also checks that
// the fast path was taken at all.
func TestFastPathIsInvisible(t *testing.T) {
	var replayed, segments uint64
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			for _, traced := range []bool{true, false} {
				fastJS, fastState, n, k := runPath(t, f, false, traced)
				slowJS, slowState, m, l := runPath(t, f, true, traced)
				require.Zero(t, m, "the slow path replayed chain walks")
				require.Zero(t, l, "the slow path replayed segments")
				replayed += n
				segments += k
				assert.Equal(t, slowJS, fastJS, "report (traced %v), fast path on vs off", traced)
				assert.Equal(t, slowState, fastState, "state after the run (traced %v), fast path on vs off", traced)
			}
		})
	}
	t.Logf("chain walks replayed over the bundled scenarios: %d; segments replayed: %d", replayed, segments)
	require.Positive(t, replayed, "the fast path was never taken")
	// A flow's requests each come from a fresh port (a new connection), so
	// the bundled scenarios rarely repeat a segment; the dataplane's
	// TestSegmentsAreInvisible pushes thousands of packets of one flow.
}
